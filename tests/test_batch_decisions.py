"""Batch results an analyst can sign (issue #12 problems 1–3 and 7, DOMAIN.md §8): replaced
submissions count nowhere, one clock in local time decides which is newest, every refused
input is named, department figures are money-weighted, and a month's inbox end to end."""
from __future__ import annotations

import copy
import datetime as dt
import io
import re
import zipfile
from decimal import Decimal as D
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from selfeval_xlsx import clock
from selfeval_xlsx.batch.decisions import apply, decide
from selfeval_xlsx.batch.store import slim
from selfeval_xlsx.cli import main
from selfeval_xlsx.intake import InputRef
from selfeval_xlsx.models import Project, ProjectResult
from selfeval_xlsx.pipeline import Analysis
from selfeval_xlsx.rules import load_rules
from selfeval_xlsx.summary import write_summary

from conftest import VALID, write_xlsx
from test_intake import write_eml

BEIJING = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(autouse=True)
def beijing(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")


def saved_at(path: Path, iso: str) -> Path:
    """Set the workbook's saved time (docProps/core.xml), which openpyxl always sets to now."""
    src = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + iso.encode(), data)
            dst.writestr(info, data)
    path.write_bytes(out.getvalue())
    return path


def department(pid: str, name: str, budget: int, executed: int, changes: dict | None = None) -> dict:
    """The valid form for one project of one department, with its money changed."""
    t = copy.deepcopy(VALID)
    for sheet in t.values():
        for row in sheet[1:]:
            row[0] = pid
    t["项目信息"][1][3] = name
    t["资金"][1][2:5] = [budget, budget, executed]
    t["支出"][1:] = [[pid, "项目支出", "商品和服务支出", executed, ""]]
    for (sheet, r, c), value in (changes or {}).items():
        t[sheet][r][c] = value
    return t


def frames(out: Path) -> dict[str, pd.DataFrame]:
    sheets = pd.read_excel(out / "summary.xlsx", sheet_name=None, engine="calamine")
    sheets["统计"] = pd.read_excel(out / "summary.xlsx", sheet_name="统计", header=None, engine="calamine")
    return sheets


def department_table(stats: pd.DataFrame) -> pd.DataFrame:
    top = stats.index[stats[0] == "主管部门"][0]
    table = stats.iloc[top + 1:, :7].dropna(how="all")
    table.columns = stats.iloc[top, :7].tolist()
    return table.reset_index(drop=True)


# ---------------------------------------------------------------- problem 1: replaced submissions

def test_a_replaced_submission_counts_nowhere(tmp_path, capsys):
    """The department fixed its file: the old one was 未评分 [错误], doubled the budget
    (Σ 3280 instead of 1880), counted in 统计 and made the exit code 1."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    broken = department("P01", "某区民政局", 1400, 1300, {("资金", 1, 4): "一千三百"})
    saved_at(write_xlsx(inbox / "民政局_初稿.xlsx", broken), "2025-01-05T02:00:00Z")
    saved_at(write_xlsx(inbox / "民政局_修改稿.xlsx", department("P01", "某区民政局", 1880, 1800)), "2025-01-08T02:00:00Z")
    out = tmp_path / "out"
    assert main(["run", str(inbox), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "P01  社区党建经费  [已取代]  民政局_初稿.xlsx  → 以「民政局_修改稿.xlsx」为准" in printed
    assert "评分 1 个，共 1 个，另有已取代 1 个不计" in printed

    sheets = frames(out)
    overview = sheets["汇总"]
    assert overview["来源文件"].tolist() == ["民政局_修改稿.xlsx", "合计"]
    assert overview["全年预算数"].tolist() == [1880, 1880] and overview["状态"].tolist()[0] == "通过"
    assert len(sheets["指标明细"]) == 4  # the replaced copy's indicators are not listed again
    problems = sheets["问题清单"]
    assert problems[["来源文件", "代码"]].values.tolist() == [["民政局_初稿.xlsx", "superseded"]]
    assert "民政局_修改稿.xlsx" in problems["说明"][0]
    assert department_table(sheets["统计"])["项目数"].tolist() == [1, 1]  # 某区民政局, 合计

    result_sheet = openpyxl.load_workbook(out / "workbooks" / "民政局_初稿.xlsx")["自评结果"]
    cells = [v for row in result_sheet.iter_rows(values_only=True) for v in row if v is not None]
    assert cells[1].startswith("本工作簿已由较新的提交取代") and "民政局_修改稿.xlsx" in cells[1]
    assert "已取代" in cells and "错误" not in cells
    assert [p.name for p in (out / "reports").iterdir()] == ["P01_社区党建经费.docx"]


def test_a_correction_arriving_next_run_replaces_the_published_report(tmp_path):
    """The old submission's report and copy were kept when its replacement came in a later run."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    saved_at(write_xlsx(inbox / "a.xlsx", department("P01", "某区民政局", 100, 95)), "2025-01-05T02:00:00Z")
    out = tmp_path / "out"
    assert main(["run", str(inbox), "-o", str(out), "--quiet"]) == 0
    corrected = department("P01", "某区民政局", 100, 95, {("项目信息", 1, 1): "社区党建经费（更正）"})
    saved_at(write_xlsx(inbox / "b.xlsx", corrected), "2025-01-09T02:00:00Z")
    assert main(["run", str(inbox), "-o", str(out), "--quiet"]) == 0
    assert [p.name for p in (out / "reports").iterdir()] == ["P01_社区党建经费（更正）.docx"]
    cells = [v for row in openpyxl.load_workbook(out / "workbooks" / "a.xlsx")["自评结果"].iter_rows(values_only=True)
             for v in row]
    assert "已取代" in cells


# ---------------------------------------------------------------- problem 2: one clock, local time

def analysis(name: str, received: dt.datetime, basis: str, *, saved=None, submitted="", department="某局"):
    project = Project(sheet="项目信息", row=1, cols={"project_id": 0}, project_id="P01", department=department,
                      source_file=name, submitted=submitted)
    ref = InputRef(name, name, name, received, submitted_basis=basis)  # sha256 = name, for short asserts
    return Analysis(ref, (ProjectResult(project),), (), saved_at=saved)


def decided(*analyses) -> dict[str, list[tuple[str, str]]]:
    return {sha: [(n.issue.code, n.replaced_by) for n in notes] for sha, notes in decide(analyses).items()}


def at(day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 1, day, hour, minute, tzinfo=BEIJING)


def test_the_form_date_outranks_an_email_and_a_file_time():
    form = analysis("表.xlsx", at(20), clock.FILE, submitted="2025年1月16日")
    mail = analysis("邮件.eml » 表.xlsx", at(15), clock.EMAIL, submitted="")
    # 16 January (the form) is newer than the e-mail of the 15th; the file time is not looked at.
    expected = {"邮件.eml » 表.xlsx": [("superseded", "表.xlsx")], "表.xlsx": [("submission-order", "")]}
    assert decided(form, mail) == expected
    assert decided(slim(form), slim(mail)) == expected  # what the batch's main process keeps


def test_an_email_date_beats_a_file_copied_into_the_folder_today():
    """A correction mailed on the 15th lost to the uncorrected workbook saved to the folder
    today: the workbook's own saved time (the 10th) outranks its file time."""
    today = dt.datetime.now(dt.timezone.utc)
    uncorrected = analysis("初稿.xlsx", today, clock.FILE, saved=at(10))
    correction = analysis("更正.eml » 表.xlsx", at(15, 10, 5), clock.EMAIL)
    notes = decide([uncorrected, correction])
    [replaced] = notes["初稿.xlsx"]
    assert replaced.replaced_by == "更正.eml » 表.xlsx"
    [warning] = notes["更正.eml » 表.xlsx"]  # different kinds of clock: named, with the choice
    assert warning.issue.code == "submission-order"
    for text in ("邮件发送时间 2025-01-15 10:05", "工作簿保存时间 2025-01-10 09:00", "时间来源不同", "计分的是「更正.eml » 表.xlsx」"):
        assert text in warning.issue.message


def test_one_order_warning_per_pair_of_inputs_and_it_leaves_the_projects_clean():
    """A corrected workbook of six projects mailed in: one line says which file counts and
    why, about the file; the kept projects stay 通过 (it used to be six warnings, one a project)."""
    def book(name, received, basis, saved=None):
        projects = [Project(sheet="项目信息", row=k, cols={"project_id": 0}, project_id=f"P0{k}", department="某局",
                            source_file=name) for k in range(1, 7)]
        return Analysis(InputRef(name, name, name, received, submitted_basis=basis),
                        tuple(ProjectResult(p) for p in projects), (), saved_at=saved)

    old, new = book("初稿.xlsx", at(20), clock.FILE, saved=at(10)), book("更正.eml » 表.xlsx", at(15), clock.EMAIL)
    notes = decide([old, new])
    [order] = notes["更正.eml » 表.xlsx"]
    assert (order.issue.code, order.issue.project_id, order.issue.row) == ("submission-order", "", None)
    assert "「P01」、「P02」、「P03」、「P04」、「P05」等 6 个项目" in order.issue.message
    shown = apply(new, notes["更正.eml » 表.xlsx"])
    assert [i.code for i in shown.issues] == ["submission-order"]
    assert all(not r.issues for r in shown.results)


def test_same_clock_days_apart_needs_no_warning_but_minutes_do():
    assert decided(analysis("a", at(3), clock.EMAIL), analysis("b", at(5), clock.EMAIL)) == {
        "a": [("superseded", "b")]}
    close = decided(analysis("a", at(5, 9, 0), clock.EMAIL), analysis("b", at(5, 9, 4), clock.EMAIL))
    assert close == {"a": [("superseded", "b")], "b": [("submission-order", "")]}


def test_a_tie_on_the_form_date_is_broken_by_the_next_clock():
    a = analysis("a", at(3), clock.EMAIL, submitted="2025-01-16")
    b = analysis("b", at(4), clock.EMAIL, submitted="2025-01-16")
    notes = decide([a, b])
    assert notes["a"][0].replaced_by == "b" and "两者的时间相同" in notes["b"][0].issue.message


@pytest.mark.parametrize("tz, shown", [("Asia/Shanghai", "2025-01-15 10:05"), ("Asia/Tokyo", "2025-01-15 11:05"),
                                       ("UTC", "2025-01-15 02:05")])
def test_times_show_in_local_time_and_respect_tz(monkeypatch, tz, shown):
    """Times printed in UTC (02:05 for 10:05 Beijing time), even with TZ set."""
    monkeypatch.setenv("TZ", tz)
    assert clock.fmt_time(dt.datetime(2025, 1, 15, 2, 5, tzinfo=dt.timezone.utc)) == shown


def test_a_machine_left_on_utc_shows_beijing_time(monkeypatch):
    monkeypatch.delenv("TZ")
    if dt.datetime.now().astimezone().utcoffset() != dt.timedelta(0):
        pytest.skip("this machine has a local zone of its own")
    assert clock.fmt_time(dt.datetime(2025, 1, 15, 2, 5, tzinfo=dt.timezone.utc)) == "2025-01-15 10:05"


# ---------------------------------------------------------------- problem 3: refused inputs named

def test_the_run_names_every_refused_input_and_a_missing_path_is_exit_2(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_xlsx(inbox / "good.xlsx", VALID)
    (inbox / "坏文件.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    (inbox / "~$good.xlsx").write_bytes(b"lock")
    for k in range(23):
        (inbox / f"说明{k:02}.txt").write_text("x")
    out = tmp_path / "out"
    assert main(["run", str(inbox), "-o", str(out), "--quiet"]) == 1  # one input rejected
    printed = capsys.readouterr().out
    assert "拒收 1 个：\n  文件已损坏（1 个）：\n    坏文件.xlsx：" in printed
    assert "跳过 24 个：" in printed and "  不是工作簿或邮件（23 个）：\n    说明00.txt\n" in printed
    assert "说明19.txt" in printed and "说明20.txt" not in printed and "    …及另外 3 个" in printed
    assert "  Excel 临时锁文件（1 个）：\n    ~$good.xlsx：Excel 临时锁文件（~$ 开头），已跳过" in printed

    before = (out / "summary.xlsx").read_bytes()
    assert main(["run", str(tmp_path / "inbx"), "-o", str(out)]) == 2  # mistyped: exit 0 with an empty summary
    assert "输入路径不存在" in capsys.readouterr().err
    assert (out / "summary.xlsx").read_bytes() == before


def test_score_on_a_folder_shows_the_file_of_each_project(tmp_path, capsys):
    write_xlsx(tmp_path / "甲.xlsx", department("P01", "甲局", 100, 95))
    write_xlsx(tmp_path / "乙.xlsx", department("P02", "乙局", 100, 95))
    assert main(["score", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "来源文件" in lines[0]
    assert sorted((line.split()[0], line.split()[-1]) for line in lines[1:]) == [("P01", "甲.xlsx"), ("P02", "乙.xlsx")]


def test_problem_list_follows_the_workbooks_sheet_order(tmp_path):
    """资金 comes before 绩效指标 in the form; 问题清单 sorted sheet names by code point instead."""
    t = department("P01", "某局", 100, 120)  # executed above budget: a warning on 资金!E2
    t["绩效指标"][2][6], t["绩效指标"][2][8] = "4天", None  # ≤3天 missed, no 偏差原因: a warning on K3
    write_xlsx(tmp_path / "inbox.xlsx", t)
    assert main(["run", str(tmp_path / "inbox.xlsx"), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    problems = frames(tmp_path / "out")["问题清单"]
    assert problems[["工作表", "单元格"]].values.tolist() == [["资金", "E2"], ["绩效指标", "K3"]]


# ---------------------------------------------------------------- problem 7: money-weighted, axes at 0

def result(pid, dept, budget, executed, total, grade="优"):
    project = Project(sheet="项目信息", row=1, project_id=pid, name=pid, year="2024", department=dept, source_file="x")
    return ProjectResult(project, budget=D(budget), executed=D(executed), rate=D(executed) / D(budget),
                         total=D(total), grade=grade)


def test_department_figures_are_money_weighted_and_charts_start_at_zero(tmp_path):
    """平均执行率 was the mean of project rates (88.75 %) where Σ执行/Σ预算 is 92.5 %."""
    results = [result("P1", "甲局", 100, 77.5, 90), result("P2", "甲局", 300, 292.5, 80, "良"),
               result("P3", "乙局", 50, 50, 70, "中")]
    path = write_summary(tmp_path / "s.xlsx", results, [], grades=load_rules().grade_names)
    table = department_table(pd.read_excel(path, sheet_name="统计", header=None, engine="calamine"))
    first = table.set_index("主管部门", drop=False).loc["甲局"]
    assert (first["主管部门"], first["项目数"], first["全年预算数"], first["全年执行数"]) == ("甲局", 2, 400, 370)
    assert first["执行率（Σ执行÷Σ预算）"] == pytest.approx(0.925)  # not (0.775 + 0.975) / 2 = 0.875
    assert first["平均总分（已评分项目的算术平均）"] == 85
    totals = table.iloc[-1]
    assert (totals["主管部门"], totals["项目数"], totals["全年预算数"], totals["全年执行数"]) == ("合计", 3, 450, 420)
    overview = pd.read_excel(path, sheet_name="汇总", engine="calamine")
    last = overview.iloc[-1]
    assert (last["来源文件"], last["全年预算数"], last["全年执行数"]) == ("合计", 450, 420)
    assert last["执行率"] == pytest.approx(420 / 450) and last["项目名称"] == "共 3 个项目：优 1 个，良 1 个，中 1 个"
    charts = [zipfile.ZipFile(path).read(f"xl/charts/chart{k}.xml").decode() for k in (2, 3)]
    assert all('<c:min val="0"/>' in chart for chart in charts)
    assert "执行率（Σ执行÷Σ预算）" in charts[1] and "平均总分（算术平均）" in charts[0]


# ---------------------------------------------------------------- a month's inbox, end to end

def test_a_months_inbox(tmp_path, capsys):
    """Five departments; 民政局 resubmits a corrected file; 教育局's correction comes by e-mail
    (its Date older than the uncorrected file's time in the folder); then a mistyped path.
    The totals of 汇总 and 统计 equal the sums over the projects that count."""
    inbox = tmp_path / "收件箱" / "2025-01"
    inbox.mkdir(parents=True)
    counted = {"P01": ("某区财政局", 500, 480), "P02": ("某区民政局", 1880, 1800), "P03": ("某区教育局", 1200, 1140),
               "P04": ("某区卫健委", 300, 270), "P05": ("某区交通局", 800, 800)}
    for pid in ("P01", "P04", "P05"):
        dept, budget, executed = counted[pid]
        saved_at(write_xlsx(inbox / f"{dept}.xlsx", department(pid, dept, budget, executed)), "2025-01-06T01:00:00Z")
    # 民政局: a first file with a wrong figure, then the corrected one.
    first = department("P02", "某区民政局", 1400, 1300, {("资金", 1, 4): "一千三百"})
    saved_at(write_xlsx(inbox / "某区民政局_第一版.xlsx", first), "2025-01-05T02:00:00Z")
    saved_at(write_xlsx(inbox / "某区民政局_更正.xlsx", department("P02", "某区民政局", 1880, 1800)), "2025-01-08T02:00:00Z")
    # 教育局: the uncorrected workbook copied into the folder today, the correction e-mailed on the 15th.
    saved_at(write_xlsx(inbox / "某区教育局.xlsx", department("P03", "某区教育局", 1200, 900)), "2025-01-10T08:00:00Z")
    fixed = write_xlsx(tmp_path / "fixed.xlsx", department("P03", "某区教育局", 1200, 1140))
    write_eml(inbox / "教育局更正.eml", [("某区教育局.xlsx", fixed.read_bytes())],
              sender="教育局 <jyj@example.gov.cn>", date="Wed, 15 Jan 2025 10:05:00 +0800")

    out = tmp_path / "结果"
    assert main(["run", str(inbox), "-o", str(out)]) == 0  # the replaced files' errors count nowhere
    printed = capsys.readouterr().out
    assert printed.count("[已取代]") == 2 and "评分 5 个，共 5 个，另有已取代 2 个不计" in printed

    sheets = frames(out)
    overview = sheets["汇总"]
    rows, total = overview.iloc[:-1], overview.iloc[-1]
    assert sorted(rows["项目编号"]) == sorted(counted)
    assert dict(zip(rows["项目编号"], rows["全年预算数"])) == {pid: b for pid, (_, b, _) in counted.items()}
    assert total["来源文件"] == "合计"
    assert total["全年预算数"] == rows["全年预算数"].sum() == sum(b for _, b, _ in counted.values())
    assert total["全年执行数"] == rows["全年执行数"].sum() == sum(e for _, _, e in counted.values())
    assert total["执行率"] == pytest.approx(total["全年执行数"] / total["全年预算数"])
    education = rows.set_index("项目编号").loc["P03"]
    assert (education["来源文件"], education["全年执行数"]) == ("教育局更正.eml » 某区教育局.xlsx", 1140)
    assert (education["提交时间"], education["时间依据"], education["发件人"]) == (
        pd.Timestamp("2025-01-15 10:05"), "邮件发送时间", "教育局 <jyj@example.gov.cn>")

    stats = department_table(sheets["统计"])
    assert stats["项目数"].tolist()[-1] == 5 and stats["项目数"].iloc[:-1].sum() == 5
    assert stats["全年预算数"].tolist()[-1] == total["全年预算数"] == stats["全年预算数"].iloc[:-1].sum()
    assert stats["全年执行数"].tolist()[-1] == total["全年执行数"]
    grades = sheets["统计"].iloc[2:7, :2].set_index(0)[1]
    assert grades.sum() == 5 and grades["未评分"] == 0
    assert len(sheets["指标明细"]) == 5 * 4

    problems = sheets["问题清单"]
    assert "错误" not in set(problems["级别"])
    replaced = problems[problems["代码"] == "superseded"]
    assert dict(zip(replaced["来源文件"], replaced["说明"].str.extract("提交「(.+?)」（")[0])) == {
        "某区民政局_第一版.xlsx": "某区民政局_更正.xlsx", "某区教育局.xlsx": "教育局更正.eml » 某区教育局.xlsx"}
    order = problems[problems["代码"] == "submission-order"]
    assert order["来源文件"].tolist() == ["教育局更正.eml » 某区教育局.xlsx"]  # e-mail Date vs saved time
    assert len(list((out / "reports").glob("*.docx"))) == 5

    before = (out / "summary.xlsx").read_bytes()
    assert main(["run", str(inbox.parent / "2025-1O"), "-o", str(out)]) == 2
    assert (out / "summary.xlsx").read_bytes() == before
