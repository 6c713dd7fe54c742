"""Where the work runs: a process pool on this machine, or a dask.distributed cluster's
executor, with the per-input limits (memory cap per worker, a stuck worker ended from outside)."""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from pathlib import Path
from typing import Callable

from .options import RunOptions


class Workers:
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


