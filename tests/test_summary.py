"""summary.xlsx: sheets and columns of DOMAIN.md §6, typed cells, charts, Excel habits."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import subprocess
import zipfile
from dataclasses import replace
from decimal import Decimal as D

import openpyxl
import pandas as pd
import pytest

from lxml import etree

from selfeval_xlsx import summary as summary_module
from selfeval_xlsx.issues import Code, issue
from selfeval_xlsx.models import Approval, Indicator, IndicatorScore, Project, ProjectResult, Receipt
from selfeval_xlsx.present import text_width
from selfeval_xlsx.rules import load_rules
from selfeval_xlsx.summary import write_summary as _write_summary
from selfeval_xlsx.vocab import Kind

GRADES = load_rules().grade_names


def write_summary(path, results, issues, **kw):
    return _write_summary(path, results, issues, **{"grades": GRADES, **kw})

FORMULA_NAMES = ('=HYPERLINK("http://x")', "+cmd|' /C calc'!A0")


def make_result(pid, name, department="区委组织部", grade="优", total=D("95.5"), rate=D("0.955"),
                file="组织部.xlsx", subtotals=None, issues=()):
    project = Project(sheet="项目信息", row=1, project_id=pid, name=name, year="2022",
                      department=department, source_file=file)
    scores = []
    for k, (l1, kind, score) in enumerate([("产出指标", Kind.POSITIVE, D("20")), ("效益指标", Kind.REVERSE, D("12.5")),
                                           ("满意度指标", Kind.QUALITATIVE, D("9")),
                                           ("产出指标", Kind.NOT_APPLICABLE, None)]):
        ind = Indicator(sheet="绩效指标", row=k + 1, project_id=pid, level1=l1, level2="数量指标",
                        level3=f"指标{k}", target="≥18次", actual="18次", weight=D("20"), self_score=D("19"))
        project.indicators.append(ind)
        scores.append(IndicatorScore(ind, kind, "反向(线性)", score=score, why="B≥A，得满分"))
    return ProjectResult(project, budget=D("100"), executed=D("95.5"), rate=rate, budget_score=D("9.55"),
                         indicators=tuple(scores), subtotals=subtotals or {"产出指标": D("40"), "效益指标": D("30"),
                                                                    "满意度指标": D("9")},
                         total=total, grade=grade, self_total=D("96"), issues=tuple(issues))


@pytest.fixture
def run():
    bad = issue(Code.BAD_NUMBER, "全年执行数不是数字", file="财政局.xlsx", sheet="资金", row=4, col=4, value="abc",
                project_id="P2")
    warn = issue(Code.SELF_SCORE_DIFFERS, "自评得分19与计算得分20不一致", file="组织部.xlsx", sheet="绩效指标",
                   row=1, col=8, value="19", project_id="P1")
    results = [
        make_result("P1", FORMULA_NAMES[0], issues=[warn]),
        make_result("P2", FORMULA_NAMES[1], department="区财政局", grade="", total=None, file="财政局.xlsx",
                    issues=[bad]),
        make_result("P3", "党建工作经费", grade="良", total=D("85")),
    ]
    issues = [bad, warn, issue(Code.UNREADABLE_FILE, "无法打开文件", file="坏文件.xlsx")]
    return results, issues


@pytest.fixture
def summary(tmp_path, run):
    return write_summary(tmp_path / "summary.xlsx", *run)


def test_sheets_and_contract_columns(summary):
    sheets = pd.read_excel(summary, sheet_name=None, engine="calamine")
    assert list(sheets) == ["汇总", "指标明细", "问题清单", "统计"]
    assert {"来源文件", "主管部门", "项目编号", "项目名称", "年度", "全年预算数", "全年执行数", "执行率",
            "预算执行得分", "产出指标得分", "效益指标得分", "满意度指标得分", "总分", "等级", "自评总分",
            "状态"} <= set(sheets["汇总"].columns)
    assert "成本指标得分" not in sheets["汇总"].columns
    assert {"项目编号", "一级指标", "二级指标", "三级指标", "指标性质", "年度指标值", "实际完成值", "分值",
            "得分", "自评得分"} <= set(sheets["指标明细"].columns)
    assert {"来源文件", "工作表", "单元格", "级别", "代码", "说明"} <= set(sheets["问题清单"].columns)
    assert len(sheets["汇总"]) == 3 + 1  # and the 合计 row
    assert len(sheets["指标明细"]) == 12
    assert len(sheets["问题清单"]) == 3


def test_numbers_are_numbers(summary):
    df = pd.read_excel(summary, sheet_name="汇总", dtype={"项目编号": str}, engine="calamine")
    for col in ("全年预算数", "全年执行数", "执行率", "预算执行得分", "产出指标得分", "总分", "自评总分", "年度", "问题数"):
        assert pd.api.types.is_numeric_dtype(df[col]), col
    assert df["执行率"].tolist() == [0.955] * 4  # the fraction, shown as a percent (and in the 合计 row)
    assert pd.isna(df.loc[1, "总分"])  # blocked project: blank, not 0
    assert df["状态"].tolist()[:3] == ["警告", "错误", "通过"]
    ind = pd.read_excel(summary, sheet_name="指标明细", engine="calamine")
    assert pd.api.types.is_numeric_dtype(ind["得分"]) and pd.api.types.is_numeric_dtype(ind["分值"])
    assert ind["指标性质"].tolist()[:4] == ["正向", "反向", "定性", "不适用"]
    assert pd.isna(ind.loc[3, "得分"])
    assert ind.loc[0, "计分方法"] == "反向(线性)"


def test_formula_looking_text_stays_text(summary):
    wb = openpyxl.load_workbook(summary)
    ws = wb["汇总"]
    header = [c.value for c in ws[1]]
    col = header.index("项目名称") + 1
    cells = [ws.cell(r, col) for r in (2, 3)]
    assert [c.value for c in cells] == list(FORMULA_NAMES)
    assert all(c.data_type == "s" for c in cells)
    assert ws.cell(2, header.index("执行率") + 1).number_format == "0.00%"
    assert ws.cell(2, header.index("全年预算数") + 1).number_format == "#,##0.00"


def test_issue_list_sorted_and_in_chinese(summary):
    df = pd.read_excel(summary, sheet_name="问题清单", keep_default_na=False, engine="calamine")
    assert df["来源文件"].tolist() == ["坏文件.xlsx", "组织部.xlsx", "财政局.xlsx"]  # sorted by file
    row = df[df["代码"] == "bad-number"].iloc[0]
    assert (row["工作表"], row["单元格"], row["级别"], row["项目编号"], row["读取值"]) == ("资金", "E5", "错误", "P2", "abc")
    assert set(df["级别"]) == {"错误", "警告"}


def test_excel_habits(summary):
    wb = openpyxl.load_workbook(summary)
    assert wb.properties.creator == "selfeval-xlsx"
    assert wb.properties.title == "项目支出绩效自评汇总"
    for name in ("汇总", "指标明细", "问题清单"):
        ws = wb[name]
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), name
        assert ws.cell(1, 1).font.b
    ws = wb["汇总"]
    header = [c.value for c in ws[1]]
    grade_col = openpyxl.utils.get_column_letter(header.index("等级") + 1)
    ranges = {str(r.sqref) for r in ws.conditional_formatting}
    assert f"{grade_col}2:{grade_col}4" in ranges
    # CJK text makes its column wider than a short ASCII column.
    name_col = openpyxl.utils.get_column_letter(header.index("项目名称") + 1)
    assert ws.column_dimensions[name_col].width >= text_width(FORMULA_NAMES[1])
    assert ws.column_dimensions["A"].width <= 50


def test_charts_present(summary):
    names = zipfile.ZipFile(summary).namelist()
    assert {"xl/charts/chart1.xml", "xl/charts/chart2.xml", "xl/charts/chart3.xml"} <= set(names)
    chart = zipfile.ZipFile(summary).read("xl/charts/chart2.xml").decode()
    assert "<c:dLbls>" in chart and "平均总分" in chart
    stats = pd.read_excel(summary, sheet_name="统计", header=None, keep_default_na=False, engine="calamine")
    grades = dict(zip(stats.iloc[2:7, 0], stats.iloc[2:7, 1]))
    assert grades == {"优": 1, "良": 1, "中": 0, "差": 0, "未评分": 1}


def test_cost_column_only_when_present(tmp_path):
    with_cost = make_result("P9", "成本项目", subtotals={"产出指标": D("30"), "成本指标": D("20")})
    path = write_summary(tmp_path / "s.xlsx", [with_cost, make_result("P1", "x")], [])
    df = pd.read_excel(path, sheet_name="汇总", engine="calamine")
    assert df["成本指标得分"].tolist()[0] == 20 and pd.isna(df["成本指标得分"].tolist()[1])


def test_atomic_write_leaves_no_temp_file(tmp_path, run):
    write_summary(tmp_path / "summary.xlsx", *run)
    write_summary(tmp_path / "summary.xlsx", *run)  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["summary.xlsx"]


def test_empty_run(tmp_path):
    path = write_summary(tmp_path / "empty.xlsx", [], [])
    sheets = pd.read_excel(path, sheet_name=None, engine="calamine")
    assert list(sheets) == ["汇总", "指标明细", "问题清单", "统计"]
    assert sheets["汇总"].empty


def test_text_width_counts_cjk_double():
    assert text_width("ab") == 2
    assert text_width("项目") == 4
    assert text_width("项目A1") == 6


@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice not installed")
def test_libreoffice_renders_pdf(summary, tmp_path):
    out = tmp_path / "pdf"
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(out), str(summary)],
                   check=True, timeout=120, capture_output=True)
    pdf = out / "summary.pdf"
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")


def test_grade_names_come_from_the_rules(tmp_path):
    """A rules file may call the lowest band 不合格: 统计 counts it and 等级 is coloured (it was
    counted as 未评分 and left uncoloured while the grade names were hard-coded)."""
    grades = ("优", "良", "中", "不合格")
    results = [make_result("P1", "x", grade="不合格", total=D("40")), make_result("P2", "y", grade="优")]
    path = _write_summary(tmp_path / "s.xlsx", results, [], grades=grades)
    stats = pd.read_excel(path, sheet_name="统计", header=None, engine="calamine")
    counts = {row[0]: row[1] for row in stats.itertuples(index=False) if row[0] in (*grades, "未评分")}
    assert counts == {"优": 1, "良": 0, "中": 0, "不合格": 1, "未评分": 0}
    overview = openpyxl.load_workbook(path)["汇总"]
    coloured = {rule.formula[0].strip('"') for cf in overview.conditional_formatting for rule in cf.rules}
    assert {"不合格", "优"} <= coloured


# Text a department may type that XML or Excel treat specially (each kept as written).
AWKWARD = [" 前后空格 ", "a & b <c> \"d\"", "_x0041_ 像转义", "响铃\x07与\x1f", "换行\n与\t制表", "表情😀", "长" * 40000,
           '=HYPERLINK("http://x")', "\ufffe"]


def _awkward_run():
    """Every kind of cell: hostile text in every text column, an error-value number, a
    submission time, approved targets, 成本指标, a superseded project and the 合计 row."""
    results = []
    for k, text in enumerate(AWKWARD):
        r = make_result(f"P{k}", text, department=text[:30], file=f"{text[:20]}.xlsx",
                        subtotals={"产出指标": D("40"), "成本指标": D(k)}, grade=("优", "良", "")[k % 3])
        ind = replace(r.project.indicators[0], level3=text, target=text, deviation=text)
        scores = (replace(r.indicators[0], indicator=ind, why=text), *r.indicators[1:])
        results.append(replace(r, indicators=scores, receipt=Receipt(dt.datetime(2023, 3, k + 1, 9, 30), "填报日期", text),
                               approval=Approval("key", "项目编号", (text,), k)))
    results[1] = replace(results[1], self_total=D("NaN"))
    results[2] = replace(results[2], superseded_by="新.xlsx")
    issues = [issue(Code.BAD_NUMBER, text, file="f.xlsx", sheet="资金", row=k, col=4, value=text, project_id=f"P{k}")
              for k, text in enumerate(AWKWARD)]
    return results, issues


def _parts(path) -> dict[str, bytes]:
    """The workbook's parts with every cell style index replaced by a digest of the style it
    names (number format, font, fill, border, alignment), so two writers that number their
    styles differently compare equal; the creation time is left out."""
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(path) as z:
        styles = etree.fromstring(z.read("xl/styles.xml"))
        formats = {f.get("numFmtId"): f.get("formatCode") for f in styles.iter(f"{main}numFmt")}
        named = []
        for xf in styles.find(f"{main}cellXfs"):
            parts = [formats.get(xf.get("numFmtId"), xf.get("numFmtId")).encode()]
            for tag in ("font", "fill", "border"):
                parts.append(etree.tostring(styles.find(f"{main}{tag}s")[int(xf.attrib.pop(f"{tag}Id"))]))
            del xf.attrib["numFmtId"]
            parts.append(etree.tostring(xf))  # the alignment and apply flags
            named.append(hashlib.sha1(b"|".join(parts)).hexdigest()[:8].encode())
        parts = {name: z.read(name) for name in z.namelist() if name not in ("xl/styles.xml", "docProps/core.xml")}
    return {name: re.sub(rb' s="(\d+)"', lambda m: b' s="' + named[int(m.group(1))] + b'"', data)
            for name, data in parts.items()}


def test_same_workbook_as_xlsxwriter_writes_cell_by_cell(tmp_path, monkeypatch):
    """The big sheets' rows are written as XML (fast); xlsxwriter writing every cell is the
    reference: every part equal (values, types, styles and number formats, widths, dimension,
    filters, conditional formats, charts, properties), whatever the text holds."""
    results, issues = _awkward_run()
    fast = write_summary(tmp_path / "fast.xlsx", results, issues, approved=True)
    monkeypatch.setattr(summary_module, "XML_ROWS", False)
    reference = write_summary(tmp_path / "reference.xlsx", results, issues, approved=True)
    assert _parts(fast) == _parts(reference)
    # Excel's rules on what the fast path wrote: rows ascending, cells in column order.
    with zipfile.ZipFile(fast) as z:
        rows = re.findall(rb'<row r="(\d+)"', z.read("xl/worksheets/sheet2.xml"))
        assert [int(r) for r in rows] == list(range(1, len(rows) + 1))
    values = pd.read_excel(fast, sheet_name="指标明细", keep_default_na=False, engine="calamine")
    assert {AWKWARD[0], AWKWARD[1]} <= set(values["三级指标"]) and max(map(len, values["说明"])) == 32767


@pytest.mark.parametrize("name", ["<r><t>加粗</t></r>", "<r>&</r>", "坏\udcff字节"])
def test_text_xlsxwriter_took_for_markup_or_could_not_encode(tmp_path, name):
    """xlsxwriter wrote text shaped like ``<r>…</r>`` unescaped (a broken file) and failed on
    a lone surrogate; both are now plain text (the surrogate, which UTF-8 cannot hold, dropped)."""
    path = write_summary(tmp_path / "s.xlsx", [make_result("P1", name)], [])
    cell = openpyxl.load_workbook(path)["汇总"]["D2"]
    assert (cell.value, cell.data_type) == (name.replace("\udcff", ""), "s")


def test_no_temporary_file_left_when_the_results_fail(tmp_path):
    def results():
        yield make_result("P1", "x")
        raise RuntimeError("cache gone")

    with pytest.raises(RuntimeError):
        write_summary(tmp_path / "s.xlsx", results(), [], level1=["产出指标"])
    assert list(tmp_path.iterdir()) == []
