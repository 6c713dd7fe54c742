"""Approved targets in the national layout: the 项目支出绩效目标表 (also called 绩效目标申报表),
one sheet per project, recognised by its content, never by the sheet's name:

- a title holding ``绩效目标表`` or ``绩效目标申报表`` in the first rows, the year as
  ``（2023年度）`` in it or below it;
- label cells 项目名称, 主管部门 (or 主管部门及代码), optionally 项目编号/项目编码/项目代码,
  each with its value to the right (merged or not);
- a 项目资金（万元） (or （元）) block with 年度资金总额 and its amount to the right, below, or
  in the same cell (``年度资金总额：100万元``);
- an indicator block under a header row 一级指标 二级指标 三级指标 (or 指标内容) 指标值
  (or 年度指标值), optionally 分值/权重 and 指标性质, with merged or blank-below 一级/二级
  runs. When the table has both 长期 and 年度 indicator blocks, the 年度 one is read.
"""
from __future__ import annotations

import re
from decimal import Decimal

from .. import schema
from ..grid import fill_merges, find_label, find_text, header_row, is_blank, label, right_of, value_of
from ..issues import Code, Issue, issue
from ..models import ApprovedIndicator, ApprovedProject
from ..parsing import parse_number
from ..reader import _percent_text, as_text
from ..vocab import normalize_level, normalize_nature
from ..xlsx.parts import a1

TITLES = ("绩效目标表", "绩效目标申报表")
TITLE_ROWS = range(0, 8)
_YEAR = re.compile(r"((?:19|20)\d\d)\s*年")
_AMOUNT_IN_TEXT = re.compile(r"[:：]\s*([\d,.]+)\s*(万元|元)?")
_BUDGET_LABELS = ("年度资金总额", "资金总额", "年度预算数", "全年预算数", "年度预算")
# Indicator-block headers of the national tables beside the standard ones.
_HEADERS = {**schema.HEADER_NAMES[schema.TARGETS.key], "指标内容": "level3", "具体指标": "level3",
            "年度指标值": "target"}
_WAN = Decimal(10000)


def _header_key(value) -> str:
    return schema.normalize_header(value)[0] if isinstance(value, str) else ""


def is_target_table(values) -> bool:
    """A 绩效目标表: its title in the first rows, and not a self-evaluation (自评) table."""
    at = find_text(values, TITLES, rows=TITLE_ROWS)
    return at is not None and "自评" not in label(values[at])


def read_sheet(file: str, sheet: str, grid, merges, meta) -> tuple[list[ApprovedProject], list[Issue]] | None:
    """The approved project of one 绩效目标表 sheet and the problems met, or None when the
    sheet is not one."""
    values = grid.to_numpy(dtype=object, copy=True)
    fill_merges(values, merges)
    if not is_target_table(values):
        return None
    where = {"file": file, "sheet": sheet}
    name = value_of(values, ("项目名称",))
    block = _indicator_header(values)
    if name is None or block is None:
        missing = "「项目名称」" if name is None else "指标表头（一级指标、三级指标、指标值）"
        return [], [issue(Code.BAD_APPROVED_ROW, f"批复绩效目标「{sheet}」像是绩效目标表，但找不到{missing}，已跳过该表。",
                          **where, row=None)]
    department = value_of(values, ("主管部门", "主管部门及代码", "主管单位", "部门名称"))
    project_id = value_of(values, ("项目编号", "项目编码", "项目代码"))
    percent = meta.percent if meta is not None else set()
    indicators = _indicators(values, *block, percent, f"{file} {sheet}")
    project = ApprovedProject(
        project_id=as_text(project_id[0]) if project_id else "", name=as_text(name[0]),
        department=as_text(department[0]) if department else "", year=_year(values),
        budget=_budget(values), indicators=tuple(indicators), file=file, sheet=sheet, row=name[1])
    return [project], []


def _year(values) -> str:
    at = find_text(values, TITLES, rows=TITLE_ROWS)
    for r in range(max(0, at[0] - 1), min(values.shape[0], at[0] + 3)) if at else ():
        for value in values[r]:
            m = _YEAR.search(label(value)) if isinstance(value, str) else None
            if m:
                return m.group(1)
    return ""


def _budget(values) -> Decimal | None:
    """年度资金总额 in 万元: written in the label's own cell, to its right or below it."""
    at = find_label(values, _BUDGET_LABELS, prefix=True)
    if at is None:
        return None
    r, c = at
    own = _AMOUNT_IN_TEXT.search(str(values[r, c]).translate({0xFF1A: ":"}))
    if own:
        amount = parse_number(own.group(1))
        return amount / _WAN if amount is not None and own.group(2) == "元" else amount
    beside = right_of(values, r, c)
    amount = parse_number(beside[0]) if beside else None
    if amount is None and r + 1 < values.shape[0]:
        amount = parse_number(values[r + 1, c])
    if amount is not None and _in_yuan(values):
        amount = amount / _WAN
    return amount


def _in_yuan(values) -> bool:
    """The funding block's unit is 元 (``项目资金（元）``) rather than 万元."""
    at = find_text(values, ("项目资金", "资金情况", "项目资金申请"))
    return at is not None and schema.normalize_header(values[at])[1] == "元"


def _indicator_header(values) -> tuple[int, dict[str, int]] | None:
    """The header row of the indicator block (the 年度 block when there are two)."""
    start = find_text(values, ("年度绩效指标",))
    found = header_row(values, _HEADERS, ("level3", "target"), start=start[0] if start else 0, key=_header_key)
    if found is None and start is not None:
        found = header_row(values, _HEADERS, ("level3", "target"), key=_header_key)
    return found


def _indicators(values, header: int, cols: dict[str, int], percent: set, where: str) -> list[ApprovedIndicator]:
    found = []
    level1 = level2 = ""
    head = label(values[header, cols["level3"]])
    for r in range(header + 1, values.shape[0]):
        cell = lambda field: values[r, cols[field]] if field in cols else None  # noqa: E731
        level3, target = as_text(cell("level3")), cell("target")
        if label(level3) == head:
            break  # a second block's header: the block read is over
        target_text = _percent_text(target) if (r, cols["target"]) in percent and isinstance(target, (int, float)) \
            else as_text(target)
        level1 = as_text(cell("level1")) or level1  # a run typed once and left blank below
        level2 = as_text(cell("level2")) or level2
        if not level3 and not target_text or level3 == target_text:
            continue  # blank, or a note merged across the whole row
        weight = cell("weight")
        found.append(ApprovedIndicator(
            level1=normalize_level(level1, schema.LEVEL1), level2=normalize_level(level2, schema.LEVEL2),
            level3=level3, target=target_text, weight=None if is_blank(weight) else parse_number(weight),
            nature=normalize_nature(cell("nature")), where=f"{where}!{a1(r, cols['target'])}"))
    return found
