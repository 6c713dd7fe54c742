"""The department's form (DOMAIN.md §5), written with xlsxwriter: the blank template and the
same form filled with data.

Sheets, headers, column order and widths come from :mod:`selfeval_xlsx.schema`; this module
only decides how the form looks (styles, dropdowns, the 填表说明 sheet). Output is
deterministic: fixed document properties, so regenerating gives the same bytes.
"""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import IO, Collection, Iterable, Mapping

import xlsxwriter

from . import schema
from ._io import atomic_path, safe_filename
from .models import ApprovedProject
from .present import NO_DEPARTMENT, text_width

TEMPLATE_PATH = resources.files(__package__) / "data" / "selfeval_template.xlsx"  # package data
DATA_ROWS = 500  # rows covered by the dropdowns and number checks below the header
LIST_SHEET = "下拉列表"  # hidden sheet holding the 二级指标 lists for the dependent dropdown
ALL_LEVEL2 = "全部二级指标"  # defined name: every 二级, offered while 一级 is blank or merged
CREATED = dt.datetime(2024, 1, 1)

_OPTIONS = {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
            "in_memory": True}
_PROPERTIES = {"title": "项目支出绩效自评表", "subject": "项目支出绩效自评", "author": "selfeval-xlsx",
               "company": "selfeval-xlsx", "comments": "由 selfeval-xlsx 生成", "created": CREATED}

_REQUIRED_FILL, _OPTIONAL_FILL = "#F8CBAD", "#DDEBF7"
# A pre-filled form (selfeval template --targets): the bureau's cells grey and locked, the
# department's cells yellow and open; sheets protected without a password.
_FIXED_FILL, _OPEN_FILL = "#EDEDED", "#FFF2CC"
FIXED, OPEN = "fixed", "open"
_PROTECTION = {"insert_rows": True, "format_columns": True, "format_rows": True, "autofilter": True}
_NUM_FORMATS = {schema.TEXT: "@", schema.VALUE: "@", schema.AMOUNT: "#,##0.00", schema.YEAR: "0",
                schema.NUMBER: "General"}
_WRAPPED = (schema.TEXT, schema.VALUE)  # text columns wrap; their rows get a height that fits
_LINE_HEIGHT = 15  # points per wrapped line at 11 pt
_MAX_ROW_HEIGHT = 409  # Excel's limit

_LEVEL1_LETTER = xlsxwriter.utility.xl_col_to_name(schema.INDICATORS.columns.index(schema.INDICATORS.column("level1")))
_NON_NEGATIVE = {"validate": "decimal", "criteria": ">=", "value": 0, "error_title": "数字有误"}


def _validation(field: str, kind: str, first_row: int) -> dict | None:
    """The data validation of one column; ``first_row`` is the 0-based first data row (the
    dependent 二级 formula refers to the 一级 cell of that row)."""
    if field == "source":
        return {"validate": "list", "source": list(schema.SOURCES), "input_title": "资金来源",
                "input_message": "从下拉列表选择；多个来源分行填写。", "error_title": "资金来源",
                "error_message": "请从下拉列表选择：" + "、".join(schema.SOURCES)}
    if field == "level1":
        return {"validate": "list", "source": list(schema.LEVEL1), "input_title": "一级指标",
                "input_message": "从下拉列表选择。", "error_title": "一级指标",
                "error_message": "请从下拉列表选择：" + "、".join(schema.LEVEL1)}
    if field == "level2":
        level1_cell = f"${_LEVEL1_LETTER}{first_row + 1}"  # relative row: each row looks at its own 一级
        return {"validate": "list", "source": f'=INDIRECT(IF({level1_cell}="","{ALL_LEVEL2}",{level1_cell}))',
                "input_title": "二级指标", "input_message": "选项随一级指标变化。",
                "error_type": "warning", "error_title": "二级指标",
                "error_message": "该二级指标不在所选一级指标之下，确定要保留吗？"}
    if field == "nature":
        return {"validate": "list", "source": list(schema.NATURES), "input_title": "指标性质",
                "input_message": "可留空，按年度指标值自动判断。", "error_title": "指标性质",
                "error_message": "请从下拉列表选择：" + "、".join(schema.NATURES)}
    if kind == schema.AMOUNT:
        return {**_NON_NEGATIVE, "input_title": "金额（万元）", "input_message": "单位：万元，可保留两位小数。",
                "error_message": "请输入不小于 0 的数字（单位：万元）。"}
    if kind == schema.NUMBER:
        return {**_NON_NEGATIVE, "error_message": "请输入不小于 0 的数字。"}
    if kind == schema.YEAR:
        return {"validate": "integer", "criteria": "between", "minimum": 2000, "maximum": 2100,
                "error_title": "年度", "error_message": "请输入四位年份，如 2023。"}
    return None


_CHOICES = {"source": schema.SOURCES, "level1": schema.LEVEL1, "nature": schema.NATURES,
            "level2": tuple(dict.fromkeys(l2 for l2s in schema.LEVEL2_BY_LEVEL1.values() for l2 in l2s))}


def _width(column: schema.Column) -> int:
    """The schema's width, widened so the header and every dropdown choice fit on one line."""
    texts = (column.header, *_CHOICES.get(column.field, ()))
    return max(column.width, *(text_width(t) + 2 for t in texts))


class _Form:
    """One workbook being written: the shared formats and the sheet writers."""

    def __init__(self, target, title_rows: bool, title: str):
        self.book = xlsxwriter.Workbook(target, _OPTIONS)
        self.book.set_properties(_PROPERTIES)
        self.title_rows, self.title = title_rows, title
        base = {"font_name": "等线", "font_size": 11}
        add = self.book.add_format
        self.header = {required: add({**base, "bold": True, "bg_color": _REQUIRED_FILL if required else _OPTIONAL_FILL,
                                      "border": 1, "text_wrap": True, "align": "center", "valign": "vcenter"})
                       for required in (True, False)}
        self.title_format = add({**base, "bold": True, "font_size": 14, "align": "center", "valign": "vcenter"})
        self.columns = {kind: add({**base, "num_format": fmt, "valign": "top", "text_wrap": kind in _WRAPPED,
                                   **({"align": "center"} if kind == schema.YEAR else {})})
                        for kind, fmt in _NUM_FORMATS.items()}
        self.guide = {
            "title": add({**base, "bold": True, "font_size": 16, "align": "center", "valign": "vcenter"}),
            "section": add({**base, "bold": True, "font_size": 12, "valign": "vcenter", "bottom": 1}),
            "text": add({**base, "text_wrap": True, "valign": "top"}),
            "cell": add({**base, "text_wrap": True, "valign": "top", "border": 1}),
            "header": self.header[True],
        }
        self._cell_formats: dict[str, object] = {}

    def cell_format(self, num_format: str):
        """A cached format for a data cell that asks for its own number format (e.g. ``0%``)."""
        if num_format not in self._cell_formats:
            self._cell_formats[num_format] = self.book.add_format(
                {"font_name": "等线", "font_size": 11, "num_format": num_format, "valign": "top"})
        return self._cell_formats[num_format]

    def style(self, kind: str, state: str, num_format: str | None = None):
        """A cached format for a cell of a pre-filled form: ``FIXED`` (grey, locked) or
        ``OPEN`` (yellow, or no fill with ``state`` ``""``, unlocked), in the column's number format."""
        key = (kind, state, num_format)
        if key not in self._cell_formats:
            props = {"font_name": "等线", "font_size": 11, "num_format": num_format or _NUM_FORMATS[kind],
                     "valign": "top", "text_wrap": kind in _WRAPPED, "locked": state == FIXED}
            if state:
                props["bg_color"] = _FIXED_FILL if state == FIXED else _OPEN_FILL
            self._cell_formats[key] = self.book.add_format(props)
        return self._cell_formats[key]

    def write_guide(self, prefilled: bool = False) -> None:
        ws = self.book.add_worksheet(schema.GUIDE_SHEET)
        _write_guide(ws, self.guide, prefilled)

    def write_sheet(self, spec: schema.SheetSpec, rows: list[Mapping], fixed: Collection[str] | None = None) -> None:
        """One sheet of the form. ``fixed``: the fields the bureau filled in; when given, those
        cells are locked, every other cell is open (highlighted in the written rows) and the
        sheet is protected without a password."""
        ws = self.book.add_worksheet(spec.name)
        columns = spec.columns
        checked = max(DATA_ROWS, len(rows))  # dropdowns and checks cover the data, at least 500 rows
        header = 1 if self.title_rows else 0
        first = header + 1
        if self.title_rows:
            ws.merge_range(0, 0, 0, len(columns) - 1, self._title_for(spec), self.title_format)
            ws.set_row(0, 28)
        ws.set_row(header, 32)
        for col, column in enumerate(columns):
            column_format = self.columns[column.kind] if fixed is None else self.style(column.kind, "")
            ws.set_column(col, col, _width(column), column_format)
            ws.write_string(header, col, column.header, self.header[column.required])
            rule = _validation(column.field, column.kind, first)
            if rule:
                ws.data_validation(first, col, first + checked - 1, col, rule)
        ws.freeze_panes(first, 1)
        ws.autofilter(header, 0, header, len(columns) - 1)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(header)
        self._write_rows(ws, spec, rows, first, fixed)
        if fixed is not None:
            ws.protect("", _PROTECTION)

    def _title_for(self, spec: schema.SheetSpec) -> str:
        unit = "（金额单位：万元）" if spec.key in ("funding", "spending") else ""
        return f"{self.title}——{spec.name}{unit}"

    def _write_rows(self, ws, spec: schema.SheetSpec, rows: list[Mapping], first: int,
                    fixed: Collection[str] | None = None) -> None:
        index = {c.field: i for i, c in enumerate(spec.columns)}
        # Neither Excel nor LibreOffice reliably grows a row for wrapped text in a generated
        # file, so each row gets a height from its longest text (estimated, CJK = 2 units).
        wrap_width = {c.field: _width(c) for c in spec.columns if c.kind in _WRAPPED}
        known = set(index) | {f"{f}_format" for f in index}
        for r, record in enumerate(rows, start=first):
            unknown = set(record) - known
            if unknown:
                raise ValueError(f"{spec.name}: unknown field(s) {sorted(unknown)}")
            lines = 1
            if fixed is not None:
                self._write_states(ws, spec, r, record, fixed)
            for field, value in record.items():
                if field in index and value is not None and value != "":
                    if fixed is None:
                        self._write_value(ws, r, index[field], value, record.get(f"{field}_format"))
                    if isinstance(value, str) and field in wrap_width:
                        lines = max(lines, _lines(value, wrap_width[field]))
            if lines > 1:
                ws.set_row(r, min(_MAX_ROW_HEIGHT, _LINE_HEIGHT * lines + 3))

    def _write_states(self, ws, spec: schema.SheetSpec, r: int, record: Mapping, fixed: Collection[str]) -> None:
        """Every cell of one pre-filled row: the bureau's cells locked (a required one it left
        blank stays open, or the department could never complete the form), the rest open."""
        for col, column in enumerate(spec.columns):
            value = record.get(column.field)
            blank = value is None or value == ""
            locked = column.field in fixed and not (blank and column.required)
            fmt = self.style(column.kind, FIXED if locked else OPEN, record.get(f"{column.field}_format"))
            if blank:
                ws.write_blank(r, col, None, fmt)
            else:
                self._write_value(ws, r, col, value, None, fmt)

    def _write_value(self, ws, row: int, col: int, value, num_format: str | None, fmt=None) -> None:
        # A cell without its own format falls back to the column format set above, so only
        # cells that ask for a number format (percent actuals, dates) get one.
        fmt = fmt or (self.cell_format(num_format) if num_format else None)
        if isinstance(value, str):
            ws.write_string(row, col, value, fmt)
        elif isinstance(value, bool):
            ws.write_boolean(row, col, value, fmt)
        elif isinstance(value, (int, float, Decimal)):
            ws.write_number(row, col, float(value), fmt)
        elif isinstance(value, (dt.date, dt.datetime)):
            ws.write_datetime(row, col, value, fmt or self.cell_format("yyyy-mm-dd"))
        else:
            ws.write_string(row, col, str(value), fmt)

    def write_lists(self) -> None:
        """The hidden sheet behind the dependent 二级 dropdown: one column per 一级 (and one
        with every 二级), each a defined name so ``INDIRECT(一级)`` finds its list."""
        ws = self.book.add_worksheet(LIST_SHEET)
        lists = [(ALL_LEVEL2, _CHOICES["level2"]), *schema.LEVEL2_BY_LEVEL1.items()]
        for col, (name, items) in enumerate(lists):
            ws.write_string(0, col, name)
            ws.write_column(1, col, list(items))
            letter = xlsxwriter.utility.xl_col_to_name(col)
            self.book.define_name(name, f"='{LIST_SHEET}'!${letter}$2:${letter}${len(items) + 1}")
        ws.set_column(0, len(lists) - 1, 16)
        ws.hide()

    def close(self) -> None:
        self.book.close()


def _write(target, projects, funding, spending, indicators, title_rows: bool,
           fixed: Mapping[str, Collection[str]] | None = None) -> None:
    years = sorted({str(p.get("year")) for p in projects if p.get("year") not in (None, "")})
    title = f"{years[0]}年度项目支出绩效自评表" if len(years) == 1 else "项目支出绩效自评表"
    form = _Form(target, title_rows, title)
    form.write_guide(prefilled=fixed is not None)
    for spec, rows in zip(schema.SHEETS, (projects, funding, spending, indicators)):
        form.write_sheet(spec, rows, None if fixed is None else fixed.get(spec.key, ()))
    form.write_lists()
    form.close()


def _to_target(path: str | Path | IO[bytes], write) -> None:
    if hasattr(path, "write"):
        write(path)
        return
    with atomic_path(path) as tmp:
        write(str(tmp))


def write_template(path: str | Path | IO[bytes] = TEMPLATE_PATH) -> None:
    """Write the blank form: 填表说明, 项目信息, 资金, 支出, 绩效指标 (headers from
    :data:`schema.SHEETS`, required headers in orange, optional in light blue) plus a hidden
    list sheet for the dependent 二级 dropdown. ``path`` may also be a binary file object."""
    _to_target(path, lambda t: _write(t, [], [], [], [], False))


def write_workbook(path: str | Path | IO[bytes], projects: Iterable[Mapping], funding: Iterable[Mapping],
                   spending: Iterable[Mapping], indicators: Iterable[Mapping], *,
                   title_rows: bool = False, fixed: Mapping[str, Collection[str]] | None = None) -> None:
    """Write the form filled with data. Each record is a dict keyed by schema field names
    (``{"project_id": "P01", "name": ..., "year": 2022}``); amounts in 万元. Strings are
    stored as text (never formulas, numbers or links), numbers as numbers, dates as dates.
    ``"<field>_format": "0%"`` gives that cell its own number format, e.g. an actual stored
    as 0.92 and shown as 92%. ``title_rows`` puts a merged title row above every header.
    Unknown keys raise ``ValueError`` (a typo in a fixture should not pass silently).
    ``fixed`` (sheet key -> fields) makes a pre-filled form: those filled cells are locked,
    the others open and highlighted, every sheet protected without a password."""
    projects, funding, spending, indicators = (list(x) for x in (projects, funding, spending, indicators))
    _to_target(path, lambda t: _write(t, projects, funding, spending, indicators, title_rows, fixed))


# Cells of a pre-filled form that the bureau's approved targets fix (the rest is the department's).
PREFILLED_FIXED = {"projects": ("project_id", "name", "year", "department"), "funding": ("project_id", "initial_budget"),
                   "spending": (), "indicators": ("project_id", "level1", "level2", "level3", "nature", "target", "weight")}


def prefilled_forms(approved: Iterable[ApprovedProject]) -> dict[str, tuple[list, list, list]]:
    """主管部门 -> (项目信息, 资金, 绩效指标 records) of its pre-filled form. A project the
    approval gives no 项目编号 gets a readable one, ``001`` …, in the order of the targets."""
    forms: dict[str, tuple[list, list, list]] = {}
    for p in approved:
        projects, funding, indicators = forms.setdefault(p.department or NO_DEPARTMENT, ([], [], []))
        pid = p.project_id or f"{len(projects) + 1:03d}"
        year = int(p.year) if str(p.year).isdigit() else p.year
        projects.append({"project_id": pid, "name": p.name, "year": year, "department": p.department})
        funding.append({"project_id": pid, "source": schema.SOURCES[0], "initial_budget": p.budget, "budget": p.budget})
        indicators.extend({"project_id": pid, "level1": a.level1, "level2": a.level2, "level3": a.level3,
                           "nature": a.nature, "target": a.target, "weight": a.weight} for a in p.indicators)
    return forms


def prefilled_name(department: str, projects: list[Mapping]) -> str:
    """File name of a department's pre-filled form: ``某区民政局_2023年度绩效自评表.xlsx``."""
    years = {str(p["year"]) for p in projects if p.get("year") not in (None, "")}
    year = f"_{years.pop()}年度" if len(years) == 1 else "_"
    return f"{safe_filename(department, 80)}{year}绩效自评表.xlsx"


def write_prefilled(folder: str | Path, approved: Iterable[ApprovedProject]) -> list[Path]:
    """One pre-filled standard workbook per 主管部门 in ``folder``: its projects, funding
    budget and indicators (一级…年度指标值, 分值) filled in from the approved targets and
    locked (:data:`PREFILLED_FIXED`), the cells the department fills open and highlighted,
    sheets protected without a password, with the 填表说明 sheet. Returns the files written."""
    written = []
    for department, (projects, funding, indicators) in sorted(prefilled_forms(approved).items()):
        path = Path(folder) / prefilled_name(department, projects)
        write_workbook(path, projects, funding, [], indicators, fixed=PREFILLED_FIXED)
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------------
# 填表说明: explanations as data, laid out in four columns (列名 | 必填 | 填写说明 | 示例).

_GUIDE_WIDTHS = (16, 6, 54, 40)

_GENERAL = (
    "本工作簿包含“项目信息”“资金”“支出”“绩效指标”四张表，一个工作簿可以填写一个或多个项目，"
    "各表通过“项目编号”关联，同一项目在各表中的项目编号必须完全一致。",
    "表头底色为橙色的列为必填项，浅蓝色的列为选填项。请勿修改表头文字和工作表名称，"
    "不要在表头中添加“*”等符号，也不要删除或调换列。",
    "金额单位为万元，可保留两位小数；如确需按元填写，请把表头改为“金额（元）”这类写法，系统会自动换算为万元。",
    "项目编号按文本填写，前导零会保留（如 001）。表头上方可以保留标题行。",
    "“项目编号”“一级指标”“二级指标”列可以合并单元格，合并区域的值适用于其覆盖的每一行；空行会被忽略。",
    "带下拉箭头的单元格请从列表中选择；“二级指标”的选项随同一行的“一级指标”变化。",
)

_SHEET_INTRO = {
    "projects": "每个项目填写一行。文字栏目将直接写入绩效自评报告的对应章节，请按报告口径填写完整段落；"
                "未填写的栏目在报告中按数据生成或标注“【待补充】”，并列入问题清单。",
    "funding": "每个项目按资金来源逐行填写；有多个来源（如本年财政拨款和上年结转资金）时分行填写。",
    "spending": "按支出事项逐行填写，同一项目各行金额合计应等于“资金”表中全年执行数合计（允许 0.01 万元误差）。",
    "indicators": "每个三级指标填写一行。默认分值：产出指标 50 分、效益指标 30 分、满意度指标 10 分，"
                  "与预算执行率 10 分合计 100 分。",
}

# field -> (填写说明, 示例); the examples are the seed project 党建工作经费 (2022).
_FIELD_HELP = {
    "project_id": ("项目的唯一编号，按文本填写，各表据此关联。", "001"),
    "name": ("项目全称，与预算批复一致。", "党建工作经费"),
    "year": ("预算年度，四位数字。", "2022"),
    "department": ("预算主管部门。", "某区某街道党工委"),
    "implementer": ("具体实施单位。", "某街道党建工作办公室"),
    "leader": ("项目负责人姓名。", "张××"),
    "goal": ("年初设定的年度总体绩效目标。", "完成党员、基层党务工作者教育培训工作，加强新时代党的宣传思想工作。"),
    "achieved": ("年度总体目标的实际完成情况，写入报告“二、（一）总体结论”。",
                 "完成了党员、基层党务工作者教育培训工作……收到良好效果。"),
    "implementation": ("写入报告“一、（一）项目实施情况”。", "根据……文件要求，区财政2022年共下拨党工委党建工作经费 100万元。……"),
    "management": ("写入报告“一、（三）项目管理情况”。", "严格按照上级相关工作要求，严格贯彻落实内控制度及财务管理制度……"),
    "funds_usage": ("写入报告“一、（四）项目资金来源及使用情况”。", "2022年度党建工作经费预算安排 100万元，区财局拨款 100万元，主要用于……"),
    "analysis": ("写入报告“二、（二）项目绩效分析”。", "……经过满意度调查实际满意度约为 95%。"),
    "problems": ("写入报告“三、存在问题或不足”。", "一是党员教育培训工作缺乏创新思路和举措……"),
    "improvements": ("写入报告“四、下一步改进措施”。", "加强资金的合理使用，提前做好资金使用规划……"),
    "objectives": ("选填。项目绩效目标（总体目标和主要绩效指标），填写后报告“一、基本情况”增加“项目绩效目标”一节。",
                   "总体目标：……；主要绩效指标：开设培训班不少于18次……"),
    "evaluation_work": ("选填。绩效自评工作的组织、方法和过程，填写后报告增加“自评工作开展情况”一章。",
                        "成立自评工作小组，对照年初绩效目标逐项核实……"),
    "other_notes": ("选填。其他需要说明的问题，填写后报告末尾增加该章。", ""),
    "finance_officer": ("选填。财务负责人姓名，写入附表下方的签署栏。", "李××"),
    "closing_unit": ("选填。报告落款单位，写在报告末尾，并作为附表的填报单位；未填时附表按实施单位填写。", "某街道党建工作办公室"),
    "closing_date": ("选填。报告落款日期，写在报告末尾和附表的填报日期处。", "2023-01-15"),
    "source": ("从下拉列表选择：" + "、".join(schema.SOURCES) + "。", "本年财政拨款"),
    "initial_budget": ("年初批复的预算数（万元）。", "100.00"),
    "budget": ("年中调整后的全年预算数（万元），是计算预算执行率的分母。", "100.00"),
    "executed": ("全年实际支出数（万元）。", "100.00"),
    "item": ("支出事项名称。", "党员教育培训费"),
    "category": ("支出经济分类科目。", "30216 培训费"),
    "amount": ("该事项支出金额（万元）。", "38.50"),
    "note": ("补充说明（选填）。", "开设培训班 18 次"),
    "level1": ("从下拉列表选择：" + "、".join(schema.LEVEL1) + "。", "产出指标"),
    "level2": ("随一级指标给出可选项，如数量指标、质量指标、时效指标、成本指标、社会效益指标、服务对象满意度指标。", "数量指标"),
    "level3": ("具体指标名称，由单位自拟。", "开设培训班次数"),
    "nature": ("正向、反向、等于、定性、不适用；留空时按年度指标值自动判断（≥ 为正向，≤ 为反向，= 或只写数值为等于，文字为定性）。", "正向"),
    "target": ("年度指标值，写明比较符号和单位，如 ≥18次、≤3天、=100%、≥95%、12月底前、按时完成；定性指标写预期效果。", "≥18次"),
    "actual": ("实际完成值，如 18次、4天、95%；未写单位时按年度指标值的单位理解。定性指标填写“达成”“部分达成”或“未达成”。", "18次"),
    "weight": ("该指标的分值。", "10"),
    "self_score": ("本单位自评得分。定性指标为“部分达成”“未达成”时必须填写。", "10"),
    "deduction": ("因问题扣减的分数（选填）。", ""),
    "deviation": ("未完成年度指标值（得分低于分值）时必须填写原因和改进措施。", ""),
}

_SCORING = (
    "满分 100 分：预算执行率 10 分，产出指标 50 分，效益指标 30 分，满意度指标 10 分。所有得分四舍五入保留两位小数。",
    "1. 预算执行率（10 分）：执行率 = 全年执行数合计 ÷ 全年预算数合计，得分 = 执行率 × 10，最高 10 分。"
    "执行数超过预算数时，执行率按实际显示（超过 100%）并提示核实；全年预算数为 0 时该项得 0 分。",
    "2. 正向指标（≥、>，如 ≥18次）：实际值达到或超过指标值得满分；未达到时得分 = 实际值 ÷ 指标值 × 分值。超额完成不加分。",
    "3. 反向指标（≤、<，如 ≤3天）：实际值不超过指标值得满分；超过时得分 = [1 −（实际值 − 指标值）÷ 指标值] × 分值，"
    "达到指标值 2 倍及以上得 0 分。例：指标值 ≤3天，实际 4天，分值 10 分，得分 =（1 − 1/3）× 10 = 6.67 分。"
    "（本地规则另有规定的，按规则文件执行。）",
    "4. 等于指标（=，如 =100%）：按正向指标计分；指标值为 0 时，实际值不大于 0 得满分，否则得 0 分。"
    "完成时限（如 12月底前、≤2023-12-31）在期限内完成得满分。",
    "5. 定性指标：实际完成值填写“达成”“部分达成”或“未达成”，单位在对应区间内自评打分——"
    "达成：分值的 80%～100%（未填自评得分按满分）；部分达成：60%～80%（不含 80%）；未达成：0～60%（不含 60%）。"
    "“部分达成”“未达成”必须填写自评得分，超出区间视为错误。",
    "6. 扣分：填写扣分的指标，得分 = 指标得分 − 扣分，最低 0 分。",
    "7. 不适用：指标性质为“不适用”的指标不计分，总分按“得分合计 × 100 ÷（100 − 不适用指标分值合计）”折算；"
    "其分值仍计入分值合计。",
    "8. 总分 = 预算执行得分 + 各三级指标得分之和。",
    "9. 等级：90 分及以上为“优”，80（含）～90 分为“良”，60（含）～80 分为“中”，60 分以下为“差”。",
    "10. 分值调整：可以调整产出、效益、满意度的分值分配（系统会提示），但分值合计（含预算执行率 10 分）必须为 100 分。",
    "11. 完整性：指标得分低于分值而未填写偏差原因，或自评得分与系统计算得分相差超过 0.01 分时，系统会列出提示。",
)

_NUMERALS = "一二三四五六七八九十"
_PREFILLED = ("本表已按批复的绩效目标预先填好项目、预算和绩效指标：灰色单元格（项目编号、项目名称、主管部门、年初预算数、"
              "一级至三级指标、指标性质、年度指标值、分值）已锁定，不能修改；黄色单元格请填写（实施单位、各项文字说明、资金来源、"
              "全年预算数、全年执行数、实际完成值、自评得分、偏差原因分析及改进措施），“支出”表按实际支出逐行填写。"
              "工作表保护没有密码；如批复目标确需调整，请先与财政部门联系。")


def _lines(text: str, width: int) -> int:
    """How many lines ``text`` wraps to in a cell ``width`` characters wide (estimate)."""
    return max(1, math.ceil(text_width(text) / max(1, width - 2)))


def _write_guide(ws, fmt: dict, prefilled: bool = False) -> None:
    for col, width in enumerate(_GUIDE_WIDTHS):
        ws.set_column(col, col, width)
    last = len(_GUIDE_WIDTHS) - 1
    full = sum(_GUIDE_WIDTHS)
    row = 0

    def paragraph(text: str, style: str = "text", height: float | None = None) -> None:
        nonlocal row
        ws.merge_range(row, 0, row, last, text, fmt[style])
        ws.set_row(row, height or 17 * _lines(text, full) + 3)
        row += 1

    paragraph("项目支出绩效自评表 填表说明", "title", 32)
    if prefilled:
        paragraph(_PREFILLED, "text")
    paragraph(f"{_NUMERALS[0]}、总体要求", "section", 24)
    for i, text in enumerate(_GENERAL, start=1):
        paragraph(f"{i}. {text}")
    for n, spec in enumerate(schema.SHEETS, start=1):
        row += 1
        paragraph(f"{_NUMERALS[n]}、“{spec.name}”表", "section", 24)
        paragraph(_SHEET_INTRO[spec.key])
        for col, head in enumerate(("列名", "必填", "填写说明", "示例")):
            ws.write_string(row, col, head, fmt["header"])
        ws.set_row(row, 20)
        row += 1
        for column in spec.columns:
            help_text, example = _FIELD_HELP[column.field]
            ws.write_string(row, 0, column.header, fmt["cell"])
            ws.write_string(row, 1, "是" if column.required else "", fmt["cell"])
            ws.write_string(row, 2, help_text, fmt["cell"])
            ws.write_string(row, 3, example, fmt["cell"])
            lines = max(_lines(help_text, _GUIDE_WIDTHS[2]), _lines(example, _GUIDE_WIDTHS[3]))
            ws.set_row(row, 17 * lines + 3)
            row += 1
    row += 1
    paragraph(f"{_NUMERALS[len(schema.SHEETS) + 1]}、评分规则", "section", 24)
    for text in _SCORING:
        paragraph(text)
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.5, right=0.5)
