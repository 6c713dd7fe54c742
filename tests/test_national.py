"""The national 项目支出绩效自评表 as input (DOMAIN.md §5b): found by content, read into the same
records as the standard form, every problem at the department's own cell."""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import zipfile
from collections import defaultdict
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter, range_boundaries

from selfeval_xlsx import analyse
from selfeval_xlsx.cli import main
from selfeval_xlsx.form import TEMPLATE_PATH
from selfeval_xlsx.reader import read_workbook

from conftest import EXAMPLES, NATIONAL, NATIONAL_MERGES, write_xlsx
from test_form import ex

D = Decimal


@pytest.fixture
def form_book(tmp_path):
    """``form_book(rows, sheet="附件1", merges=NATIONAL_MERGES, name="dept.xlsx", more={sheet: rows})``."""
    def make(rows, sheet="附件1", merges=NATIONAL_MERGES, name="dept.xlsx", more=None, formats=None):
        sheets = {sheet: rows, **(more or {})}
        return write_xlsx(tmp_path / name, sheets, merges={s: merges for s in sheets}, formats=formats)
    return make


def problems(analysis):
    """Every problem but the one every national form has: its missing report sections
    (项目实施情况 …, test_the_form_has_no_report_sections)."""
    return [i for i in analysis.all_issues if i.code != "missing-narrative"]


def located(analysis):
    """Every problem as (sheet, cell, code)."""
    return {(i.sheet, i.cell, i.code) for i in problems(analysis)}


def inserted(rows, merges, at, new_rows):
    """``new_rows`` put before 0-based row ``at``, the merged ranges below moved down with them."""
    n = len(new_rows)
    moved = []
    for ref in merges:
        c0, r0, c1, r1 = range_boundaries(ref)
        if r0 > at:
            r0, r1 = r0 + n, r1 + n
        moved.append(f"{get_column_letter(c0)}{r0}:{get_column_letter(c1)}{r1}")
    return rows[:at] + new_rows + rows[at:], moved


def derived_id(department, name, year):
    """The documented rule, computed independently of the reader."""
    digest = hashlib.sha256(f"{department}|{name}|{year}".encode()).digest()[:5]
    return f"{year}-{base64.b32encode(digest).decode()}"


# --- the same project in both layouts ---------------------------------------------------------

def test_same_project_in_both_layouts_scores_the_same(make_book, tables, form_book, national):
    standard = analyse(make_book(tables, name="std.xlsx"))
    nat = analyse(form_book(national))
    [s], [n] = standard.results, nat.results
    assert (n.total, n.budget_score, n.rate, n.subtotals, n.grade) == (s.total, s.budget_score, s.rate, s.subtotals, s.grade)
    assert n.total == D("99.50") and [x.score for x in n.indicators] == [x.score for x in s.indicators]
    assert problems(nat) == [] and nat.layouts == (("附件1", "national"),) and nat.sheet_order == ("附件1",)
    p = n.project
    assert (p.name, p.year, p.department, p.implementer) == ("社区党建经费", "2023", "某区民政局", "某街道办")
    assert (p.closing_unit, p.submitted, p.closing_date, p.leader, p.finance_officer) == (
        "某区民政局", "2024-01-15", "2024-01-15", "张三", "李四")
    assert (p.goal, p.achieved) == ("全年开展党员培训不少于18次", "开展党员培训18次")
    assert p.project_id == derived_id("某区民政局", "社区党建经费", "2023")
    assert [(f.source, f.budget, f.executed, f.row) for f in p.funding] == [("本年财政拨款", D(100), D(95), 8)]
    where = {f: p.where(f) for f in ("name", "department", "implementer", "year", "project_id")}
    assert {f: (w["row"], w["col"]) for f, w in where.items()} == {
        "name": (4, 2), "department": (5, 2), "implementer": (5, 6), "year": (2, 0), "project_id": (4, 2)}


def _national_forms(projects, funding, indicators, unit):
    """The standard examples' records as national forms (one per project), with no stated scores."""
    rows = defaultdict(lambda: {"funding": [], "indicators": []})
    for f in funding:
        rows[f["project_id"]]["funding"].append(f)
    for i in indicators:
        rows[i["project_id"]]["indicators"].append(i)
    return [{"sheet": f"附件{k + 1}", "unit": unit, "project": p, "budget_score": None, "total": None,
             "year_in_title": k % 2 == 1, "rate_first": k % 2 == 0, **rows[p["project_id"]]}
            for k, p in enumerate(projects)]


@pytest.mark.parametrize("unit", ["万元", "元"])
def test_every_example_project_scores_the_same_in_the_national_layout(tmp_path, unit):
    """Seven projects exercising every scoring rule (不适用, 扣分, deadlines, bands, a percent
    cell, over-spending), written as national forms: the same scores and indicator problems."""
    cases = [(ex.SEED_FILE, [ex.SEED_PROJECT], ex.SEED_FUNDING, ex.SEED_INDICATORS),
             (ex.BUREAU_FILE, ex.BUREAU_PROJECTS, ex.BUREAU_FUNDING, ex.BUREAU_INDICATORS)]
    for path, projects, funding, indicators in cases:
        standard = {r.project.name: r for r in analyse(path).results}
        target = tmp_path / f"national_{path.name}"
        ex.write_national(target, _national_forms(projects, funding, indicators, unit))
        national = analyse(target)
        assert national.issues == ()
        assert len(national.results) == len(standard)
        for n in national.results:
            s = standard[n.project.name]
            assert (n.total, n.grade, n.budget_score, n.subtotals) == (s.total, s.grade, s.budget_score, s.subtotals)
            assert [(x.indicator.level3, x.score) for x in n.indicators] == [(x.indicator.level3, x.score) for x in s.indicators]
            own = sorted(i.code for i in n.issues if i.code.scope == "cell" and i.code != "missing-narrative")
            assert own == sorted(i.code for i in s.issues if i.code.scope == "cell"), n.project.name


# --- the variants seen in published tables ------------------------------------------------------

def test_year_in_the_title_cell(form_book, national):
    national[1][0], national[2][0] = "2023年度项目支出绩效自评表", None
    [result] = analyse(form_book(national)).results
    assert (result.project.year, result.total) == ("2023", D("99.50"))
    assert result.project.where("year")["row"] == 1


def test_missing_year_is_named_at_the_title(form_book, national):
    national[2][0] = None
    analysis = analyse(form_book(national))
    assert ("附件1", "A2", "empty-required") in located(analysis)
    assert analysis.results[0].total is None


def test_without_lines_above_and_with_sign_off_in_label_cells(form_book, national):
    rows = [national[1], national[2], *national[4:19],
            ["项目负责人：", "王五", None, "财务负责人", None, "赵六", "填报日期：", "2024/2/3"]]
    merges = ["A1:I1", "A2:I2", "A3:B3", "C3:I3", "A4:B4", "C4:E4", "G4:I4", "A5:A9", "B5:C5", "B6:C6", "B7:C7",
              "B8:C8", "B9:C9", "A10:A11", "B10:E10", "F10:I10", "B11:E11", "F11:I11", "A12:A16", "B13:B14", "A17:F17"]
    [result] = analyse(form_book(rows, merges=merges)).results
    p = result.project
    assert (p.leader, p.finance_officer, p.submitted, result.total) == ("王五", "赵六", "2024-02-03", D("99.50"))


def test_rate_and_score_in_either_order(form_book, national):
    for row in national[6:11]:
        row[7], row[8] = row[8], row[7]  # 分值 | 得分 | 执行率
    national[7][7] = 10  # the department's budget score: 10, where the rate gives 9.5
    analysis = analyse(form_book(national))
    [result] = analysis.results
    assert (result.project.stated.rate, result.project.stated.score, result.budget_score) == (D("0.95"), D(10), D("9.50"))
    assert located(analysis) == {("附件1", "H8", "self-score-differs")}


@pytest.mark.parametrize("label", ["项目资金（元）", "项目资金(元)", "项目资金 （元）"])
def test_amounts_in_yuan_from_the_block_header(form_book, national, label):
    national[6][0] = label
    for row in national[7:9]:
        row[3:6] = [v * 10000 for v in row[3:6]]
    analysis = analyse(form_book(national))
    [result] = analysis.results
    assert (result.budget, result.executed, result.budget_score, result.total) == (D(100), D(95), D("9.50"), D("99.50"))
    assert problems(analysis) == []


def test_source_prefixes_and_empty_rows(form_book, national):
    national[8][1] = "其中:本年财政拨款"
    national[8][3:6] = [80, 80, 75]
    national[9][1:6] = ["上年结转", None, 20, 20, 20]
    [result] = analyse(form_book(national)).results
    assert [(f.source, f.budget) for f in result.project.funding] == [("本年财政拨款", D(80)), ("上年结转资金", D(20))]
    assert result.total == D("99.50")


def test_only_the_total_row_filled(form_book, national):
    national[8][3:6] = [None, None, None]
    analysis = analyse(form_book(national))
    assert located(analysis) == {("附件1", "B8", "bad-source")}
    assert analysis.results[0].total == D("99.50")


def test_level1_runs_merged_or_left_blank(form_book, national):
    unmerged = [m for m in NATIONAL_MERGES if m != "B15:B16"]  # pasted: the run's second cell is blank
    [result] = analyse(form_book(national, merges=unmerged)).results
    assert [i.level1 for i in result.project.indicators] == ["产出指标", "产出指标", "效益指标", "满意度指标"]
    assert result.total == D("99.50")
    national[14][1] = "产出类指标"  # wrong, over a merged run of two rows: one problem, on the run's cell
    analysis = analyse(form_book(national, name="bad.xlsx"))
    assert [i.cell for i in problems(analysis) if i.code == "bad-level1"] == ["B15"]


def test_level_names_with_their_weight_in_brackets(form_book, national):
    national[14][1], national[16][1] = "产出指标（50分）", "效益指标(30分)"
    [result] = analyse(form_book(national)).results
    assert result.subtotals == {"产出指标": D(50), "效益指标": D(30), "满意度指标": D(10)}


def test_funding_total_that_disagrees_with_its_rows(form_book, national):
    national[7][4] = 120  # 年度资金总额 全年预算数 120, the source rows say 100
    analysis = analyse(form_book(national))
    assert ("附件1", "E8", "totals-mismatch") in located(analysis)
    assert analysis.results[0].budget == D(100) and analysis.results[0].total == D("99.50")


def test_stated_weight_rate_and_budget_score(form_book, national):
    national[7][6:9] = [20, 0.9, 9]  # 分值 20, 执行率 0.9, 得分 9
    analysis = analyse(form_book(national))
    assert {("附件1", "G8", "stated-differs"), ("附件1", "H8", "stated-differs"),
            ("附件1", "I8", "self-score-differs")} <= located(analysis)


def test_total_row_is_the_departments_own_total(form_book, national, tmp_path):
    national[18][7] = 98
    path = form_book(national)
    analysis = analyse(path)
    [note] = [i for i in problems(analysis) if i.cell == "H19"]
    assert note.code == "self-score-differs" and "98" in note.message and "99.5" in note.message
    assert (analysis.results[0].total, analysis.results[0].self_total) == (D("99.50"), D(98))


def test_clerk_habits(form_book, national):
    """Invisible characters in labels, a percent typed as 0.92 in a % cell, a 小计 row, a
    spaced title, placeholders in the source rows' score cells."""
    national[1][0] = "项目支出 绩效自评表"
    national[4][0] = "项目\u200b名称"
    national[6][0] = "\ufeff项目资金（万元）"
    national[13][1] = "一级指标\u200b"
    national[17][5] = 0.92
    rows, merges = inserted(national, NATIONAL_MERGES, 18, [[None, "小计", None, None, None, None, 90, 90]])
    analysis = analyse(form_book(rows, merges=merges, formats={"附件1": {"F18": "0%"}}))
    [result] = analysis.results
    assert result.project.indicators[-1].actual == "92%" and len(result.project.indicators) == 4
    assert (result.total, problems(analysis)) == (D("99.50"), [])


def test_not_applicable_in_the_score_cell(form_book, national):
    national[15][7] = "不适用"
    national[18][7] = 99.33
    analysis = analyse(form_book(national))
    [result] = analysis.results
    assert result.indicators[1].kind == "not_applicable"
    assert result.total == D("99.33") and problems(analysis) == []  # (9.5 + 25 + 30 + 10) × 100 / 75


def test_the_form_has_no_report_sections(form_book, national):
    """The report's 项目实施情况 … have no place on the form: one warning, worded for it, on
    the 项目名称 cell; 存在问题 and 改进措施 lines below the form are read."""
    national += [["存在问题", None, "培训形式单一"], ["改进措施", None, "丰富培训形式"]]
    analysis = analyse(form_book(national))
    [note] = [i for i in analysis.all_issues if i.code == "missing-narrative"]
    assert (note.cell, note.severity) == ("C5", "warning") and "国家表式" in note.message and "列" not in note.message
    assert note.value == "项目实施情况、项目管理情况、资金使用情况、绩效分析"
    p = analysis.results[0].project
    assert (p.problems, p.improvements) == ("培训形式单一", "丰富培训形式")


def test_an_empty_goal_is_named_at_its_own_cell(form_book, national):
    national[12][1] = None  # 预期目标 (B13), below its label, not on the 项目名称 row
    analysis = analyse(form_book(national))
    [note] = [i for i in analysis.all_issues if i.code == "missing-narrative" and i.cell == "B13"]
    assert "（附件1!B13）" in note.message


def test_a_bad_cell_blocks_only_its_own_form(form_book, national):
    other = copy.deepcopy(NATIONAL)
    other[4][2] = "社区服务经费"
    other[8][5] = "九十五"
    analysis = analyse(form_book(national, more={"附件2": other}))
    assert ("附件2", "F9", "bad-number") in located(analysis)
    assert [(r.project.name, r.total) for r in analysis.results] == [("社区党建经费", D("99.50")), ("社区服务经费", None)]


# --- 项目编号 -------------------------------------------------------------------------------

def test_project_id_from_a_labelled_cell(form_book, national):
    national[3] = ["项目编号", None, "440101-2023-001"]
    [result] = analyse(form_book(national, merges=[m for m in NATIONAL_MERGES if m not in ("A4:F4", "G4:I4")])).results
    assert result.project.project_id == "440101-2023-001"
    assert (result.project.row, result.project.cols["project_id"]) == (3, 2)


def test_labels_with_their_value_in_one_cell(form_book, national):
    national[1][0] = "附件1：项目支出绩效自评表（2023年度）"
    national[2][0] = None
    national[3] = ["项目代码：3301-23-0007"]
    national[4] = ["项目名称：社区党建经费"]
    national[5] = ["主管部门：某区民政局", None, None, None, None, "实施单位（盖章）：某街道办"]
    merges = [m for m in NATIONAL_MERGES if not m.startswith(("A4", "G4", "A5", "C5", "A6", "C6", "G6"))]
    [result] = analyse(form_book(national, merges=merges)).results
    p = result.project
    assert (p.project_id, p.name, p.department, p.implementer, p.year) == (
        "3301-23-0007", "社区党建经费", "某区民政局", "某街道办", "2023")
    assert result.total == D("99.50")


def test_derived_ids_are_stable_and_tell_departments_apart(form_book, national):
    first = read_workbook(form_book(national, name="a.xlsx")).projects[0].project_id
    assert read_workbook(form_book(national, name="b.xlsx")).projects[0].project_id == first
    national[5][2] = "某区卫健局"  # another department, same project name
    assert read_workbook(form_book(national, name="c.xlsx")).projects[0].project_id != first


def test_same_project_on_two_sheets_is_a_duplicate(form_book, national):
    analysis = analyse(form_book(national, more={"附件2": copy.deepcopy(NATIONAL)}))
    assert ("附件2", "C5", "duplicate-project-id") in located(analysis)
    assert [r.total for r in analysis.results] == [None]


def test_two_departments_same_project_name_in_one_batch(tmp_path, national):
    from selfeval_xlsx.batch import RunOptions, run
    from selfeval_xlsx.intake import collect

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_xlsx(inbox / "甲.xlsx", {"附件1": national}, merges={"附件1": NATIONAL_MERGES})
    national[5][2] = "某区卫健局"
    write_xlsx(inbox / "乙.xlsx", {"附件1": national}, merges={"附件1": NATIONAL_MERGES})
    national[5][2] = "某区民政局"
    national[14][6:8] = [20, 20]  # 甲 sends a corrected form later: the same derived id, so it replaces the first
    national[16][6:8] = [35, 35]
    write_xlsx(inbox / "甲_更正.xlsx", {"附件1": national}, merges={"附件1": NATIONAL_MERGES})
    os.utime(inbox / "甲_更正.xlsx", (2_000_000_000, 2_000_000_000))
    refs, skipped = collect([inbox])
    result = run(refs, RunOptions(output=tmp_path / "out", workers=1, reports=False), skipped=skipped)
    assert result.scored == 2 and not [i for i in result.issues if i.code == "duplicate-project-across-files"]
    assert [(i.file.split("/")[-1], i.code) for i in result.issues if i.code == "superseded"] == [("甲.xlsx", "superseded")]


def test_forms_stacked_in_one_sheet(form_book, national):
    second = copy.deepcopy(NATIONAL)
    second[4][2] = "社区服务经费"
    second[3][6] = "填报日期：2024-03-01"
    second_merges = []
    for ref in NATIONAL_MERGES:
        c0, r0, c1, r1 = range_boundaries(ref)
        second_merges.append(f"{get_column_letter(c0)}{r0 + 21}:{get_column_letter(c1)}{r1 + 21}")
    analysis = analyse(form_book(national + [[None]] + second, merges=NATIONAL_MERGES + second_merges))
    assert [(r.project.name, r.project.submitted, r.total) for r in analysis.results] == [
        ("社区党建经费", "2024-01-15", D("99.50")), ("社区服务经费", "2024-03-01", D("99.50"))]


# --- what is never taken for a form -----------------------------------------------------------

@pytest.mark.parametrize("sheet", ["项目", "项目资金", "Sheet1"])
def test_a_form_on_a_sheet_named_like_a_standard_one(form_book, national, sheet):
    [result] = analyse(form_book(national, sheet=sheet)).results
    assert (result.project.layout, result.total) == ("national", D("99.50"))


def test_one_standard_sheet_alone_still_names_the_missing_ones(make_book, tables):
    codes = [(i.sheet, i.code) for i in read_workbook(make_book({"项目信息": tables["项目信息"]})).issues]
    assert ("资金", "missing-sheet") in codes and ("绩效指标", "missing-sheet") in codes


def test_standard_workbooks_and_the_blank_form_are_never_national():
    for path in (EXAMPLES / "seed_党建工作经费_2022.xlsx", TEMPLATE_PATH):
        submission = read_workbook(path)
        assert set(submission.layouts.values()) == {"standard"}
        assert all(p.layout == "standard" for p in submission.projects)


def test_a_marked_copy_fed_back_does_not_double_its_projects(tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(ex.HEALTH_FILE), "-o", str(out), "--quiet", "--no-reports"]) == 0
    copy_ = out / "workbooks" / ex.HEALTH_FILE.name
    again = analyse(copy_)
    original = analyse(ex.HEALTH_FILE)
    assert [(r.project.project_id, r.total) for r in again.results] == [(r.project.project_id, r.total)
                                                                        for r in original.results]
    assert dict(again.layouts) == {"附件1": "national", "附件2": "national"}


def test_a_sheet_titled_like_the_form_but_without_its_blocks(form_book, national, tmp_path):
    stub = [["项目支出绩效自评表"], ["项目名称", "某项目"]]
    guide = [["填报说明"], ["请按项目支出绩效自评表填写，项目名称与预算批复一致。"], ["请按项目支出绩效自评表填写"]]
    analysis = analyse(form_book(national, more={"说明": stub, "填报说明": guide}))
    assert {i.sheet for i in problems(analysis)} == {"说明"}  # an instruction sheet is no near miss
    assert ("说明", "", "sheet-not-read") in located(analysis) and analysis.results[0].total == D("99.50")
    alone = analyse(write_xlsx(tmp_path / "stub.xlsx", {"说明": stub}))
    [problem] = alone.issues
    assert problem.code == "unknown-layout" and "说明" in problem.message and "项目资金" in problem.message


def test_a_hidden_sheet_is_named_not_read(form_book, national):
    path = form_book(national, more={"旧版": copy.deepcopy(NATIONAL)})  # a stale copy, hidden
    book = openpyxl.load_workbook(path)
    book["旧版"].sheet_state = "hidden"
    book.save(path)
    analysis = analyse(path)
    assert [r.total for r in analysis.results] == [D("99.50")]
    assert located(analysis) == {("旧版", "", "sheet-not-read")}


# --- neither layout, broken files, the command line -----------------------------------------------

def test_a_plain_workbook_gets_the_layout_message(tmp_path, capsys):
    book = openpyxl.Workbook()
    book.active["A1"] = "hello"
    book.save(tmp_path / "hello.xlsx")
    assert main(["check", str(tmp_path / "hello.xlsx")]) == 1
    out = capsys.readouterr().out
    assert "unknown-layout" in out and "selfeval template" in out and "corrupt" not in out
    assert main(["run", str(tmp_path / "hello.xlsx"), "-o", str(tmp_path / "out"), "--quiet", "--no-reports"]) == 1
    listed = pd.read_excel(tmp_path / "out" / "summary.xlsx", sheet_name="问题清单", engine="calamine")
    assert listed["代码"].tolist() == ["unknown-layout"]


def test_a_broken_workbook_says_so_without_library_text(tmp_path):
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook>not a workbook")
    [problem] = analyse(path).issues
    assert problem.code == "corrupt-file" and problem.value  # what the parser said, for support
    assert problem.value not in problem.message and "Error" not in problem.message


def test_the_national_example_is_read_in_wan_yuan():
    """附件2 is written in 元 under 项目资金（元）: read as 万元."""
    sheet = openpyxl.load_workbook(ex.HEALTH_FILE)["附件2"]
    assert [c.value for c in sheet["E"] if c.value in (2800000, 280)] == [2800000, 2800000]  # total and source rows
    projects = {p.name: p for p in read_workbook(ex.HEALTH_FILE).projects}
    funding = projects["家庭医生签约服务经费"].funding
    assert [(f.source, f.budget, f.executed) for f in funding] == [("本年财政拨款", D(280), D(252))]
    assert projects["基本公共卫生服务补助"].submitted == "2024-01-18"


def test_check_names_the_layout_of_each_sheet(capsys):
    assert main(["check", str(ex.HEALTH_FILE), str(ex.SEED_FILE)]) == 0
    out = capsys.readouterr().out
    assert "附件1、附件2：项目支出绩效自评表（国家表式）" in out
    assert "项目信息、资金、支出、绩效指标：标准填报表" in out
    assert main(["check", str(ex.HEALTH_FILE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["layouts"] == {ex.HEALTH_FILE.name: {"附件1": "national", "附件2": "national"}}


def test_a_mixed_inbox_in_one_run(tmp_path, form_book, national):
    national[18][7] = 98  # a warning to mark on the department's own 总分 cell
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_xlsx(inbox / "民政局.xlsx", {"附件1": national}, merges={"附件1": NATIONAL_MERGES})
    (inbox / "seed.xlsx").write_bytes((EXAMPLES / "seed_党建工作经费_2022.xlsx").read_bytes())
    out = tmp_path / "out"
    assert main(["run", str(inbox), "-o", str(out), "--quiet"]) == 0
    overview = pd.read_excel(out / "summary.xlsx", sheet_name="汇总", engine="calamine").set_index("项目名称")
    assert overview.loc["社区党建经费", ["总分", "自评总分"]].tolist() == [99.5, 98]
    assert overview.loc["党建工作经费", "总分"] == 100
    pid = derived_id("某区民政局", "社区党建经费", "2023")
    assert (out / "reports" / f"{pid}_社区党建经费.docx").exists()
    marked = openpyxl.load_workbook(out / "workbooks" / "民政局.xlsx")
    assert marked.sheetnames == ["自评结果", "附件1"]
    assert "98" in marked["附件1"]["H19"].comment.text
