"""The blank form, the form writer and the worked examples (selfeval_xlsx.form)."""
from __future__ import annotations

import importlib.util
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from selfeval_xlsx import schema
from selfeval_xlsx.form import ALL_LEVEL2, LIST_SHEET, TEMPLATE_PATH, write_template, write_workbook

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "workbook_templates" / "examples"
SEED_TEXT = Path("/work/shared/seed/000_30ebca9367506f04.txt")
FORM_SHEETS = [schema.GUIDE_SHEET, *(s.name for s in schema.SHEETS)]


def _load_examples_module():
    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "workbook_templates" / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ex = _load_examples_module()


def snapshot(source) -> dict:
    """What a user and the reader see in a workbook, independent of zip timestamps."""
    wb = openpyxl.load_workbook(source)
    out = {"sheets": wb.sheetnames, "names": {n: d.attr_text for n, d in wb.defined_names.items()}}
    for ws in wb.worksheets:
        out[ws.title] = {
            "state": ws.sheet_state,
            "cells": [[(c.value, c.data_type, c.number_format) for c in row] for row in ws.iter_rows()],
            "validations": sorted((str(dv.sqref), dv.type, dv.formula1, dv.errorStyle)
                                  for dv in ws.data_validations.dataValidation),
            "freeze": ws.freeze_panes,
            "widths": {i: (d.width, d.number_format) for i, d in column_dims(ws).items()},
            "heights": {k: d.height for k, d in ws.row_dimensions.items() if d.height},
            "merged": sorted(str(r) for r in ws.merged_cells.ranges),
        }
    return out


def column_dims(ws) -> dict[int, object]:
    """1-based column -> its ColumnDimension (openpyxl groups equal neighbours into one)."""
    return {i: d for d in ws.column_dimensions.values() for i in range(d.min, d.max + 1)}


def headers(ws, row: int = 1) -> list[str]:
    return [c.value for c in ws[row] if c.value is not None]


def validations(ws) -> dict[str, tuple[str, str | None]]:
    """Column letter of each validation's range -> (type, formula1)."""
    out = {}
    for dv in ws.data_validations.dataValidation:
        first = str(dv.sqref).split(":")[0]
        out[first.rstrip("0123456789")] = (dv.type, dv.formula1, str(dv.sqref))
    return out


# --- the blank template ----------------------------------------------------------------------

def test_committed_template_is_what_write_template_generates(tmp_path):
    fresh = tmp_path / "template.xlsx"
    write_template(fresh)
    assert snapshot(fresh) == snapshot(TEMPLATE_PATH)


def test_template_output_is_deterministic():
    first, second = io.BytesIO(), io.BytesIO()
    write_template(first)
    write_template(second)
    assert first.getvalue() == second.getvalue()
    wb = openpyxl.load_workbook(io.BytesIO(first.getvalue()))
    assert wb.properties.creator == "selfeval-xlsx"
    assert wb.properties.created.year == 2024


def test_template_has_the_form_sheets_and_headers():
    wb = openpyxl.load_workbook(TEMPLATE_PATH)
    assert wb.sheetnames[:5] == FORM_SHEETS
    assert wb[LIST_SHEET].sheet_state == "hidden"
    for spec in schema.SHEETS:
        ws = wb[spec.name]
        assert headers(ws) == [c.header for c in spec.columns]
        assert ws.freeze_panes == "B2"
        assert ws.max_row == 1  # blank form: header only
        fills = {c.header: ws.cell(1, i + 1).fill.fgColor.rgb for i, c in enumerate(spec.columns)}
        required = {fills[c.header] for c in spec.columns if c.required}
        optional = {fills[c.header] for c in spec.columns if not c.required}
        assert len(required) == 1 and (not optional or required.isdisjoint(optional))
        assert all("*" not in h for h in headers(ws))
        dims = column_dims(ws)
        for i, column in enumerate(spec.columns):
            dim = dims[i + 1]
            assert dim.width >= column.width
            if column.field == "project_id":
                assert dim.number_format == "@"
            if column.kind == schema.AMOUNT:
                assert dim.number_format == "#,##0.00"


def test_template_dropdowns_and_number_checks():
    wb = openpyxl.load_workbook(TEMPLATE_PATH)
    funding = validations(wb["资金"])
    assert funding["B"][0] == "list" and funding["B"][1] == '"' + ",".join(schema.SOURCES) + '"'
    assert funding["B"][2] == "B2:B501"
    assert all(funding[c][:2] == ("decimal", "0") for c in "CDE")
    indicators = validations(wb["绩效指标"])
    assert indicators["B"][1] == '"' + ",".join(schema.LEVEL1) + '"'
    assert indicators["C"][0] == "list" and "INDIRECT($B2)" not in indicators["C"][1]
    assert "INDIRECT" in indicators["C"][1] and "$B2" in indicators["C"][1]
    assert indicators["E"][1] == '"' + ",".join(schema.NATURES) + '"'
    assert all(indicators[c][:2] == ("decimal", "0") for c in "HIJ")  # 分值, 自评得分, 扣分
    assert validations(wb["支出"])["D"][:2] == ("decimal", "0")
    assert validations(wb["项目信息"])["C"][0] == "whole"  # 年度


def test_dependent_level2_lists_are_named_ranges():
    wb = openpyxl.load_workbook(TEMPLATE_PATH)
    lists = wb[LIST_SHEET]
    for level1, level2s in {**schema.LEVEL2_BY_LEVEL1, ALL_LEVEL2: None}.items():
        (sheet, ref), = wb.defined_names[level1].destinations
        assert sheet == LIST_SHEET
        values = [c.value for row in lists[ref.replace("$", "")] for c in row]
        if level2s is not None:
            assert values == list(level2s)
        else:
            assert set(values) == {l2 for l2s in schema.LEVEL2_BY_LEVEL1.values() for l2 in l2s}


def test_guide_explains_every_column_and_the_scoring():
    wb = openpyxl.load_workbook(TEMPLATE_PATH)
    text = "\n".join(str(c.value) for row in wb[schema.GUIDE_SHEET].iter_rows() for c in row if c.value)
    for spec in schema.SHEETS:
        for column in spec.columns:
            assert column.header in text
    for phrase in ("预算执行率", "正向", "反向", "定性", "不适用", "扣分", "优", "良", "6.67", "橙色"):
        assert phrase in text


# --- the writer -------------------------------------------------------------------------------

PROJECT = {"project_id": "001", "name": '=HYPERLINK("x")', "year": 2023, "department": "某区教育局",
           "goal": "+1 行首是加号", "problems": "http://example.com 不是链接"}
FUNDING = [{"project_id": "001", "source": "本年财政拨款", "initial_budget": 100, "budget": Decimal("98.50"),
            "executed": 97.25},
           {"project_id": "001", "source": "上年结转资金", "budget": 1.5, "executed": 1.5}]
SPENDING = [{"project_id": "001", "item": "培训费", "amount": 98.75, "note": "0012"}]
INDICATORS = [
    {"project_id": "001", "level1": "产出指标", "level2": "数量指标", "level3": "培训人次", "target": "≥100人次",
     "actual": "95", "weight": 50, "self_score": 47.5, "deviation": "天气原因"},
    {"project_id": "001", "level1": "效益指标", "level2": "社会效益指标", "level3": "覆盖率", "target": "≥90%",
     "actual": 0.92, "actual_format": "0%", "weight": 30},
    {"project_id": "001", "level1": "满意度指标", "level3": "满意度", "target": "≥95%", "actual": "96%",
     "weight": 10, "deduction": 1},
]


def _written(title_rows: bool = False) -> bytes:
    buf = io.BytesIO()
    write_workbook(buf, [PROJECT], FUNDING, SPENDING, INDICATORS, title_rows=title_rows)
    return buf.getvalue()


def test_write_workbook_round_trips_through_calamine_and_openpyxl():
    data = _written()
    frames = pd.read_excel(io.BytesIO(data), sheet_name=None, engine="calamine", dtype=object)
    assert list(frames)[:5] == FORM_SHEETS
    projects = frames["项目信息"]
    assert list(projects.columns) == [c.header for c in schema.PROJECTS.columns]
    assert projects.loc[0, "项目编号"] == "001"
    assert projects.loc[0, "项目名称"] == '=HYPERLINK("x")'
    assert projects.loc[0, "年度"] == 2023
    funding = frames["资金"]
    assert funding["全年预算数"].tolist() == [98.5, 1.5]
    assert funding["全年执行数"].tolist() == [97.25, 1.5]
    assert pd.isna(funding.loc[1, "年初预算数"])
    indicators = frames["绩效指标"]
    assert indicators["实际完成值"].tolist() == ["95", 0.92, "96%"]
    assert indicators["分值"].tolist() == [50, 30, 10]
    assert pd.isna(indicators.loc[2, "二级指标"]) and indicators.loc[2, "扣分"] == 1

    wb = openpyxl.load_workbook(io.BytesIO(data))
    name = wb["项目信息"]["B2"]
    assert (name.value, name.data_type) == ('=HYPERLINK("x")', "s")
    assert wb["项目信息"]["A2"].data_type == "s" and wb["项目信息"]["A2"].value == "001"
    assert wb["项目信息"]["G2"].value == "+1 行首是加号"
    assert wb["项目信息"]["N2"].hyperlink is None
    assert wb["支出"]["E2"].value == "0012"
    actual = wb["绩效指标"]["G3"]
    assert (actual.value, actual.data_type, actual.number_format) == (0.92, "n", "0%")
    assert wb["资金"]["D2"].value == 98.5 and wb["资金"]["D2"].number_format == "#,##0.00"


def test_filled_workbook_keeps_the_template_styles_and_validations():
    wb = openpyxl.load_workbook(io.BytesIO(_written()))
    template = openpyxl.load_workbook(TEMPLATE_PATH)
    for spec in schema.SHEETS:
        assert validations(wb[spec.name]) == validations(template[spec.name])
        assert wb[spec.name].freeze_panes == template[spec.name].freeze_panes
        assert headers(wb[spec.name]) == headers(template[spec.name])


def test_title_rows_put_the_header_on_row_two():
    wb = openpyxl.load_workbook(io.BytesIO(_written(title_rows=True)))
    for spec in schema.SHEETS:
        ws = wb[spec.name]
        assert ws["A1"].value.startswith("2023年度项目支出绩效自评表")
        assert headers(ws, 2) == [c.header for c in spec.columns]
        assert ws.freeze_panes == "B3"
    assert wb["项目信息"]["A3"].value == "001"
    # the validations follow the header down one row, the dependent formula with them
    level2 = validations(wb["绩效指标"])["C"]
    assert level2[2] == "C3:C502" and "$B3" in level2[1]


def test_title_rows_are_read_back_by_the_reader(tmp_path):
    from selfeval_xlsx.reader import read_workbook

    path = tmp_path / "titled.xlsx"
    write_workbook(path, [PROJECT], FUNDING, SPENDING, INDICATORS, title_rows=True)
    submission = read_workbook(path)
    assert [p.project_id for p in submission.projects] == ["001"]
    project = submission.projects[0]
    assert project.name == '=HYPERLINK("x")'
    assert [i.actual for i in project.indicators] == ["95", "92%", "96%"]
    assert [f.budget for f in project.funding] == [Decimal("98.5"), Decimal("1.5")]


def test_unknown_field_is_a_programming_error():
    with pytest.raises(ValueError, match="nmae"):
        write_workbook(io.BytesIO(), [{"project_id": "1", "nmae": "x"}], [], [], [])


def test_writes_to_a_path_atomically(tmp_path):
    path = tmp_path / "sub" / "a.xlsx"
    write_workbook(path, [PROJECT], FUNDING, SPENDING, INDICATORS)
    assert openpyxl.load_workbook(path)["项目信息"]["A2"].value == "001"
    assert [p.name for p in path.parent.iterdir()] == ["a.xlsx"]  # no temp file left behind


# --- the worked examples ---------------------------------------------------------------------

def test_committed_examples_are_what_the_script_generates(tmp_path, monkeypatch):
    for name, args in ((ex.SEED_FILE.name, ([ex.SEED_PROJECT], ex.SEED_FUNDING, ex.SEED_SPENDING, ex.SEED_INDICATORS)),
                       (ex.BUREAU_FILE.name, (ex.BUREAU_PROJECTS, ex.BUREAU_FUNDING, ex.BUREAU_SPENDING,
                                              ex.BUREAU_INDICATORS))):
        write_workbook(tmp_path / name, *args)
        assert snapshot(tmp_path / name) == snapshot(EXAMPLES / name), name
    ex.write_national(tmp_path / ex.HEALTH_FILE.name, ex.HEALTH_FORMS)
    assert snapshot(tmp_path / ex.HEALTH_FILE.name) == snapshot(ex.HEALTH_FILE)


def _frames(path: Path) -> dict[str, pd.DataFrame]:
    return pd.read_excel(path, sheet_name=None, engine="calamine", dtype=object)


def test_seed_example_is_the_seed_project():
    frames = _frames(EXAMPLES / "seed_党建工作经费_2022.xlsx")
    project = frames["项目信息"].iloc[0]
    assert (project["项目编号"], project["项目名称"], project["年度"]) == ("001", "党建工作经费", 2022)
    funding = frames["资金"]
    assert funding[["年初预算数", "全年预算数", "全年执行数"]].values.tolist() == [[100, 100, 100]]
    assert funding["资金来源"].tolist() == ["本年财政拨款"]
    assert sum(Decimal(str(a)) for a in frames["支出"]["金额"]) == Decimal("100.00")
    ind = frames["绩效指标"]
    assert len(ind) == 9
    assert ind.groupby("一级指标")["分值"].sum().to_dict() == {"产出指标": 50, "效益指标": 30, "满意度指标": 10}
    assert (ind["自评得分"] == 10).all()
    assert set(zip(ind["年度指标值"], ind["实际完成值"])) >= {("≥18次", "18次"), ("≥2300人次", "2300人次"),
                                                          ("≥1728册", "1728册"), ("≥25次", "25次"),
                                                          ("≥10个", "10个"), ("=100%", "100%"), ("≥95%", "95%")}
    assert (ind["实际完成值"] == "达成").sum() == 2


@pytest.mark.skipif(not SEED_TEXT.exists(), reason="seed text not available")
def test_seed_narratives_are_the_seed_paragraphs_verbatim():
    lines = [line.strip() for line in SEED_TEXT.read_text(encoding="utf-8").splitlines() if line.strip()]
    flat = "".join(lines)
    project = _frames(EXAMPLES / "seed_党建工作经费_2022.xlsx")["项目信息"].iloc[0]
    for header in ("项目实施情况", "项目管理情况", "资金使用情况", "绩效分析", "存在问题", "改进措施", "实际完成情况"):
        assert len(project[header]) > 80 and project[header] in flat, header


def test_bureau_example_exercises_every_rule():
    path = EXAMPLES / "某区教育局_2023.xlsx"
    frames = _frames(path)
    projects, funding, ind = frames["项目信息"], frames["资金"], frames["绩效指标"]
    assert len(projects) >= 6 and set(projects["主管部门"]) == {"某区教育局"}
    assert (funding["全年执行数"] > funding["全年预算数"]).any()  # over-spending
    assert funding.groupby("项目编号")["资金来源"].nunique().max() >= 2
    assert any(float(a) != int(float(a)) for a in funding["全年执行数"])  # decimals
    actuals = ind["实际完成值"].tolist()
    assert "达成" in actuals and any(str(a).startswith("部分达成") for a in actuals)
    assert any(str(a).startswith("未达成") for a in actuals)
    assert ("≤3天", "4天") in set(zip(ind["年度指标值"], ind["实际完成值"]))
    assert any(str(t).startswith("=") for t in ind["年度指标值"])
    assert "12月底前" in ind["年度指标值"].tolist() or any(str(t).startswith("≤20") for t in ind["年度指标值"])
    assert "不适用" in ind["指标性质"].tolist()
    assert ind["扣分"].notna().any()
    assert ("≥45所", "45") in set(zip(ind["年度指标值"], ind["实际完成值"]))  # actual without unit
    shortfall_without_reason = ind[(ind["自评得分"] < ind["分值"]) & ind["偏差原因分析及改进措施"].isna()]
    assert len(shortfall_without_reason) == 1
    wb = openpyxl.load_workbook(path)
    percent = [c for c in wb["绩效指标"]["G"] if c.data_type == "n" and c.number_format == "0%"]
    assert [c.value for c in percent] == [0.92]
    # weights: every project adds up to 100 with the budget's 10
    assert (ind.groupby("项目编号")["分值"].sum() == 90).all()
    for pid, rows in ind.groupby("项目编号"):
        qualitative = rows[rows["实际完成值"].astype(str).str.contains("达成")]
        for _, row in qualitative.iterrows():
            if pd.notna(row["自评得分"]):
                band = (0.8, 1.0) if str(row["实际完成值"]).startswith("达成") else \
                    (0.6, 0.8) if str(row["实际完成值"]).startswith("部分") else (0, 0.6)
                assert band[0] * row["分值"] <= row["自评得分"] <= band[1] * row["分值"], (pid, row["三级指标"])


def test_examples_score_as_expected_with_warnings_only():
    from selfeval_xlsx import analyse

    seen = set()
    for path in (ex.SEED_FILE, ex.BUREAU_FILE, ex.HEALTH_FILE):
        analysis = analyse(path)
        assert not [i for i in analysis.issues if i.is_error]
        for result in analysis.results:
            project = result.project
            budget, total, grade, warnings = ex.EXPECTED[project.project_id]
            assert (result.budget_score, result.total, result.grade) == (Decimal(budget), Decimal(total), grade)
            assert not result.has_errors
            assert sorted(i.code for i in result.issues) == sorted(warnings), project.project_id
            seen.add(project.project_id)
    assert seen == set(ex.EXPECTED)
