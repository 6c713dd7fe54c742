"""The output folder's own state: ``DIR/.selfeval/`` holds the manifest that makes reruns
incremental, one cached :class:`~selfeval_xlsx.pipeline.Analysis` per input, and the lock that
keeps a second run out while one is writing."""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import pickle
from dataclasses import replace
from pathlib import Path

from .. import __version__
from .._io import atomic_path, atomic_write_bytes
from ..errors import SelfevalError
from ..intake import InputRef
from ..models import Project
from ..pipeline import Analysis
from ..rules import Rules
from .options import RunOptions

STATE_DIR = ".selfeval"


def save_analysis(cache: Path, analysis: Analysis) -> None:
    """Keep an input's full analysis for the jobs that write its outputs and for the next run."""
    atomic_write_bytes(cache, pickle.dumps(analysis))


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
        analysis = load_analysis(cache, ref)
        return slim(analysis) if analysis is not None else None

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


@contextlib.contextmanager
def output_lock(output: Path):
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


def remove_temporaries(output: Path) -> None:
    """Temporary files left by a run that was killed mid-write."""
    if output.exists():
        for tmp in output.rglob(".tmp-*"):
            tmp.unlink(missing_ok=True)
