"""One helper process that runs the batch's jobs one at a time, under the per-input limits.

Both executors run every job through helpers, so the limits are enforced by the same code
whether the batch runs on this machine or on a dask cluster: the helper's address space is
capped at what it uses after start-up plus ``memory_mb`` (a greedy input ends in a
``MemoryError`` or in the helper's death, never in the machine's), and the thread that waits
for an answer ends the helper from outside once the hard time limit passes (native parser
code can ignore the in-process alarm). Either way the job costs one problem for its input and
a fresh helper takes the next job.

A helper starts in one of two ways. ``fork=True`` (this machine's pool, started from the main
thread): a copy of the caller, ready at once with whatever it has imported. Otherwise a fresh
interpreter started with :mod:`subprocess`, which is safe from any thread (a dask worker runs
tasks in threads, and its processes may not have :mod:`multiprocessing` children); it imports
the work modules before taking jobs. Either way the helper dies with its parent
(``PR_SET_PDEATHSIG`` on Linux, else at the end of its current job), ignores Ctrl-C (its
parent ends it, so a terminal never sees a helper's traceback) and speaks length-prefixed
pickles over two pipes, its answers read by a thread of the parent (which is how a wait gets
a timeout on every platform).
"""
from __future__ import annotations

import contextlib
import faulthandler
import gc
import importlib
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path

_HEADER = struct.Struct("<Q")
_READY = b"R"
_TIMEOUT = object()
# Imported before the memory cap is set, so the cap is all the input's.
_PRELOAD = ("selfeval_xlsx.batch.run", "selfeval_xlsx.reader", "selfeval_xlsx.annotate", "selfeval_xlsx.report",
            "selfeval_xlsx.summary")
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
START_SECONDS = 120.0  # a helper that cannot even import in this long is broken, not slow
_PARENT_FDS: set[int] = set()  # this process's ends of every helper's pipes: a forked helper closes them
_FDS_LOCK = threading.Lock()


class Helper:
    """The parent's handle on one helper process (used by one thread at a time). ``env``:
    extra environment variables for the helper (e.g. its TMPDIR)."""

    def __init__(self, memory_mb: int, env: dict | None = None, *, fork: bool = False):
        self.memory_mb = memory_mb
        self.ready = False
        self.replies: queue.SimpleQueue = queue.SimpleQueue()
        self.reader: threading.Thread | None = None
        self.proc = _Forked(memory_mb, env or {}) if fork and hasattr(os, "fork") else _Spawned(memory_mb, env or {})

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, job: tuple, timeout: float | None) -> tuple[str, object]:
        """Run ``job`` = ``(fn, *args)`` and return ``("ok", value)``, ``("raise", exc)``
        (a :class:`~selfeval_xlsx.errors.SelfevalError` the job raised, for the caller to
        raise), ``("error", text)`` (any other exception), ``("timeout", "")`` (ended after
        ``timeout`` seconds) or ``("died", how)``. The helper is unusable after the last two."""
        return unpickle_reply(self.call_pickled(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL), timeout))

    def call_pickled(self, job: bytes, timeout: float | None) -> bytes:
        """:meth:`call` with the job and the answer pickled (:func:`unpickle_reply` reads
        it): a dask worker passes both through without unpickling what is not its own."""
        if self.reader is None:  # started on first use: after every fork of the pool
            self.reader = threading.Thread(target=self._read_replies, daemon=True, name="selfeval-helper-replies")
            self.reader.start()
        if not self.ready:  # the time limit starts once the helper has imported its modules
            if self._next(START_SECONDS) is not _READY:
                return self._died()
            self.ready = True
        try:
            _write_all(self.proc.requests, _HEADER.pack(len(job)) + job)
        except OSError:  # the pipe closed under us: the helper is gone
            return self._died()
        reply = self._next(timeout)
        if reply is _TIMEOUT:
            self.kill()
            return pickle.dumps(("timeout", ""))
        if reply is None:
            return self._died()
        return reply

    def _next(self, timeout: float | None):
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            return _TIMEOUT

    def _read_replies(self) -> None:
        """The helper's answers, into :attr:`replies` (None once it is gone). A thread that
        blocks on the pipe is how a wait gets a timeout on every platform."""
        fd = self.proc.replies
        try:
            if os.read(fd, 1) == _READY:
                self.replies.put(_READY)
                while True:
                    header = _read_exactly(fd, _HEADER.size)
                    payload = _read_exactly(fd, _HEADER.unpack(header)[0]) if header is not None else None
                    if payload is None:
                        break
                    self.replies.put(payload)
        except OSError:
            pass
        finally:
            self.proc.close_replies()  # here, not by another thread: its number could be reused under us
        self.replies.put(None)

    def _died(self) -> bytes:
        self.kill()
        code = self.proc.returncode
        how = f"退出码 {code}"
        if code is not None and code < 0:
            try:
                how = f"信号 {signal.Signals(-code).name}"
            except ValueError:
                how = f"信号 {-code}"
        return pickle.dumps(("died", how))

    def kill(self) -> None:
        """End the helper now (it holds nothing that needs a clean shutdown)."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
        self.proc.wait()
        self.proc.close_requests()
        if self.reader is None:
            self.proc.close_replies()


def unpickle_reply(reply: bytes) -> tuple[str, object]:
    """A helper's pickled answer (see :meth:`Helper.call`)."""
    try:
        return pickle.loads(reply)
    except Exception as exc:  # noqa: BLE001 - e.g. an exception class that does not unpickle
        return "error", f"{type(exc).__name__}: {exc}"[:500]


class _Forked:
    """A helper forked from this process: Popen's ``poll``/``kill``/``wait``/``returncode``
    over ``os.fork``, with its two pipes."""

    def __init__(self, memory_mb: int, env: dict):
        parent = os.getpid()
        with _FDS_LOCK:
            requests_r, requests_w = os.pipe()
            replies_r, replies_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the helper: never returns
                try:
                    for fd in (*_PARENT_FDS, requests_w, replies_r):
                        with contextlib.suppress(OSError):
                            os.close(fd)
                    os.environ.update(env)
                    if "TMPDIR" in env:
                        import tempfile

                        tempfile.tempdir = env["TMPDIR"]
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the command line's handler
                    serve(parent, memory_mb, requests_r, replies_w)
                finally:
                    os._exit(0)
            os.close(requests_r)
            os.close(replies_w)
            _PARENT_FDS.update((requests_w, replies_r))
        self.pid, self.requests, self.replies, self.returncode = pid, requests_w, replies_r, None

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(ChildProcessError):
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def close_requests(self) -> None:
        self._close(self.requests)

    def close_replies(self) -> None:
        self._close(self.replies)

    @staticmethod
    def _close(fd: int) -> None:
        with _FDS_LOCK:
            if fd in _PARENT_FDS:
                _PARENT_FDS.discard(fd)
                os.close(fd)


class _Spawned(subprocess.Popen):
    """A helper started as a fresh interpreter, with :class:`_Forked`'s pipe names."""

    def __init__(self, memory_mb: int, env: dict):
        env = {**os.environ, **env}
        # The helper imports the same selfeval_xlsx as this process, wherever it came from.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        entry = f"from {__name__} import serve; serve({os.getpid()}, {int(memory_mb)})"
        super().__init__([sys.executable, "-c", entry], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                         bufsize=0)
        self.requests, self.replies = self.stdin.fileno(), self.stdout.fileno()

    def close_requests(self) -> None:
        self.stdin.close()

    def close_replies(self) -> None:
        self.stdout.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- inside the helper

def preload() -> None:
    """Import what the jobs need (:data:`_PRELOAD`, ~0.8 s of CPU): in a helper before its
    memory cap is set, and in a pool's own process before it forks its helpers, which then
    share the imported modules instead of each importing them again."""
    for module in _PRELOAD:
        importlib.import_module(module)


def limit_memory(memory_mb: int) -> None:
    """Cap this process's address space at what it uses now plus ``memory_mb``, so one huge
    input ends in a MemoryError (or this process's death) instead of exhausting the machine."""
    try:
        import resource

        in_use = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = in_use + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: no cap, the time limit still applies


def die_with_parent(parent: int) -> None:
    """Be killed when the parent process dies (Linux ``PR_SET_PDEATHSIG``): a run killed
    with SIGKILL leaves no helper behind. Exits at once if the parent is already gone."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere: the helper exits when its pipe closes, after the current job
    if os.getppid() != parent:
        os._exit(0)


def serve(parent: int, memory_mb: int, requests: int | None = None, replies: int | None = None) -> None:
    """The helper's life: run jobs from ``requests`` (default stdin) until it closes, answer
    on ``replies`` (default stdout), then exit at once."""
    try:
        die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        faulthandler.disable()  # a helper's crash is reported against its input, not dumped on the terminal
        if requests is None:
            requests, replies = sys.stdin.fileno(), os.dup(1)
            os.dup2(2, 1)  # a library's stray print goes to stderr, never into the replies
        preload()  # a no-op for what a forked helper has already
        # The imported modules live as long as the helper: its garbage collector need not walk
        # them (~60,000 objects on every full collection, ~0.07 s of CPU per helper). A job
        # makes objects by the hundred thousand and drops them with its answer: a young
        # generation of 20,000, not 700, runs ~3 collections a batch instead of ~250 (~2 % of
        # the helpers' CPU); memory stays under the cap set below.
        gc.freeze()
        gc.set_threshold(20_000, 10, 10)
        limit_memory(memory_mb)
        _write_all(replies, _READY)
        while True:
            header = _read_exactly(requests, _HEADER.size)
            request = _read_exactly(requests, _HEADER.unpack(header)[0]) if header is not None else None
            if request is None:
                break  # the parent closed the pipe: done
            _write_all(replies, _answer(request))
    except (OSError, KeyboardInterrupt):
        pass
    os._exit(0)  # no interpreter teardown: nothing of ours needs it, and it can be slow


def _answer(request: bytes) -> bytes:
    from ..errors import SelfevalError

    try:
        fn, *args = pickle.loads(request)
        reply: tuple = ("ok", fn(*args))
    except SelfevalError as exc:
        reply = ("raise", exc)
    except BaseException as exc:  # noqa: BLE001 - a job's failure is an answer; the helper lives on
        reply = ("error", f"{type(exc).__name__}: {exc}"[:500])
    try:
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - an unpicklable answer is still an answer
        data = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"[:500]))
    return _HEADER.pack(len(data)) + data
