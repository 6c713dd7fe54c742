"""Turning an inbox (files, folders, e-mails, Outlook .msg, .zip archives) into workbook inputs.

Folders are walked recursively. Each path is looked at (``stat``) before it is opened: only
regular files are read, FIFOs, devices and sockets are listed and left alone, and a file over
the size limit is refused without being read. Spreadsheet attachments of e-mails and
workbooks inside ``.zip`` archives become inputs of their own, keeping the sender and the
Date header as the submission's source; an e-mail is parsed once (its MIME structure found
from the boundary lines, the standard parser only for odd ones), and each input remembers
where its bytes lie in the container (:attr:`InputRef.inner`) so reading it again costs one
slice, not another parse. Excel lock files and other files are skipped and listed; identical
files (same SHA-256) count once.

File names are bytes on Linux: a name that is not UTF-8 (what unzipping a Windows zip gives)
keeps its real bytes for I/O and is shown decoded as GB18030, or with ``\\xNN`` escapes.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.errors
import email.header
import email.message
import email.parser
import email.policy
import email.utils
import hashlib
import io
import logging
import os
import quopri
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .clock import EMAIL, FILE
from .errors import UnreadableInput
from .guard import Limits, check_entries
from .issues import Code

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".et", ".ods")
CONTAINER_SUFFIXES = (".eml", ".msg", ".zip")
# Spreadsheets in a form the tool does not read: refused by name (a submission would be lost).
UNSUPPORTED = {".xlsb": "Excel 二进制工作簿（.xlsb）", ".csv": "CSV 文本文件", ".numbers": "Numbers 表格",
               ".ett": "WPS 模板（.ett）", ".xltx": "Excel 模板（.xltx）", ".xltm": "Excel 模板（.xltm）",
               ".rar": "RAR 压缩包", ".7z": "7z 压缩包"}


MAX_FOLDER_DEPTH = 64  # sub-folders below an inbox folder (a crafted tree would exhaust the stack)
MAX_DEPTH = 3  # containers inside containers: an e-mail carrying a zip of zips is as deep as it gets
_CHUNK = 2**20
# Chinese mail clients label GBK (and GB18030) text "gb2312"; GB18030 decodes all of them.
_CHARSETS = {"gb2312": "gb18030", "gbk": "gb18030", "gb_2312-80": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030"}


def _unsupported(shown: str, suffix: str) -> Skipped:
    return Skipped(shown, f"{UNSUPPORTED[suffix]}无法读取，请用 Excel 另存为 .xlsx（压缩包请解压或改用 .zip）后提交。",
                   Code.UNSUPPORTED_FORMAT)


def display_name(raw: str | bytes) -> str:
    """A file name as users read it. Names are bytes on Linux: bytes that are not UTF-8 are
    tried as GB18030 (Windows zips and mail clients in China), else shown as ``\\xNN``."""
    data = os.fsencode(raw) if isinstance(raw, str) else raw
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class InputRef:
    """One workbook to process. ``path`` is the file on disk (its real name, for I/O);
    ``inner`` the steps from that file to the workbook when it sits in a container
    (``("mime", start, end, encoding)`` a slice of an e-mail, ``("zip", member)``,
    ``("msg", index)``, ``("part", index)`` an e-mail attachment by position); ``name`` is
    what users see in problems and summaries. ``submitted`` is the e-mail's Date or
    the file's modification time, as ``submitted_basis`` says (:data:`~selfeval_xlsx.clock.EMAIL`
    or :data:`~selfeval_xlsx.clock.FILE`)."""

    path: str
    name: str
    sha256: str
    submitted: dt.datetime
    sender: str = ""
    submitted_basis: str = FILE
    inner: tuple = field(default=(), compare=False)

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()

    def read(self, max_bytes: int | None = None) -> bytes:
        """The workbook's bytes: the file, or the attachment or archive member it is (from its
        remembered place; the container is not parsed again). Raises ``UnreadableInput`` for
        a file over ``max_bytes`` (checked before reading) and ``OSError`` when the file is
        not a regular file, or is a container that changed since it was collected."""
        source: str | bytes = self.path
        for kind, *args in self.inner:
            source = _STEPS[kind](source, *args)
        data = source if isinstance(source, bytes) else _read_regular(source, max_bytes)
        if max_bytes is not None and len(data) > max_bytes:
            raise _too_large(len(data), max_bytes)
        if self.inner and hashlib.sha256(data).hexdigest() != self.sha256:  # a remembered place no longer fits
            raise OSError(f"「{self.name}」所在的文件在处理期间被修改，请重新运行。")
        return data


@dataclass(frozen=True)
class Skipped:
    """A file that was not processed, and why (Chinese, for the terminal and 问题清单).
    ``path`` is the name users see; an error ``code`` makes the run's exit code 1."""

    path: str
    reason: str
    code: Code


# -- reading files and container members ------------------------------------------------------

def _too_large(size: int, limit: int, what: str = "文件") -> UnreadableInput:
    return UnreadableInput(f"{what}大小 {size / 2**20:.1f} MB 超过上限 {limit / 2**20:.0f} MB，未读取。",
                           Code.FILE_TOO_LARGE)


def _not_regular(mode: int) -> str:
    """Why a path that is no regular file is not read, or "" for a regular file."""
    for test, what in ((stat.S_ISFIFO, "命名管道（FIFO）"), (stat.S_ISCHR, "字符设备"), (stat.S_ISBLK, "块设备"),
                       (stat.S_ISSOCK, "套接字")):
        if test(mode):
            return what
    return "" if stat.S_ISREG(mode) else "特殊文件"


def _open_regular(path: str):
    """Open ``path`` for reading, refusing anything but a regular file before a byte is read
    (a FIFO would block the open itself, ``/dev/zero`` never ends)."""
    what = _not_regular(os.stat(path).st_mode)
    if what:
        raise OSError(f"不是普通文件（{what}），未读取")
    fh = open(path, "rb")
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # swapped since the stat above
        fh.close()
        raise OSError("不是普通文件，未读取")
    return fh


def read_file(path: str | os.PathLike, max_bytes: int | None = None) -> bytes:
    """A regular file's bytes; ``UnreadableInput`` past ``max_bytes`` (from its size, before
    reading), ``OSError`` for a FIFO, a device or a socket (never opened for reading)."""
    return _read_regular(os.fspath(path), max_bytes)


def _read_regular(path: str, max_bytes: int | None = None) -> bytes:
    with _open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if max_bytes is not None and size > max_bytes:
            raise _too_large(size, max_bytes)
        return fh.read(max_bytes + 1 if max_bytes is not None else -1)


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with _open_regular(path) as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _mime_slice(source: str | bytes, start: int, end: int, encoding: str) -> bytes:
    """An attachment from its encoded bytes at [start, end) of the e-mail."""
    if isinstance(source, bytes):
        raw = source[start:end]
    else:
        with _open_regular(source) as fh:
            fh.seek(start)
            raw = fh.read(end - start)
    return _decode_body(raw, encoding)


def _decode_body(raw: bytes, encoding: str) -> bytes | None:
    if encoding == "base64":
        return base64.b64decode(raw)  # not validating: line breaks are skipped, as the parser does
    if encoding == "quoted-printable":
        return quopri.decodestring(raw)
    if encoding in ("", "7bit", "8bit", "binary"):
        return raw
    return None


def _zip_member(source: str | bytes, member: str, limits: Limits = Limits()) -> bytes:
    with zipfile.ZipFile(source if isinstance(source, str) else io.BytesIO(source)) as archive:
        return _read_member(archive, archive.getinfo(member), limits)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> bytes:
    """A member's bytes, read in pieces and stopped at the size limit: a member that lies
    about its size cannot inflate past it."""
    pieces, total = [], 0
    with archive.open(info) as member:
        while piece := member.read(_CHUNK):
            total += len(piece)
            if total > limits.max_file_bytes:
                raise _too_large(total, limits.max_file_bytes)
            pieces.append(piece)
    return b"".join(pieces)


def _msg_attachment(source: str | bytes, index: int) -> bytes:
    msg = _open_msg(source)
    try:
        return msg.attachments[index].data
    finally:
        msg.close()


def _email_attachment(source: str | bytes, index: int) -> bytes:
    """Fallback for an attachment whose bytes could not be located in the e-mail (an
    encoding the slice reader does not know): parse the e-mail again."""
    message = _parse_email(source if isinstance(source, bytes) else _read_regular(source))
    return [data for _, data, _ in _email_parts(message, b"")][index]


_STEPS = {"mime": _mime_slice, "zip": _zip_member, "msg": _msg_attachment, "part": _email_attachment}


# -- e-mails ------------------------------------------------------------------------------------

def _parse_email(raw: bytes) -> email.message.Message:
    # compat32 keeps each header's raw text (8-bit names, RFC 2231 pieces) for _filename to decode.
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _charset(name: str | None) -> str:
    name = (name or "utf-8").lower().strip()
    return _CHARSETS.get(name, name)


def _raw_header(message: email.message.Message, name: str) -> str:
    """A header's value as received, unfolded and decoded: raw 8-bit bytes read as UTF-8 or
    GB18030."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return display_name(str(value).encode("ascii", "surrogateescape")).replace("\r\n", "").replace("\n", "")
    return ""


def _header_text(text: str) -> str:
    """Header text with RFC 2047 encoded words decoded (GBK labelled gb2312 included)."""
    if "=?" not in text:
        return text
    try:
        pieces = email.header.decode_header(text)
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return text
    out = []
    for piece, charset in pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        try:
            out.append(piece.decode(_charset(charset)))
        except (LookupError, UnicodeDecodeError):
            out.append(display_name(piece))
    return "".join(out)


def _filename(part: email.message.Message) -> str:
    """An attachment's file name, decoded whole: RFC 2231 continuations joined before they
    are decoded (a GBK character may be split between two), raw 8-bit names and RFC 2047
    words read as UTF-8 or GB18030."""
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        raw = _raw_header(part, header)
        if not raw:
            continue
        holder = email.message.Message()  # the decoded header, for the stdlib's parameter parser
        holder[header] = raw
        value = holder.get_param(param, header=header)
        if value is None:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded bytes as latin-1)
            charset, _, text = value
            data = text.encode("latin-1", "surrogateescape")
            try:
                return data.decode(_charset(charset))
            except (LookupError, UnicodeDecodeError):
                return display_name(data)
        return _header_text(email.utils.unquote(value))
    return ""


def _email_parts(message: email.message.Message, raw: bytes):
    """(file name, decoded bytes, where) of every named attachment, in the e-mail's order;
    ``where`` is ``("mime", start, end, encoding)`` when the encoded bytes were found in
    ``raw`` and decode to the same bytes, else None."""
    cursor = 0
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = _filename(part)
        if not filename:
            continue
        data = part.get_payload(decode=True)
        if data is None:
            continue
        where = None
        body = part.get_payload()
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if isinstance(body, str) and raw:
            encoded = body.encode("ascii", "surrogateescape")
            start = raw.find(encoded, cursor) if encoded else -1
            if start >= 0:
                cursor = start + len(encoded)
                if _decode_body(raw[start:cursor], encoding) == data:
                    where = ("mime", start, cursor, encoding)
        yield filename, data, where


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)
_MAX_NESTING = 20


def _split_mime(raw: bytes, start: int, end: int, depth: int = 0) -> list[tuple[email.message.Message, int, int]]:
    """The leaf parts of the MIME entity at ``raw[start:end]``, as (headers, body start, body
    end), found by looking for boundary lines: the standard parser walks every line of every
    base64 body, seconds for a 50 MB e-mail. Raises ``ValueError`` when the structure is not
    the expected one (the caller then takes the standard parser)."""
    if depth > _MAX_NESTING:
        raise ValueError("nested too deep")
    if raw.startswith((b"\r\n", b"\n"), start):  # no headers at all
        headers, body = email.message.Message(), start + (2 if raw[start] == 13 else 1)
    else:
        blank = _HEADER_END.search(raw, start, end)
        if blank is None:
            raise ValueError("no end of headers")
        headers, body = _HEADERS.parsebytes(raw[start:blank.start()] + b"\n"), blank.end()
    if headers.get_content_type() == "message/rfc822":
        return _split_mime(raw, body, end, depth + 1)
    if headers.get_content_maintype() != "multipart":
        return [(headers, body, end)]
    boundary = headers.get_boundary()
    if not boundary:
        raise ValueError("multipart without a boundary")
    delimiter = b"--" + boundary.encode("ascii")
    lines, pos = [], body
    while (found := raw.find(delimiter, pos, end)) >= 0:
        after = raw[found + len(delimiter):found + len(delimiter) + 1]
        if (found == body or raw[found - 1] == 10) and after in (b"-", b"\r", b"\n", b" ", b"\t", b""):
            lines.append(found)
        pos = found + len(delimiter)
    leaves = []
    for here, following in zip(lines, lines[1:]):
        if raw.startswith(delimiter + b"--", here):
            break
        part_start = raw.find(b"\n", here, following) + 1
        part_end = following - 1 - (raw[following - 2] == 13)  # the line break before a boundary is the boundary's
        leaves.extend(_split_mime(raw, part_start, max(part_start, part_end), depth + 1))
    if not lines or not raw.startswith(delimiter + b"--", lines[-1]):
        raise ValueError("no closing boundary")
    return leaves


def _fast_parts(raw: bytes) -> list[tuple[str, bytes, tuple]] | None:
    """(file name, bytes, where) of every named attachment by :func:`_split_mime`, or None
    when the e-mail needs the standard parser (an odd structure or transfer encoding)."""
    try:
        found = []
        for headers, start, end in _split_mime(raw, 0, len(raw)):
            filename = _filename(headers)
            if not filename:
                continue
            encoding = str(headers.get("Content-Transfer-Encoding", "")).strip().lower()
            data = _decode_body(raw[start:end], encoding)
            if data is None:
                return None
            found.append((filename, data, ("mime", start, end, encoding)))
        return found
    except (ValueError, LookupError, UnicodeError, binascii.Error, email.errors.MessageError):
        return None


def _email_date(message: email.message.Message) -> dt.datetime | None:
    try:
        submitted = email.utils.parsedate_to_datetime(_raw_header(message, "Date"))
    except (TypeError, ValueError, IndexError):
        return None
    return submitted if submitted.tzinfo is not None else submitted.replace(tzinfo=dt.timezone.utc)


# -- Outlook .msg -------------------------------------------------------------------------------

def _open_msg(source: str | bytes):
    import extract_msg  # only for .msg inputs
    from extract_msg.enums import ErrorBehavior

    logging.getLogger("extract_msg").setLevel(logging.CRITICAL)  # the library never prints; problems are Skipped
    # Messages from real mailboxes often bend the standard; the attachments are what matters.
    return extract_msg.openMsg(source, delayAttachments=False, errorBehavior=ErrorBehavior.SUPPRESS_ALL)


def _msg_files(msg) -> list[tuple[int, str, bytes]]:
    """(position, file name, bytes) of every file attachment of an open Outlook message
    (embedded messages and links have no bytes of their own)."""
    found = []
    for k, attachment in enumerate(msg.attachments):
        data = getattr(attachment, "data", None)
        if isinstance(data, bytes):
            found.append((k, attachment.longFilename or attachment.shortFilename or attachment.displayName or "", data))
    return found


# -- walking the inbox ------------------------------------------------------------------------

@dataclass
class _Intake:
    """What :func:`collect` gathers, with the limits and the output folder to leave out."""

    limits: Limits
    excluded: Path | None
    inputs: list[InputRef] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)

    def skip(self, name: str, reason: str, code: Code) -> None:
        self.skipped.append(Skipped(name, reason, code))

    def add(self, ref: InputRef) -> None:
        if ref.sha256 in self.seen:
            self.skip(ref.name, f"与「{self.seen[ref.sha256]}」内容完全相同，只计一次", Code.DUPLICATE_FILE)
            return
        self.seen[ref.sha256] = ref.name
        self.inputs.append(ref)

    # files on disk

    def walk(self, root: str, shown: str, visited: set, depth: int = 0) -> None:
        """Every entry of folder ``root`` (shown as ``shown``), sorted; symbolic links to
        folders are followed once (a link loop is not walked twice)."""
        try:
            info = os.stat(root)
            if (info.st_dev, info.st_ino) in visited:
                return
            visited.add((info.st_dev, info.st_ino))
            with os.scandir(root) as entries:
                names = sorted(e.name for e in entries)
        except OSError as exc:
            self.skip(shown or display_name(root), f"文件夹无法读取：{exc.strerror or exc}", Code.UNREADABLE_FILE)
            return
        for entry in names:
            path = os.path.join(root, entry)
            self.path(path, f"{shown}/{display_name(entry)}" if shown else display_name(entry), visited, depth + 1)

    def path(self, path: str, shown: str, visited: set, depth: int = 0) -> None:
        """One path: a folder is walked, a regular file taken by its kind, anything else listed."""
        if self.excluded is not None and Path(path).resolve().is_relative_to(self.excluded):
            return  # the run's own output folder, which may sit inside the inbox
        try:
            info = os.stat(path)
        except FileNotFoundError:
            self.skip(shown, "路径不存在（或是指向不存在文件的链接）", Code.MISSING_PATH)
            return
        except OSError as exc:
            self.skip(shown, f"无法读取：{exc.strerror or exc}", Code.UNREADABLE_FILE)
            return
        if stat.S_ISDIR(info.st_mode):
            if depth > MAX_FOLDER_DEPTH:
                self.skip(shown, f"文件夹层级超过 {MAX_FOLDER_DEPTH} 层，未再深入。", Code.UNREADABLE_FILE)
                return
            self.walk(path, shown, visited, depth)
            return
        what = _not_regular(info.st_mode)
        if what:
            self.skip(shown, f"这是{what}，不是普通文件，未读取", Code.SPECIAL_FILE)
            return
        try:
            self.file(path, shown, info)
        except UnreadableInput as exc:
            self.skip(shown, str(exc), exc.code)
        except OSError as exc:
            self.skip(shown, f"无法读取：{exc.strerror or exc}", Code.UNREADABLE_FILE)

    def file(self, path: str, shown: str, info: os.stat_result) -> None:
        base = os.path.basename(shown)
        suffix = Path(base).suffix.lower()
        mtime = dt.datetime.fromtimestamp(info.st_mtime, dt.timezone.utc)
        if base.startswith("~$"):
            self.skip(shown, "Excel 临时锁文件（~$ 开头），已跳过", Code.LOCK_FILE)
        elif suffix in WORKBOOK_SUFFIXES:
            if info.st_size > self.limits.max_file_bytes:
                raise _too_large(info.st_size, self.limits.max_file_bytes)
            self.add(InputRef(path, shown, _sha256_file(path), mtime))
        elif suffix in CONTAINER_SUFFIXES:
            limit = self.limits.max_email_bytes if suffix != ".zip" else self.limits.max_unzipped_bytes
            if info.st_size > limit:
                raise _too_large(info.st_size, limit, "邮件" if suffix != ".zip" else "压缩包")
            self.container(suffix, path, path, shown, (), (mtime, FILE), "", 1)
        elif suffix in UNSUPPORTED:
            self.skipped.append(_unsupported(shown, suffix))
        else:
            self.skip(shown, "不是工作簿或邮件，已跳过", Code.NOT_AN_INPUT)

    # containers

    def container(self, suffix: str, path: str, source: str | bytes, shown: str, inner: tuple,
                  submitted: tuple[dt.datetime, str], sender: str, depth: int) -> None:
        """The workbooks inside an e-mail, an Outlook message or a zip archive (``source`` is
        the container's path or bytes; ``inner`` the steps that lead to it; ``submitted`` the
        time and its basis, which an e-mail's Date replaces)."""
        if depth > MAX_DEPTH:
            self.skip(shown, f"压缩包或邮件嵌套超过 {MAX_DEPTH} 层，未处理。请解压后直接提交工作簿。", Code.ZIP_BOMB)
            return
        before = len(self.inputs) + len(self.skipped)
        try:
            if suffix == ".zip":
                members = self.zip_members(source, shown)
            elif suffix == ".msg":
                members, submitted, sender = self.msg_members(source, submitted)
            else:
                members, submitted, sender = self.email_members(source, submitted)
        except UnreadableInput as exc:
            self.skip(shown, str(exc), exc.code)
            return
        except OSError as exc:
            self.skip(shown, f"无法读取：{exc.strerror or exc}", Code.UNREADABLE_FILE)
            return
        except Exception as exc:  # noqa: BLE001 - a malformed container is listed, never fatal
            what, code = ("压缩包", Code.CORRUPT_FILE) if suffix == ".zip" else ("邮件", Code.BAD_EMAIL)
            self.skip(shown, f"{what}无法解析（{type(exc).__name__}），未处理", code)
            return
        others = []
        for name, data, step in members:
            member_shown = f"{shown} » {name}"
            member_suffix = Path(name).suffix.lower()
            if member_suffix in UNSUPPORTED:
                self.skipped.append(_unsupported(member_shown, member_suffix))
            elif member_suffix not in WORKBOOK_SUFFIXES + CONTAINER_SUFFIXES or os.path.basename(name).startswith("~$"):
                others.append(name)
            elif len(data) > self.limits.max_file_bytes:
                self.skip(member_shown, str(_too_large(len(data), self.limits.max_file_bytes, "附件")),
                          Code.FILE_TOO_LARGE)
            elif member_suffix in WORKBOOK_SUFFIXES:
                self.add(InputRef(path, member_shown, hashlib.sha256(data).hexdigest(), submitted[0], sender,
                                  submitted[1], (*inner, step)))
            else:
                self.container(member_suffix, path, data, member_shown, (*inner, step), submitted, sender, depth + 1)
        if len(self.inputs) + len(self.skipped) == before:
            if suffix == ".zip":
                self.skip(shown, "压缩包中没有 Excel 工作簿", Code.NO_ATTACHMENT)
            else:
                listed = f"（附件：{'、'.join(others)[:200]}）" if others else ""
                self.skip(shown, f"邮件中没有 Excel 附件{listed}", Code.NO_ATTACHMENT)

    def email_members(self, source: str | bytes, submitted: tuple[dt.datetime, str]):
        raw = source if isinstance(source, bytes) else _read_regular(source, self.limits.max_email_bytes)
        blank = _HEADER_END.search(raw)
        headers = _HEADERS.parsebytes(raw[:blank.start()] + b"\n" if blank else raw)  # never the body's lines
        members = _fast_parts(raw)
        if members is None:
            members = [(name, data, where or ("part", k))
                       for k, (name, data, where) in enumerate(_email_parts(_parse_email(raw), raw))]
        date = _email_date(headers)
        return members, (date, EMAIL) if date else submitted, _header_text(_raw_header(headers, "From"))

    def msg_members(self, source: str | bytes, submitted: tuple[dt.datetime, str]):
        try:
            msg = _open_msg(source)
        except ImportError:
            raise UnreadableInput("无法读取 Outlook 邮件（.msg）：未安装 extract-msg。请在 Outlook 中把附件另存到"
                                  "文件夹，或把邮件另存为 .eml 后提交。", Code.BAD_EMAIL) from None
        try:
            date = msg.date if isinstance(msg.date, dt.datetime) else None
            sender = str(msg.sender or "")
            members = [(name, data, ("msg", k)) for k, name, data in _msg_files(msg)]
        finally:
            msg.close()
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=dt.timezone.utc)
        return members, (date, EMAIL) if date else submitted, sender

    def zip_members(self, source: str | bytes, shown: str):
        """(name, bytes, step) of the workbooks and containers in a zip archive (other
        members by name only), after the bomb checks a workbook's own zip gets (entry count,
        total size, compression ratio); members that cannot be read are listed here."""
        with zipfile.ZipFile(source if isinstance(source, str) else io.BytesIO(source)) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            check_entries(infos, self.limits, "压缩包", _member_name)
            members = []
            for info in infos:
                name = _member_name(info)
                if Path(name).suffix.lower() not in (*WORKBOOK_SUFFIXES, *CONTAINER_SUFFIXES, *UNSUPPORTED):
                    members.append((name, b"", None))
                elif info.flag_bits & 0x1:
                    self.skip(f"{shown} » {name}", "压缩包中的该文件设置了密码，无法读取。请解压后提交。", Code.ENCRYPTED)
                elif info.file_size > self.limits.max_file_bytes:
                    self.skip(f"{shown} » {name}", str(_too_large(info.file_size, self.limits.max_file_bytes)),
                              Code.FILE_TOO_LARGE)
                else:
                    try:
                        members.append((name, _read_member(archive, info, self.limits), ("zip", info.filename)))
                    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, OSError):
                        self.skip(f"{shown} » {name}", "压缩包中的该文件已损坏，无法解开。", Code.CORRUPT_FILE)
        return members


def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as users read it: without the UTF-8 flag, Windows wrote it in the
    system code page (GBK in China), which zipfile decodes as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return display_name(info.filename.encode("cp437"))
    except UnicodeEncodeError:
        return info.filename


def file_ref(path: str | Path, name: str | None = None) -> InputRef:
    """The input for a workbook file on disk (shown as ``name``, by default its path).
    Raises ``OSError`` for a path that is not a regular file."""
    path = os.fspath(path)
    mtime = dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.timezone.utc)
    return InputRef(path, name or display_name(path), _sha256_file(path), mtime)


def collect(paths: list[str | Path], exclude: str | Path | None = None,
            limits: Limits = Limits()) -> tuple[list[InputRef], list[Skipped]]:
    """All workbook inputs under ``paths`` (duplicates by content removed) and the skipped files.

    Files under ``exclude`` (the run's output folder, which may sit inside the inbox) are
    left out silently: they are the tool's own copies, not submissions. A path that does not
    exist, cannot be read, is no regular file or is too large is reported as skipped (with an
    error code where a submission may be lost), never raised.
    """
    intake = _Intake(limits, Path(exclude).resolve() if exclude is not None else None)
    visited: set = set()
    for raw in paths:
        path = os.fspath(raw)
        if not os.path.lexists(path):
            intake.skip(display_name(path), "路径不存在", Code.MISSING_PATH)
            continue
        shown = "" if os.path.isdir(path) else display_name(os.path.basename(path.rstrip("/")) or path)
        intake.path(path, shown, visited)
    return intake.inputs, intake.skipped
