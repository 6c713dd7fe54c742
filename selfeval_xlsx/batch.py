"""The monthly batch: read and score every input in parallel, decide which submission of a
project counts, then write the department copies, the reports and the summary.

Two parallel phases over a ``concurrent.futures`` executor (a process pool, or a
dask.distributed cluster's executor): (A) read + score each input, returning plain data;
(B) write each input's annotated copy and its reports. Between them the main process sees
everything and decides duplicates and superseded submissions; ``summary.xlsx`` is written once
at the end. A manifest in the output folder makes reruns incremental, and every file is written
under a temporary name and renamed, so a killed run leaves no partial file behind.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import pickle
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from . import __version__
from ._io import atomic_path, atomic_write_bytes, safe_filename
from .guard import Limits
from .intake import InputRef, Skipped
from .issues import Issue, error, warning
from .errors import SelfevalError
from .models import Project, ProjectResult
from .reader import read_workbook
from .rules import Rules, load_rules
from .scoring import score_project

STATE_DIR = ".selfeval"
# Problems meaning the file itself could not be read: no copy can be made of it.
UNREADABLE_CODES = frozenset({"empty-file", "file-too-large", "not-a-workbook", "corrupt-file", "encrypted",
                              "zip-bomb", "xml-entities", "sheet-too-large", "text-too-large",
                              "unreadable-file", "timeout", "memory-limit",
                              "worker-crash", "internal-error"})


@dataclass
class RunOptions:
    """How a run behaves. ``workers`` 0 means one per CPU core."""

    output: Path = Path("output")
    rules_path: Path | None = None
    workers: int = 0
    scheduler: str | None = None
    force: bool = False
    report_template: Path | None = None
    reports: bool = True
    limits: Limits = field(default_factory=Limits)


@dataclass
class Analysis:
    """Phase A's answer for one input: its scored projects and its file-level problems."""

    ref: InputRef
    results: list[ProjectResult]
    issues: list[Issue]

    @property
    def unreadable(self) -> bool:
        """The file itself was refused (broken, hostile, too large or too slow)."""
        return any(i.code in UNREADABLE_CODES for i in self.issues)

    @property
    def rejected(self) -> bool:
        """No project could be read (unreadable file, missing sheet or header)."""
        return any(i.is_error and not i.project_id for i in self.issues)


@dataclass
class RunResult:
    """What a run did, for the command line to print and pick its exit code from."""

    output: Path
    inputs: int = 0
    rejected: int = 0
    reused: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    results: list[ProjectResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return sum(r.total is not None for r in self.results)

    def count(self, severity: str) -> int:
        return sum(i.severity == severity for i in self.issues)

    @property
    def clean(self) -> bool:
        """Nothing rejected, every project scored, no error of any kind (a report that
        failed to render included)."""
        return (not self.rejected and not any(r.total is None for r in self.results)
                and not any(i.is_error for i in self.issues))


# ---------------------------------------------------------------- phase A: read and score

def _read_and_score(ref: InputRef, rules: Rules, limits: Limits) -> Analysis:
    with _time_limit(limits.seconds):
        submission = read_workbook(ref.name, ref.read(), name=ref.name, limits=limits)
        ids = {p.project_id for p in submission.projects}
        # Errors of the whole file (a missing sheet or column) block every project in it; a
        # row naming an unknown 项目编号 is reported but blocks nobody.
        blocking = any(i.is_error and not i.project_id for i in submission.issues)
        results = []
        for project in submission.projects:
            result = score_project(project, rules)
            own = [i for i in submission.issues if i.project_id == project.project_id]
            result.issues = own + result.issues
            if blocking or result.has_errors:
                result.total, result.grade = None, ""
            results.append(result)
    return Analysis(ref, results, [i for i in submission.issues if i.project_id not in ids])


class _Timeout(BaseException):
    """The per-input time limit. A BaseException, so that no ``except Exception`` in the
    reader or a library can swallow it."""


class _time_limit:
    """Raise inside the worker after ``seconds``: SIGALRM works in a process's main thread,
    which is where a process pool runs its tasks. Elsewhere (threads) it does nothing."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.active = seconds > 0 and threading.current_thread() is threading.main_thread() \
            and hasattr(signal, "setitimer")

    def __enter__(self):
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def _fire(self, signum, frame):
        raise _Timeout()

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


def analyse(ref: InputRef, rules: Rules, limits: Limits) -> Analysis:
    """Read and score one input, within its time limit. Never raises for a bad input: an
    unreadable, too slow or too large file, or an internal error, becomes a file-level issue."""
    try:
        return _read_and_score(ref, rules, limits)
    except _Timeout:
        msg = f"处理时间超过 {limits.seconds:g} 秒上限，已中止。请检查文件是否异常巨大。"
        return Analysis(ref, [], [error("timeout", msg, file=ref.name)])
    except MemoryError:
        msg = f"处理所需内存超过 {limits.memory_mb} MB 上限，已中止。"
        return Analysis(ref, [], [error("memory-limit", msg, file=ref.name)])
    except OSError as exc:
        return Analysis(ref, [], [error("unreadable-file", f"无法读取文件：{exc}", file=ref.name)])
    except Exception as exc:  # noqa: BLE001 - one bad workbook never stops the batch
        msg = f"处理时发生内部错误（{type(exc).__name__}: {str(exc)[:200]}），请将该文件转交技术支持。"
        return Analysis(ref, [], [error("internal-error", msg, file=ref.name)])


def _analyse_and_cache(ref: InputRef, rules: Rules, limits: Limits, cache: Path) -> Analysis:
    """Phase A's job: analyse and keep the answer for the next run (written by the worker,
    so the main process does not pickle everything twice)."""
    analysis = analyse(ref, rules, limits)
    atomic_write_bytes(cache, pickle.dumps(analysis))
    return _slim(analysis)


def _slim(analysis: Analysis) -> Analysis:
    """What the main process keeps of an input: each project's identity, figures and
    problems, without its rows and narrative text. The full analysis stays in the cache
    file, where the jobs that need it read it, so memory does not grow with the batch."""
    light = []
    for r in analysis.results:
        p = r.project
        project = Project(sheet=p.sheet, row=p.row, cols=p.cols, project_id=p.project_id, name=p.name, year=p.year,
                          department=p.department, implementer=p.implementer, source_file=p.source_file)
        light.append(replace(r, project=project, indicators=[]))
    return replace(analysis, results=light)


# ---------------------------------------------------------------- phase B: write outputs

_RENDERERS: dict = {}


def _renderer(template: Path | None):
    """One prepared report renderer per worker process and template."""
    from .report import ReportRenderer

    key = str(template)
    if key not in _RENDERERS:
        _RENDERERS[key] = ReportRenderer(template, sandboxed=template is not None)
    return _RENDERERS[key]


def publish(ref: InputRef, cache: Path, notes: list[Issue], copy_name: str, report_names: dict[str, str],
            output: Path, template: Path | None, reports: bool) -> tuple[list[str], list[Issue]]:
    """Write one input's annotated copy and the reports of its kept, scored projects (file
    names from ``report_names``, 项目编号 -> name), from its cached analysis and the batch's
    decisions about it (``notes``, see :func:`decide`). Returns the written paths (relative
    to ``output``) and problems met while writing."""
    from .annotate import annotate_workbook

    analysis = _load_analysis(cache, ref)
    if analysis is None:
        return [], [error("cache-missing", "中间结果文件缺失，本文件的副本和报告未生成；请重新运行。", file=ref.name)]
    apply_decisions(analysis, notes)
    written, problems = [], []
    issues = analysis.issues + [i for r in analysis.results for i in r.issues]
    if not analysis.unreadable:  # a refused file is never opened again
        try:
            annotate_workbook(ref.read(), output / "workbooks" / copy_name, analysis.results, issues)
            written.append(f"workbooks/{copy_name}")
        except Exception as exc:  # noqa: BLE001 - the department copy is best effort per file
            problems.append(error("copy-failed", f"无法生成带自评结果的工作簿副本（{type(exc).__name__}），"
                                  "其余结果不受影响。", file=ref.name, value=str(exc)[:200]))
    if reports:
        for result in analysis.results:
            if result.total is None:
                continue
            try:
                path = _renderer(template).write(result, output / "reports", report_names.get(result.project.project_id))
                written.append(f"reports/{path.name}")
            except Exception as exc:  # noqa: BLE001 - a template error stops one report only
                problems.append(error("report-failed", f"项目「{result.project.project_id}」的报告生成失败：{exc}",
                                      file=ref.name, project_id=result.project.project_id))
    return written, problems


# ---------------------------------------------------------------- decisions between phases

def _newest_first(analyses: list[Analysis]) -> list[Analysis]:
    return sorted(analyses, key=lambda a: (a.ref.submitted, a.ref.name), reverse=True)


def decide(analyses: list[Analysis]) -> dict[str, list[Issue]]:
    """Superseded submissions (same department and 项目编号: the newest counts) and
    conflicts (same 项目编号 from different departments: neither counts), as notes per input
    (sha256 -> the problems to attach there). Each note blocks the project it names in its
    input; :func:`apply_decisions` does that."""
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
                note = warning("superseded", f"项目「{pid}」已由较新的提交「{newer.ref.name}」"
                               f"（{newer.ref.submitted:%Y-%m-%d %H:%M}）取代，本文件中的该项目不再计分。",
                               **_where_id(analysis, result))
                notes.setdefault(analysis.ref.sha256, []).append(note)
                continue
            msg = (f"项目编号「{pid}」同时出现在「{analysis.ref.name}」（{result.project.department}）和"
                   f"「{newer.ref.name}」（{kept.project.department}）中，主管部门不同，无法判断归属，两处均不计分。"
                   "请核对项目编号。")
            for a, r in ((analysis, result), (newer, kept)):
                note = error("duplicate-project-across-files", msg, **_where_id(a, r))
                if note not in notes.setdefault(a.ref.sha256, []):
                    notes[a.ref.sha256].append(note)
    return notes


def _where_id(analysis: Analysis, result: ProjectResult) -> dict:
    p = result.project
    return {"file": analysis.ref.name, "sheet": p.sheet, "row": p.row, "col": p.cols.get("project_id"),
            "project_id": p.project_id, "value": p.project_id}


def apply_decisions(analysis: Analysis, notes: list[Issue]) -> None:
    """Block the projects the notes name (no score, no report) and attach the notes."""
    by_id = {r.project.project_id: r for r in analysis.results}
    for note in notes:
        result = by_id.get(note.project_id)
        if result is not None:
            result.total, result.grade = None, ""
            result.issues.append(note)


def gather(analyses: list[Analysis], skipped: list[Skipped] = (),
           notes: dict[str, list[Issue]] | None = None) -> tuple[list[ProjectResult], list[Issue]]:
    """Apply the batch's decisions (``notes``, by default :func:`decide`'s) in place, then
    every project result and every problem of the run, each problem once."""
    notes = decide(analyses) if notes is None else notes
    for analysis in analyses:
        apply_decisions(analysis, notes.get(analysis.ref.sha256, []))
    issues = [i for a in analyses for i in a.issues + [x for r in a.results for x in r.issues]]
    issues += [warning(s.code, s.reason, file=s.path) for s in skipped]
    return [r for a in analyses for r in a.results], list(dict.fromkeys(issues))


def _summary_job(sources: list[tuple[InputRef, Path]], notes: dict[str, list[Issue]], issues: list[Issue],
                 level1: list[str], path: Path) -> Path | None:
    """Phase B's summary job: ``summary.xlsx`` with the projects streamed one input at a
    time from the cache files (memory stays flat however large the batch). None when a
    cache file is gone."""
    from .summary import write_summary

    def results():
        for ref, cache in sources:
            analysis = _load_analysis(cache, ref)
            if analysis is None:
                raise FileNotFoundError(cache)
            apply_decisions(analysis, notes.get(ref.sha256, []))
            yield from analysis.results

    try:
        return write_summary(path, results(), issues, level1=level1)
    except FileNotFoundError:
        return None


def _load_analysis(cache: Path, ref: InputRef) -> Analysis | None:
    """A cached :class:`Analysis`, shown under the name ``ref`` has now; None when the cache
    file is missing or damaged."""
    try:
        return replace(pickle.loads(cache.read_bytes()), ref=ref)
    except Exception:  # noqa: BLE001 - a damaged cache entry is simply recomputed
        return None


def _report_names(results: list[ProjectResult]) -> dict[str, str]:
    """项目编号 -> report file name for every scored project, unique in ``reports/``: two ids
    that differ only in characters a file name cannot hold (``P:1``, ``P*1``) would
    otherwise overwrite each other's report."""
    from .report import report_filename

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


# ---------------------------------------------------------------- manifest (incremental runs)

def _fingerprint(rules: Rules, options: RunOptions) -> str:
    template = options.report_template.read_bytes() if options.report_template else b""
    text = f"{__version__}|{rules!r}|{options.reports}|".encode() + hashlib.sha256(template).digest()
    return hashlib.sha256(text).hexdigest()


class Manifest:
    """``DIR/.selfeval/manifest.json`` (input sha -> name, status, outputs, time) and one
    pickled :class:`Analysis` per input, so a rerun reuses what did not change."""

    def __init__(self, output: Path, fingerprint: str, force: bool):
        self.dir = output / STATE_DIR
        self.path = self.dir / "manifest.json"
        self.fingerprint = fingerprint
        self.entries: dict[str, dict] = {}
        self.previous: dict[str, dict] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text("utf-8"))
                self.previous = data.get("inputs", {})
                if not force and data.get("fingerprint") == fingerprint:
                    self.entries = dict(self.previous)
            except (ValueError, OSError):
                pass

    def cached(self, ref: InputRef, output: Path) -> Analysis | None:
        entry = self.entries.get(ref.sha256)
        cache = self.cache_path(ref.sha256)
        if not entry or not cache.exists() or not all((output / p).exists() for p in entry["outputs"]):
            return None
        analysis = _load_analysis(cache, ref)
        return _slim(analysis) if analysis is not None else None

    def cache_path(self, sha256: str) -> Path:
        return self.dir / "results" / f"{sha256}.pickle"

    def record(self, ref: InputRef, status: str, outputs: list[str], published: list[str]) -> None:
        self.entries[ref.sha256] = {"name": ref.name, "status": status, "outputs": outputs,
                                    "published": published, "time": dt.datetime.now().isoformat(timespec="seconds")}

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {"version": 1, "fingerprint": self.fingerprint, "inputs": self.entries}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), "utf-8")

    def stale_outputs(self) -> set[str]:
        """Outputs an earlier run wrote that no current entry claims (e.g. a report of a
        project that is now superseded): removed so the folder matches an uninterrupted run."""
        current = {p for e in self.entries.values() for p in e["outputs"]}
        return {p for e in self.previous.values() for p in e.get("outputs", []) if p not in current}


# ---------------------------------------------------------------- the run

class _Workers:
    """The executor: a process pool, or a dask.distributed cluster's executor. A process pool
    that a dying worker broke is replaced, so one input can only ever take its own job down."""

    def __init__(self, options: RunOptions):
        self.options, self.client = options, None
        if options.scheduler:
            from distributed import Client  # optional extra: selfeval-xlsx[dask]

            self.client = Client(options.scheduler)
            self.executor = self.client.get_executor()
        else:
            self.executor = self._pool(options.workers or os.cpu_count() or 1)

    def _pool(self, workers: int) -> cf.ProcessPoolExecutor:
        # fork: workers start in milliseconds with pandas already imported.
        context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        return cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_limit_memory,
                                      initargs=(self.options.limits.memory_mb,))

    def renew(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._pool(self.options.workers or os.cpu_count() or 1)

    def map(self, jobs: list[tuple], on_done: Callable[[int], None],
            timed: Callable[[int], bool] = lambda i: True) -> list:
        """Run each job ``(fn, *args)``, results in job order; ``on_done(i)`` as job i
        finishes. Jobs lost with a dead worker are retried one at a time in a pool of their
        own; a job that kills that one too, or overruns the hard time limit there, gets None.
        ``timed(i)``: whether job i is one input's work and so bound by the time limit."""
        try:
            futures = {self.executor.submit(*job): i for i, job in enumerate(jobs)}
        except cf.process.BrokenProcessPool:
            self.renew()
            futures = {self.executor.submit(*job): i for i, job in enumerate(jobs)}
        results: list = [None] * len(jobs)
        failed, started, pending = [], {}, set(futures)
        limit = self._hard_limit()
        while pending:
            done, pending = cf.wait(pending, timeout=0.25 if limit else None, return_when=cf.FIRST_COMPLETED)
            for future in done:
                i = futures[future]
                try:
                    results[i] = future.result()
                except cf.process.BrokenProcessPool:
                    failed.append(i)
                    continue
                on_done(i)
            now = time.monotonic()
            for future in pending:
                if limit and future.running():
                    started.setdefault(future, now)
            if any(now - t > limit for f, t in started.items() if f in pending and timed(futures[f])):
                # Native code (the parser) can ignore the in-worker alarm: end every worker;
                # the jobs they held are retried alone below, where the culprit is found.
                _kill_children()
        if failed:
            self.renew()
        for i in sorted(failed):
            with self._pool(1) as single:
                try:
                    results[i] = single.submit(*jobs[i]).result(timeout=limit if timed(i) else None)
                except (cf.process.BrokenProcessPool, cf.TimeoutError):
                    _kill_children()
                    results[i] = None
            on_done(i)
        return results

    def _hard_limit(self) -> float | None:
        """Seconds after which a job is stopped from outside: a margin past the in-worker
        alarm, which fires first whenever Python code is running. None on a dask cluster."""
        seconds = self.options.limits.seconds
        return seconds * 1.25 + 2 if seconds > 0 and self.client is None else None

    def close(self) -> None:
        if self.client is not None:  # dask's executor has no cancel_futures
            self.executor.shutdown(wait=True)
            self.client.close()
        else:
            self.executor.shutdown(wait=True, cancel_futures=True)


def _kill_children() -> None:
    """End this process's worker processes (a stuck job cannot be cancelled otherwise)."""
    for child in multiprocessing.active_children():
        child.kill()


def _limit_memory(memory_mb: int) -> None:
    """Cap a worker's address space at what it uses now plus ``memory_mb``, so one huge
    input ends in a MemoryError (or the worker's death) for that input instead of
    exhausting the machine."""
    try:
        import resource

        in_use = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = in_use + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: no cap, the time limit still applies


def run(refs: list[InputRef], options: RunOptions, *, skipped: list[Skipped] = (),
        progress: Callable[[int], None] | None = None) -> RunResult:
    """Process ``refs`` into ``options.output``: copies in ``workbooks/``, reports in
    ``reports/``, and ``summary.xlsx``. ``progress(n)`` is called as units of work finish
    (two per input). Returns what happened; never raises for bad input. Raises
    ``SelfevalError`` when another run is writing to the same output folder."""
    with _output_lock(options.output):
        return _run(refs, options, skipped, progress)


@contextlib.contextmanager
def _output_lock(output: Path):
    """One run at a time per output folder: a second one would delete the first one's
    temporary files and interleave manifests. A lock left by a killed run is taken over."""
    lock = output / STATE_DIR / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or 0)
                if holder <= 0:
                    raise ValueError("no pid written")
                os.kill(holder, 0)  # raises when no such process: the lock is stale
            except PermissionError:
                pass  # alive, run by another user
            except (ValueError, OSError):
                lock.unlink(missing_ok=True)
                continue
            raise SelfevalError(f"另一个 selfeval 进程（PID {holder}）正在写入输出文件夹 {output}，请等它结束后再运行。")
    else:
        raise SelfevalError(f"无法锁定输出文件夹 {output}。")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _run(refs: list[InputRef], options: RunOptions, skipped: list[Skipped],
         progress: Callable[[int], None] | None) -> RunResult:
    from .summary import level1_columns

    output = options.output
    tick = (lambda *_: progress(1)) if progress else (lambda *_: None)
    rules = load_rules(options.rules_path)
    _remove_temporaries(output)
    manifest = Manifest(output, _fingerprint(rules, options), options.force)
    copy_names = _copy_names(refs)
    result = RunResult(output, inputs=len(refs), skipped=list(skipped))

    cached = {ref.sha256: manifest.cached(ref, output) for ref in refs}
    todo = [ref for ref in refs if cached[ref.sha256] is None]
    redone = {ref.sha256 for ref in todo}
    result.reused = len(refs) - len(todo)
    workers = _Workers(options)
    try:
        for _ in range(result.reused):
            tick()
        fresh = workers.map([(_analyse_and_cache, ref, rules, options.limits, manifest.cache_path(ref.sha256))
                             for ref in todo], tick)
        crashed = {ref.sha256 for ref, analysis in zip(todo, fresh) if analysis is None}
        for ref, analysis in zip(todo, fresh):
            if analysis is None:  # not cached: the next run tries this input again
                analysis = Analysis(ref, [], [error(
                    "worker-crash", f"处理该文件时工作进程异常退出或超时（上限 {options.limits.seconds:g} 秒、"
                    f"{options.limits.memory_mb} MB），已跳过。", file=ref.name)])
            cached[ref.sha256] = analysis
        analyses = [cached[ref.sha256] for ref in refs]
        notes = decide(analyses)
        result.results, result.issues = gather(analyses, skipped, notes)
        result.rejected = sum(a.rejected for a in analyses)

        # Phase B for inputs that are new, or whose set of published projects changed. The
        # summary is one more job, first because it is the longest; like the others it reads
        # the full analyses from the cache files.
        sources = [(ref, manifest.cache_path(ref.sha256)) for ref in refs if ref.sha256 not in crashed]
        level1 = level1_columns(result.results)
        report_names = _report_names(result.results)
        jobs = [(_summary_job, sources, notes, result.issues, level1, output / "summary.xlsx")]
        owners = []
        for analysis in analyses:
            sha = analysis.ref.sha256
            published = sorted(r.project.project_id for r in analysis.results if r.total is not None)
            entry = manifest.entries.get(sha)
            if sha in crashed or (entry and entry.get("published") == published and sha not in redone):
                tick()
                continue
            jobs.append((publish, analysis.ref, manifest.cache_path(sha), notes.get(sha, []), copy_names[sha],
                         report_names, output, options.report_template, options.reports))
            owners.append((analysis, published))
        written = workers.map(jobs, lambda i: i and tick(), timed=bool)  # job 0, the summary, is not one input's
    finally:
        workers.close()

    extra: list[Issue] = []
    for (analysis, published), outcome in zip(owners, written[1:]):
        paths, problems = outcome if outcome is not None else ([], [error(
            "worker-crash", "写出该文件的结果时工作进程异常退出。", file=analysis.ref.name)])
        extra.extend(problems)
        manifest.record(analysis.ref, "rejected" if analysis.rejected else "ok", paths, published)
    for path in manifest.stale_outputs():
        (output / path).unlink(missing_ok=True)
    if extra or written[0] is None:  # rare: problems met while writing belong in 问题清单 too
        result.issues.extend(extra)
        if _summary_job(sources, notes, result.issues, level1, output / "summary.xlsx") is None:
            raise SelfevalError(f"输出文件夹中的中间结果（{STATE_DIR}）在运行中被删除，无法写出 summary.xlsx；请重新运行。")
    manifest.save()
    result.reports = sorted((output / "reports").glob("*.docx")) if (output / "reports").exists() else []
    return result


def _remove_temporaries(output: Path) -> None:
    """Temporary files left by a run that was killed mid-write."""
    if output.exists():
        for tmp in output.rglob(".tmp-*"):
            tmp.unlink(missing_ok=True)
