"""The monthly batch end to end: outputs, e-mails, duplicates, superseded submissions,
incremental reruns, a real kill, and the dask path."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from selfeval_xlsx.batch import RunOptions, run
from selfeval_xlsx.cli import main
from selfeval_xlsx.intake import collect
from selfeval_xlsx.reader import read_workbook

from conftest import EXAMPLES
from test_intake import write_eml

SUMMARY_COLUMNS = ["来源文件", "主管部门", "项目编号", "项目名称", "年度", "全年预算数", "全年执行数", "执行率",
                   "预算执行得分", "产出指标得分", "效益指标得分", "满意度指标得分", "总分", "等级", "自评总分", "状态"]


def run_folder(inputs, out, **options):
    refs, skipped = collect(inputs)
    return run(refs, RunOptions(output=out, workers=2, **options), skipped=skipped)


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def summary_frames(out: Path) -> dict[str, pd.DataFrame]:
    return pd.read_excel(out / "summary.xlsx", sheet_name=None, engine="calamine")


def test_examples_end_to_end(tmp_path):
    before = digest(EXAMPLES)
    out = tmp_path / "out"
    assert main(["run", str(EXAMPLES), "-o", str(out), "--quiet"]) == 0
    frames = summary_frames(out)
    overview = frames["汇总"]
    assert set(SUMMARY_COLUMNS) <= set(overview.columns)
    assert len(overview) == 9 + 1 and overview["来源文件"].iloc[-1] == "合计"
    overview = overview.iloc[:-1]
    for column in ("全年预算数", "全年执行数", "执行率", "预算执行得分", "总分"):
        assert pd.api.types.is_numeric_dtype(overview[column]), column
    seed = overview.set_index("项目编号").loc["001"]
    assert (seed["总分"], seed["等级"], seed["预算执行得分"]) == (100, "优", 10)
    indicators = sum(len(p.indicators) for f in EXAMPLES.glob("*.xlsx") for p in read_workbook(f).projects)
    assert len(frames["指标明细"]) == indicators
    assert {"项目编号", "一级指标", "二级指标", "三级指标", "指标性质", "年度指标值", "实际完成值", "分值", "得分",
            "自评得分"} <= set(frames["指标明细"].columns)
    assert {"来源文件", "工作表", "单元格", "级别", "代码", "说明"} <= set(frames["问题清单"].columns)
    copies = sorted(p.name for p in (out / "workbooks").iterdir())
    assert copies == ["seed_党建工作经费_2022.xlsx", "某区卫生健康局_2023_自评表.xlsx", "某区教育局_2023.xlsx"]
    import openpyxl

    for name in copies:
        sheets = openpyxl.load_workbook(out / "workbooks" / name, read_only=True).sheetnames
        own = ["附件1", "附件2"] if "卫生" in name else ["项目信息", "资金", "支出", "绩效指标"]
        assert sheets[0] == "自评结果" and set(own) <= set(sheets)
    assert len(list((out / "reports").glob("*.docx"))) == 9
    assert digest(EXAMPLES) == before  # inputs are never written to


def test_rerun_is_incremental_and_force_redoes(tmp_path):
    inbox = tmp_path / "inbox"
    shutil.copytree(EXAMPLES, inbox, ignore=shutil.ignore_patterns("*.py"))
    out = tmp_path / "out"
    first = run_folder([inbox], out)
    assert first.reused == 0 and first.scored == 9
    reports = digest(out / "reports")
    again = run_folder([inbox], out)
    assert again.reused == 3 and again.scored == 9
    assert digest(out / "reports") == reports  # untouched: same bytes
    assert summary_frames(out)["汇总"].equals(pd.read_excel(out / "summary.xlsx", sheet_name="汇总", engine="calamine"))
    forced = run_folder([inbox], out, force=True)
    assert forced.reused == 0 and forced.scored == 9


def _seed_variant(path: Path, department: str, name: str) -> bytes:
    """The seed workbook with another department / project name (same 项目编号 001)."""
    import openpyxl

    book = openpyxl.load_workbook(EXAMPLES / "seed_党建工作经费_2022.xlsx")
    sheet = book["项目信息"]
    headers = [c.value for c in sheet[1]]
    sheet.cell(2, headers.index("主管部门") + 1, department)
    sheet.cell(2, headers.index("项目名称") + 1, name)
    book.save(path)
    return path.read_bytes()


def test_newest_email_supersedes_older_submission(tmp_path):
    older = _seed_variant(tmp_path / "a.xlsx", "某街道党工委", "党建工作经费（初稿）")
    newer = _seed_variant(tmp_path / "b.xlsx", "某街道党工委", "党建工作经费")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_eml(inbox / "first.eml", [("自评表.xlsx", older)], date="Mon, 02 Oct 2023 09:00:00 +0800")
    write_eml(inbox / "second.eml", [("自评表.xlsx", newer)], date="Tue, 10 Oct 2023 09:00:00 +0800")
    result = run_folder([inbox], tmp_path / "out")
    scored = [r for r in result.results if r.total is not None]
    assert [(r.project.source_file, r.project.name) for r in scored] == [("second.eml » 自评表.xlsx", "党建工作经费")]
    superseded = [i for i in result.issues if i.code == "superseded"]
    assert [(i.file, i.project_id) for i in superseded] == [("first.eml » 自评表.xlsx", "001")]
    assert [p.name for p in (tmp_path / "out" / "reports").iterdir()] == ["001_党建工作经费.docx"]
    listed = summary_frames(tmp_path / "out")["问题清单"]
    assert "superseded" in set(listed["代码"])


def test_same_id_from_two_departments_is_refused_in_both(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _seed_variant(inbox / "a.xlsx", "甲街道党工委", "党建工作经费")
    _seed_variant(inbox / "b.xlsx", "乙街道党工委", "党建工作经费")
    result = run_folder([inbox], tmp_path / "out")
    conflicts = {(i.file, i.cell, i.code) for i in result.issues if i.severity == "error"}
    assert conflicts == {("a.xlsx", "A2", "duplicate-project-across-files"),
                         ("b.xlsx", "A2", "duplicate-project-across-files")}
    assert result.scored == 0 and not result.clean


def test_exit_codes(tmp_path, make_book, tables):
    good = make_book(tables, name="good.xlsx")
    assert main(["run", str(good), "-o", str(tmp_path / "o1"), "--quiet"]) == 0
    tables["资金"][1][4] = "一百万"
    bad = make_book(tables, name="bad.xlsx")
    assert main(["run", str(bad), "-o", str(tmp_path / "o2"), "--quiet"]) == 1
    assert main(["run", "--workers", "x", str(bad)]) == 2
    assert main(["check", str(bad)]) == 1
    assert main(["check", str(good)]) == 0
    assert main(["check", str(tmp_path / "missing.xlsx")]) == 2


def test_check_names_the_cell(tmp_path, make_book, tables, capsys):
    tables["资金"][1][4] = "一百万"
    main(["check", str(make_book(tables))])
    out = capsys.readouterr().out
    assert "资金" in out and "E2" in out and "bad-number" in out


def test_killed_run_then_rerun_gives_the_same_outputs(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from bench_batch import make_inbox

    inbox = tmp_path / "inbox"
    make_inbox(inbox, 60, seed=3)
    command = [sys.executable, "-m", "selfeval_xlsx.cli", "run", str(inbox), "--quiet", "--workers", "2", "-o"]
    subprocess.run(command + [str(tmp_path / "clean")], check=False, capture_output=True, timeout=300)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(command + [str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(killed.glob("reports/*.docx"))) < 5 and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: main process and workers
    proc.wait()
    if (killed / "summary.xlsx").exists():  # written whole or not at all
        pd.read_excel(killed / "summary.xlsx", sheet_name="汇总", engine="calamine")
    subprocess.run(command + [str(killed)], check=False, capture_output=True, timeout=300)

    assert not list(killed.rglob(".tmp-*"))
    clean_files = {p for p in digest(tmp_path / "clean") if not p.startswith(".selfeval")}
    killed_files = {p for p in digest(killed) if not p.startswith(".selfeval")}
    assert killed_files == clean_files
    for name in ("汇总", "指标明细", "问题清单"):
        a = pd.read_excel(tmp_path / "clean" / "summary.xlsx", sheet_name=name, engine="calamine")
        b = pd.read_excel(killed / "summary.xlsx", sheet_name=name, engine="calamine")
        pd.testing.assert_frame_equal(a, b)


def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        result = run_folder([EXAMPLES], tmp_path / "out", scheduler=cluster.scheduler_address)
    assert result.scored == 9
    assert len(list((tmp_path / "out" / "reports").glob("*.docx"))) == 9


def test_an_input_stuck_where_the_alarm_cannot_reach_is_stopped_from_outside(tmp_path, monkeypatch, make_book,
                                                                            tables):
    import copy

    import selfeval_xlsx.pipeline as pipeline
    from selfeval_xlsx.guard import Limits

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_book(tables, name="inbox/good.xlsx")
    other = copy.deepcopy(tables)
    for sheet in other.values():
        for row in sheet[1:]:
            row[0] = "P02"
    make_book(other, name="inbox/stuck.xlsx")
    real = pipeline._read_check_score

    def stuck_in_native_code(ref, rules, limits, *rest):
        if ref.name == "stuck.xlsx":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # as inside calamine: no alarm
            time.sleep(60)
        return real(ref, rules, limits, *rest)

    monkeypatch.setattr(pipeline, "_read_check_score", stuck_in_native_code)  # the forked helpers inherit it
    result = run_folder([inbox], tmp_path / "out", limits=Limits(seconds=1))
    # Without the stop from outside the job would sleep its 60 s and then score normally; the
    # same problem as when the alarm stops it.
    assert ("stuck.xlsx", "timeout") in {(i.file, i.code) for i in result.issues}
    assert [r.project.project_id for r in result.results if r.total is not None] == ["P01"]


def test_an_error_blocks_only_its_own_project(tmp_path, make_book, tables):
    tables["项目信息"].append(["P02", "第二个项目", 2023, "某区民政局"])
    tables["资金"].append(["P02", "本年财政拨款", 10, 10, "十"])     # P02's own error
    tables["资金"].append(["P99", "本年财政拨款", 1, 1, 1])         # a row of no known project
    for row in tables["绩效指标"][1:]:
        tables["绩效指标"].append(["P02", *row[1:]])
    result = run_folder([make_book(tables)], tmp_path / "out")
    scored = {r.project.project_id: r.total for r in result.results}
    assert scored["P01"] is not None and scored["P02"] is None
    assert {("资金", "E3", "bad-number"), ("资金", "A4", "unknown-project")} <= {
        (i.sheet, i.cell, i.code) for i in result.issues}
    assert [p.name for p in (tmp_path / "out" / "reports").iterdir()] == ["P01_社区党建经费.docx"]


def test_output_folder_inside_the_inbox_is_not_read_back(tmp_path):
    inbox = tmp_path / "inbox"
    shutil.copytree(EXAMPLES, inbox, ignore=shutil.ignore_patterns("*.py"))
    out = inbox / "结果"
    assert main(["run", str(inbox), "-o", str(out), "--quiet"]) == 0
    assert main(["run", str(inbox), "-o", str(out), "--quiet"]) == 0  # the copies are not new submissions
    overview = pd.read_excel(out / "summary.xlsx", sheet_name="汇总", engine="calamine").iloc[:-1]  # 合计 row
    assert len(overview) == 9 and not overview["来源文件"].str.contains("结果").any()


def test_ids_that_clash_as_file_names_keep_both_reports(tmp_path, make_book, tables):
    for sheet in tables.values():
        for row in sheet[1:]:
            row[0] = "P:1"
    for name in ("项目信息", "资金", "支出", "绩效指标"):
        tables[name] += [["P*1", *row[1:]] for row in tables[name][1:]]
    result = run_folder([make_book(tables)], tmp_path / "out")
    assert result.scored == 2
    assert sorted(p.name for p in (tmp_path / "out" / "reports").iterdir()) == [
        "P_1_社区党建经费.docx", "P_1_社区党建经费_2.docx"]


def test_seed_example_report_reads_like_the_seed(tmp_path):
    from docx import Document

    out = tmp_path / "out"
    assert main(["run", str(EXAMPLES / "seed_党建工作经费_2022.xlsx"), "-o", str(out), "--quiet"]) == 0
    doc = Document(out / "reports" / "001_党建工作经费.docx")
    paragraphs = [p.text.strip() for p in doc.paragraphs if p.text.strip()]
    assert paragraphs[0] == "2022年度党建工作经费绩效自评报告"
    headings = ["一、基本情况", "（一）项目实施情况", "（二）财政支出情况", "（三）项目管理情况",
                "（四）项目资金来源及使用情况", "二、评价结论与绩效分析", "（一）总体结论", "（二）项目绩效分析",
                "三、存在问题或不足", "四、下一步改进措施", "附表"]
    positions = [next(i for i, p in enumerate(paragraphs) if p.startswith(h)) for h in headings]
    assert positions == sorted(positions)
    text = "".join(paragraphs).replace(" ", "")
    for phrase in ("执行数100万元", "完成预算的100%", "得分100分", "预算执行得分10分", "9个三级指标"):
        assert phrase in text, phrase
    assert "严格按照上级相关工作要求" in text  # the department's own narrative (seed （三）)
    cells = {c.text.strip() for t in doc.tables for row in t.rows for c in row.cells}
    [project] = read_workbook(EXAMPLES / "seed_党建工作经费_2022.xlsx").projects
    assert len(project.indicators) == 9
    for indicator in project.indicators:  # the table holds all nine
        assert indicator.level3 in cells, indicator.level3


def test_a_second_run_into_the_same_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    (out / ".selfeval").mkdir(parents=True)
    (out / ".selfeval" / "lock").write_text(str(os.getpid()))  # a live process holds it
    assert main(["run", str(EXAMPLES), "-o", str(out), "--quiet"]) == 2
    assert "正在写入" in capsys.readouterr().err
    (out / ".selfeval" / "lock").write_text("999999999")  # left by a killed run: taken over
    assert main(["run", str(EXAMPLES), "-o", str(out), "--quiet"]) == 0
    assert not (out / ".selfeval" / "lock").exists()


def test_cached_analysis_loads_back_equal(tmp_path):
    """The cache pickles records as constructor calls (twice as fast to load): every kind of
    record an analysis holds comes back equal."""
    import datetime as dt
    from dataclasses import replace

    from selfeval_xlsx.batch.store import load_analysis, save_analysis
    from selfeval_xlsx.guard import Limits
    from selfeval_xlsx.models import Approval, Receipt
    from selfeval_xlsx.pipeline import analyse
    from selfeval_xlsx.rules import load_rules

    refs, _ = collect([EXAMPLES])
    for ref in refs:
        analysis = analyse(ref, load_rules(), Limits())
        analysis = replace(analysis, results=tuple(
            replace(r, receipt=Receipt(dt.datetime(2024, 3, 1, 9, 30), "邮件发送时间", "a@b.cn"),
                    approval=Approval("001", "项目编号", ("≥18次",), 1)) for r in analysis.results))
        save_analysis(tmp_path / "cache.pickle", analysis)
        loaded = load_analysis(tmp_path / "cache.pickle", ref)
        assert loaded == analysis and loaded.all_issues == analysis.all_issues
