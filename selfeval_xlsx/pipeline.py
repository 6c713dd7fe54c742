"""One input, start to finish: guard → read → check → score, returning one immutable
:class:`Analysis`. ``selfeval check``, ``selfeval score`` and the batch's first phase all call
:func:`analyse`; the batch never changes an analysis afterwards (its decisions, such as a
superseded submission, are records of their own, applied when the outputs are written).
"""
from __future__ import annotations

import datetime as dt
import math
import os
import signal
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import checks
from .errors import UnreadableInput
from .guard import Limits
from .intake import InputRef, display_name, file_ref
from .issues import Code, Issue, issue, unreadable_file
from .models import Approval, ApprovedProject, Project, ProjectResult, Submission
from .rules import Rules, load_rules
from .scoring import score_project
from .vocab import Kind

if TYPE_CHECKING:
    from .targets import Targets


@dataclass(frozen=True)
class Analysis:
    """What one input gave: its scored projects, the problems that belong to no project
    (each project's own problems are in its result) and, per sheet read, the layout
    recognised there (``(sheet, vocab.Layout value)`` pairs)."""

    ref: InputRef
    results: tuple[ProjectResult, ...]
    issues: tuple[Issue, ...]
    sheet_order: tuple[str, ...] = ()  # the workbook's sheets, to list problems in its order
    saved_at: dt.datetime | None = None  # when the workbook was last saved (docProps/core.xml)
    layouts: tuple[tuple[str, str], ...] = ()  # (sheet, vocab.Layout value) for each sheet read

    @property
    def unreadable(self) -> bool:
        """The file itself was refused (broken, hostile, too large or too slow)."""
        return any(i.code.unreadable for i in self.issues)

    @property
    def rejected(self) -> bool:
        """No project could be read (unreadable file, missing sheet or header)."""
        return any(i.blocks_file for i in self.issues)

    @property
    def all_issues(self) -> list[Issue]:
        """Every problem of the input: its own, then each project's."""
        return [*self.issues, *(i for r in self.results for i in r.issues)]


@dataclass(frozen=True)
class Approved:
    """The approved targets a submission is compared with (``--targets``) and whether to
    score on them instead of the submitted ones (``--score-against-approved``)."""

    targets: Targets
    score_on_approved: bool = False


def evaluate(submission: Submission, rules: Rules,
             approved: Approved | None = None) -> tuple[tuple[ProjectResult, ...], tuple[Issue, ...]]:
    """Check and score a read submission: (project results, problems of no project). A
    project that an error blocks (:func:`checks.blocks`) keeps its indicator scores but no
    total or grade. With ``approved``, each project is also compared with its approved
    targets (and, when asked, scored on them)."""
    approvals, compared = {}, []
    if approved is not None:
        submission, approvals, compared = _compare(submission, rules, approved)
    found = [*submission.issues, *checks.check_submission(submission, rules), *compared]
    ids = {p.project_id for p in submission.projects}
    file_level = [i for i in found if i.project_id not in ids]
    results = []
    for project in submission.projects:
        own = [i for i in found if i.project_id == project.project_id]
        result = _score(project, rules, own, file_level)
        results.append(replace(result, approval=approvals[id(project)]) if approvals else result)
    return tuple(results), tuple(file_level)


def _compare(submission: Submission, rules: Rules, approved: Approved) -> tuple[Submission, dict, list[Issue]]:
    """Each project against its approved targets: the submission as it is scored (on the
    approved targets and weights when asked), the :class:`Approval` of each project (by
    ``id`` of the scored project) and the problems found."""
    approvals: dict[int, Approval] = {}
    found: list[Issue] = []
    scored = []
    for project in submission.projects:
        match, how = approved.targets.find(project)
        issues, approval = checks.check_approved(project, match, how, rules, approved.score_on_approved)
        if match is not None and approved.score_on_approved:
            project = _on_approved(project, match)
        approvals[id(project)] = approval
        found.extend(issues)
        scored.append(project)
    return replace(submission, projects=scored), approvals, found


def _on_approved(project: Project, approved: ApprovedProject) -> Project:
    """The project with each matched indicator's target and weight replaced by the approved
    ones (its 指标性质 too, unless the department declared it 不适用)."""
    pairs, _ = checks.pair_indicators(project.indicators, approved.indicators)
    indicators = []
    for i, ind in enumerate(project.indicators):
        if i in pairs:
            a = pairs[i][0]
            nature = ind.nature if ind.nature == Kind.NOT_APPLICABLE.label else a.nature
            ind = replace(ind, target=a.target or ind.target, weight=a.weight if a.weight is not None else ind.weight, nature=nature)
        indicators.append(ind)
    return replace(project, indicators=indicators)


def score(project: Project, rules: Rules | None = None) -> ProjectResult:
    """One project on its own: its record checks, its score and the completeness checks."""
    rules = rules or load_rules()
    return _score(project, rules, checks.check_project(project, rules), [])


def _score(project: Project, rules: Rules, own: list[Issue], file_level: list[Issue]) -> ProjectResult:
    result = score_project(project, rules)
    # A cell with an error already (a formula without a value, a bad number) is reported
    # once: what scoring then makes of the blank it left adds nothing.
    reported = {(i.sheet, i.row, i.col) for i in own if i.is_error and i.row is not None}
    issues = (*own, *(i for i in (*result.issues, *checks.check_scores(result, rules))
                      if (i.sheet, i.row, i.col) not in reported))
    if checks.blocks((*issues, *file_level), project.project_id):
        return replace(result, issues=issues, total=None, grade="", self_total=None)
    return replace(result, issues=issues)


class Timeout(BaseException):
    """The per-input time limit. A BaseException, so that no ``except Exception`` in the
    reader or a library can swallow it."""


class time_limit:
    """Raise :class:`Timeout` inside the worker after ``seconds``: SIGALRM works in a
    process's main thread, which is where a helper process runs its jobs. Elsewhere (threads)
    it does nothing, as it does for no limit (0 or infinity)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.active = 0 < seconds < math.inf and threading.current_thread() is threading.main_thread() \
            and hasattr(signal, "setitimer")

    def __enter__(self):
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def _fire(self, signum, frame):
        raise Timeout()

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


def _read_check_score(ref: InputRef, rules: Rules, limits: Limits, approved: Approved | None) -> Analysis:
    from .reader import read_workbook  # calamine and numpy: imported by the work that reads, not by every user
    from .xlsx.meta import saved_time

    with time_limit(limits.seconds):
        try:
            data = ref.read(limits.max_file_bytes)  # size from stat first: never read past the limit
        except UnreadableInput as exc:
            return Analysis(ref, (), (issue(exc.code, str(exc), file=ref.name),))
        submission = read_workbook(ref.name, data, name=ref.name, limits=limits)
        results, issues = evaluate(submission, rules, approved)
        # Only a file the guard let through is opened a second time.
        saved = None if any(i.code.unreadable for i in issues) else saved_time(data)
    return Analysis(ref, results, issues, submission.sheet_order, saved, tuple(submission.layouts.items()))


def analyse(ref: InputRef | str | Path, rules: Rules | None = None, limits: Limits = Limits(),
            approved: Approved | None = None) -> Analysis:
    """Read, check and score one input (an :class:`InputRef` or a workbook's path), within
    its time limit; with ``approved``, compared with the approved targets too. Never raises
    for a bad input: an unreadable, too slow or too large file, or an internal error,
    becomes a file-level issue."""
    if not isinstance(ref, InputRef):
        try:
            ref = file_ref(ref)
        except OSError as exc:  # not a regular file, or not readable
            ref = InputRef(os.fspath(ref), display_name(os.fspath(ref)), "", dt.datetime.now(dt.timezone.utc))
            return Analysis(ref, (), (unreadable_file(exc, ref.name),))
    rules = rules or load_rules()
    try:
        return _read_check_score(ref, rules, limits, approved)
    except Timeout:
        problem = issue(Code.TIMEOUT, f"处理时间超过 {limits.seconds:g} 秒上限，已中止。请检查文件是否异常巨大。", file=ref.name)
    except MemoryError:
        problem = issue(Code.MEMORY_LIMIT, f"处理所需内存超过 {limits.memory_mb} MB 上限，已中止。", file=ref.name)
    except OSError as exc:
        problem = unreadable_file(exc, ref.name)
    except Exception as exc:  # noqa: BLE001 - one bad workbook never stops the batch
        problem = issue(Code.INTERNAL_ERROR, "处理时发生内部错误，请将该文件转交技术支持。",
                        file=ref.name, value=f"{type(exc).__name__}: {exc}"[:300])
    return Analysis(ref, (), (problem,))
