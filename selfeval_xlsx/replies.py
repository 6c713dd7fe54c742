"""Reply drafts to the departments (``run --replies``): ``replies/{主管部门}.eml``, one per
department, for the analyst to open, review and send. Nothing is sent.

Each draft is addressed to where the department's submissions came from (the e-mail's From,
when they came by e-mail), lists each project's score, grade, status and problems (errors
first, at most :data:`MAX_PROBLEMS` each, the rest counted) and attaches the department's
marked copies (and its reports when asked). Built with the standard library's ``email``
package: UTF-8 headers, attachment names in RFC 2231, and ``X-Unsent: 1``, which makes
Outlook and Foxmail open the file as a draft with a Send button.
"""
from __future__ import annotations

import email.policy
import email.utils
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ._io import atomic_write_bytes, safe_filename, unique_name
from .issues import Issue
from .models import ProjectResult
from .pipeline import Analysis
from .present import NO_DEPARTMENT, fmt_number, issue_sort_key

MAX_PROBLEMS = 10  # per project in the body; the marked copy has them all
REPLIES_DIR = "replies"
_XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
_DOCX = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")


@dataclass
class Reply:
    """What goes into one department's draft."""

    department: str
    senders: list[str] = field(default_factory=list)  # From headers, newest submission first
    results: list[ProjectResult] = field(default_factory=list)
    files: list[tuple[str, list[Issue]]] = field(default_factory=list)  # inputs with problems of no project
    attachments: list[tuple[str, Path]] = field(default_factory=list)  # (name in the mail, file)


def gather_replies(analyses: Sequence[Analysis], copies: Mapping[str, Path], reports: Mapping[str, Path],
                   ) -> list[Reply]:
    """Group a run by 主管部门: each department's projects that count (superseded ones are
    left out), the inputs they came from, their marked copies (``copies``: input sha256 ->
    file) and reports (``reports``: 项目编号 -> file, those to attach). An input with no
    project (a refused file) goes to the department its sender submitted others for, else to
    a draft named after the sender or the file."""
    by_sender: dict[str, str] = {}
    for a in analyses:
        for r in a.results:
            by_sender.setdefault(a.ref.sender, r.project.department or NO_DEPARTMENT)
    replies: dict[str, Reply] = {}
    for a in sorted(analyses, key=lambda a: (a.ref.submitted, a.ref.name), reverse=True):
        kept = [r for r in a.results if not r.superseded_by]
        if a.results and not kept:
            continue  # every project of this input was replaced by a newer submission
        if kept:
            departments = dict.fromkeys(r.project.department or NO_DEPARTMENT for r in kept)
        else:
            known = by_sender.get(a.ref.sender) if a.ref.sender else None
            departments = {known or _sender_name(a.ref.sender) or Path(a.ref.name.split(" » ")[-1]).stem: None}
        for department in departments:
            reply = replies.setdefault(department, Reply(department))
            if a.ref.sender and a.ref.sender not in reply.senders:
                reply.senders.append(a.ref.sender)
            reply.results.extend(r for r in kept if (r.project.department or NO_DEPARTMENT) == department)
            if a.issues:
                reply.files.append((a.ref.name, list(a.issues)))
            if a.ref.sha256 in copies:
                reply.attachments.append((_copy_title(a.ref.name), copies[a.ref.sha256]))
            for r in kept:  # a report is sent only once nothing is left to correct
                path = reports.get(r.project.project_id)
                if path is not None and not r.has_errors and (r.project.department or NO_DEPARTMENT) == department:
                    reply.attachments.append((path.name, path))
    return [replies[d] for d in sorted(replies)]


def _sender_name(sender: str) -> str:
    name, address = email.utils.parseaddr(sender)
    return name or address


def _copy_title(input_name: str) -> str:
    """The marked copy's name in the mail: the department's own file name, marked as reviewed."""
    original = input_name.split(" » ")[-1]
    return f"{Path(original).stem}（审核标注）.xlsx"


def _addresses(senders: Iterable[str]) -> list[Address]:
    """Unique, well-formed addresses of the senders (a broken From header is left out)."""
    found: dict[str, Address] = {}
    for name, address in email.utils.getaddresses(list(senders)):
        try:
            parsed = Address(display_name=name, addr_spec=address)
        except (ValueError, IndexError, TypeError):
            continue
        if "@" in address:
            found.setdefault(address.lower(), parsed)
    return list(found.values())


def _score_line(n: int, r: ProjectResult) -> str:
    p = r.project
    head = f"{n}. 【{p.project_id}】{p.name}："
    if r.total is None:
        return head + f"未评分，状态 {r.status}（有错误，须修改后重新报送）"
    line = head + f"总分 {fmt_number(r.total)} 分，等级 {r.grade}，状态 {r.status}"
    # A review error (e.g. a target made easier than approved) leaves a score, but it must be fixed.
    return line + "（有错误，须修改后重新报送）" if r.has_errors else line


def _located(i: Issue) -> str:
    """The message with its cell in front (most messages of cell problems name it already)."""
    return i.message if not i.where or i.where in i.message else f"{i.where} {i.message}"


def _problem_lines(issues: Sequence[Issue]) -> list[str]:
    """Errors first, then warnings, each in sheet/cell order; at most :data:`MAX_PROBLEMS`."""
    ordered = sorted(issues, key=lambda i: (not i.is_error, issue_sort_key(i)))
    lines = [f"   - [{i.severity.label}] {_located(i)}" for i in ordered[:MAX_PROBLEMS]]
    if len(ordered) > MAX_PROBLEMS:
        lines.append(f"   - 另有 {len(ordered) - MAX_PROBLEMS} 个问题未列出，详见附件工作簿中的标注。")
    return lines


def body(reply: Reply, with_reports: bool = False) -> str:
    """The draft's text: greeting, one paragraph per project, the files that could not be
    used, and what the attachments are."""
    results = reply.results
    scored = sum(r.total is not None for r in results)
    to_fix = sum(r.total is None or r.has_errors for r in results)
    lines = [f"{reply.department}：", ""]
    if results:
        lines.append(f"    你单位报送的项目支出绩效自评材料已审核，共 {len(results)} 个项目，已评分 {scored} 个，"
                     f"须修改后重新报送 {to_fix} 个。具体如下：")
    else:
        lines.append("    你单位报送的项目支出绩效自评材料未能读取，具体如下：")
    lines.append("")
    for n, r in enumerate(results, start=1):
        lines.append(_score_line(n, r))
        errors = sum(i.is_error for i in r.issues)
        if r.issues:
            lines.append(f"   问题：错误 {errors} 个，警告 {len(r.issues) - errors} 个")
            lines.extend(_problem_lines(r.issues))
        lines.append("")
    for name, issues in reply.files:
        lines.append(f"文件「{name}」：")
        lines.extend(_problem_lines(issues))
        lines.append("")
    if reply.attachments:
        lines.append("    附件为标注了问题的自评表副本：红色单元格为错误（须修改），黄色单元格为提示（请核实），"
                     "鼠标移到单元格上可查看说明；第一张工作表“自评结果”列出了得分和全部问题。请在原表上修改后重新报送。")
        if with_reports and any(name.endswith(".docx") for name, _ in reply.attachments):
            lines.append("    附件还包括已评分项目的绩效自评报告（Word）。")
    return "\n".join(lines).rstrip() + "\n"


def subject(reply: Reply) -> str:
    years = sorted({r.project.year for r in reply.results if r.project.year})
    year = f"{years[0]}年度" if len(years) == 1 else ""
    return f"{year}项目支出绩效自评审核意见（{reply.department}）"


def draft(reply: Reply, with_reports: bool = False) -> EmailMessage:
    """The reply as an unsent e-mail (``X-Unsent: 1``) with its attachments."""
    msg = EmailMessage(policy=email.policy.SMTP)
    to = _addresses(reply.senders)
    if to:
        msg["To"] = to
    msg["Subject"] = subject(reply)
    msg["X-Unsent"] = "1"
    msg.set_content(body(reply, with_reports), cte="base64")
    used: set[str] = set()
    for name, path in reply.attachments:
        name, suffix = unique_name(name, used), Path(name).suffix
        maintype, subtype = _DOCX if suffix.lower() == ".docx" else _XLSX
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=name)
    return msg


def plan_replies(output: Path, analyses: Sequence[Analysis], copies: Mapping[str, Path],
                 reports: Mapping[str, Path]) -> list[tuple[Path, Reply]]:
    """Where each department's draft goes, ``output/replies/{主管部门}.eml`` (unique names,
    Windows ignoring case), and what it holds (see :func:`gather_replies`)."""
    folder = output / REPLIES_DIR
    planned: list[tuple[Path, Reply]] = []
    names: set[str] = set()
    for reply in gather_replies(analyses, copies, reports):
        planned.append((folder / unique_name(f"{safe_filename(reply.department, 80)}.eml", names), reply))
    return planned


def write_reply(path: Path, reply: Reply, with_reports: bool = False) -> Path:
    """Write one draft atomically (a job of its own: the e-mail package's encoding of the
    attachments is the slow part)."""
    return atomic_write_bytes(path, draft(reply, with_reports).as_bytes())


def remove_stale(output: Path, kept: Iterable[Path]) -> None:
    """Drafts an earlier run wrote for departments no longer in the run."""
    folder = output / REPLIES_DIR
    names = {p.name.lower() for p in kept}
    for old in folder.glob("*.eml") if folder.exists() else ():
        if old.name.lower() not in names:
            old.unlink(missing_ok=True)
