"""The batch's two phases over an executor (:mod:`.workers`): (A) read, check and score each
input (:func:`selfeval_xlsx.pipeline.analyse`), keeping the full analysis in the output
folder's cache; between the phases the main process decides which submissions count
(:mod:`.decisions`); (B) write each input's annotated copy and its reports, and
``summary.xlsx`` as one more job; then, when asked, one reply draft per department
(:mod:`selfeval_xlsx.replies`), which attaches those copies. With approved targets, phase A
compares each project with them (the targets go to each worker once, as a file). A manifest makes reruns incremental, and every file is
written under a temporary name and renamed, so a killed run leaves no partial file behind.
"""
from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path
from typing import Callable

from .._io import atomic_write_bytes, safe_filename
from ..errors import SelfevalError
from ..guard import Limits
from ..intake import InputRef, Skipped
from ..issues import Code, Issue, issue
from ..models import ProjectResult
from ..pipeline import Analysis, Approved, analyse
from ..present import level1_columns
from ..rules import Rules, load_rules
from .decisions import Notes, apply, decide, gather
from .options import RunOptions, RunResult
from .store import (STATE_DIR, Manifest, fingerprint, load_analysis, output_lock, remove_temporaries,
                    save_analysis, slim)
from .workers import Workers


# ---------------------------------------------------------------- phase A: read and score

_TARGETS: dict[str, Approved] = {}


def _approved(handle: tuple[Path, str, bool] | None) -> Approved | None:
    """The approved targets a job compares with, from the file the run saved them in
    (``handle``: path, digest, score on them), loaded once per worker process: a county's
    targets pickle to megabytes, too much to send with every job."""
    if handle is None:
        return None
    path, digest, on_approved = handle
    if digest not in _TARGETS:
        _TARGETS[digest] = Approved(pickle.loads(Path(path).read_bytes()), on_approved)
    return _TARGETS[digest]


def _analyse_and_cache(ref: InputRef, rules: Rules, limits: Limits, cache: Path,
                       approved: tuple[Path, str, bool] | None = None) -> Analysis:
    """Phase A's job: analyse and keep the answer for the writers and the next run (written
    by the worker, so the main process does not pickle everything twice)."""
    analysis = analyse(ref, rules, limits, _approved(approved))
    save_analysis(cache, analysis)
    return slim(analysis)


# ---------------------------------------------------------------- phase B: write outputs

_RENDERERS: dict = {}


def _renderer(template: Path | None):
    """One prepared report renderer per worker process and template."""
    from ..report import ReportRenderer

    key = str(template)
    if key not in _RENDERERS:
        _RENDERERS[key] = ReportRenderer(template, sandboxed=template is not None)
    return _RENDERERS[key]


def publish(ref: InputRef, cache: Path, notes: tuple[Issue, ...], copy_name: str, report_names: dict[str, str],
            output: Path, template: Path | None, reports: bool, grades: tuple[str, ...],
            generated: dt.datetime | None = None) -> tuple[list[str], list[Issue]]:
    """Write one input's annotated copy and the reports of its kept, scored projects (file
    names from ``report_names``, 项目编号 -> name), from its cached analysis and the batch's
    decisions about it (``notes``, see :func:`decide`); ``generated`` dates the reports.
    Returns the written paths (relative to ``output``) and problems met while writing."""
    from ..annotate import annotate_workbook

    analysis = load_analysis(cache, ref)
    if analysis is None:
        return [], [issue(Code.CACHE_MISSING, "中间结果文件缺失，本文件的副本和报告未生成；请重新运行。", file=ref.name)]
    analysis = apply(analysis, notes)
    written, problems = [], []
    if not analysis.unreadable:  # a refused file is never opened again
        try:
            annotate_workbook(ref.read(), output / "workbooks" / copy_name, analysis.results, analysis.all_issues,
                              grades=grades)
            written.append(f"workbooks/{copy_name}")
        except Exception as exc:  # noqa: BLE001 - the department copy is best effort per file
            problems.append(issue(Code.COPY_FAILED, "无法生成带自评结果的工作簿副本，其余结果不受影响。",
                                  file=ref.name, value=f"{type(exc).__name__}: {exc}"[:300]))
    if reports:
        for result in analysis.results:
            if result.total is None:
                continue
            try:
                path = _renderer(template).write(result, output / "reports", report_names.get(result.project.project_id),
                                                generated=generated)
                written.append(f"reports/{path.name}")
            except Exception as exc:  # noqa: BLE001 - a template error stops one report only
                problems.append(issue(Code.REPORT_FAILED, f"项目「{result.project.project_id}」的报告生成失败：{exc}",
                                      file=ref.name, project_id=result.project.project_id))
    return written, problems


def _summary_job(sources: list[tuple[InputRef, Path]], notes: Notes, issues: list[Issue],
                 level1: list[str], grades: tuple[str, ...], path: Path,
                 sheet_orders: dict[str, tuple[str, ...]] | None = None, approved: bool = False) -> Path | None:
    """Phase B's summary job: ``summary.xlsx`` with the projects streamed one input at a
    time from the cache files (memory stays flat however large the batch). None when a
    cache file is gone."""
    from ..summary import write_summary

    def results():
        for ref, cache in sources:
            analysis = load_analysis(cache, ref)
            if analysis is None:
                raise FileNotFoundError(cache)
            yield from apply(analysis, notes.get(ref.sha256, ())).results

    try:
        return write_summary(path, results(), issues, level1=level1, grades=grades, sheet_orders=sheet_orders,
                             approved=approved)
    except FileNotFoundError:
        return None


def _report_names(results: list[ProjectResult]) -> dict[str, str]:
    """项目编号 -> report file name for every scored project, unique in ``reports/``: two ids
    that differ only in characters a file name cannot hold (``P:1``, ``P*1``) would
    otherwise overwrite each other's report."""
    from ..report import report_filename

    names: dict[str, str] = {}
    used: set[str] = set()
    for result in sorted((r for r in results if r.total is not None), key=lambda r: r.project.project_id):
        name = report_filename(result)
        stem, n = name[:-len(".docx")], 1
        while name.lower() in used:  # Windows file names ignore case
            n += 1
            name = f"{stem}_{n}.docx"
        used.add(name.lower())
        names[result.project.project_id] = name
    return names


def _copy_names(refs: list[InputRef]) -> dict[str, str]:
    """Input sha -> file name of its copy in workbooks/, unique and stable across runs."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for ref in sorted(refs, key=lambda r: (r.name, r.sha256)):
        stem = safe_filename(Path(ref.name.replace(" » ", "__")).with_suffix("").as_posix().replace("/", "__"), 100)
        name = f"{stem}.xlsx"
        if name in used:
            name = f"{stem}_{ref.sha256[:8]}.xlsx"
        used.add(name)
        names[ref.sha256] = name
    return names



# ---------------------------------------------------------------- the run

def run(refs: list[InputRef], options: RunOptions, *, skipped: list[Skipped] = (),
        progress: Callable[[int], None] | None = None) -> RunResult:
    """Process ``refs`` into ``options.output``: copies in ``workbooks/``, reports in
    ``reports/``, and ``summary.xlsx``. ``progress(n)`` is called as units of work finish
    (two per input). Returns what happened; never raises for bad input. Raises
    ``SelfevalError`` when another run is writing to the same output folder."""
    with output_lock(options.output):
        return _run(refs, options, skipped, progress)


def _run(refs: list[InputRef], options: RunOptions, skipped: list[Skipped],
         progress: Callable[[int], None] | None) -> RunResult:
    output = options.output
    tick = (lambda *_: progress(1)) if progress else (lambda *_: None)
    rules = load_rules(options.rules_path, strict=options.strict)
    started = dt.datetime.now(dt.timezone.utc)  # the reports' date: one per run
    remove_temporaries(output)
    manifest = Manifest(output, fingerprint(rules, options), options.force)
    copy_names = _copy_names(refs)
    result = RunResult(output, inputs=len(refs), skipped=list(skipped))

    cached = {ref.sha256: manifest.cached(ref, output) for ref in refs}
    todo = [ref for ref in refs if cached[ref.sha256] is None]
    redone = {ref.sha256 for ref in todo}
    result.reused = len(refs) - len(todo)
    workers = Workers(options)
    try:
        for _ in range(result.reused):
            tick()
        approved = None
        if options.targets is not None and todo:
            saved = atomic_write_bytes(manifest.dir / "targets.pickle", pickle.dumps(options.targets))
            approved = (saved, f"{options.targets.digest}|{options.score_on_approved}", options.score_on_approved)
        fresh = workers.map([(_analyse_and_cache, ref, rules, options.limits, manifest.cache_path(ref.sha256), approved)
                             for ref in todo], tick)
        crashed = {ref.sha256 for ref, analysis in zip(todo, fresh) if analysis is None}
        for ref, analysis in zip(todo, fresh):
            if analysis is None:  # not cached: the next run tries this input again
                analysis = Analysis(ref, (), (issue(
                    Code.WORKER_CRASH, f"处理该文件时工作进程异常退出或超时（上限 {options.limits.seconds:g} 秒、"
                    f"{options.limits.memory_mb} MB），已跳过。", file=ref.name),))
            cached[ref.sha256] = analysis
        analyses = [cached[ref.sha256] for ref in refs]
        notes = decide(analyses)
        shown, result.results, result.issues = gather(analyses, skipped, notes)
        result.rejected = sum(a.rejected for a in analyses)
        result.rejections = {a.ref.name: [i for i in a.issues if i.blocks_file] for a in analyses if a.rejected}
        sheet_orders = {a.ref.name: a.sheet_order for a in analyses}
        if options.targets is not None:  # the targets file's own problems, approved projects never submitted
            result.issues.extend(options.targets.notes(result.results))

        # Phase B for inputs that are new, or whose set of published projects changed. The
        # summary is one more job, first because it is the longest; like the others it reads
        # the full analyses from the cache files.
        sources = [(ref, manifest.cache_path(ref.sha256)) for ref in refs if ref.sha256 not in crashed]
        level1 = level1_columns(k for r in result.counted for k in r.subtotals)
        report_names = _report_names(result.results)
        grades = rules.grade_names
        jobs = [(_summary_job, sources, notes, result.issues, level1, grades, output / "summary.xlsx", sheet_orders,
                 options.targets is not None)]
        owners = []
        for analysis in shown:  # as published: a project a newer submission replaced has no report
            sha = analysis.ref.sha256
            published = sorted(r.project.project_id for r in analysis.results if r.total is not None)
            entry = manifest.entries.get(sha)
            if sha in crashed or (entry and entry.get("published") == published and sha not in redone):
                tick()
                continue
            jobs.append((publish, analysis.ref, manifest.cache_path(sha), notes.get(sha, ()), copy_names[sha],
                         report_names, output, options.report_template, options.reports, grades, started))
            owners.append((analysis, published))
        written = workers.map(jobs, lambda i: i and tick(), timed=bool)  # job 0, the summary, is not one input's
        if options.replies:  # after the copies and reports they attach
            result.replies = _replies(workers, output, shown, copy_names, report_names, options.replies_with_reports)
    finally:
        workers.close()

    extra: list[Issue] = []
    for (analysis, published), outcome in zip(owners, written[1:]):
        paths, problems = outcome if outcome is not None else ([], [issue(
            Code.WORKER_CRASH, "写出该文件的结果时工作进程异常退出。", file=analysis.ref.name)])
        extra.extend(problems)
        manifest.record(analysis.ref, "rejected" if analysis.rejected else "ok", paths, published)
    for path in manifest.stale_outputs():
        (output / path).unlink(missing_ok=True)
    if extra or written[0] is None:  # rare: problems met while writing belong in 问题清单 too
        result.issues.extend(extra)
        if _summary_job(sources, notes, result.issues, level1, grades, output / "summary.xlsx", sheet_orders,
                        options.targets is not None) is None:
            raise SelfevalError(f"输出文件夹中的中间结果（{STATE_DIR}）在运行中被删除，无法写出 summary.xlsx；请重新运行。")
    manifest.save()
    result.reports = sorted((output / "reports").glob("*.docx")) if (output / "reports").exists() else []
    return result


def _replies(workers: Workers, output: Path, shown: list[Analysis], copy_names: dict[str, str],
             report_names: dict[str, str], with_reports: bool) -> list[Path]:
    """One reply draft per department, as parallel jobs, with the copies and reports on disk."""
    from ..replies import plan_replies, remove_stale, write_reply

    copies = {sha: output / "workbooks" / name for sha, name in copy_names.items()
              if (output / "workbooks" / name).exists()}
    reports = {pid: output / "reports" / name for pid, name in report_names.items()
               if with_reports and (output / "reports" / name).exists()}
    planned = plan_replies(output, shown, copies, reports)
    written = workers.map([(write_reply, path, reply, with_reports) for path, reply in planned], lambda i: None)
    remove_stale(output, [path for path, _ in planned])
    return [path for path in written if path is not None]


