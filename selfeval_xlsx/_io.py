"""Small file helpers shared by every writer: atomic writes, safe file names, and what a failed
file operation means in words a user reads."""
from __future__ import annotations

import itertools
import os
import re
from contextlib import contextmanager
from pathlib import Path

_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f\ud800-\udfff]')  # surrogates: no file system takes them
_COUNTER = itertools.count()
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


@contextmanager
def atomic_path(dst: str | os.PathLike):
    """Yield a temporary path beside ``dst``; on success it is renamed over ``dst``, on error
    it is removed, so a reader never sees a half-written file."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # A name unique to this process and call, created exclusively: cheaper than mkstemp's
    # random names (measurable at a thousand reports) and readable like any output file.
    tmp = dst.parent / f".tmp-{os.getpid()}-{next(_COUNTER)}{dst.suffix}"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(dst: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``dst`` atomically and return the path."""
    with atomic_path(dst) as tmp:
        tmp.write_bytes(data)
    return Path(dst)


def describe_os_error(exc: OSError) -> str:
    """A failed read as a Chinese sentence (the system's own text goes to support, not here)."""
    if isinstance(exc, PermissionError):
        return "没有读取该文件的权限，请检查文件权限后重试。"
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return "文件不存在或已被移走，请检查路径后重试。"
    if isinstance(exc, IsADirectoryError):
        return "这是一个文件夹，不是文件。"
    return "无法读取文件（磁盘或网络出错），请稍后重试。"
