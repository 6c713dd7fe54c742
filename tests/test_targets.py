"""Approved targets (--targets): reading both layouts, matching projects and indicators, the
comparison checks, scoring on the approved targets, the pre-filled form and the reply drafts."""
from __future__ import annotations

import copy
import email
import email.policy
import io
from decimal import Decimal

import openpyxl
import pytest

from selfeval_xlsx.batch import RunOptions, run
from selfeval_xlsx.checks import target_change
from selfeval_xlsx.cli import main
from selfeval_xlsx.errors import TargetsError
from selfeval_xlsx.form import write_prefilled
from selfeval_xlsx.intake import collect
from selfeval_xlsx.pipeline import Approved, analyse
from selfeval_xlsx.targets import load_targets

from conftest import VALID, write_xlsx
from test_intake import write_eml

TARGETS_HEADER = ["项目编号", "项目名称", "主管部门", "年度", "全年预算数", "一级指标", "二级指标", "三级指标", "年度指标值", "分值"]
# The approval of conftest.VALID's project P01, with one more 数量指标 (培训人数) and the 25
# points of 培训班次 split 15 + 10; the project columns are written on its first row only.
APPROVED = {"绩效目标": [
    TARGETS_HEADER,
    ["P01", "社区党建经费", "某区民政局", 2023, 100, "产出指标", "数量指标", "培训班次", "≥18次", 15],
    [None, None, None, None, None, "产出指标", "数量指标", "培训人数", "≥500人次", 10],
    [None, None, None, None, None, "产出指标", "时效指标", "完成时限", "≤3天", 25],
    [None, None, None, None, None, "效益指标", "社会效益指标", "党员教育覆盖率", "≥95%", 30],
    [None, None, None, None, None, "满意度指标", "服务对象满意度指标", "党员满意度", "≥90%", 10],
]}


@pytest.fixture
def approved(tmp_path):
    return load_targets(write_xlsx(tmp_path / "批复.xlsx", APPROVED))


def found(analysis) -> set[tuple[str, str, str]]:
    return {(i.sheet, i.cell, str(i.code)) for i in analysis.all_issues}


def test_lowered_target_dropped_indicator_and_changed_weight_point_at_the_departments_cells(make_book, approved):
    # conftest.VALID already differs from the approval: 培训班次 weighs 25 (approved 15) and
    # 培训人数 is missing; here 党员教育覆盖率 is also lowered from ≥95% to ≥90%.
    tables = copy.deepcopy(VALID)
    tables["绩效指标"][3][5] = "≥90%"
    analysis = analyse(make_book(tables), approved=Approved(approved))
    approval_issues = found(analysis) - {("绩效指标", "", "weight-sum")}
    assert approval_issues == {("绩效指标", "F4", "target-lowered"), ("绩效指标", "H2", "weight-changed"),
                               ("绩效指标", "C2", "indicator-dropped")}
    lowered = next(i for i in analysis.all_issues if i.code == "target-lowered")
    assert (lowered.value, "≥95%" in lowered.message) == ("≥90%", True)  # both values named
    weight = next(i for i in analysis.all_issues if i.code == "weight-changed")
    assert (weight.value, "15" in weight.message) == ("25", True)
    [result] = analysis.results
    # An error for the reviewer: counted as one (exit code, red mark), but the project is scored on
    # the submitted targets and the reviewer decides (--score-against-approved scores on the approved).
    assert result.total is not None and result.status == "错误"
    assert (result.approval.key, result.approval.matched_by, result.approval.differences) == ("P01", "项目编号", 3)
    assert result.approval.targets == ("≥18次", "≤3天", "≥95%", "≥90%")


def test_the_department_copy_marks_the_lowered_target(tmp_path, make_book, approved):
    tables = copy.deepcopy(VALID)
    tables["绩效指标"][3][5] = "≥90%"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_book(tables, name="inbox/dept.xlsx")
    refs, _ = collect([inbox])
    run(refs, RunOptions(output=tmp_path / "out", workers=1, reports=False, targets=approved))
    cell = openpyxl.load_workbook(tmp_path / "out" / "workbooks" / "dept.xlsx")["绩效指标"]["F4"]
    assert cell.fill.fgColor.rgb.endswith("FFC7CE") and "≥95%" in cell.comment.text


@pytest.mark.parametrize("submitted, approved, change", [
    ("≥15次", "≥18次", "lowered"),          # positive target made easier
    ("≤5天", "≤3天", "lowered"),            # reverse target made looser
    ("2023年12月31日前", "2023年11月30日前", "lowered"),  # deadline moved later
    ("≥18次", ">18次", "lowered"),          # the same number, a weaker operator
    ("≥90%", "=100%", "lowered"),           # an equal target scores as a positive one
    ("≥20次", "≥18次", "changed"),          # harder, but still not what was approved
    ("≤2天", "≤3天", "changed"),
    ("≥18人", "≥18次", "changed"),          # another unit: not comparable
    ("≤18次", "≥18次", "changed"),          # direction turned round
    ("较好", "≥95%", "changed"),            # numbers replaced by words
    ("不少于18次", "≥18次", ""),            # the same target written differently
    ("≥１８次", "≥18次", ""),               # full-width digits
    ("=100%", "100%", ""),
    ("社会影响良好", "社会影响 良好", ""),
    ("18-20次", "≥18次", ""),               # unreadable: the scorer's bad-target reports it
])
def test_target_change_reads_both_targets(submitted, approved, change):
    assert target_change(submitted, approved, 2023)[0] == change


def test_projects_match_by_department_and_name_when_the_ids_differ(make_book, tmp_path):
    rows = copy.deepcopy(APPROVED)
    rows["绩效目标"][1][:3] = ["2023-0815", "社区党建经费\u200b", "某区民政局（１０１）"]  # zero-width space, code
    targets = load_targets(write_xlsx(tmp_path / "批复.xlsx", rows))
    tables = copy.deepcopy(VALID)
    for row in tables["绩效指标"][1:]:
        row[3] = row[3].replace("培训班次", "培训 班次")  # matched by name after normalising
    tables["绩效指标"][4][3] = "满意度"  # renamed: matched by its place in 服务对象满意度指标
    [result] = analyse(make_book(tables), approved=Approved(targets)).results
    assert (result.approval.key, result.approval.matched_by) == ("2023-0815", "主管部门+项目名称")
    codes = {(i.cell, str(i.code)) for i in result.issues}
    assert ("D5", "indicator-renamed") in codes and ("D2", "indicator-added") not in codes

    other = copy.deepcopy(VALID)
    other["项目信息"][1][1] = "另一个项目"
    for sheet in other.values():
        for row in sheet[1:]:
            row[0] = "X9"
    [unmatched] = analyse(make_book(other, name="x.xlsx"), approved=Approved(targets)).results
    assert {(i.sheet, i.cell, str(i.code)) for i in unmatched.issues} == {("项目信息", "A2", "no-approved-targets")}
    assert unmatched.approval.key == "" and unmatched.total is not None


def test_scoring_on_the_approved_targets(make_book, tmp_path):
    rows = copy.deepcopy(APPROVED)
    del rows["绩效目标"][2]  # no 培训人数: the plan is VALID's, with 培训班次 at 25
    rows["绩效目标"][1][-1] = 25
    targets = load_targets(write_xlsx(tmp_path / "批复.xlsx", rows))
    tables = copy.deepcopy(VALID)
    tables["绩效指标"][3][5:7] = ["≥90%", "92%"]  # lowered to ≥90%, reached 92%
    path = make_book(tables)
    as_submitted = analyse(path, approved=Approved(targets)).results[0]
    assert as_submitted.total == Decimal("99.5")  # 9.5 + 25 + 25 + 30 + 10 on the lowered target
    [result] = analyse(path, approved=Approved(targets, score_on_approved=True)).results
    assert {(i.cell, str(i.code)) for i in result.issues} >= {("F4", "scored-on-approved")}
    coverage = result.indicators[2]
    assert (coverage.indicator.target, coverage.score) == ("≥95%", Decimal("29.05"))  # 92 / 95 × 30
    assert result.total == Decimal("98.55")  # 9.5 + 25 + 25 + 29.05 + 10


def test_prefilled_form_is_locked_where_approved_and_scores_once_filled(tmp_path, approved):
    [path] = write_prefilled(tmp_path / "forms", approved.projects)
    assert path.name == "某区民政局_2023年度绩效自评表.xlsx"
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[0] == "填表说明" and "批复" in book["填表说明"]["A2"].value
    indicators = book["绩效指标"]
    assert all(book[s].protection.sheet for s in ("项目信息", "资金", "支出", "绩效指标"))
    header = [c.value for c in indicators[1]]
    col = {name: header.index(name) + 1 for name in header}
    for r in range(2, 7):
        for name in ("一级指标", "三级指标", "年度指标值", "分值"):
            assert indicators.cell(r, col[name]).protection.locked, (r, name)
        for name in ("实际完成值", "自评得分", "偏差原因分析及改进措施"):
            assert not indicators.cell(r, col[name]).protection.locked, (r, name)
    assert [indicators.cell(r, col["年度指标值"]).value for r in range(2, 7)] == ["≥18次", "≥500人次", "≤3天", "≥95%", "≥90%"]
    assert book["资金"]["C2"].protection.locked and not book["资金"]["E2"].protection.locked
    assert not book["项目信息"]["G2"].protection.locked  # 年度总体目标: the department's text

    for r, actual in zip(range(2, 7), ["18次", "450人次", "2天", "96%", "92%"]):
        indicators.cell(r, col["实际完成值"], actual)
    indicators.cell(3, col["偏差原因分析及改进措施"], "部分培训延期")
    book["资金"]["E2"] = 95
    filled = tmp_path / "filled.xlsx"
    book.save(filled)
    analysis = analyse(filled, approved=Approved(approved))
    [result] = analysis.results
    # nothing differs from the approval (the report texts were left empty in this test)
    assert {str(i.code) for i in analysis.all_issues} <= {"missing-narrative"}
    assert result.total == Decimal("98.5")  # 9.5 + 15 + 450/500 × 10 + 25 + 30 + 10


def test_run_writes_one_reply_draft_per_department(tmp_path, make_book, approved):
    tables = copy.deepcopy(VALID)
    tables["绩效指标"][3][5] = "≥90%"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = make_book(tables, name="民政局.xlsx").read_bytes()
    write_eml(inbox / "mail.eml", [("民政局自评表.xlsx", data)], sender="某区民政局 <mz@example.gov.cn>")
    other = copy.deepcopy(VALID)
    for sheet in other.values():
        for row in sheet[1:]:
            row[0] = "E1"
    other["项目信息"][1][1:4] = ["学前教育补助", 2023, "某区教育局"]
    make_book(other, name="inbox/教育局.xlsx")
    out = tmp_path / "out"
    assert main(["run", str(inbox), "-o", str(out), "--targets", str(tmp_path / "批复.xlsx"), "--replies-with-reports",
                 "--quiet", "--workers", "1"]) == 1

    draft = email.message_from_bytes((out / "replies" / "某区民政局.eml").read_bytes(), policy=email.policy.default)
    assert draft["To"].addresses[0].addr_spec == "mz@example.gov.cn" and draft["X-Unsent"] == "1"
    assert draft["Subject"] == "2023年度项目支出绩效自评审核意见（某区民政局）"
    text = draft.get_body(("plain",)).get_content()
    lines = text.splitlines()
    assert lines[0] == "某区民政局："
    assert "1. 【P01】社区党建经费：总分 99.5 分，等级 优，状态 错误（有错误，须修改后重新报送）" in lines
    problems = [line for line in lines if line.startswith("   - [")]
    assert problems[0].startswith("   - [错误] 绩效指标!C2 批复的三级指标「培训人数」")  # errors first, sheet order
    assert [line.startswith("   - [错误]") for line in problems] == [True, True, False]
    [copy_part] = list(draft.iter_attachments())  # no report: P01 has an error
    assert copy_part.get_filename() == "民政局自评表（审核标注）.xlsx"
    marked = openpyxl.load_workbook(io.BytesIO(copy_part.get_payload(decode=True)))
    assert marked.sheetnames[0] == "自评结果" and marked["绩效指标"]["F4"].comment is not None

    school = email.message_from_bytes((out / "replies" / "某区教育局.eml").read_bytes(), policy=email.policy.default)
    assert school["To"] is None  # it came as a file, not by e-mail
    assert "1. 【E1】学前教育补助：总分 99.5 分，等级 优，状态 警告" in school.get_body(("plain",)).get_content()
    names = sorted(p.get_filename() for p in school.iter_attachments())
    assert names == ["E1_学前教育补助.docx", "教育局（审核标注）.xlsx"]

    summary = openpyxl.load_workbook(out / "summary.xlsx")
    overview = {row[2]: row for row in summary["汇总"].iter_rows(min_row=2, values_only=True)}
    header = [c.value for c in summary["汇总"][1]]
    assert (overview["P01"][header.index("与批复差异")], overview["E1"][header.index("与批复差异")]) == (3, None)
    details = list(summary["指标明细"].iter_rows(values_only=True))
    at = details[0].index("批复指标值")
    assert [row[at] for row in details[1:5]] == ["≥18次", "≤3天", "≥95%", "≥90%"]
    problems = {(row[4], row[6]) for row in summary["问题清单"].iter_rows(min_row=2, values_only=True)}
    assert ("no-approved-targets", "E1") in problems


def test_national_target_table_is_read_by_its_content(tmp_path, make_book):
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active["A1"] = "各项目绩效目标表见后"
    ws = book.create_sheet("Sheet2")
    rows = [
        ["项目支出绩效目标表"], ["（2023年度）"],
        ["项目名称", "社区党建经费"], ["主管部门及代码", "[101]某区民政局", None, "实施单位", "某街道办"],
        ["项目资金（万元）", "年度资金总额：", 100], [None, "其中：财政拨款", 100], [None, "其他资金", 0],
        ["年度总体目标", "完成党员教育培训"],
        ["绩效指标", "一级指标", "二级指标", "三级指标", "指标值"],
        [None, "产出指标", "数量指标", "培训班次", "≥18次"],
        [None, None, None, "培训人数", "≥500人次"],
        [None, None, "时效指标", "完成时限", "≤3天"],
        [None, "效益指标", "社会效益指标", "党员教育覆盖率", 0.95],
        [None, "满意度指标", "服务对象满意度指标", "党员满意度", "≥90%"],
        ["其他说明的问题"],
    ]
    for row in rows:
        ws.append(row)
    for ref in ("A1:E1", "A2:E2", "B3:E3", "A5:A7", "A9:A14", "B10:B12", "C10:C11", "A15:E15"):
        ws.merge_cells(ref)
    ws["E13"].number_format = "0%"
    book.save(tmp_path / "目标表.xlsx")
    targets = load_targets(tmp_path / "目标表.xlsx")
    [project] = targets.projects
    assert (project.name, project.department, project.year, project.budget, project.sheet) == (
        "社区党建经费", "[101]某区民政局", "2023", 100, "Sheet2")
    assert [(a.level1, a.level2, a.level3, a.target) for a in project.indicators] == [
        ("产出指标", "数量指标", "培训班次", "≥18次"), ("产出指标", "数量指标", "培训人数", "≥500人次"),
        ("产出指标", "时效指标", "完成时限", "≤3天"), ("效益指标", "社会效益指标", "党员教育覆盖率", "95%"),
        ("满意度指标", "服务对象满意度指标", "党员满意度", "≥90%")]
    [result] = analyse(make_book(copy.deepcopy(VALID)), approved=Approved(targets)).results
    assert result.approval.matched_by == "主管部门+项目名称"  # the table has no 项目编号
    assert {(i.cell, str(i.code)) for i in result.issues} == {("C2", "indicator-dropped")}  # no weights to compare


def test_targets_problems_are_told_in_words(tmp_path, capsys, make_book):
    with pytest.raises(TargetsError, match="没有找到批复绩效目标"):
        load_targets(write_xlsx(tmp_path / "空.xlsx", {"Sheet1": [["随便", "什么"]]}))
    with pytest.raises(TargetsError, match="不存在"):
        load_targets(tmp_path / "nope.xlsx")
    (tmp_path / "bad.xlsx").write_bytes(b"not a workbook")
    path = make_book(copy.deepcopy(VALID))
    assert main(["check", str(path), "--targets", str(tmp_path / "bad.xlsx")]) == 2
    assert "无法读取" in capsys.readouterr().err
    assert main(["score", str(path), "--score-against-approved"]) == 2
    assert "--targets" in capsys.readouterr().err


def test_cli_template_with_targets_writes_one_form_per_department(tmp_path, capsys):
    rows = copy.deepcopy(APPROVED)
    rows["绩效目标"].append(["E1", "学前教育补助", "某区教育局", 2023, 50, "产出指标", "数量指标", "受助幼儿数", "≥300人", 90])
    write_xlsx(tmp_path / "批复.xlsx", rows)
    out = tmp_path / "forms"
    assert main(["template", "--targets", str(tmp_path / "批复.xlsx"), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["某区教育局_2023年度绩效自评表.xlsx", "某区民政局_2023年度绩效自评表.xlsx"]
    assert main(["template", "--targets", str(tmp_path / "批复.xlsx"), "-o", str(out)]) == 2  # no silent overwrite
    assert main(["check", str(out / "某区教育局_2023年度绩效自评表.xlsx"), "--targets", str(tmp_path / "批复.xlsx")]) == 1
    assert "实际完成值" in capsys.readouterr().out  # the blank form reads back; only the department's cells are empty


@pytest.mark.parametrize("rows, budget", [
    ([["项目资金（万元）", "年度资金总额：", 100]], 100),
    ([["项目资金（元）", "年度资金总额", 1_000_000]], 100),           # a 元 block is converted
    ([["资金情况（万元）", "年度资金总额：100万元"]], 100),             # the amount inside the label's cell
    ([["年度资金总额", "其中：财政拨款"], [80, 80]], 80),               # header above the amounts
    ([["项目名称", "x"]], None),
])
def test_national_budget_is_found_beside_below_or_inside_its_label(rows, budget):
    import numpy as np

    from selfeval_xlsx.targets.national import _budget

    width = max(len(r) for r in rows)
    values = np.array([r + [None] * (width - len(r)) for r in rows], dtype=object)
    assert _budget(values) == (None if budget is None else Decimal(budget))
