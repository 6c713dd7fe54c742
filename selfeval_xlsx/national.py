"""Reading the national 项目支出绩效自评表 (DOMAIN.md §5b), the layout most departments already hold.

A form is found by content, never by sheet name: a title cell holding 项目支出绩效自评表 and,
below it, the labels 项目名称, 项目资金 and 绩效指标. A sheet may hold one form or several
stacked ones (cut at their titles; lines directly above a title, such as 附件1, 填报单位 and
填报日期, belong to the form below them). The reader is only used for workbooks without the
standard form's sheets, and never looks at the tool's own 自评结果 or the blank form's 填表说明.

Each form becomes one :class:`~selfeval_xlsx.models.Project` with the same records as the
standard form, every field located at the department's own cell:

- 项目名称, 主管部门, 实施单位 (a label with its value to the right, or ``标签：值`` in one cell);
  年度 from the title (``2022年度项目支出绩效自评表``) or a line of its own (``（2022年度）``);
  填报单位, 填报日期, 项目负责人, 财务负责人 from the lines above or below the form.
- 项目资金（万元） or （元）: the header 年初预算数 全年预算数 全年执行数 分值 执行率 得分, in any
  order. The rows 其中：当年财政拨款, 上年结转资金 and 其他资金 are the funding rows (an empty row
  is zero and left out). The 年度资金总额 row is the department's own total: its amounts, 分值,
  执行率 and 得分 are kept as :class:`~selfeval_xlsx.models.Stated` figures, which the checks
  compare with the computed ones; when every source row is empty it is the one funding row.
- 年度总体目标: 预期目标 and 实际完成情况 become the goal and what was achieved.
- 绩效指标: 一级 二级 三级指标, 年度指标值, 实际完成值, 分值, 得分 (the self score) and 偏差原因分析及
  改进措施, plus 指标性质 and 扣分 when the form has them. 一级/二级 carry down over merged runs
  and over the blank cells a pasted form leaves below them, and a problem with one is put on
  the first cell of its run. ``不适用`` in 得分 or 实际完成值 marks a 不适用 row. The 总分 row
  is the department's total (a Stated figure).

项目编号: the value of a cell labelled 项目编号, 项目代码 or 项目编码 when the form has one.
Otherwise it is derived as ``{年度}-{8 characters}``, the characters being the first 40 bits
of SHA-256 over ``主管部门|项目名称|年度`` (white space removed) in base32, e.g.
``2023-K2M4X7QA``: the same project of the same department gets the same id in every run and
in every resubmission (so a newer submission supersedes an older one), two departments'
projects of the same name get different ids (a chance collision would need about 20,000 times
10,000 projects in one batch), and the report keeps its readable name
``{项目编号}_{项目名称}.docx``.
"""
from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from typing import Iterable, Protocol

from . import schema
from .grid import is_blank
from .issues import Code, Issue, issue
from .models import FundingRow, Indicator, Project, Stated, Submission
from .parsing import parse_quantity
from .vocab import Layout, compact, normalize_level, normalize_nature, normalize_source, strip_format_chars
from .xlsx.parts import a1

# --- the form, as data ----------------------------------------------------------------------

TITLE = "项目支出绩效自评表"
NOT_FORMS = (schema.GUIDE_SHEET, schema.RESULT_SHEET)  # the blank form's guide, the tool's own results

# Label cells above and below the blocks -> Project field.
INFO_LABELS = {
    "项目名称": "name", "项目编号": "project_id", "项目代码": "project_id", "项目编码": "project_id",
    "主管部门": "department", "主管单位": "department", "实施单位": "implementer", "项目实施单位": "implementer",
    "执行单位": "implementer", "年度": "year", "项目负责人": "leader", "财务负责人": "finance_officer",
    "填报单位": "closing_unit", "填报日期": "submitted", "存在问题": "problems", "存在问题或不足": "problems",
    "改进措施": "improvements", "下一步改进措施": "improvements",
}
# Labels written with their value in the same cell (``项目负责人：张三  联系电话：…``).
_INLINE = re.compile(r"(项目负责人|财务负责人|单位负责人|联系电话|填表人|填报人|填报单位|填报日期|项目名称|项目编号|项目代码|"
                     r"项目编码|主管部门|实施单位)"
                     r"(?:[（(][^）)]{0,8}[）)])?\s*[:：]")
_SIGN_OFF = {"项目负责人", "财务负责人", "单位负责人", "联系电话", "填表人", "填报人"}
_ABOVE_TITLE = re.compile(r"(附件|附表)\d*|(填报单位|填报日期).*")  # lines that belong to the form below
FUNDING_BLOCK = "项目资金"
FUNDING_HEADERS = {
    "年初预算数": "initial_budget", "年初预算": "initial_budget", "全年预算数": "budget", "调整后预算数": "budget",
    "预算数": "budget", "全年执行数": "executed", "执行数": "executed", "预算执行数": "executed",
    "实际支出数": "executed", "分值": "weight", "权重": "weight", "执行率": "rate", "预算执行率": "rate",
    "得分": "score",
}
FUNDING_TOTAL = {"年度资金总额", "资金总额", "年度资金合计", "资金合计", "合计", "总额", "总计"}
GOAL_BLOCK = {"年度总体目标", "总体目标"}
GOAL_HEADERS = {"预期目标": "goal", "年度目标": "goal", "实际完成情况": "achieved", "完成情况": "achieved"}
INDICATOR_BLOCK = "绩效指标"
INDICATOR_HEADERS = {k: v for k, v in schema.HEADER_NAMES["indicators"].items() if v != "project_id"}
FORM_TOTAL = {"总分", "合计", "总计", "总得分"}
SUBTOTAL = {"小计"}
NOT_APPLICABLE = "不适用"
MAX_FORM_ROWS = 1000  # rows below a title that can belong to its form (real forms: under 100)

# The title, perhaps after 附件1： or 2022年度 or a region's name, perhaps with （2022年度）: not a
# sentence that mentions the form (请按项目支出绩效自评表填写).
_TITLE = re.compile(rf"[^，。,;；]{{0,16}}{TITLE}(?:[（(][^）)]*[）)])?")
_YEAR_IN_TITLE = re.compile(r"((?:19|20)\d\d)\s*年")
_YEAR_LINE = re.compile(r"[（(]?((?:19|20)\d\d)年度?[）)]?")
_PLACEHOLDER = re.compile(r"[-－—–/／、]*|无")  # what printed forms put in cells that do not apply
_DATE = re.compile(r"((?:19|20)\d\d)\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})")
_BRACKETS = re.compile(r"[（(【\[][^）)】\]]*[）)】\]]")
_SUBMITTED = schema.Column("submitted", "填报日期")  # the one line of the form the standard form has no column for


class Cells(Protocol):
    """What this module needs of a sheet (the reader's sheet reader provides it): the grid
    with merged ranges filled, the merged ranges, and cell conversion into ``issues``."""

    sheet: str
    values: object  # 2-D object array
    merges: list
    issues: list[Issue]

    def convert(self, row: int, col: int, column: schema.Column, unit: str = ""): ...


def is_candidate(sheet_name: str) -> bool:
    """Whether a sheet may hold a form (every sheet except the tool's own)."""
    return sheet_name.strip() not in NOT_FORMS


def candidates(file: str, names: list[str], hidden: set[str]) -> tuple[list[str], list[Issue]]:
    """The sheets to search for forms: every visible one but the tool's own. A hidden sheet
    is not read (it is often a stale copy, which would double its project); it is named."""
    wanted = [n for n in names if is_candidate(n) and n not in hidden]
    problems = [issue(Code.SHEET_NOT_READ, f"工作表「{n}」是隐藏的，未读取；如其中是需要评分的自评表，请取消隐藏后重新提交。",
                      file=file, sheet=n) for n in names if is_candidate(n) and n in hidden]
    return wanted, problems


# --- cells as labels --------------------------------------------------------------------------

def _compact(value) -> str:
    """Text without white space or format characters (U+200B, BOM …); "" for non-text."""
    return compact(strip_format_chars(value)) if isinstance(value, str) else ""


def _label(value) -> tuple[str, str]:
    """A cell read as a label: (name, unit), without white space, format characters, bracket
    groups such as （万元） or （盖章）, or a trailing colon; ("", "") for long text and numbers."""
    text = _compact(value)
    if not text or len(text) > 60:
        return "", ""
    name, unit = schema.normalize_header(text)
    return name.rstrip(":："), unit


def _is_label(name: str) -> bool:
    """Whether a cell's label names a line of the form (not a value)."""
    return name in INFO_LABELS or name in _SIGN_OFF or _INLINE.match(name) is not None


def _blank(value) -> bool:
    """An empty cell, or one holding only a printed form's ``—`` or ``/``."""
    return is_blank(value) or (isinstance(value, str) and _PLACEHOLDER.fullmatch(_compact(value)) is not None)


class _RowLabels:
    """Each row's cells read as labels (``part`` 0: the name, 1: the unit), computed when a
    row is first asked for: a form is a few dozen rows of a sheet that may hold many more."""

    def __init__(self, values, part: int):
        self.values, self.part, self.rows = values, part, {}

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, r: int) -> list[str]:
        if r not in self.rows:
            self.rows[r] = [_label(v)[self.part] for v in self.values[r]]
        return self.rows[r]


@dataclass
class _Sheet:
    """A sheet with its cells read as labels."""

    cells: Cells
    labels: _RowLabels
    units: _RowLabels

    @classmethod
    def of(cls, cells: Cells) -> "_Sheet":
        return cls(cells, _RowLabels(cells.values, 0), _RowLabels(cells.values, 1))

    @property
    def width(self) -> int:
        return len(self.labels[0]) if self.labels else 0

    def raw(self, r: int, c: int):
        return self.cells.values[r, c]

    @cached_property
    def merge_tops(self) -> dict[tuple[int, int], int]:
        """(row, col) of every merged cell but the first of its range -> the range's first row;
        once per sheet, not per form (a sheet may hold many stacked forms)."""
        top = {}
        for (r0, c0), (r1, c1) in self.cells.merges:
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    if (r, c) != (r0, c0):
                        top[(r, c)] = r0
        return top

    def find(self, rows: range, wanted) -> tuple[int, int] | None:
        """First (row, col) in ``rows`` whose label satisfies ``wanted``."""
        for r in rows:
            for c, name in enumerate(self.labels[r]):
                if name and wanted(name):
                    return r, c
        return None


def _titles(values) -> list[tuple[int, int]]:
    """(row, col) of every title cell, one per row."""
    found = []
    for r, row in enumerate(values.tolist()):  # lists iterate several times faster than an object array
        for c, value in enumerate(row):
            # "评" first: a C-level test that spares the other cells of a large sheet the rest
            if isinstance(value, str) and "评" in value and len(value) < 80 and _TITLE.fullmatch(_compact(value)):
                found.append((r, c))
                break
    return found


# --- one form ----------------------------------------------------------------------------------

@dataclass
class _Form:
    """One form of a sheet: rows ``start``..``end`` (exclusive), its title at ``title``."""

    sheet: _Sheet
    file: str
    title: tuple[int, int]
    start: int
    end: int
    issues: list[Issue] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)  # Project field -> value
    at: dict[str, tuple[int, int]] = field(default_factory=dict)  # Project field -> (row, col)

    @property
    def rows(self) -> range:
        return range(self.start, self.end)

    def find(self, wanted) -> tuple[int, int] | None:
        """First (row, col) of the form whose label satisfies ``wanted``."""
        return self.sheet.find(self.rows, wanted)

    def missing_labels(self) -> list[str]:
        """The labels a form needs that this one lacks (empty: it is a form)."""
        needed = {"项目名称": lambda n: n == "项目名称" or n.startswith(("项目名称:", "项目名称：")),
                  FUNDING_BLOCK: lambda n: n.startswith(FUNDING_BLOCK),
                  INDICATOR_BLOCK: lambda n: n == INDICATOR_BLOCK}
        return [label for label, wanted in needed.items() if self.find(wanted) is None]

    def problem(self, code: Code, message: str, row: int | None, col: int | None, value: str = "") -> None:
        self.issues.append(issue(code, message, file=self.file, sheet=self.sheet.cells.sheet, row=row, col=col,
                                 value=value))

    def cell(self, row: int, col: int) -> str:
        return f"{self.sheet.cells.sheet}!{a1(row, col)}"

    # -- the blocks' positions

    def layout(self) -> "_Blocks":
        s = self.sheet
        funding_label = self.find(lambda n: n.startswith(FUNDING_BLOCK))
        header = None
        for r in range(funding_label[0], min(funding_label[0] + 3, self.end)):
            cols = _header_cols(s.labels[r], FUNDING_HEADERS)
            if {"budget", "executed"} <= cols.keys():
                header = (r, cols)
                break
        after = header[0] + 1 if header else funding_label[0] + 1
        indicator_header = None
        for r in range(after, self.end):
            cols = _header_cols(s.labels[r], INDICATOR_HEADERS)
            if {"level1", "level3"} <= cols.keys():
                indicator_header = (r, cols)
                break
        stop = indicator_header[0] if indicator_header else self.end
        goal = self.sheet.find(range(after, stop), lambda n: n in GOAL_BLOCK)
        indicator_label = self.sheet.find(range(after, self.end), lambda n: n == INDICATOR_BLOCK)
        funding_end = min(r for r in (stop, goal and goal[0], indicator_label and indicator_label[0]) if r)
        return _Blocks(funding_label, header, funding_end, goal, indicator_label, indicator_header)


def _header_cols(labels: list[str], names: dict[str, str]) -> dict[str, int]:
    """field -> column of a header row (the first cell of a merged header wins)."""
    cols: dict[str, int] = {}
    for c, name in enumerate(labels):
        f = names.get(name)
        if f and f not in cols:
            cols[f] = c
    return cols


@dataclass
class _Blocks:
    """Where a form's blocks are: the 项目资金 label and header (row, field -> col), where the
    funding rows end, the 年度总体目标 label, the 绩效指标 label and header."""

    funding_label: tuple[int, int]
    funding_header: tuple[int, dict[str, int]] | None
    funding_end: int
    goal: tuple[int, int] | None
    indicator_label: tuple[int, int] | None
    indicator_header: tuple[int, dict[str, int]] | None


class _FormReader:
    """Reads one recognised form into a Project; every problem goes to ``form.issues``."""

    def __init__(self, form: _Form):
        self.form, self.sheet, self.cells = form, form.sheet, form.sheet.cells
        self.blocks = form.layout()

    def project(self) -> Project:
        form, blocks = self.form, self.blocks
        data_rows = range(blocks.funding_label[0], self._indicators_end)
        self._info([r for r in form.rows if r not in data_rows])
        self._year()
        project_id = self._project_id()
        stated = Stated(sheet=self.cells.sheet)
        funding = self._funding(project_id, stated)
        goal, achieved = self._goal()
        indicators = self._indicators(project_id, stated)
        return self._assemble(project_id, stated, funding, goal, achieved, indicators)

    # -- label -> value lines

    def _info(self, rows: list[int]) -> None:
        for r in rows:
            for c, name in enumerate(self.sheet.labels[r]):
                fieldname = INFO_LABELS.get(name)
                if fieldname and fieldname not in self.form.at:
                    self._take(fieldname, r, self._value_col(r, c, name), c)
                elif fieldname is None:
                    self._inline(r, c)

    def _value_col(self, r: int, c: int, name: str) -> int | None:
        """The cell holding a label's value: the first filled one to its right, past the
        label's own (merged) cells and blank ones, unless another label comes first; then the
        first cell after the label (where the value belongs), None when there is none."""
        labels = self.sheet.labels[r]
        c += 1
        while c < len(labels) and labels[c] == name:
            c += 1
        first = c if c < len(labels) else None
        while c < len(labels) and _blank(self.sheet.raw(r, c)):
            c += 1
        if c >= len(labels) or _is_label(labels[c]):
            return None if first is not None and _is_label(labels[first]) else first
        return c

    def _inline(self, r: int, c: int) -> None:
        text = self.sheet.raw(r, c)
        if not isinstance(text, str) or len(text) > 200:
            return
        matches = list(_INLINE.finditer(text))
        for i, m in enumerate(matches):
            fieldname = INFO_LABELS.get(m.group(1))
            if not fieldname or fieldname in self.form.at:
                continue
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            value = text[m.end():end].strip()
            if value:
                self.form.values[fieldname], self.form.at[fieldname] = value, (r, c)
            else:  # 「项目负责人：」 with the name in the next cell
                last = i + 1 == len(matches)
                self._take(fieldname, r, self._value_col(r, c, self.sheet.labels[r][c]) if last else None, c)

    def _take(self, fieldname: str, r: int, c: int | None, label_col: int) -> None:
        """The value of a label at (r, label_col) from cell (r, c); a label with no value
        cell is located at the label itself."""
        if c is None:
            self.form.values[fieldname], self.form.at[fieldname] = "", (r, label_col)
            return
        column = schema.PROJECTS.column(fieldname) if fieldname in _PROJECT_FIELDS else _SUBMITTED
        self.form.values[fieldname], self.form.at[fieldname] = self.cells.convert(r, c, column), (r, c)

    def _year(self) -> None:
        """年度 from the title cell, or a line of its own between the title and 项目名称."""
        if self.form.values.get("year"):
            return
        tr, tc = self.form.title
        match = _YEAR_IN_TITLE.search(_compact(self.sheet.raw(tr, tc)))
        if match:
            self.form.values["year"], self.form.at["year"] = match.group(1), (tr, tc)
            return
        name_row = (self.form.at.get("name") or (self.form.end, 0))[0]
        for r in range(tr, name_row):
            for c in range(self.sheet.width):
                m = _YEAR_LINE.fullmatch(_compact(self.sheet.raw(r, c)))
                if m:
                    self.form.values["year"], self.form.at["year"] = m.group(1), (r, c)
                    return
        self.form.values["year"], self.form.at["year"] = "", (tr, tc)
        self.form.problem(Code.EMPTY_REQUIRED, f"{self.form.cell(tr, tc)} 自评表的标题和标题下一行都没有写年度，"
                          "请按「（2022年度）」的写法补上。", tr, tc)

    def _project_id(self) -> str:
        given = str(self.form.values.get("project_id") or "").strip()
        if given:
            return given
        values = self.form.values
        year = str(values.get("year") or "")
        key = "|".join(_compact(str(values.get(f) or "")) for f in ("department", "name")) + f"|{year}"
        code = base64.b32encode(hashlib.sha256(key.encode("utf-8")).digest()[:5]).decode("ascii")
        return f"{year or 'XM'}-{code}"

    # -- 项目资金

    def _funding(self, project_id: str, stated: Stated) -> list[FundingRow]:
        blocks, sheet = self.blocks, self.sheet
        lr, lc = blocks.funding_label
        if blocks.funding_header is None:
            self.form.problem(Code.NO_FUNDING, f"{self.form.cell(lr, lc)}「项目资金」栏找不到表头（年初预算数、全年预算数、"
                              "全年执行数），无法计算预算执行率。请按国家表式填写。", lr, lc)
            return []
        hr, cols = blocks.funding_header
        block_unit = sheet.units[lr][lc]
        units = {f: sheet.units[hr][c] or block_unit for f, c in cols.items()}
        first_amount = min(cols.values())
        rows: list[FundingRow] = []
        total = None
        for r in range(hr + 1, blocks.funding_end):
            label_col = self._row_label(r, first_amount)
            label = sheet.labels[r][label_col] if label_col is not None else ""
            amounts = {f: self._number(r, cols[f], schema.FUNDING.column(f), units[f])
                       for f in ("initial_budget", "budget", "executed") if f in cols}
            if label in FUNDING_TOTAL:
                total = (r, label_col, amounts)
                self._stated_budget(stated, r, cols, amounts)
            elif any(v is not None for v in amounts.values()) or self._has_text(r, [cols[f] for f in amounts]):
                source = normalize_source(_compact(sheet.raw(r, label_col))) if label_col is not None else ""
                where = {"source": label_col if label_col is not None else max(first_amount - 1, 0)}
                rows.append(FundingRow(sheet=self.cells.sheet, row=r, cols={**where, **{f: cols[f] for f in amounts}},
                                       project_id=project_id, source=source, **amounts))
        if not rows and total and any(v is not None for v in total[2].values()):
            r, c, amounts = total
            self.form.problem(Code.BAD_SOURCE, f"{self.form.cell(r, c)}「其中：当年财政拨款」「上年结转资金」「其他资金」各行"
                              "都没有填写金额，已按「年度资金总额」计算预算执行率。请分资金来源填写。", r, c, "年度资金总额")
            rows.append(FundingRow(sheet=self.cells.sheet, row=r, cols={"source": c, **{f: cols[f] for f in amounts}},
                                   project_id=project_id, source="年度资金总额", **amounts))
        if not rows and not self._reported(range(hr + 1, blocks.funding_end)):
            self.form.problem(Code.NO_FUNDING, f"{self.form.cell(lr, lc)}「项目资金」栏没有填写任何金额，无法计算预算执行率。",
                              lr, lc)
        return rows

    def _row_label(self, r: int, first_amount: int) -> int | None:
        """The column of a funding row's label: the last labelled cell left of the amounts
        (not the 项目资金 block label), at the first cell of a merged label."""
        labels = self.sheet.labels[r]
        c = next((c for c in range(first_amount - 1, -1, -1)
                  if labels[c] and not labels[c].startswith(FUNDING_BLOCK)), None)
        while c and labels[c - 1] == labels[c]:
            c -= 1
        return c

    def _stated_budget(self, stated: Stated, r: int, cols: dict[str, int], amounts: dict) -> None:
        stated.row = r
        stated.cols.update({f: c for f, c in cols.items()})
        for f, v in amounts.items():
            setattr(stated, f, v)
        if "weight" in cols:
            stated.weight = self._number(r, cols["weight"], schema.INDICATORS.column("weight"))
        if "score" in cols:
            stated.score = self._number(r, cols["score"], replace(schema.INDICATORS.column("self_score"), header="得分"))
        if "rate" in cols:
            stated.rate = self._rate(r, cols["rate"])

    def _rate(self, r: int, c: int) -> Decimal | None:
        """The stated 执行率 as a fraction: a percent cell or ``95%`` text, or a plain number
        (above 2 it can only be percent points: 95 -> 0.95)."""
        if _blank(self.sheet.raw(r, c)):
            return None
        text = self.cells.convert(r, c, replace(schema.INDICATORS.column("target"), header="执行率"))
        quantity = parse_quantity(text)
        if quantity is None or quantity[1] not in ("%", ""):
            return None  # not a rate the form could state; the computed one is shown anyway
        value, unit = quantity
        return value / 100 if unit == "%" or value > 2 else value

    # -- 年度总体目标

    def _goal(self) -> tuple[tuple[str, tuple[int, int] | None], tuple[str, tuple[int, int] | None]]:
        """(goal text, its cell) and (achieved text, its cell)."""
        blocks, sheet = self.blocks, self.sheet
        if blocks.goal is None:
            return ("", None), ("", None)
        gr, gc = blocks.goal
        stop = min(b[0] for b in (blocks.indicator_header, blocks.indicator_label, (self.form.end,)) if b)
        for hr in range(gr, min(gr + 2, stop)):
            cols = _header_cols(sheet.labels[hr], GOAL_HEADERS)
            if "goal" in cols:
                return tuple(self._texts(range(hr + 1, stop), cols.get(f)) for f in ("goal", "achieved"))
        c = self._value_col(gr, gc, sheet.labels[gr][gc])
        return self._texts(range(gr, gr + 1), c), ("", None)

    def _texts(self, rows: range, col: int | None) -> tuple[str, tuple[int, int] | None]:
        """The text of a column over ``rows`` (a merged cell counted once), and its first cell."""
        if col is None or not rows:
            return "", None
        parts, first = [], (rows.start, col)
        for r in rows:
            text = self.cells.convert(r, col, schema.PROJECTS.column("goal"))
            if text and (not parts or parts[-1] != text):
                first = first if parts else (r, col)
                parts.append(text)
        return "\n".join(parts), first

    # -- 绩效指标

    @cached_property
    def _indicators_end(self) -> int:
        """The row after the indicator block (its 总分 row included)."""
        blocks = self.blocks
        if blocks.indicator_header is None:
            return blocks.funding_end
        for r in range(blocks.indicator_header[0] + 1, self.form.end):
            if self._total_row(r):
                return r + 1
            if self._stops(r):
                return r
        return self.form.end

    def _total_row(self, r: int) -> bool:
        labels = self.sheet.labels[r]
        weight_col = self.blocks.indicator_header[1].get("weight", len(labels))
        return any(name in FORM_TOTAL for name in labels[:weight_col])

    def _stops(self, r: int) -> bool:
        """A line after the block that is no indicator (sign-off, 存在问题 …)."""
        return any(name and _is_label(name) for name in self.sheet.labels[r])

    def _indicators(self, project_id: str, stated: Stated) -> list[Indicator]:
        blocks = self.blocks
        if blocks.indicator_header is None:
            r, c = blocks.indicator_label or self.form.title
            self.form.problem(Code.NO_INDICATORS, f"{self.form.cell(r, c)}「绩效指标」栏找不到表头行（一级指标、二级指标、"
                              "三级指标、年度指标值、实际完成值、分值、得分），无法评分。请按国家表式填写。", r, c)
            return []
        hr, cols = blocks.indicator_header
        missing = [schema.INDICATORS.column(f).header for f in ("target", "actual", "weight") if f not in cols]
        if missing:
            self.form.problem(Code.NO_INDICATORS, f"{self.form.cell(hr, min(cols.values()))}「绩效指标」栏的表头缺少"
                              f"「{'」「'.join(missing)}」列，无法评分。", hr, min(cols.values()))
            return []
        runs = _Runs(self.sheet.merge_tops)
        out = []
        for r in range(hr + 1, self._indicators_end):
            if self._total_row(r):
                self._stated_total(stated, r, cols)
                break
            indicator = self._indicator(r, cols, runs, project_id)
            if indicator is not None:
                out.append(indicator)
        return out

    def _indicator(self, r: int, cols: dict[str, int], runs: "_Runs", project_id: str) -> Indicator | None:
        sheet = self.sheet
        data = [f for f in ("level3", "target", "actual", "weight", "self_score", "deviation") if f in cols]
        if all(_blank(sheet.raw(r, cols[f])) for f in data):
            return None  # a 二级 listed without indicators, or a blank line
        if any(sheet.labels[r][cols[f]] in SUBTOTAL for f in ("level1", "level2", "level3") if f in cols):
            return None
        values: dict[str, object] = {}
        where_rows: dict[str, int] = {}
        for f in ("level1", "level2"):
            if f in cols:
                values[f], where_rows[f] = runs.level(self, f, r, cols[f])
        for f in ("level3", "nature", "deviation"):
            if f in cols:
                values[f] = self.cells.convert(r, cols[f], schema.INDICATORS.column(f))
        for f in ("target", "actual"):
            values[f] = self.cells.convert(r, cols[f], schema.INDICATORS.column(f))
        not_applicable = any(_compact(sheet.raw(r, cols[f])) == NOT_APPLICABLE for f in ("actual", "self_score") if f in cols)
        if not_applicable and not values.get("nature"):
            values["nature"] = NOT_APPLICABLE
        headers = {"weight": "分值", "self_score": "得分", "deduction": "扣分"}
        for f, header in headers.items():
            if f in cols and not (f == "self_score" and not_applicable):
                values[f] = self._number(r, cols[f], replace(schema.INDICATORS.column(f), header=header))
        indicator = Indicator(sheet=self.cells.sheet, row=r, cols=dict(cols), project_id=project_id,
                              rows={f: row for f, row in where_rows.items() if row != r}, **values)
        indicator.level1 = normalize_level(indicator.level1, schema.LEVEL1)
        indicator.level2 = normalize_level(indicator.level2, schema.LEVEL2)
        indicator.nature = normalize_nature(indicator.nature)
        return indicator

    def _stated_total(self, stated: Stated, r: int, cols: dict[str, int]) -> None:
        if "self_score" in cols:
            stated.total = self._number(r, cols["self_score"], replace(schema.INDICATORS.column("self_score"), header="总分"))
            stated.cols["total"], stated.rows["total"] = cols["self_score"], r
        stated.total_weight = self._number(r, cols["weight"], replace(schema.INDICATORS.column("weight"), header="总分分值"))
        stated.cols["total_weight"], stated.rows["total_weight"] = cols["weight"], r

    # -- helpers

    def _number(self, r: int, c: int, column: schema.Column, unit: str = "") -> Decimal | None:
        """A number cell; a printed form's ``—`` or ``/`` counts as blank."""
        raw = self.sheet.raw(r, c)
        if isinstance(raw, str) and raw.strip() and _blank(raw):
            return None
        return self.cells.convert(r, c, column, unit)

    def _has_text(self, r: int, cols: Iterable[int]) -> bool:
        return any(not _blank(self.sheet.raw(r, c)) for c in cols)

    def _reported(self, rows: range) -> bool:
        """Whether a problem was already found on one of ``rows``."""
        sheet = self.cells.sheet
        return any(i.sheet == sheet and i.row in rows for i in (*self.cells.issues, *self.form.issues))

    def _assemble(self, project_id, stated, funding, goal, achieved, indicators) -> Project:
        form = self.form
        values, at = dict(form.values), dict(form.at)
        values["submitted"] = values["closing_date"] = _iso_date(str(values.get("submitted") or ""))
        if goal[1]:
            values["goal"], at["goal"] = goal
        if achieved[1]:
            values["achieved"], at["achieved"] = achieved
        anchor = at.get("project_id") if form.values.get("project_id") else at.get("name")
        anchor = anchor or form.title
        at["project_id"] = anchor
        fields = {f: ("" if v is None else str(v)) for f, v in values.items() if f in _PROJECT_ATTRS}
        fields["project_id"] = project_id
        project = Project(sheet=self.cells.sheet, row=anchor[0], source_file=form.file, layout=Layout.NATIONAL.value,
                          stated=stated if stated.row is not None or stated.rows else None,
                          funding=funding, indicators=indicators, **fields)
        project.cols = {f: c for f, (r, c) in at.items() if c is not None and f in _LOCATED}
        project.rows = {f: r for f, (r, c) in at.items() if c is not None and f in _LOCATED and r != anchor[0]}
        for f in ("name", "department"):
            if f not in at:
                r, c = form.title
                form.problem(Code.EMPTY_REQUIRED, f"{form.cell(r, c)} 自评表中找不到「{schema.PROJECTS.column(f).header}」"
                             "栏，请按国家表式填写。", r, c)
        return project


_PROJECT_FIELDS = {c.field for c in schema.PROJECTS.columns}
_PROJECT_ATTRS = _PROJECT_FIELDS | {"submitted"}
_LOCATED = {"project_id", "name", "year", "department", "implementer", "leader", "goal", "achieved"}


class _Runs:
    """一级/二级 over runs of rows: a merged cell's value and its first cell, or, for a blank
    cell left below a value (a pasted form loses its merges), the value above it."""

    def __init__(self, top: dict[tuple[int, int], int]):
        self.top = top  # the sheet's merge_tops
        self.last: dict[str, tuple[str, int]] = {}
        self.carried: dict[str, bool] = {}

    def level(self, reader: _FormReader, f: str, r: int, c: int) -> tuple[str, int]:
        raw = reader.sheet.raw(r, c)
        if _blank(raw) and f in self.last and (f == "level1" or self.carried.get("level1")):
            self.carried[f] = True
            return self.last[f]
        self.carried[f] = False
        text = reader.cells.convert(r, c, schema.INDICATORS.column(f))
        value = _BRACKETS.sub("", _compact(text)) if text else ""  # 产出指标（50分） -> 产出指标
        self.last[f] = (value, self.top.get((r, c), r))
        return self.last[f]


def _iso_date(text: str) -> str:
    """``2024年1月15日`` / ``2024-01-15`` / ``2024.1.15`` -> ``2024-01-15``; other text as written."""
    m = _DATE.search(text)
    if not m:
        return text.strip()
    y, mo, d = (int(g) for g in m.groups())
    return f"{y:04d}-{mo:02d}-{d:02d}" if 1 <= mo <= 12 and 1 <= d <= 31 else text.strip()


# --- a sheet, a workbook -------------------------------------------------------------------------

def _forms(file: str, sheet: _Sheet, titles: list[tuple[int, int]]) -> list[_Form]:
    """The forms of a sheet, cut at their ``titles`` (:func:`_titles`)."""
    starts = []
    for i, (tr, _) in enumerate(titles):
        r = tr
        if i:
            while r - 1 > titles[i - 1][0] and all(not name or _ABOVE_TITLE.fullmatch(name) for name in sheet.labels[r - 1]):
                r -= 1
        starts.append(0 if i == 0 else r)
    ends = starts[1:] + [len(sheet.labels)]
    # A form is a few dozen rows; whatever lies far below its title is not part of it.
    return [_Form(sheet, file, t, s, min(e, t[0] + MAX_FORM_ROWS)) for t, s, e in zip(titles, starts, ends)]


@dataclass
class SheetResult:
    """What one sheet gave: its projects, its problems and, for a sheet titled like a form
    that is not one, the labels it lacks."""

    projects: list[Project]
    issues: list[Issue]
    missing: list[str] = field(default_factory=list)


def read_sheet(file: str, cells: Cells) -> SheetResult:
    """Every national form of one sheet as Projects (with their rows) and the problems met."""
    titles = _titles(cells.values)
    if not titles:
        return SheetResult([], [])
    sheet = _Sheet.of(cells)
    projects, issues, missing = [], [], []
    for form in _forms(file, sheet, titles):
        lacks = form.missing_labels()
        if lacks:
            missing = missing or lacks
            continue
        before = len(cells.issues)
        project = _FormReader(form).project()
        found = [*cells.issues[before:], *form.issues]
        issues.extend(replace(i, project_id=project.project_id) for i in found)
        projects.append(project)
    return SheetResult(projects, issues, [] if projects else missing)


def read_forms(file: str, sheets: Iterable[Cells]) -> Submission:
    """A workbook without the standard form's sheets: every national form in ``sheets``, or
    one ``unknown-layout`` problem when there is none."""
    submission = Submission(file, has_funding_sheet=False)  # each form reports its own empty 项目资金
    near: list[tuple[str, list[str]]] = []
    by_id: dict[str, Project] = {}
    for cells in sheets:
        result = read_sheet(file, cells)
        submission.issues.extend(result.issues)
        if result.missing:
            near.append((cells.sheet, result.missing))
        if result.projects:
            submission.layouts[cells.sheet] = Layout.NATIONAL.value
        for project in result.projects:
            if project.project_id in by_id:
                submission.duplicates.append(project)
            else:
                by_id[project.project_id] = project
                submission.projects.append(project)
    if not submission.projects:
        submission.issues = [_unknown_layout(file, near)]
    else:
        submission.issues.extend(
            issue(Code.SHEET_NOT_READ, f"工作表「{sheet}」的标题是「{TITLE}」，但找不到「{'」「'.join(lacks)}」栏，"
                  "未能读取，请按国家表式填写或删除该工作表。", file=file, sheet=sheet) for sheet, lacks in near)
    return submission


def _unknown_layout(file: str, near: list[tuple[str, list[str]]]) -> Issue:
    standard = "".join(f"「{s.name}」" for s in schema.SHEETS)
    message = (f"未能识别该工作簿的表格格式，未读取任何项目。可接受两种格式：一是标准填报表，含{standard}工作表"
               f"（可用 selfeval template 生成空白模板）；二是国家表式的「{TITLE}」，每个工作表一个项目，"
               "含项目名称、项目资金、绩效指标栏。")
    if near:
        sheet, lacks = near[0]
        message += f"工作表「{sheet}」的标题是「{TITLE}」，但找不到「{'」「'.join(lacks)}」栏。"
    return issue(Code.UNKNOWN_LAYOUT, message, file=file, sheet=near[0][0] if len(near) == 1 else "")
