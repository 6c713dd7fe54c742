"""Shared fixtures: build department workbooks from small tables."""
from __future__ import annotations

import copy
from pathlib import Path

import openpyxl
import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "workbook_templates" / "examples"

# The report's text columns (filled in a correct form: an empty one draws missing-narrative).
NARRATIVE_HEADERS = ["年度总体目标", "实际完成情况", "项目实施情况", "项目管理情况", "资金使用情况", "绩效分析", "存在问题",
                     "改进措施"]

# A minimal correct form: one project, weights 10 (budget) + 50 + 30 + 10.
# Row 1 of every sheet is the header, so 资金!E2 is the first project's 全年执行数.
VALID = {
    "项目信息": [["项目编号", "项目名称", "年度", "主管部门", "实施单位", *NARRATIVE_HEADERS],
              ["P01", "社区党建经费", 2023, "某区民政局", "某街道办", *(f"{h}的说明。" for h in NARRATIVE_HEADERS)]],
    "资金": [["项目编号", "资金来源", "年初预算数", "全年预算数", "全年执行数"],
           ["P01", "本年财政拨款", 100, 100, 95]],
    "支出": [["项目编号", "支出事项", "经济分类", "金额", "备注"],
           ["P01", "培训费", "商品和服务支出", 60, ""],
           ["P01", "资料费", "商品和服务支出", 35, ""]],
    "绩效指标": [["项目编号", "一级指标", "二级指标", "三级指标", "指标性质", "年度指标值", "实际完成值", "分值", "自评得分",
              "扣分", "偏差原因分析及改进措施"],
             ["P01", "产出指标", "数量指标", "培训班次", "", "≥18次", "18次", 25, 25, None, ""],
             ["P01", "产出指标", "时效指标", "完成时限", "", "≤3天", "2天", 25, 25, None, ""],
             ["P01", "效益指标", "社会效益指标", "党员教育覆盖率", "", "≥95%", "96%", 30, 30, None, ""],
             ["P01", "满意度指标", "服务对象满意度指标", "党员满意度", "", "≥90%", "92%", 10, 10, None, ""]],
}


def write_xlsx(path: Path, sheets: dict[str, list[list]], *, merges: dict[str, list[str]] | None = None,
               formats: dict[str, dict[str, str]] | None = None) -> Path:
    """Write ``{sheet: rows}`` with openpyxl; ``merges`` {sheet: ["A2:A3"]}, ``formats``
    {sheet: {"F3": "0%"}} (number formats)."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        for ref in (merges or {}).get(name, []):
            sheet.merge_cells(ref)
        for ref, fmt in (formats or {}).get(name, {}).items():
            sheet[ref].number_format = fmt
    book.save(path)
    return path


@pytest.fixture
def tables():
    """A deep copy of the valid form's tables, to break one cell at a time."""
    return copy.deepcopy(VALID)


@pytest.fixture
def make_book(tmp_path):
    """``make_book(sheets, name="x.xlsx", **kw)`` -> path of a workbook written from tables."""
    def make(sheets, name="dept.xlsx", **kw):
        return write_xlsx(tmp_path / name, sheets, **kw)
    return make
