"""What the batch decides between its two phases, as records: which submission of a project
counts (the newest of a department's), and which 项目编号 two departments both claim. A
decision is a note (an :class:`~selfeval_xlsx.issues.Issue`) per input; :func:`apply` gives
the analysis as the outputs show it, without changing the analysis itself."""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping

from ..intake import Skipped
from ..issues import Code, Issue, issue
from ..models import ProjectResult
from ..pipeline import Analysis

Notes = Mapping[str, tuple[Issue, ...]]  # input sha256 -> the decisions about its projects


def _newest_first(analyses: Iterable[Analysis]) -> list[Analysis]:
    return sorted(analyses, key=lambda a: (a.ref.submitted, a.ref.name), reverse=True)


def decide(analyses: Iterable[Analysis]) -> dict[str, tuple[Issue, ...]]:
    """Superseded submissions (same department and 项目编号: the newest counts) and
    conflicts (same 项目编号 from different departments: neither counts), as notes per input
    (sha256 -> the problems to attach there). Each note blocks the project it names."""
    notes: dict[str, list[Issue]] = {}
    owners: dict[str, tuple[Analysis, ProjectResult]] = {}
    for analysis in _newest_first(analyses):
        for result in analysis.results:
            pid = result.project.project_id
            if pid not in owners:
                owners[pid] = (analysis, result)
                continue
            newer, kept = owners[pid]
            if kept.project.department == result.project.department:
                note = issue(Code.SUPERSEDED, f"项目「{pid}」已由较新的提交「{newer.ref.name}」"
                             f"（{newer.ref.submitted:%Y-%m-%d %H:%M}）取代，本文件中的该项目不再计分。",
                             **_where_id(analysis, result))
                notes.setdefault(analysis.ref.sha256, []).append(note)
                continue
            msg = (f"项目编号「{pid}」同时出现在「{analysis.ref.name}」（{result.project.department}）和"
                   f"「{newer.ref.name}」（{kept.project.department}）中，主管部门不同，无法判断归属，两处均不计分。"
                   "请核对项目编号。")
            for a, r in ((analysis, result), (newer, kept)):
                note = issue(Code.DUPLICATE_PROJECT_ACROSS_FILES, msg, **_where_id(a, r))
                if note not in notes.setdefault(a.ref.sha256, []):
                    notes[a.ref.sha256].append(note)
    return {sha: tuple(found) for sha, found in notes.items()}


def _where_id(analysis: Analysis, result: ProjectResult) -> dict:
    p = result.project
    return {"file": analysis.ref.name, "sheet": p.sheet, "row": p.row, "col": p.cols.get("project_id"),
            "project_id": p.project_id, "value": p.project_id}


def apply(analysis: Analysis, notes: Iterable[Issue]) -> Analysis:
    """The analysis as the outputs show it: each project a note names is blocked (no score,
    no report) and carries the note."""
    by_id: dict[str, list[Issue]] = {}
    for note in notes:
        by_id.setdefault(note.project_id, []).append(note)
    if not by_id:
        return analysis
    results = tuple(replace(r, total=None, grade="", self_total=None, issues=(*r.issues, *by_id[r.project.project_id]))
                    if r.project.project_id in by_id else r for r in analysis.results)
    return replace(analysis, results=results)


def gather(analyses: Iterable[Analysis], skipped: Iterable[Skipped] = (),
           notes: Notes | None = None) -> tuple[list[Analysis], list[ProjectResult], list[Issue]]:
    """The batch's decisions applied (``notes``, by default :func:`decide`'s): the analyses as
    shown, every project result and every problem of the run, each problem once."""
    analyses = list(analyses)
    notes = decide(analyses) if notes is None else notes
    shown = [apply(a, notes.get(a.ref.sha256, ())) for a in analyses]
    issues = [i for a in shown for i in a.all_issues]
    issues += [issue(s.code, s.reason, file=s.path) for s in skipped]
    return shown, [r for a in shown for r in a.results], list(dict.fromkeys(issues))
