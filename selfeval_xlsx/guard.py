"""Checks every input before any parser sees it: size, file type, zip structure.

A spreadsheet from an unknown sender may be empty, a renamed text file, encrypted, truncated, a
compression bomb or carry an XML entity bomb. Each is refused here in milliseconds, with flat
memory, as an :class:`~selfeval_xlsx.errors.UnreadableInput` carrying a stable code.
"""
from __future__ import annotations

import codecs
import io
import re
import zipfile
from dataclasses import dataclass

from .errors import UnreadableInput
from .issues import Code

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class Limits:
    """Bounds on one input. Defaults fit real department workbooks with a wide margin."""

    max_file_bytes: int = 50 * 2**20
    max_email_bytes: int = 100 * 2**20  # an e-mail (or .msg) with its attachments
    max_unzipped_bytes: int = 500 * 2**20
    max_entries: int = 5000
    max_ratio: int = 200  # deflate of real sheet XML rarely passes 30:1; bombs reach 1000:1
    max_cells: int = 2_000_000  # one sheet's used range (rows x cols); calamine allocates it densely
    max_text_bytes: int = 100 * 2**20  # shared strings repeated into cells (a tiny file can ask for GBs)
    seconds: float = 120.0
    memory_mb: int = 2048


def inspect(data: bytes, suffix: str, limits: Limits = Limits()) -> str:
    """Return the workbook format (``"xlsx"``, ``"xls"`` or ``"ods"``) or raise ``UnreadableInput``.
    The content decides, not the name: a WPS ``.et`` is the .xls or .xlsx it holds."""
    if not data:
        raise UnreadableInput("文件为空（0 字节），请重新导出工作簿后提交。", Code.EMPTY_FILE)
    if len(data) > limits.max_file_bytes:
        raise UnreadableInput(
            f"文件大小 {len(data) / 2**20:.1f} MB 超过上限 {limits.max_file_bytes / 2**20:.0f} MB。", Code.FILE_TOO_LARGE)
    if data.startswith(OLE_MAGIC):
        if b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e" in data:
            raise UnreadableInput("工作簿设置了打开密码，无法读取。请取消密码保护后重新提交。", Code.ENCRYPTED)
        return "xls"
    if not data.startswith(ZIP_MAGIC):
        kind = "文本或 CSV 文件" if _looks_like_text(data) else "未知格式的文件"
        raise UnreadableInput(
            f"这不是 Excel 工作簿（看起来是{kind}，只是扩展名为 {suffix}）。请用 Excel 另存为 .xlsx 后提交。", Code.NOT_A_WORKBOOK)
    return _inspect_zip(data, limits)


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    for encoding in ("utf-8", "gb18030"):
        try:
            head.decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False


ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


def check_entries(entries: list[zipfile.ZipInfo], limits: Limits, what: str = "工作簿",
                  name=lambda entry: f"部件 {entry.filename}") -> None:
    """Refuse a zip (a workbook's, or an archive of workbooks: ``what``) whose entry count,
    total size or a member's compression ratio is a bomb's, from the sizes it declares."""
    if len(entries) > limits.max_entries:
        raise UnreadableInput(f"{what}内部包含 {len(entries)} 个部件，超过上限 {limits.max_entries}，已拒收。", Code.ZIP_BOMB)
    total = 0
    for entry in entries:
        total += entry.file_size
        ratio = entry.file_size / max(entry.compress_size, 1)
        if total > limits.max_unzipped_bytes or (entry.file_size > 2**20 and ratio > limits.max_ratio):
            raise UnreadableInput(
                f"{what}解压后异常巨大（{name(entry)} 解压 {entry.file_size / 2**20:.0f} MB，压缩比 "
                f"{ratio:.0f}:1），疑似压缩炸弹，已拒收。", Code.ZIP_BOMB)


def _inspect_zip(data: bytes, limits: Limits) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise UnreadableInput("文件已损坏（压缩包不完整或被截断），请重新保存后提交。", Code.CORRUPT_FILE) from None
    check_entries(entries, limits)
    names = {e.filename for e in entries}
    is_ods = "content.xml" in names and "mimetype" in names and _head(archive, "mimetype").strip() == ODS_MIMETYPE
    if "xl/workbook.xml" not in names and not is_ods:
        raise UnreadableInput("压缩包中没有 Excel 工作簿内容（缺少 xl/workbook.xml），请用 Excel 另存为 .xlsx。", Code.NOT_A_WORKBOOK)
    try:
        for entry in entries:
            if entry.filename.endswith((".xml", ".rels")):
                with archive.open(entry) as part:
                    dtd = _declares_dtd(part)
                # A DTD in an OOXML part is never legitimate and is how entity bombs start.
                if dtd:
                    raise UnreadableInput(f"工作簿部件 {entry.filename} 在正文之前含有 DTD/实体声明或异常内容，疑似恶意文件，已拒收。", Code.XML_ENTITIES)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        raise UnreadableInput("文件已损坏（压缩数据无法解开），请重新保存后提交。", Code.CORRUPT_FILE) from None
    return "ods" if is_ods else "xlsx"


def _head(archive: zipfile.ZipFile, name: str) -> bytes:
    """The first bytes of a small part (never more, whatever size it declares)."""
    try:
        with archive.open(name) as part:
            return part.read(100)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        return b""


_PROLOG_SKIP = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->", re.S)


_MAX_PROLOG = 2**20
_FIRST_READ = 512  # then ``chunk`` at a time: a padded prolog still takes few passes


def _declares_dtd(part, chunk: int = 8192) -> bool:
    """True when the XML prolog (everything before the root element) holds ``<!DOCTYPE`` or
    any other ``<!`` declaration, or is absurdly long. Reads only as far as the root element,
    so comments padding the prolog past the first kilobytes, or a UTF-16 part, cannot hide a DTD."""
    head = part.read(_FIRST_READ)  # a real part's prolog is one line: 8 KB need not be inflated
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    elif head[:2] in (b"<\x00", b"\x00<"):
        encoding = "utf-16-le" if head[:1] == b"<" else "utf-16-be"
    else:
        encoding = "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text = decoder.decode(head).lstrip("\ufeff")
    while True:
        match = _PROLOG_SKIP.match(text)
        if match and match.end() < len(text):
            text = text[match.end():]
            continue
        if text.startswith("<!") and not text.startswith("<!-"):
            return True
        if len(text) >= 4 and not (text.startswith("<?") or text.startswith("<!-") or text.isspace()):
            return False  # the root element (or junk the parser will refuse)
        if len(text) > _MAX_PROLOG:
            return True  # a megabyte of comments before the root is no Excel part either
        more = part.read(chunk)
        if not more:
            return False
        text += decoder.decode(more)
