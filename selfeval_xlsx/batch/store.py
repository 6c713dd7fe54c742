"""The output folder's own state: ``DIR/.selfeval/`` holds the manifest that makes reruns
incremental, one cached :class:`~selfeval_xlsx.pipeline.Analysis` per input, and the lock that
keeps a second run out while one is writing."""
from __future__ import annotations

import contextlib
import copyreg
import datetime as dt
import hashlib
import json
import os
import pickle
import shutil
import time
from operator import attrgetter
from dataclasses import fields, replace
from pathlib import Path

from .. import __version__
from .._io import PREFLIGHT, STATE_DIR, TEMP_PREFIX, atomic_path, atomic_write_bytes, host_name, private_tmp, token
from ..errors import SelfevalError
from ..guard import Limits
from ..intake import InputRef
from ..issues import Issue
from ..models import (Approval, ApprovedIndicator, ApprovedProject, FundingRow, Indicator, IndicatorScore, Project,
                      ProjectResult, Receipt, Row, SpendingRow, Stated)
from ..pipeline import Analysis
from ..rules import Rules
from .options import RunOptions

MANIFEST_VERSION = 3  # 2: published reports as [项目编号, file name], decisions, summary key; 3: slims pickled one by one


def pickled(analysis: Analysis) -> bytes:
    """An analysis as the cache and the manifest keep it (see :meth:`Manifest.save`)."""
    return pickle.dumps(analysis, protocol=pickle.HIGHEST_PROTOCOL)


class Kept:
    """A slim analysis as a helper answers with it: pickled once, it unpickles (in the main
    process, in the thread that reads the answer) into ``(analysis, its pickle)``, and the
    manifest keeps that pickle (:meth:`Manifest.save`) instead of pickling it again."""

    def __init__(self, analysis: Analysis):
        self.data = pickled(analysis)

    def __reduce__(self):
        return _unkept, (self.data,)


def _unkept(data: bytes) -> tuple[Analysis, bytes]:
    return pickle.loads(data), data


def save_analysis(cache: Path, analysis: Analysis) -> None:
    """Keep an input's full analysis for the jobs that write its outputs and for the next run."""
    atomic_write_bytes(cache, pickled(analysis))


def load_analysis(cache: Path, ref: InputRef) -> Analysis | None:
    """A cached :class:`Analysis`, shown under the name ``ref`` has now; None when the cache
    file is missing or damaged."""
    try:
        return replace(pickle.loads(cache.read_bytes()), ref=ref)
    except Exception:  # noqa: BLE001 - a damaged cache entry is simply recomputed
        return None


def slim(analysis: Analysis) -> Analysis:
    """What the main process keeps of an input: each project's identity, figures and
    problems, without its rows and narrative text. The full analysis stays in the cache
    file, where the jobs that need it read it, so memory does not grow with the batch."""
    light = []
    for r in analysis.results:
        p = r.project
        project = Project(sheet=p.sheet, row=p.row, cols=p.cols, rows=p.rows, project_id=p.project_id, name=p.name,
                          year=p.year, department=p.department, implementer=p.implementer, source_file=p.source_file,
                          layout=p.layout, submitted=p.submitted)  # the batch's clock reads it
        light.append(replace(r, project=project, indicators=()))
    return replace(analysis, results=tuple(light))


def fingerprint(rules: Rules, options: RunOptions) -> str:
    template = options.report_template.read_bytes() if options.report_template else b""
    text = f"{__version__}|{rules!r}|{options.reports}|".encode() + hashlib.sha256(template).digest()
    if options.targets is not None:  # other approved targets, or scoring on them: everything is redone
        text += f"|{options.targets.digest}|{options.score_on_approved}".encode()
    return hashlib.sha256(text).hexdigest()


def _by_value(cls: type):
    """A pickle reduction of ``cls`` as a call of its constructor with its fields. Slotted
    dataclasses otherwise pickle through ``__setstate__``, which looks up the fields for
    every object: a cache file holds thousands of rows and problems, each loaded twice (for
    the copy and the summary), and this halves the time."""
    get = attrgetter(*(f.name for f in fields(cls)))  # every class below has several fields: a tuple

    def reduce(obj):
        return cls, get(obj)  # the fields' tuple built in C: a list of getattr calls was most of the dump
    return reduce


# The records an analysis is made of: plain values, no references back (a cycle would not
# survive a constructor call), and no __post_init__ to run twice.
for _cls in (Row, FundingRow, SpendingRow, Indicator, Stated, Project, ApprovedIndicator, ApprovedProject, Approval,
             IndicatorScore, Receipt, ProjectResult, Issue):
    copyreg.pickle(_cls, _by_value(_cls))


RETRY = "retry"  # an entry's status when the next run must redo the input


class Manifest:
    """``DIR/.selfeval/manifest.json`` (input sha -> name, status, outputs, the projects it
    published and the decisions about it; the key of what ``summary.xlsx`` shows), one
    pickled :class:`Analysis` per input for the writers, and ``slim.pickle`` with what the
    main process keeps of every input, so a rerun reuses what did not change from one file
    and rewrites nothing when nothing changed."""

    def __init__(self, output: Path, fingerprint: str, force: bool, limits: Limits = Limits()):
        self.dir = output / STATE_DIR
        self.output = output
        self.path = self.dir / "manifest.json"
        self.fingerprint = fingerprint
        self.limits = [limits.seconds, limits.memory_mb]
        self.entries: dict[str, dict] = {}
        self.previous: dict[str, dict] = {}
        self.summary_key = ""
        self._slims: dict[str, bytes] | None = None
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text("utf-8"))
                self.previous = data.get("inputs", {})
                if not force and data.get("fingerprint") == fingerprint and data.get("version") == MANIFEST_VERSION:
                    self.entries = dict(self.previous)
                    self.summary_key = data.get("summary", "")
            except (ValueError, OSError, AttributeError):
                pass

    def slims(self) -> dict[str, bytes]:
        """What the last run kept of each input (sha -> slim analysis, :func:`pickled`), read once."""
        if self._slims is None:
            self._slims = {}
            if self.entries:
                try:
                    self._slims = pickle.loads((self.dir / "slim.pickle").read_bytes())
                except Exception:  # noqa: BLE001 - missing or damaged: every input is recomputed
                    pass
        return self._slims

    def reusable(self, ref: InputRef) -> Analysis | None:
        """The slim analysis of an input the last run finished, when it can stand as it is:
        same content and name, every output still there, and (for an input refused for
        time or memory) the same limits. None means: analyse it again."""
        entry = self.entries.get(ref.sha256)
        if (not entry or entry.get("status") == RETRY or entry.get("name") != ref.name
                or entry.get("limits", self.limits) != self.limits):
            return None
        out = str(self.output)
        if not self.cache_path(ref.sha256).exists() or not all(os.path.exists(os.path.join(out, p))
                                                               for p in entry["outputs"]):
            return None
        kept = self.slims().get(ref.sha256)
        try:
            return replace(pickle.loads(kept), ref=ref)
        except Exception:  # noqa: BLE001 - missing or damaged: recomputed
            return None

    def cache_path(self, sha256: str) -> Path:
        return self.dir / "results" / f"{sha256}.pickle"

    def published(self, sha256: str):
        """What the last run published for an input: its reports and the decisions about it."""
        entry = self.entries.get(sha256) or {}
        return entry.get("published"), entry.get("notes")

    def record(self, ref: InputRef, status: str, outputs: list[str], published: list, notes: str,
               limited: bool = False) -> None:
        entry = {"name": ref.name, "status": status, "outputs": outputs, "published": published, "notes": notes,
                 "time": dt.datetime.now().isoformat(timespec="seconds")}
        if limited:  # refused for time or memory: valid for these limits only
            entry["limits"] = self.limits
        self.entries[ref.sha256] = entry

    def retry(self, ref: InputRef, outputs: list[str] | None = None) -> None:
        """Let the next run redo an input whose outputs could not all be written. What it
        wrote (``outputs``, or by default what it had) stays claimed: not stale, not deleted."""
        entry = self.entries.get(ref.sha256) or {"name": ref.name, "outputs": []}
        self.entries[ref.sha256] = {**entry, "status": RETRY,
                                    "outputs": sorted({*entry["outputs"], *(outputs or [])})}

    def save(self, summary_key: str, slims: dict[str, bytes]) -> None:
        """Write the manifest and ``slims`` (sha -> slim analysis, :func:`pickled`: as the
        helpers answered, so the main process does not pickle a thousand projects again)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.dir / "slim.pickle", pickle.dumps(slims, protocol=pickle.HIGHEST_PROTOCOL))
        data = {"version": MANIFEST_VERSION, "fingerprint": self.fingerprint, "summary": summary_key,
                "inputs": self.entries}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), "utf-8")

    def stale_outputs(self) -> set[str]:
        """Outputs an earlier run wrote that no current entry claims (e.g. a report of a
        project that is now superseded): removed so the folder matches an uninterrupted run."""
        current = {p for e in self.entries.values() for p in e["outputs"]}
        return {p for e in self.previous.values() for p in e.get("outputs", []) if p not in current}


# ---------------------------------------------------------------- the lock

HOST = host_name()
FOREIGN_LOCK_HOURS = 12  # a lock from another machine older than this is probably left by a crash


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), None when there
    is no such process or no /proc to ask."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]  # field 22, counted after the command name


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # alive, run by another user
    except (OSError, ValueError, OverflowError):
        return False
    return True


def _holder_alive(holder: dict, written: float) -> bool | None:
    """Whether the run that wrote a lock still runs: True, False, or None when it runs on
    another machine (nothing here can tell). A PID counts only with the same boot and the
    same process start time, so a PID reused after a reboot is not taken for the run."""
    if holder.get("host") != HOST:
        return None
    pid = int(holder.get("pid", 0))
    if pid <= 0:
        return False
    if holder.get("boot") and _boot_id() and holder["boot"] != _boot_id():
        return False
    started = _process_start(pid)
    if holder.get("started") and Path("/proc/self/stat").exists():
        return started == holder["started"]
    # A lock without a start time (older versions wrote the PID alone): the PID must be alive
    # and the lock written since the machine last booted.
    return _alive(pid) and written >= _booted()


def _booted() -> float:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def _read_lock(lock: Path) -> tuple[bytes, dict | None, float]:
    """The lock's bytes, what they say (None when unreadable) and when it was written."""
    try:
        raw, written = lock.read_bytes(), lock.stat().st_mtime
    except OSError:
        return b"", None, 0.0
    try:
        holder = json.loads(raw)
        if not isinstance(holder, dict):
            raise ValueError
    except ValueError:
        text = raw.decode("ascii", "replace").strip()
        holder = {"host": HOST, "pid": int(text)} if text.isdigit() else None
    return raw, holder, written


def _busy_message(output: Path, holder: dict, written: float) -> str:
    since = dt.datetime.fromtimestamp(written).strftime("%Y-%m-%d %H:%M")
    pid = holder.get("pid", "?")
    if holder.get("host") == HOST:
        return f"另一个 selfeval 进程（PID {pid}，{since} 开始）正在写入输出文件夹 {output}，请等它结束后再运行。"
    hours = (time.time() - written) / 3600
    stale = (f"该锁已持续 {hours:.0f} 小时，很可能是那台机器上中断的运行留下的。" if hours >= FOREIGN_LOCK_HOURS else "")
    return (f"输出文件夹 {output} 正由主机 {holder.get('host')} 上的 selfeval 进程（PID {pid}，{since} 开始）使用。{stale}"
            "请等它结束后再运行；若确认那次运行已经停止（如那台机器已关机），可加 --break-lock 解除锁定后运行。")


def _create_lock(lock: Path, content: bytes) -> bool:
    """Create the lock with its content in one step (a hard link of a finished file, which
    is atomic on NFS too); False when a lock is there already."""
    tmp = lock.with_name(f"{TEMP_PREFIX}lock-{token(6)}")
    tmp.write_bytes(content)
    try:
        os.link(tmp, lock)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links (some shared file systems): exclusive create instead
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _take_over(lock: Path, judged: bytes) -> None:
    """Remove a stale lock, unless it changed since it was judged stale (another run took
    it over meanwhile: then it is put back)."""
    aside = lock.with_name(f"{TEMP_PREFIX}stale-{token(6)}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return
    if aside.read_bytes() != judged:
        with contextlib.suppress(OSError):
            os.link(aside, lock)
    aside.unlink(missing_ok=True)


@contextlib.contextmanager
def output_lock(output: Path, break_lock: bool = False):
    """One run at a time per output folder: a second one would delete the first one's
    temporary files and interleave manifests. The lock names the host, PID, process start
    time and boot of its run: a lock left by a killed run on this machine (or a PID reused
    after a reboot) is taken over; one from another machine is respected unless
    ``break_lock``."""
    lock = output / STATE_DIR / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    mine = token(8)
    me = json.dumps({"host": HOST, "pid": os.getpid(), "started": _process_start(os.getpid()), "boot": _boot_id(),
                     "token": mine, "since": dt.datetime.now().isoformat(timespec="seconds")}).encode()
    for _ in range(5):
        if _create_lock(lock, me):
            break
        raw, holder, written = _read_lock(lock)
        if holder is not None and not break_lock and _holder_alive(holder, written) is not False:
            raise SelfevalError(_busy_message(output, holder, written))
        _take_over(lock, raw)
    else:
        raise SelfevalError(f"无法锁定输出文件夹 {output}（另一个运行同时在抢占），请稍后再试。")
    try:
        yield
    finally:
        raw, holder, _ = _read_lock(lock)
        if holder is not None and holder.get("token") == mine:
            lock.unlink(missing_ok=True)


def clean_state(output: Path) -> Path:
    """Remove the temporary files killed runs left in the output folder (temporary names
    and the private temporary folder), and return that folder, empty: every temporary file
    of a run lives in it or beside its final name, never in the system's TMPDIR."""
    if output.exists():
        for tmp in output.rglob(f"{TEMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                tmp.unlink()
        for marker in (output / STATE_DIR).glob(f"{PREFLIGHT}*"):
            marker.unlink(missing_ok=True)
    private = private_tmp(output)
    shutil.rmtree(private, ignore_errors=True)
    private.mkdir(parents=True, exist_ok=True)
    return private
