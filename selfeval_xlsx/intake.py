"""Turning an inbox (files, folders, .eml e-mails) into a list of workbook inputs.

Folders are walked recursively. Spreadsheet attachments of e-mails become inputs of their own,
keeping the sender and the Date header as the submission's source. Excel lock files and other
files are skipped and listed; identical files (same SHA-256) count once.
"""
from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import email.utils
import hashlib
from dataclasses import dataclass
from pathlib import Path

from .clock import EMAIL, FILE
from .issues import Code

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls")
MAX_EMAIL_BYTES = 100 * 2**20


@dataclass(frozen=True)
class InputRef:
    """One workbook to process: a file on disk, or attachment number ``attachment`` of the
    e-mail at ``path``. ``name`` is what users see in problems and summaries. ``submitted``
    is the e-mail's Date or the file's modification time, as ``submitted_basis`` says
    (:data:`~selfeval_xlsx.clock.EMAIL` or :data:`~selfeval_xlsx.clock.FILE`)."""

    path: str
    name: str
    sha256: str
    submitted: dt.datetime
    sender: str = ""
    attachment: int | None = None
    submitted_basis: str = FILE

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()

    def read(self) -> bytes:
        """The workbook's bytes (re-extracted from the e-mail for attachments)."""
        if self.attachment is None:
            return Path(self.path).read_bytes()
        return _attachments(_parse_email(Path(self.path)))[self.attachment][1]


@dataclass(frozen=True)
class Skipped:
    """A file that was not processed, and why (Chinese, for the terminal and 问题清单)."""

    path: str
    reason: str
    code: Code


def _mtime(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)


def _parse_email(path: Path) -> email.message.EmailMessage:
    with path.open("rb") as fh:
        return email.message_from_binary_file(fh, policy=email.policy.default)


def _attachments(message: email.message.EmailMessage) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every spreadsheet attachment, in the e-mail's order."""
    found = []
    for part in message.walk():
        filename = part.get_filename()
        if not filename or not filename.lower().endswith(WORKBOOK_SUFFIXES):
            continue
        payload = part.get_payload(decode=True)
        if payload is not None:
            found.append((filename, payload))
    return found


def _email_inputs(path: Path, name: str) -> tuple[list[InputRef], list[Skipped]]:
    if path.stat().st_size > MAX_EMAIL_BYTES:
        return [], [Skipped(name, "邮件超过 100 MB，未处理", Code.FILE_TOO_LARGE)]
    try:
        message = _parse_email(path)
        sender = str(message.get("From", "") or "")
        try:
            submitted, basis = email.utils.parsedate_to_datetime(str(message.get("Date", ""))), EMAIL
            if submitted.tzinfo is None:
                submitted = submitted.replace(tzinfo=dt.timezone.utc)
        except (TypeError, ValueError, IndexError):
            submitted, basis = _mtime(path), FILE
        attachments = _attachments(message)
    except Exception as exc:  # noqa: BLE001 - a malformed e-mail is skipped, not fatal
        return [], [Skipped(name, f"邮件无法解析：{type(exc).__name__}", Code.BAD_EMAIL)]
    if not attachments:
        return [], [Skipped(name, "邮件中没有 Excel 附件", Code.NO_ATTACHMENT)]
    refs = [InputRef(str(path), f"{name} » {filename}", hashlib.sha256(data).hexdigest(), submitted, sender, i, basis)
            for i, (filename, data) in enumerate(attachments)]
    return refs, []


def file_ref(path: Path, name: str | None = None) -> InputRef:
    """The input for a workbook file on disk (shown as ``name``, by default its path)."""
    data = path.read_bytes()
    return InputRef(str(path), name or str(path), hashlib.sha256(data).hexdigest(), _mtime(path))


def _candidates(paths: list[Path]) -> list[tuple[Path, str]]:
    """(file, display name) for every file under the given paths, sorted for a stable order."""
    out = []
    for root in paths:
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                out.append((path, path.relative_to(root).as_posix()))
        else:
            out.append((root, root.name))
    return out


def collect(paths: list[str | Path], exclude: str | Path | None = None) -> tuple[list[InputRef], list[Skipped]]:
    """All workbook inputs under ``paths`` (duplicates by content removed) and the skipped files.

    Files under ``exclude`` (the run's output folder, which may sit inside the inbox) are
    left out silently: they are the tool's own copies, not submissions. A path that does not
    exist is reported as skipped, never raised.
    """
    excluded = Path(exclude).resolve() if exclude is not None else None
    inputs: list[InputRef] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    for raw in paths:
        if not Path(raw).exists():
            skipped.append(Skipped(str(raw), "路径不存在", Code.MISSING_PATH))
    for path, name in _candidates([Path(p) for p in paths if Path(p).exists()]):
        if excluded is not None and path.resolve().is_relative_to(excluded):
            continue
        lower = path.name.lower()
        if path.name.startswith("~$"):
            skipped.append(Skipped(name, "Excel 临时锁文件（~$ 开头），已跳过", Code.LOCK_FILE))
            continue
        if lower.endswith(".eml"):
            refs, skips = _email_inputs(path, name)
        elif lower.endswith(WORKBOOK_SUFFIXES):
            refs, skips = [file_ref(path, name)], []
        else:
            refs, skips = [], [Skipped(name, "不是工作簿或邮件，已跳过", Code.NOT_AN_INPUT)]
        skipped.extend(skips)
        for ref in refs:
            if ref.sha256 in seen:
                skipped.append(Skipped(ref.name, f"与「{seen[ref.sha256]}」内容完全相同，只计一次", Code.DUPLICATE_FILE))
                continue
            seen[ref.sha256] = ref.name
            inputs.append(ref)
    return inputs, skipped
