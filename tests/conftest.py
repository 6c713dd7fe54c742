"""Shared fixtures: build department workbooks from small tables."""
from __future__ import annotations

import copy
from pathlib import Path

import openpyxl
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # tests/test_cluster.py starts one dask cluster for its module: keep its tests on one
    # xdist worker (they carry an xdist_group mark), the others spread as usual. Both sides of
    # xdist must agree: the controller schedules by group, the workers name the groups.
    if getattr(config.option, "dist", None) == "load":
        config.option.dist = "loadgroup"
    if hasattr(config, "workerinput"):
        config.option.loadgroup = True
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


# The same project as VALID in the national layout (DOMAIN.md §5b), as a printed form has it:
# 附件1 and the year on lines of their own, merged labels and 一级 runs, a 总分 row and a sign-off.
# Row 8 (Excel) is 年度资金总额, rows 15–18 the indicators, row 19 总分.
NATIONAL = [
    ["附件1"],
    ["项目支出绩效自评表"],
    ["（2023年度）"],
    ["填报单位（盖章）：某区民政局", None, None, None, None, None, "填报日期：2024年1月15日"],
    ["项目名称", None, "社区党建经费"],
    ["主管部门", None, "某区民政局", None, None, "实施单位", "某街道办"],
    ["项目资金（万元）", None, None, "年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "得分"],
    [None, "年度资金总额", None, 100, 100, 95, 10, "95%", 9.5],
    [None, "其中：当年财政拨款", None, 100, 100, 95, "—", "—", "—"],
    [None, "上年结转资金", None, None, None, None, "—", "—", "—"],
    [None, "其他资金", None, None, None, None, "—", "—", "—"],
    ["年度总体目标", "预期目标", None, None, None, "实际完成情况"],
    [None, "全年开展党员培训不少于18次", None, None, None, "开展党员培训18次"],
    ["绩效指标", "一级指标", "二级指标", "三级指标", "年度指标值", "实际完成值", "分值", "得分", "偏差原因分析及改进措施"],
    [None, "产出指标", "数量指标", "培训班次", "≥18次", "18次", 25, 25],
    [None, None, "时效指标", "完成时限", "≤3天", "2天", 25, 25],
    [None, "效益指标", "社会效益指标", "党员教育覆盖率", "≥95%", "96%", 30, 30],
    [None, "满意度指标", "服务对象满意度指标", "党员满意度", "≥90%", "92%", 10, 10],
    ["总分", None, None, None, None, None, 100, 99.5],
    ["项目负责人：张三", None, None, "财务负责人：李四", None, None, "联系电话：12345678"],
]
NATIONAL_MERGES = ["A2:I2", "A3:I3", "A4:F4", "G4:I4", "A5:B5", "C5:I5", "A6:B6", "C6:E6", "G6:I6", "A7:A11", "B7:C7",
                   "B8:C8", "B9:C9", "B10:C10", "B11:C11", "A12:A13", "B12:E12", "F12:I12", "B13:E13", "F13:I13",
                   "A14:A18", "B15:B16", "A19:F19", "A20:C20", "D20:F20", "G20:I20"]


@pytest.fixture
def national():
    """A deep copy of the national form's rows, to break one cell at a time."""
    return copy.deepcopy(NATIONAL)
