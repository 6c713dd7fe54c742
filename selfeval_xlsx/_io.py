"""Small file helpers shared by every writer: atomic writes, safe file names, and what a failed
file operation means in words a user reads (a read: :func:`describe_os_error`; a write the
output folder refused: :func:`write_failure`, :func:`output_error`)."""
from __future__ import annotations

import errno
import itertools
import os
import re
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f\ud800-\udfff]')  # surrogates: no file system takes them
_COUNTER = itertools.count()
TEMP_PREFIX = ".tmp-"
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_filename(text: str, max_len: int = 120, max_bytes: int = 200) -> str:
    """Turn user text into one file-name component that Windows and POSIX both accept:
    forbidden characters become ``_``, no leading dots, no reserved device names, at most
    ``max_len`` characters and ``max_bytes`` UTF-8 bytes (Linux counts bytes, 255 at most,
    and a Chinese character takes three)."""
    name = _FORBIDDEN.sub("_", str(text)).strip().strip(".").strip() or "_"
    name = name.replace("..", "_")
    if name.split(".")[0].upper() in _RESERVED:
        name = "_" + name
    name = name[:max_len]
    while len(name.encode("utf-8")) > max_bytes:
        name = name[:-1]
    return name


STATE_DIR = ".selfeval"  # a run's own folder inside the output folder: manifest, cache, lock, temporary files
PREFLIGHT = "preflight-"  # the name of a cluster's preflight markers there begins so


def private_tmp(output: str | os.PathLike) -> Path:
    """The folder of a run's temporary files inside ``output`` (never the system's TMPDIR)."""
    return Path(output) / STATE_DIR / "tmp"


def unique_name(name: str, used: set[str]) -> str:
    """``name``, or ``stem_2.ext``, ``stem_3.ext``… when a name in ``used`` differs from it
    only in case (Windows file names ignore case); the name returned is added to ``used``
    (lower-cased)."""
    stem, suffix, n = Path(name).stem, Path(name).suffix, 1
    while name.lower() in used:
        n += 1
        name = f"{stem}_{n}{suffix}"
    used.add(name.lower())
    return name


@contextmanager
def _replacing(dst: Path):
    """Yield a temporary file beside ``dst`` as (path, open descriptor); on success it is
    renamed over ``dst``, on error removed. The caller closes the descriptor."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    # A name unique to this host, process and call, created exclusively: cheaper than
    # mkstemp's random names (measurable at a thousand reports). The host and a random token
    # keep two machines (or two containers that both run as PID 6) apart on a shared disk.
    tmp = dst.parent / f"{TEMP_PREFIX}{_TAG}-{next(_COUNTER)}{dst.suffix}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        yield tmp, fd
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(dst: str | os.PathLike):
    """Yield a temporary path beside ``dst``; on success it is renamed over ``dst``, on error
    it is removed, so a reader never sees a half-written file."""
    with _replacing(Path(dst)) as (tmp, fd):
        os.close(fd)
        yield tmp


def atomic_write_bytes(dst: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``dst`` atomically and return the path (as :func:`atomic_path`, with
    the temporary file written through the descriptor that created it: one open, not two,
    for each of a batch's thousand reports)."""
    dst = Path(dst)
    with _replacing(dst) as (_, fd), open(fd, "wb") as stream:
        stream.write(data)
    return dst


def describe_os_error(exc: OSError) -> str:
    """A failed read as a Chinese sentence (the system's own text goes to support, not here)."""
    if isinstance(exc, PermissionError):
        return "没有读取该文件的权限，请检查文件权限后重试。"
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return "文件不存在或已被移走，请检查路径后重试。"
    if isinstance(exc, IsADirectoryError):
        return "这是一个文件夹，不是文件。"
    return "无法读取文件（磁盘或网络出错），请稍后重试。"


def host_name() -> str:
    """This machine's name (without importing :mod:`socket` where ``os.uname`` has it)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def token(n: int = 4) -> str:
    """``2n`` random hex digits."""
    return os.urandom(n).hex()


def _tag() -> str:
    host = safe_filename(host_name(), 24, 24).replace("-", "_")
    return f"{host}-{os.getpid()}-{token()}"


_TAG = _tag()


def _renew_tag() -> None:
    global _TAG
    _TAG = _tag()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_tag)  # a forked child is another writer

_WRITE_FAILURES = {errno.ENOSPC: "磁盘空间不足", errno.EDQUOT: "超出磁盘配额", errno.EACCES: "没有写入权限",
                   errno.EPERM: "没有写入权限", errno.EROFS: "文件系统为只读", errno.EIO: "磁盘读写错误",
                   errno.ENOTDIR: "路径中有同名文件挡住了文件夹", errno.EEXIST: "路径中有同名文件挡住了文件夹"}


def write_failure(exc: BaseException) -> OSError | None:
    """The OSError behind a failed write when the output side caused it (disk full, no
    permission, read-only, a file where a folder belongs), looking through wrappers such as
    xlsxwriter's ``FileCreateError``; None for anything else."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError) and exc.errno in _WRITE_FAILURES:
            return exc
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = exc.__cause__ or inner or exc.__context__
        seen += 1
    return None


def describe_write_failure(exc: OSError) -> str:
    """Why the output folder refused a write, in Chinese (``磁盘空间不足`` …), with the
    system's words after it: the analyst fixes the folder, so the exact cause helps."""
    reason = _WRITE_FAILURES.get(exc.errno, "无法读写")
    return f"{reason}（{exc.strerror}）" if exc.strerror else reason


def raise_write_failure(exc: BaseException, path: str | os.PathLike | None = None) -> None:
    """Raise the :func:`output_error` that stops the run when ``exc`` is a write the output
    folder refused (:func:`write_failure`); return for anything else."""
    failure = write_failure(exc)
    if failure is not None:
        raise output_error(failure, path) from None


def output_error(exc: OSError, path: str | os.PathLike | None = None) -> OutputError:
    """The :class:`OutputError` that stops a run whose output folder refused a write."""
    where = path or exc.filename or ""
    return OutputError(f"无法写入 {where}：{describe_write_failure(exc)}。已写出的文件都是完整的；"
                       "解决后再次运行同一命令，会从中断处继续。")
