"""Where the work runs: helper processes on this machine (:class:`LocalWorkers`), or on the
threads of a dask.distributed cluster's workers (:class:`ClusterWorkers`). Every job runs in
a :mod:`.helper` process under the same per-input limits on both, and answers with its value
or a :class:`Failure`; a job whose process died is retried once, alone, before it is given
up. Only what makes the whole run impossible is raised: no usable cluster
(:class:`~selfeval_xlsx.errors.ClusterError`), an output folder that refuses writes
(:class:`~selfeval_xlsx.errors.OutputError`, raised by a job), or Ctrl-C.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import os
import pickle
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .._io import PREFLIGHT, STATE_DIR, host_name, private_tmp, token
from ..errors import ClusterError
from ..guard import Limits
from .helper import Helper, preload, unpickle_reply

RETRIED = ("died", "lost")
POLL = 0.2  # seconds between fetches of a cluster's finished jobs
GROUP_MAX, GROUPS_PER_THREAD = 16, 8  # see groups()


@dataclass(frozen=True)
class Failure:
    """A job that gave no answer: ``timeout`` (ended from outside at the hard time limit),
    ``died`` (its helper process ended: the memory cap hit inside native code, a crash, a
    kill), ``lost`` (dask: the worker running it died, also on the retry) or ``error`` (the
    job raised; ``detail`` says what)."""

    kind: str
    detail: str = ""


def hard_limit(limits: Limits) -> float | None:
    """Seconds after which one input's job is ended from outside: a margin past the alarm
    inside the helper, which fires first whenever Python code is running. None: no limit."""
    return limits.seconds * 1.25 + 2 if 0 < limits.seconds < math.inf else None


def _outcome(reply: tuple[str, object]):
    status, payload = reply
    if status == "ok":
        return payload
    if status == "raise":
        raise payload
    return Failure(status, str(payload))


class LocalWorkers:
    """One helper process per worker thread of this process (``size`` of each). ``env``:
    extra environment variables for the helpers."""

    def __init__(self, size: int, limits: Limits, env: dict | None = None):
        self.limits, self.env, self.closing = limits, env, False
        self.lock = threading.Lock()
        # Forked now, from the calling thread, before this pool has threads of its own: ready
        # at once with what this process has imported (the work modules, imported here once
        # for all of them). A replacement is started from a pool thread, so as a fresh
        # interpreter (forking a threaded process is not safe).
        if hasattr(os, "fork"):
            preload()
        self.helpers = [Helper(limits.memory_mb, env, fork=True) for _ in range(size)]
        self.idle: queue.SimpleQueue[Helper] = queue.SimpleQueue()
        for helper in self.helpers:
            self.idle.put(helper)
        self.threads = cf.ThreadPoolExecutor(size, thread_name_prefix="selfeval")

    def _call(self, job: tuple, timeout: float | None) -> tuple[str, object]:
        helper = self.idle.get()
        try:
            return helper.call(job, timeout)
        finally:
            with self.lock:
                if not helper.alive and not self.closing:
                    self.helpers.remove(helper)
                    helper = Helper(self.limits.memory_mb, self.env)
                    self.helpers.append(helper)
            self.idle.put(helper)

    def map(self, jobs: list[tuple], on_done: Callable[[int], None],
            timed: Callable[[int], bool] = lambda i: True, order: list[int] | None = None) -> list:
        """Run each job ``(fn, *args)``; results (values or :class:`Failure`) in job order.
        ``on_done(i)`` as job i finishes; ``timed(i)``: whether job i is one input's work and
        so bound by the time limit; ``order``: the job indices in the order to start them
        (default: as given)."""
        limit = hard_limit(self.limits)
        futures = {self.threads.submit(self._call, jobs[i], limit if timed(i) else None): i
                   for i in (range(len(jobs)) if order is None else order)}
        results: list = [None] * len(jobs)
        retry = []
        for future in cf.as_completed(futures):
            i = futures[future]
            results[i] = _outcome(future.result())
            if isinstance(results[i], Failure) and results[i].kind in RETRIED:
                retry.append(i)
                continue
            on_done(i)
        for i in sorted(retry):  # alone: nothing else runs while a suspect input is retried
            results[i] = _outcome(self._call(jobs[i], limit if timed(i) else None))
            on_done(i)
        return results

    def close(self) -> None:
        """End every helper (they keep nothing that needs a clean shutdown) and the threads."""
        with self.lock:
            self.closing = True
            for helper in self.helpers:
                helper.kill()
        self.threads.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- dask

_THREAD = threading.local()


def _on_worker(jobs: list[tuple[bytes, float | None]], memory_mb: int) -> list[bytes]:
    """A dask task: run each job of a group (pickled, with its time limit) in turn in this
    worker thread's own helper (started on first use, replaced after a job that ended it)
    and return their answers, pickled: the worker only passes bytes along."""
    replies = []
    for job, timeout in jobs:
        helper = getattr(_THREAD, "helper", None)
        if helper is None or not helper.alive or helper.memory_mb != memory_mb:
            if helper is not None:
                helper.kill()
            helper = _THREAD.helper = Helper(memory_mb)
        replies.append(helper.call_pickled(job, timeout))
    return replies


def groups(order: list[int], untimed: set[int], threads: int) -> list[list[int]]:
    """``order`` cut into runs of consecutive jobs, one dask task each: dask's own cost per
    task (the scheduler's bookkeeping, a message each way) was as large as a small input's
    work. Runs are short enough for every thread to get about :data:`GROUPS_PER_THREAD` of
    them (the last ones finish close together) and at most :data:`GROUP_MAX` jobs; an untimed
    job (the summary) is a task alone."""
    size = max(1, min(GROUP_MAX, len(order) // (GROUPS_PER_THREAD * max(threads, 1))))
    runs: list[list[int]] = []
    for i in order:
        if i in untimed:
            runs.append([i])
        elif runs and len(runs[-1]) < size and runs[-1][-1] not in untimed:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def code_digest() -> str:
    """A digest of this installation's code and bundled files, to tell a worker that runs
    other code under the same version number."""
    import hashlib

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".toml", ".docx", ".xlsx")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _preflight(version: str, digest: str, files: list[tuple[str, int]], output: str, marker: str,
               template: tuple[str, int] | None) -> dict:
    """Run on every worker before the batch: does it see what the client sees, at the same
    paths, and run the same code? Returns its host name and the problems found (Chinese)."""
    from .. import __version__

    problems = []
    if (__version__, code_digest()) != (version, digest):
        problems.append(f"selfeval 版本或代码与本机不同（工作进程 {__version__}，本机 {version}），"
                        "请在所有机器上安装同一版本")
    unseen = [path for path, size in files if not (os.path.isfile(path) and os.path.getsize(path) == size)]
    if unseen:
        problems.append(f"看不到 {len(unseen)} 个输入文件（如 {unseen[0]}），输入须放在各机器同一路径的共享盘上")
    try:
        same = (Path(output) / STATE_DIR / f"{PREFLIGHT}{marker}").read_text() == marker
    except OSError:
        same = False
    if not same:
        problems.append(f"看不到输出文件夹 {output}（或看到的不是同一个文件夹），输出须放在各机器同一路径的共享盘上")
    else:
        probe = private_tmp(output) / f"{PREFLIGHT}{marker}-{host_name()}-{os.getpid()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            problems.append(f"无法写入输出文件夹 {output}（{exc.strerror or exc}）")
    if template is not None and not (os.path.isfile(template[0]) and os.path.getsize(template[0]) == template[1]):
        problems.append(f"看不到报告模板 {template[0]}")
    return {"host": host_name(), "problems": problems}


class ClusterWorkers:
    """A dask.distributed cluster: connect (within ``connect_timeout`` seconds), wait a
    bounded time for workers, check every worker (:meth:`preflight`), then run the jobs on
    the workers' threads, each in that thread's helper."""

    def __init__(self, address: str, limits: Limits, connect_timeout: float, notice: Callable[[str], None]):
        try:
            import distributed
        except ImportError:
            raise ClusterError('未安装 dask.distributed，无法使用 --scheduler：请运行 pip install "selfeval-xlsx[dask]"，'
                               "或去掉 --scheduler 在本机运行。") from None
        self.limits, self.timeout, self.token = limits, connect_timeout, token()
        address = address if "://" in address else f"tcp://{address}"  # dask's default scheme, said
        self.quiet = _Quiet()  # dask's own log lines and tracebacks are not for an analyst's terminal
        try:
            _check_address(address)
        except ValueError as exc:
            self.quiet.restore()
            raise ClusterError(f"调度器地址 {address} 无法识别（{exc}）。地址应形如 tcp://10.0.0.5:8786。") from None
        import asyncio  # here, not at the top: ~20 ms a local run need not pay before its helpers start

        try:
            # A bare connection first: a Client that fails half-built prints a traceback when it
            # is collected, and a scheduler that cannot even be reached needs no Client.
            asyncio.run(_probe(address, connect_timeout))
            self.client = distributed.Client(address, timeout=connect_timeout, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - unreachable, not a scheduler: both "no cluster"
            self.quiet.restore()
            raise ClusterError(_connect_failed(address, connect_timeout, exc)) from None
        try:
            if not self.client.nthreads():
                notice(f"调度器 {address} 上还没有工作进程，最多等待 {connect_timeout:g} 秒……")
                try:
                    self.client.wait_for_workers(1, timeout=connect_timeout)
                except Exception:  # noqa: BLE001 - dask's TimeoutError, or the scheduler went away
                    raise ClusterError(f"调度器 {address} 在 {connect_timeout:g} 秒内没有任何工作进程，已停止。"
                                       "请先启动 dask worker，或用 --connect-timeout 加长等待时间。") from None
        except BaseException:
            self.close()
            raise

    def preflight(self, files: list[str], output: Path, template: Path | None) -> None:
        """Check every worker before the batch; raise :class:`ClusterError` naming each one
        that does not see the inputs, the output folder or the template at the same paths,
        or runs other code."""
        from .. import __version__

        marker = output / STATE_DIR / f"{PREFLIGHT}{self.token}"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(self.token)
        sizes = [(path, os.path.getsize(path)) for path in dict.fromkeys(files)]
        tpl = (str(template), os.path.getsize(template)) if template else None
        try:
            answers = self.client.run(_preflight, __version__, code_digest(), sizes, str(output), self.token, tpl,
                                      on_error="return")
        except Exception as exc:  # noqa: BLE001 - the cluster went away
            raise ClusterError(f"无法在集群的工作进程上完成检查：{type(exc).__name__}: {exc}") from None
        finally:
            marker.unlink(missing_ok=True)
        names = {addr: str(info.get("name", addr)) for addr, info in self.client.scheduler_info(-1)["workers"].items()}
        failed = []
        for worker, answer in sorted(answers.items()):
            who = worker if names.get(worker, worker) == worker else f"{worker}（{names[worker]}）"
            if isinstance(answer, BaseException):  # e.g. an older selfeval without this check
                failed.append(f"{who}：无法运行检查，很可能装的是另一版本的 selfeval，请在所有机器上安装同一版本"
                              f"（{type(answer).__name__}: {str(answer)[:150]}）")
            elif answer["problems"]:
                failed.append(f"{who}，主机 {answer['host']}：" + "；".join(answer["problems"]))
        if failed:
            raise ClusterError("集群中有工作进程不能参与本次运行：\n  " + "\n  ".join(failed))

    def map(self, jobs: list[tuple], on_done: Callable[[int], None],
            timed: Callable[[int], bool] = lambda i: True, order: list[int] | None = None) -> list:
        """As :meth:`LocalWorkers.map`, with runs of jobs sent as one task each (:func:`groups`;
        ``order`` becomes the tasks' priorities). The jobs of a task whose worker died
        (dask's ``KilledWorker``) are resubmitted once each, alone, after the others; a second
        loss is a ``lost`` Failure."""
        limit = hard_limit(self.limits)
        timeouts = [limit if timed(i) else None for i in range(len(jobs))]
        order = list(range(len(jobs))) if order is None else order
        try:
            threads = sum(self.client.nthreads().values())
        except Exception:  # noqa: BLE001 - the scheduler went away: the first fetch says so
            threads = 1
        runs = groups(order, {i for i in order if timeouts[i] is None}, threads)
        futures = {self._submit(jobs, timeouts, run, priority=len(runs) - rank): run for rank, run in enumerate(runs)}
        results: list = [None] * len(jobs)
        retry = []
        for i, outcome in self._collect(futures):
            if isinstance(outcome, Failure) and outcome.kind in RETRIED:
                retry.append(i)
                continue
            results[i] = outcome
            on_done(i)
        for i in sorted(retry):
            for _, results[i] in self._collect({self._submit(jobs, timeouts, [i], tag="retry"): [i]}):
                on_done(i)
        return results

    def _submit(self, jobs: list[tuple], timeouts: list, run: list[int], tag: str = "", priority: int = 0):
        name = getattr(jobs[run[0]][0], "__name__", "job").strip("_")
        key = f"selfeval-{name}-{self.token}-{run[0]}{tag}"
        group = [(pickle.dumps(jobs[i], protocol=pickle.HIGHEST_PROTOCOL), timeouts[i]) for i in run]
        return self.client.submit(_on_worker, group, self.limits.memory_mb, key=key, pure=False, priority=priority)

    def _collect(self, futures: dict):
        """Yield (job index, outcome) as tasks (``futures``: future -> its jobs) finish,
        fetching what finished every :data:`POLL` seconds in one go (a round trip per future
        costs the cores the jobs need); raise :class:`ClusterError` when the connection to
        the scheduler is lost, and cancel what is queued on Ctrl-C."""
        pending = set(futures)
        try:
            while pending:
                time.sleep(POLL)
                done = [f for f in pending if f.done()]
                pending.difference_update(done)
                yield from self._outcomes(done, futures)
        except BaseException:
            self._cancel(pending)
            raise

    def _outcomes(self, batch: list, futures: dict):
        """(job index, outcome) for the jobs of the done futures in ``batch``, the results of
        the finished ones fetched in one go; a task that failed as a whole fails each of its jobs."""
        from distributed import KilledWorker

        finished = [f for f in batch if f.status == "finished"]
        try:
            values = dict(zip(finished, self.client.gather(finished))) if finished else {}
        except Exception:  # noqa: BLE001 - e.g. a result lost with its worker: one at a time below
            values = {}
        for future in batch:
            if future.status == "cancelled":  # we cancel only when leaving: the scheduler went away
                raise ClusterError("与 dask 调度器的连接中断，本次运行已停止；已写出的文件都是完整的，"
                                   "恢复集群后再次运行会从中断处继续。")
            if future not in values:
                try:
                    values[future] = future.result()
                except KilledWorker as exc:
                    values[future] = [Failure("lost", str(exc)[:300])] * len(futures[future])
                except Exception as exc:  # noqa: BLE001 - not our job's (helpers answer with values)
                    values[future] = [Failure("error", f"{type(exc).__name__}: {exc}"[:300])] * len(futures[future])
            for i, reply in zip(futures[future], values[future]):
                yield i, reply if isinstance(reply, Failure) else _outcome(unpickle_reply(reply))

    def _cancel(self, futures) -> None:
        if futures and self.client.status == "running":
            try:
                self.client.cancel(list(futures), force=True)
            except Exception:  # noqa: BLE001 - leaving anyway
                pass

    def close(self) -> None:
        try:
            self.client.close(timeout=min(self.timeout, 3))
        except Exception:  # noqa: BLE001 - the scheduler may be gone already
            pass
        finally:
            self.quiet.restore()


class _Quiet:
    """Silence dask's loggers (reconnect attempts, tracebacks of closed comms) until restored:
    the run says in Chinese what went wrong."""

    PREFIXES = ("distributed", "tornado", "asyncio", "bokeh")

    def __init__(self):
        manager = logging.Logger.manager
        names = [n for n in list(manager.loggerDict) if n.split(".")[0] in self.PREFIXES] + list(self.PREFIXES)
        self.loggers = {log: log.disabled for log in map(logging.getLogger, dict.fromkeys(names))}
        for log in self.loggers:
            log.disabled = True

    def restore(self) -> None:
        for log, disabled in self.loggers.items():
            log.disabled = disabled


async def _probe(address: str, timeout: float) -> None:
    """Connect to the scheduler and hang up (raises whatever stops a connection)."""
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout)
    await comm.close()


def _check_address(address: str) -> None:
    """Raise ValueError for an address dask cannot read (unknown scheme, bad host:port)."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    scheme, location = parse_address(address)
    get_backend(scheme)
    if scheme in ("tcp", "tls"):
        parse_host_port(location)


def _connect_failed(address: str, timeout: float, exc: Exception) -> str:
    import asyncio

    detail = f"{type(exc).__name__}: {exc}".strip()[:200]
    if isinstance(exc, (OSError, asyncio.TimeoutError)):
        return (f"无法连接 dask 调度器 {address}（{timeout:g} 秒内无响应：{detail}）。请确认调度器已启动、地址和端口正确，"
                "或去掉 --scheduler 在本机运行。")
    return (f"{address} 上似乎不是 dask 调度器（{detail}）。请确认地址和端口，或去掉 --scheduler 在本机运行。")


def open_workers(options, notice: Callable[[str], None], env: dict | None = None):
    """The executor a run asked for: a cluster (``options.scheduler``) or helpers here."""
    if options.scheduler:
        return ClusterWorkers(options.scheduler, options.limits, options.connect_timeout, notice)
    return LocalWorkers(options.workers or os.cpu_count() or 1, options.limits, env)
