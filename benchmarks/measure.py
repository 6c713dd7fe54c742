"""Timing a command and the peak memory of its whole process tree (main process + workers)."""
from __future__ import annotations

import resource
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

# Each poll walks every process of the machine (~2 ms): every 10 ms that took ~18 % of a core
# from the 2-core run being timed, and so lengthened it; a process tree's peak lasts longer.
POLL = 0.1


def timed_run(command: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[int, float, float, str]:
    """Exit code, wall seconds, peak RSS in MB summed over the process tree (polled every
    :data:`POLL` seconds; shared pages count once per process, so this overstates a little),
    and stderr."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        root, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(POLL)
        elapsed = time.perf_counter() - start
        err.seek(0)
        return proc.returncode, elapsed, peak / 2**20, err.read().decode("utf-8", "replace")


def cpu_seconds(children_only: bool = False) -> float:
    """User + system CPU seconds used so far by this process (unless ``children_only``) and by
    its children that have ended and been waited for, grandchildren included. Differences
    of two readings are steadier than wall time on a shared machine."""
    who = [resource.RUSAGE_CHILDREN] if children_only else [resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN]
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, who))
