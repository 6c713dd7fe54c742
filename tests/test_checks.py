"""The check stage: record rules in one place, one severity per code, and what blocks what."""
from __future__ import annotations

from selfeval_xlsx.pipeline import analyse, score


def test_unknown_nature_warns_once_and_never_blocks(make_book, tables):
    """指标性质 「负向」: one warning, scored by the target's form; the batch gives the score the
    one-project scorer gives (the reader used to call it an error and block the project)."""
    tables["绩效指标"][2][4] = "负向"
    analysis = analyse(make_book(tables))
    [result] = analysis.results
    assert [(i.sheet, i.cell, i.code, i.severity) for i in analysis.all_issues] == [
        ("绩效指标", "E3", "bad-nature", "warning")]
    assert result.total is not None and result.total == score(result.project).total
    assert result.indicators[1].kind == "reverse"  # ≤3天, as the target says


def test_nature_written_with_its_suffix_is_understood(make_book, tables):
    tables["绩效指标"][2][4] = "反向指标"
    analysis = analyse(make_book(tables))
    assert not analysis.all_issues and analysis.results[0].indicators[1].kind == "reverse"


def test_a_row_error_blocks_only_its_project(make_book, tables):
    tables["项目信息"].append(["P02", "第二个项目", 2023, "某区民政局", ""])
    tables["资金"].append(["P02", "本年财政拨款", 10, 10, "十"])
    for row in tables["绩效指标"][1:]:
        tables["绩效指标"].append(["P02", *row[1:]])
    tables["支出"] = tables["支出"][:1]
    analysis = analyse(make_book(tables))
    totals = {r.project.project_id: r.total for r in analysis.results}
    assert totals["P01"] is not None and totals["P02"] is None
    assert ("资金", "E3", "bad-number") in {(i.sheet, i.cell, i.code) for i in analysis.all_issues}


def test_a_file_error_blocks_every_project(make_book, tables):
    for row in tables["资金"]:
        del row[4]  # 全年执行数 missing: no project of the file can be scored
    analysis = analyse(make_book(tables))
    assert analysis.rejected and all(r.total is None for r in analysis.results)
