"""What the batch decides between its two phases, as records: which submission of a project
counts (the newest of a department's, on one clock: DOMAIN.md §8 and :mod:`..clock`), and
which 项目编号 two departments both claim. A decision is a :class:`Note` per input; :func:`apply`
gives the analysis as the outputs show it, without changing the analysis itself."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Mapping

from .. import clock
from ..intake import Skipped
from ..issues import Code, Issue, issue
from ..models import Project, ProjectResult, Receipt
from ..pipeline import Analysis


@dataclass(frozen=True)
class Note:
    """One decision about one project of one input: the problem shown for it and, for a
    submission a newer one replaced, the name of the input that replaced it."""

    issue: Issue
    replaced_by: str = ""


Notes = Mapping[str, tuple[Note, ...]]  # input sha256 -> the decisions about its projects


def _stamps(analysis: Analysis, project: Project) -> tuple[clock.Stamp, ...]:
    ref = analysis.ref
    return clock.stamps(ref.submitted, ref.submitted_basis, analysis.saved_at, project.submitted)


def receipt(analysis: Analysis, project: Project) -> Receipt:
    """When (on the one clock) and from whom the batch takes ``project`` to have come."""
    best = _stamps(analysis, project)[0]
    return Receipt(best.time, clock.BASIS[best.basis], analysis.ref.sender)


def _newest_first(analyses: Iterable[Analysis]) -> list[tuple[Analysis, ProjectResult, tuple[clock.Stamp, ...]]]:
    """Every (input, project, its stamps), the newest submission first; the input's name
    breaks a tie the clocks leave."""
    found = [(a, r, _stamps(a, r.project)) for a in analyses for r in a.results]
    return sorted(found, key=lambda c: (clock.order_key(c[2]), c[0].ref.name), reverse=True)


def decide(analyses: Iterable[Analysis]) -> dict[str, tuple[Note, ...]]:
    """Superseded submissions (same department and 项目编号: the newest counts), a warning on
    the kept one when the order rests on clocks of different kinds or on minutes, and
    conflicts (same 项目编号 from different departments: neither counts), as notes per input
    (sha256 -> notes)."""
    notes: dict[str, list[Note]] = {}
    owners: dict[str, tuple[Analysis, ProjectResult, tuple[clock.Stamp, ...]]] = {}
    doubtful: dict[tuple[str, str], tuple[tuple, tuple, str, list[str]]] = {}  # one warning per pair of inputs

    def add(analysis: Analysis, note: Note) -> None:
        if note not in notes.setdefault(analysis.ref.sha256, []):
            notes[analysis.ref.sha256].append(note)

    for analysis, result, stamps in _newest_first(analyses):
        pid = result.project.project_id
        if pid not in owners:
            owners[pid] = (analysis, result, stamps)
            continue
        newer, kept, newer_stamps = owners[pid]
        if kept.project.department == result.project.department:
            add(analysis, Note(issue(Code.SUPERSEDED, f"项目「{pid}」已由较新的提交「{newer.ref.name}」（{newer_stamps[0]}）"
                                     f"取代，本提交（{stamps[0]}）中的该项目不再计分。", **_where_id(analysis, result)),
                               replaced_by=newer.ref.name))
            why = clock.doubtful(newer_stamps[0], stamps[0])
            if why:
                pair = doubtful.setdefault((newer.ref.sha256, analysis.ref.sha256),
                                           ((newer, newer_stamps), (analysis, stamps), why, []))
                pair[3].append(pid)
            continue
        msg = (f"项目编号「{pid}」同时出现在「{analysis.ref.name}」（{result.project.department}）和"
               f"「{newer.ref.name}」（{kept.project.department}）中，主管部门不同，无法判断归属，两处均不计分。"
               "请核对项目编号。")
        for a, r in ((analysis, result), (newer, kept)):
            add(a, Note(issue(Code.DUPLICATE_PROJECT_ACROSS_FILES, msg, **_where_id(a, r))))
    for kept, replaced, why, pids in doubtful.values():
        add(kept[0], Note(issue(Code.SUBMISSION_ORDER, _order_message(pids, kept, replaced, why), file=kept[0].ref.name)))
    return {sha: tuple(found) for sha, found in notes.items()}


def _order_message(pids: list[str], kept: tuple[Analysis, tuple], replaced: tuple[Analysis, tuple], why: str) -> str:
    """Both candidates, which one counts and why, for the analyst to confirm (one message
    for every project the two inputs share)."""
    (newer, newer_stamps), (older, older_stamps) = kept, replaced
    named = "、".join(f"「{p}」" for p in pids[:5]) + (f"等 {len(pids)} 个项目" if len(pids) > 5 else "")
    if newer_stamps[0].instant == older_stamps[0].instant:  # the next clocks decided (see clock.order_key)
        rest = f"（{newer_stamps[1]}；{older_stamps[1]}）" if len(newer_stamps) > 1 and len(older_stamps) > 1 else ""
        reason = f"按其次的时间依据{rest}"
    else:
        reason = "按时间较新者（时间依据依次为填报日期、邮件发送时间、工作簿保存时间、文件修改时间）"
    return (f"项目{named}有两份提交：「{newer.ref.name}」（{newer_stamps[0]}）和「{older.ref.name}」（{older_stamps[0]}），"
            f"{why}；{reason}，计分的是「{newer.ref.name}」。如有误，请移走不应计分的文件后重新运行。")


def _where_id(analysis: Analysis, result: ProjectResult) -> dict:
    p = result.project
    return {"file": analysis.ref.name, "sheet": p.sheet, "row": p.row, "col": p.cols.get("project_id"),
            "project_id": p.project_id, "value": p.project_id}


def apply(analysis: Analysis, notes: Iterable[Note]) -> Analysis:
    """The analysis as the outputs show it (a note naming no project is about the input as a
    whole and joins its problems). Each project gets its :class:`Receipt`. A
    project a newer submission replaced is 已取代: no score, no report, and its one problem is
    the note naming the replacement (its own problems no longer concern anyone; when every
    project of the input is replaced, neither do the input's). An error note (a conflict)
    blocks the project; a warning note is added to it."""
    by_id: dict[str, list[Note]] = {}
    for note in notes:
        by_id.setdefault(note.issue.project_id, []).append(note)
    own = tuple(n.issue for n in by_id.pop("", ()))  # about the input as a whole
    results = []
    for r in analysis.results:
        mine = by_id.get(r.project.project_id, [])
        r = replace(r, receipt=receipt(analysis, r.project))
        replaced_by = next((n.replaced_by for n in mine if n.replaced_by), "")
        if replaced_by:
            r = replace(r, total=None, grade="", self_total=None, superseded_by=replaced_by,
                        issues=tuple(n.issue for n in mine if n.replaced_by))
        elif any(n.issue.is_error for n in mine):
            r = replace(r, total=None, grade="", self_total=None, issues=(*r.issues, *(n.issue for n in mine)))
        elif mine:
            r = replace(r, issues=(*r.issues, *(n.issue for n in mine)))
        results.append(r)
    replaced = bool(results) and all(r.superseded_by for r in results)
    return replace(analysis, results=tuple(results), issues=() if replaced else (*analysis.issues, *own))


def gather(analyses: Iterable[Analysis], skipped: Iterable[Skipped] = (),
           notes: Notes | None = None) -> tuple[list[Analysis], list[ProjectResult], list[Issue]]:
    """The batch's decisions applied (``notes``, by default :func:`decide`'s): the analyses as
    shown, every project result (superseded ones included, see ``superseded_by``) and every
    problem of the run, each problem once."""
    analyses = list(analyses)
    notes = decide(analyses) if notes is None else notes
    shown = [apply(a, notes.get(a.ref.sha256, ())) for a in analyses]
    issues = [i for a in shown for i in a.all_issues]
    issues += [issue(s.code, s.reason, file=s.path) for s in skipped]
    return shown, [r for a in shown for r in a.results], list(dict.fromkeys(issues))
