"""The batch's two phases over an executor (:mod:`.workers`): (A) read, check and score each
input (:func:`selfeval_xlsx.pipeline.analyse`), keeping the full analysis in the output
folder's cache; between the phases the main process decides which submissions count
(:mod:`.decisions`); (B) write each input's annotated copy and its reports, and
``summary.xlsx`` as one more job; then, when asked, one reply draft per department
(:mod:`selfeval_xlsx.replies`), which attaches those copies. With approved targets, phase A
compares each project with them (the targets go to each worker once, as a file). A manifest
makes reruns incremental: only changed inputs are analysed again, only inputs whose outputs
change are written again, ``summary.xlsx`` only when what it shows changed, and an unchanged
rerun writes nothing (nor starts a worker). Every file is written under a temporary name and
renamed, so a killed run leaves no partial file behind.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import pickle
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .._io import STATE_DIR, atomic_write_bytes, private_tmp, raise_write_failure, safe_filename, unique_name
from ..errors import SelfevalError
from ..guard import Limits
from ..intake import InputRef, Skipped
from ..issues import Code, Issue, issue
from ..models import ProjectResult
from ..pipeline import Analysis, Approved, analyse
from ..present import level1_columns
from ..rules import Rules, load_rules
from .decisions import Note, Notes, apply, decide, gather
from .options import RunOptions, RunResult
from .store import Kept, Manifest, clean_state, fingerprint, load_analysis, output_lock, pickled, save_analysis, slim

if TYPE_CHECKING:
    from .workers import Failure

LIMITED = (Code.TIMEOUT, Code.MEMORY_LIMIT)  # refusals that hold for the limits they met only


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
                       approved: tuple[Path, str, bool] | None = None) -> Kept:
    """Phase A's job: analyse and keep the answer for the writers and the next run (written
    by the worker, so the main process does not pickle everything twice); answers with the
    slim analysis (see :class:`Kept`)."""
    analysis = analyse(ref, rules, limits, _approved(approved))
    try:
        save_analysis(cache, analysis)
    except OSError as exc:
        raise_write_failure(exc, cache)
        raise
    return Kept(slim(analysis))


def _failed_analysis(ref: InputRef, failure: Failure, limits: Limits) -> Analysis:
    """The analysis of an input whose job gave no answer (see :class:`Failure`)."""
    if failure.kind == "timeout":
        problem = issue(Code.TIMEOUT, f"处理时间超过 {limits.seconds:g} 秒上限，已强制中止。请检查文件是否异常巨大。",
                        file=ref.name)
    elif failure.kind == "died":
        problem = issue(Code.WORKER_CRASH, f"处理该文件的子进程两次异常退出（{failure.detail}），可能超出 "
                        f"{limits.memory_mb} MB 内存上限；已跳过，下次运行会重试。", file=ref.name)
    elif failure.kind == "lost":
        problem = issue(Code.WORKER_CRASH, "集群中处理该文件的工作进程两次意外退出，已跳过，下次运行会重试。",
                        file=ref.name, value=failure.detail)
    else:
        problem = issue(Code.WORKER_CRASH, "处理该文件时工作进程出错，已跳过，下次运行会重试。", file=ref.name,
                        value=failure.detail)
    return Analysis(ref, (), (problem,))


# ---------------------------------------------------------------- phase B: write outputs

_RENDERERS: dict = {}


def _renderer(template: Path | None):
    """One prepared report renderer per worker process and template."""
    from ..report import ReportRenderer

    key = str(template)
    if key not in _RENDERERS:
        _RENDERERS[key] = ReportRenderer(template, sandboxed=template is not None)
    return _RENDERERS[key]


def _prepare_renderer(template: Path | None) -> None:
    """Prepare the report renderer in this process, so helpers forked from it share it
    (~0.2 s of CPU each otherwise). Best effort: a template that fails is reported by the
    jobs that use it, as always."""
    try:
        _renderer(template)
    except Exception:  # noqa: BLE001 - see above
        pass


def publish(ref: InputRef, cache: Path, notes: tuple[Note, ...], copy_name: str, report_names: dict[str, str],
            output: Path, template: Path | None, reports: bool, grades: tuple[str, ...],
            generated: dt.datetime | None = None) -> tuple[list[str], list[Issue]]:
    """Write one input's annotated copy and the reports of its kept, scored projects (file
    names from ``report_names``, this input's 项目编号 -> name), from its cached analysis and
    the batch's decisions about it (``notes``, see :func:`decide`); ``generated`` dates the
    reports. Returns the written paths (relative to ``output``) and problems met while
    writing. Raises ``OutputError`` when the output folder refuses a write (disk full,
    permission): that stops the run."""
    try:
        return _publish(ref, cache, notes, copy_name, report_names, output, template, reports, grades, generated)
    except OSError as exc:
        raise_write_failure(exc)
        raise


def _publish(ref, cache, notes, copy_name, report_names, output, template, reports, grades, generated):
    analysis = load_analysis(cache, ref)
    if analysis is None:
        return [], [issue(Code.CACHE_MISSING, "中间结果文件缺失，本文件的副本和报告未生成；请重新运行。", file=ref.name)]
    analysis = apply(analysis, notes)
    written, problems = [], []
    if not analysis.unreadable:  # a refused file is never opened again
        path = output / "workbooks" / copy_name
        problem = _department_copy(ref, analysis, path, grades)
        if problem is None:
            written.append(f"workbooks/{copy_name}")
        else:
            problems.append(problem)
    if reports:
        for result in analysis.results:
            if result.total is None:
                continue
            try:
                path = _renderer(template).write(result, output / "reports", report_names.get(result.project.project_id),
                                                generated=generated)
                written.append(f"reports/{path.name}")
            except Exception as exc:  # noqa: BLE001 - a template error stops one report only
                raise_write_failure(exc, output / "reports")
                problems.append(issue(Code.REPORT_FAILED, f"项目「{result.project.project_id}」的报告生成失败：{exc}",
                                      file=ref.name, project_id=result.project.project_id))
    return written, problems


def _department_copy(ref, analysis, path: Path, grades) -> Issue | None:
    """Write the marked copy of ``ref`` to ``path``; the problem that cost it, if any (the
    copy is best effort per file). Only a write the output folder refused stops the run: an
    input that cannot be read again costs its copy."""
    from ..annotate import annotate_workbook

    try:
        data = ref.read()
    except Exception as exc:  # noqa: BLE001 - see above
        return issue(Code.COPY_FAILED, "无法再次读取该文件，带自评结果的工作簿副本未生成，其余结果不受影响。",
                     file=ref.name, value=f"{type(exc).__name__}: {exc}"[:300])
    try:
        annotate_workbook(data, path, analysis.results, analysis.all_issues, grades=grades)
    except Exception as exc:  # noqa: BLE001 - see above
        raise_write_failure(exc, path)
        return issue(Code.COPY_FAILED, "无法生成带自评结果的工作簿副本，其余结果不受影响。",
                     file=ref.name, value=f"{type(exc).__name__}: {exc}"[:300])
    return None


class _CacheGone(Exception):
    """A cache file the summary needs was deleted during the run."""


def _summary_job(sources: list[tuple[InputRef, Path]], notes: Notes, issues: list[Issue],
                 level1: list[str], grades: tuple[str, ...], path: Path,
                 sheet_orders: dict[str, tuple[str, ...]] | None = None, approved: bool = False) -> Path | None:
    """Phase B's summary job: ``summary.xlsx`` with the projects streamed one input at a
    time from the cache files (memory stays flat however large the batch), its temporary
    files in the output folder's own temporary folder. None when a cache file is gone."""
    from ..summary import write_summary

    def results():
        for ref, cache in sources:
            analysis = load_analysis(cache, ref)
            if analysis is None:
                raise _CacheGone(cache)
            yield from apply(analysis, notes.get(ref.sha256, ())).results

    tmpdir = private_tmp(path.parent)
    try:
        tmpdir.mkdir(parents=True, exist_ok=True)
        return write_summary(path, results(), issues, level1=level1, grades=grades, sheet_orders=sheet_orders,
                             approved=approved, tmpdir=tmpdir)
    except _CacheGone:
        return None
    except Exception as exc:
        raise_write_failure(exc, path)
        raise


def _report_names(results: list[ProjectResult]) -> dict[str, str]:
    """项目编号 -> report file name for every scored project, unique in ``reports/``: two ids
    that differ only in characters a file name cannot hold (``P:1``, ``P*1``) would
    otherwise overwrite each other's report."""
    from ..report import report_filename

    names: dict[str, str] = {}
    used: set[str] = set()
    for result in sorted((r for r in results if r.total is not None), key=lambda r: r.project.project_id):
        names[result.project.project_id] = unique_name(report_filename(result), used)
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
        progress: Callable[[int], None] | None = None, notice: Callable[[str], None] | None = None) -> RunResult:
    """Process ``refs`` into ``options.output``: copies in ``workbooks/``, reports in
    ``reports/``, and ``summary.xlsx``. ``progress(n)`` is called as units of work finish
    (two per input); ``notice(text)`` for what the user should know while waiting (a cluster
    without workers). Returns what happened; never raises for bad input. Raises
    ``SelfevalError`` when the run cannot go on: another run is writing to the same output
    folder, the folder refuses writes (``OutputError``), the cluster is unusable
    (``ClusterError``)."""
    # Absolute paths: a cluster's workers run in folders of their own.
    options = replace(options, output=Path(os.path.abspath(options.output)),
                      report_template=Path(os.path.abspath(options.report_template)) if options.report_template else None)
    refs = [replace(ref, path=os.path.abspath(ref.path)) for ref in refs]
    with output_lock(options.output, options.break_lock):
        return _Run(refs, options, list(skipped), progress, notice).run()


class _Run:
    """One run's state between its steps."""

    def __init__(self, refs, options: RunOptions, skipped: list[Skipped], progress, notice):
        self.refs, self.options, self.output = refs, options, options.output
        self.tick = (lambda *_: progress(1)) if progress else (lambda *_: None)
        self.notice = notice or (lambda text: None)
        self.rules = load_rules(options.rules_path, strict=options.strict)
        self.started = dt.datetime.now(dt.timezone.utc)  # the reports' date: one per run
        self.tmp = clean_state(self.output)
        self.manifest = Manifest(self.output, fingerprint(self.rules, options), options.force, options.limits)
        self.result = RunResult(self.output, inputs=len(refs), skipped=skipped)
        self.workers = None
        self.changed = False
        self.extra: list[Issue] = []  # problems met while writing, for 问题清单

    def run(self) -> RunResult:
        try:
            analyses, crashed = self._phase_a()
            notes = decide(analyses)
            result = self.result
            shown, result.results, result.issues = gather(analyses, result.skipped, notes)
            result.rejected = sum(a.rejected for a in analyses)
            result.rejections = {a.ref.name: [i for i in a.issues if i.blocks_file] for a in analyses if a.rejected}
            if self.options.targets is not None:  # the targets file's own problems, approved projects never submitted
                result.issues.extend(self.options.targets.notes(result.results))
            self._phase_b(analyses, shown, notes, crashed)
            if self.options.replies:  # after the copies and reports they attach
                result.replies = self._replies(shown)
        except BaseException:
            if self.workers is not None:
                self.workers.close()
                clean_state(self.output)  # what the ended helpers were writing (the lock is still ours)
            raise
        if self.workers is not None:
            self.workers.close()
        if self.changed:
            self.manifest.save(self.summary_key, {sha: kept for sha, kept in self.kept.items() if sha not in crashed})
        reports = self.output / "reports"
        names = sorted(n for n in os.listdir(reports) if n.endswith(".docx")) if reports.is_dir() else []
        self.result.reports = [reports / n for n in names]
        return self.result

    def _map(self, jobs: list[tuple], on_done, timed=lambda i: True, *, order: list[int] | None = None,
             reports: bool = False) -> list:
        """Run ``jobs`` on the workers (opened on first use), started in ``order`` (job
        indices; default as given); ``reports``: the jobs lead to reports, so a local pool's
        helpers get the renderer prepared before they fork."""
        if not jobs:
            return []
        if self.workers is None:
            from .workers import open_workers  # threads, subprocesses: only when there is work

            if reports and self.options.reports and not self.options.scheduler:
                _prepare_renderer(self.options.report_template)
            env = {"TMPDIR": str(self.tmp)}  # whatever a library puts there stays in DIR
            self.workers = open_workers(self.options, self.notice, env)
            if self.options.scheduler:
                files = [ref.path for ref in self.refs]
                self.workers.preflight(files, self.output, self.options.report_template)
        return self.workers.map(jobs, on_done, timed, order)

    def _phase_a(self) -> tuple[list[Analysis], set[str]]:
        """Every input's slim analysis (reused when unchanged), and the inputs that crashed."""
        manifest, limits = self.manifest, self.options.limits
        known = {ref.sha256: a for ref in self.refs if (a := manifest.reusable(ref)) is not None}
        self.kept = {sha: manifest.slims()[sha] for sha in known}  # sha -> slim analysis pickled, for the manifest
        todo = [ref for ref in self.refs if ref.sha256 not in known]
        self.redone = {ref.sha256 for ref in todo}
        self.result.reused = len(known)
        for _ in known:
            self.tick()
        approved = None
        if self.options.targets is not None and todo:
            saved = atomic_write_bytes(manifest.dir / "targets.pickle", pickle.dumps(self.options.targets))
            approved = (saved, f"{self.options.targets.digest}|{self.options.score_on_approved}",
                        self.options.score_on_approved)
        fresh = self._map([(_analyse_and_cache, ref, self.rules, limits, manifest.cache_path(ref.sha256), approved)
                           for ref in todo], self.tick, order=_largest_first([_input_size(ref) for ref in todo]),
                          reports=True)
        crashed = set()
        for ref, answer in zip(todo, fresh):
            if _is_failure(answer):
                analysis = _failed_analysis(ref, answer, limits)
                if analysis.issues[0].code in LIMITED:  # as final as a refusal inside the helper
                    save_analysis(manifest.cache_path(ref.sha256), analysis)
                else:  # not cached: the next run tries this input again
                    crashed.add(ref.sha256)
                answer = analysis, pickled(analysis)
            known[ref.sha256], self.kept[ref.sha256] = answer
        self.changed = bool(todo)
        return [known[ref.sha256] for ref in self.refs], crashed

    def _phase_b(self, analyses: list[Analysis], shown: list[Analysis], notes: Notes, crashed: set[str]) -> None:
        """Write what changed: the copies and reports of inputs that are new or whose
        published projects or decisions changed, the summary when what it shows changed
        (first, because it is the longest job), and remove outputs no input claims.
        ``shown``: the analyses with the decisions applied (:func:`gather`), in the same order."""
        result, manifest, output = self.result, self.manifest, self.output
        sources = [(a.ref, manifest.cache_path(a.ref.sha256)) for a in analyses if a.ref.sha256 not in crashed]
        level1 = level1_columns(k for r in result.counted for k in r.subtotals)
        grades = self.rules.grade_names
        summary = output / "summary.xlsx"
        sheet_orders = {a.ref.name: a.sheet_order for a in analyses}
        summary_args = (sources, notes, result.issues, level1, grades, summary, sheet_orders,
                        self.options.targets is not None)
        # What the summary shows follows from these (each analysis from its input's content,
        # name and the rules; each receipt from the input's clock and sender); far cheaper
        # to compare than the rows themselves.
        self.summary_key = _digest(manifest.fingerprint, manifest.limits, [_shown_as(ref) for ref, _ in sources],
                                   sorted(notes.items()), result.skipped, sorted(crashed), level1)
        jobs = []
        if self.summary_key != manifest.summary_key or not summary.exists():
            jobs.append((_summary_job, *summary_args))
        owners = self._to_publish([(a, s) for a, s in zip(analyses, shown) if a.ref.sha256 not in crashed], notes)
        for _ in range(len(analyses) - len(owners)):
            self.tick()
        for analysis, published, noted in owners:
            jobs.append((publish, analysis.ref, manifest.cache_path(analysis.ref.sha256), notes.get(analysis.ref.sha256, ()),
                         self.copy_names[analysis.ref.sha256], dict(published), output, self.options.report_template,
                         self.options.reports, grades, self.started))
        summary_first = bool(jobs) and jobs[0][0] is _summary_job
        # The summary first (the longest job), then the inputs with the most reports.
        order = [0] * summary_first + [summary_first + k for k in _largest_first([len(p) for _, p, _ in owners])]
        written = self._map(jobs, lambda i: (i or not summary_first) and self.tick(),
                            timed=lambda i: i > 0 or not summary_first, order=order, reports=True)
        self._record(owners, written[1:] if summary_first else written)
        stale = manifest.stale_outputs()
        for path in stale:
            (output / path).unlink(missing_ok=True)
        if summary_first and not isinstance(written[0], Path) or self.extra:
            # Rare: the summary job failed, or problems met while writing belong in 问题清单 too.
            result.issues.extend(self.extra)
            self.summary_key = _digest(self.summary_key, self.extra)
            if _summary_job(*summary_args) is None:
                raise SelfevalError(f"输出文件夹中的中间结果（{STATE_DIR}）在运行中被删除，无法写出 summary.xlsx；请重新运行。")
        self.changed = self.changed or bool(jobs) or bool(stale)

    def _replies(self, shown: list[Analysis]) -> list[Path]:
        """One reply draft per department, as parallel jobs, with the copies and reports on
        disk; written again only when something changed or a draft is missing."""
        from ..replies import plan_replies, remove_stale, write_reply

        output = self.output
        copies = {sha: output / "workbooks" / name for sha, name in self.copy_names.items()
                  if (output / "workbooks" / name).exists()}
        reports = {pid: output / "reports" / name for pid, name in self.report_names.items()
                   if self.options.replies_with_reports and (output / "reports" / name).exists()}
        planned = plan_replies(output, shown, copies, reports)
        todo = [(path, reply) for path, reply in planned if self.changed or not path.exists()]
        written = self._map([(_reply_job, write_reply, path, reply, self.options.replies_with_reports)
                             for path, reply in todo], lambda i: None, timed=lambda i: False)
        remove_stale(output, [path for path, _ in planned])
        failed = {path for (path, _), done in zip(todo, written) if not isinstance(done, Path)}
        return [path for path, _ in planned if path not in failed]

    @cached_property
    def copy_names(self) -> dict[str, str]:
        return _copy_names(self.refs)

    @cached_property
    def report_names(self) -> dict[str, str]:
        """项目编号 -> report file name, unique across the batch (the run's results are final)."""
        return _report_names(self.result.results)

    def _to_publish(self, inputs: list[tuple[Analysis, Analysis]], notes: Notes) -> list[tuple[Analysis, list, str]]:
        """(analysis, its reports as [项目编号, file name] pairs, digest of its decisions) of
        every input whose copy and reports must be written: new or changed inputs, and those
        whose published projects, report names or decisions changed. ``inputs``: (analysis,
        as shown with the decisions applied) pairs."""
        # As the outputs show it: a project a decision blocks has no report.
        scored = {a.ref.sha256: sorted(r.project.project_id for r in s.results if r.total is not None) for a, s in inputs}
        analyses = [a for a, _ in inputs]
        noted = {a.ref.sha256: _digest(notes.get(a.ref.sha256, ())) for a in analyses}
        before = {a.ref.sha256: self.manifest.published(a.ref.sha256) for a in analyses}

        def same_projects(analysis) -> bool:
            published, decided = before[analysis.ref.sha256]
            return (analysis.ref.sha256 not in self.redone and published is not None
                    and decided == noted[analysis.ref.sha256] and [pid for pid, _ in published] == scored[analysis.ref.sha256])

        if all(map(same_projects, analyses)):
            return []  # nothing changed: the report names (unique across the batch) stand as they are
        owners = []
        for analysis in analyses:
            sha = analysis.ref.sha256
            published = [[pid, self.report_names[pid]] for pid in scored[sha]]
            if sha in self.redone or before[sha] != (published, noted[sha]):
                owners.append((analysis, published, noted[sha]))
        return owners

    def _record(self, owners: list, outcomes: list) -> None:
        """Note each written input in the manifest; one whose outputs failed is marked for
        the next run to try again."""
        for (analysis, published, noted), outcome in zip(owners, outcomes):
            ref = analysis.ref
            if _is_failure(outcome):
                what = "超时" if outcome.kind == "timeout" else "异常退出"
                self.extra.append(issue(Code.WORKER_CRASH, f"写出该文件的副本和报告时工作进程{what}，下次运行会重试。",
                                        file=ref.name, value=outcome.detail))
                self.manifest.retry(ref)
                continue
            paths, problems = outcome
            self.extra.extend(problems)
            if problems:
                self.manifest.retry(ref, paths)
                continue
            limited = any(i.code in LIMITED for i in analysis.issues)
            self.manifest.record(ref, "rejected" if analysis.rejected else "ok", paths, published, noted, limited)


def _reply_job(write, path: Path, reply, with_reports: bool) -> Path:
    """A reply draft, as a job (``write``: :func:`selfeval_xlsx.replies.write_reply`); the
    output folder refusing the write stops the run, as for every output."""
    try:
        return write(path, reply, with_reports)
    except OSError as exc:
        raise_write_failure(exc, path)
        raise


def _largest_first(sizes: list[int]) -> list[int]:
    """Indices by size, largest first: a phase waits for its slowest job, so the big ones
    must not start last while a core idles."""
    return sorted(range(len(sizes)), key=lambda i: -sizes[i])


def _input_size(ref: InputRef) -> int:
    """Bytes of an input's file (of its container, for an attachment): how long its job runs."""
    try:
        return os.path.getsize(ref.path)
    except OSError:
        return 0


def _shown_as(ref: InputRef) -> tuple:
    """What of an input the outputs show besides its content: its name, clock and sender."""
    return ref.sha256, ref.name, ref.submitted, ref.submitted_basis, ref.sender


def _is_failure(value) -> bool:
    from .workers import Failure  # imported with the workers, only when jobs ran

    return isinstance(value, Failure)


def _digest(*parts) -> str:
    """A stable digest of plain values and issues (their repr is their content)."""
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()
