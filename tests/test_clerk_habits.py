"""How clerks really type (DOMAIN.md §3 rules 13–15, issue #12 problems 4–6): invisible
characters, totals rows, 不适用 without an actual, percents typed as fractions, and the smaller
points of the same trial (cells for weight-sum, one problem per formula cell)."""
from __future__ import annotations

import sys
import unicodedata

import openpyxl
import pytest

from selfeval_xlsx.pipeline import analyse
from selfeval_xlsx.vocab import strip_format_chars


def found(analysis):
    return [(i.sheet, i.cell, i.code) for i in analysis.all_issues]


def test_the_format_character_list_is_unicode_category_cf():
    cf = "".join(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf")
    assert strip_format_chars(cf) == ""
    assert strip_format_chars("项目编号 A-1 满意度") == "项目编号 A-1 满意度"


@pytest.mark.parametrize("sheet, cell, text", [
    ("资金", (0, 4), "全年执行数\u200b"),       # ZWSP after a visible header
    ("项目信息", (0, 0), "\ufeff项目编号"),      # BOM at the start
    ("项目信息", (0, 0), "项目\u200d编号"),      # ZWJ inside: the whole file was rejected
    ("资金", (1, 0), "P01\u200e"),              # LRM on an id
    ("绩效指标", (1, 1), "\u2060产出指标"),      # word joiner on a vocabulary cell
])
def test_invisible_format_characters_are_ignored(make_book, tables, sheet, cell, text):
    """Problem 5: "缺少必填列「全年执行数」" for a visible column, or 15 follow-on errors."""
    tables[sheet][cell[0]][cell[1]] = text
    analysis = analyse(make_book(tables))
    assert found(analysis) == [] and analysis.results[0].total is not None


def test_a_header_that_still_does_not_match_names_its_near_miss(make_book, tables):
    """The mark sits on the header the clerk typed (it was on A1, shown as cell ``1``)."""
    tables["资金"][0][4] = "全年执行數"  # a traditional character
    analysis = analyse(make_book(tables))
    [problem] = [i for i in analysis.all_issues if i.code == "missing-column"]
    assert (problem.sheet, problem.cell, problem.value) == ("资金", "E1", "全年执行數")
    assert "E1 的「全年执行數」最接近" in problem.message and "全年执行数" in problem.message


def test_totals_rows_are_skipped_never_reported_as_empty(make_book, tables):
    """Problem 6: a 合计 row under 绩效指标 or 资金 blocked the project with six errors."""
    tables["资金"].append(["", "合计", 100, 100, 95])
    tables["支出"].append(["小 计：", "", "", 95, ""])
    tables["绩效指标"].append(["", "总分", "", "", "", "", "", 90, 90, None, ""])
    analysis = analyse(make_book(tables))
    assert found(analysis) == []
    [result] = analysis.results
    assert (result.total, len(result.project.funding), len(result.project.indicators)) == (99.5, 1, 4)


def test_a_totals_row_that_disagrees_with_the_rows_above_warns_on_its_cell(make_book, tables):
    tables["资金"].append(["P01", "上年结转资金", 20, 20, 10])
    tables["支出"].append(["P01", "印刷费", "商品和服务支出", 10, ""])
    tables["资金"].append(["", "合计", 120, 110, 105])  # 全年预算数 should be 120
    analysis = analyse(make_book(tables))
    assert found(analysis) == [("资金", "D4", "totals-mismatch")]
    assert "110" in analysis.all_issues[0].message and "120" in analysis.all_issues[0].message
    assert analysis.results[0].budget == 120  # the totals row never counts


def test_not_applicable_may_leave_the_actual_blank(make_book, tables):
    """Problem 6: a 不适用 indicator with a blank 实际完成值 blocked the project."""
    tables["绩效指标"][2][4], tables["绩效指标"][2][6] = "不适用", ""
    analysis = analyse(make_book(tables))
    assert found(analysis) == []
    assert analysis.results[0].total is not None  # (95 - 25 + 9.5 …) rescaled over 75 points


@pytest.mark.parametrize("actual, fmt, expected", [("0.92", None, "percent-as-fraction"),
                                                   (0.92, None, "percent-as-fraction"),
                                                   (0.92, "0%", None)])  # an Excel percent is 92% already
def test_percent_typed_as_a_fraction(make_book, tables, actual, fmt, expected):
    """Problem 4: 0.92 against ≥90% scored 0.1 of 10 and asked for a 偏差原因."""
    tables["绩效指标"][4][6] = actual
    analysis = analyse(make_book(tables, formats={"绩效指标": {"G5": fmt}} if fmt else None))
    assert found(analysis) == ([("绩效指标", "G5", expected)] if expected else [])
    assert analysis.results[0].indicators[3].score == 10


def test_a_report_shows_the_fraction_as_the_percent_it_scored(make_book, tables):
    """The official text says 92%, not the 0.92 the clerk typed (the copy keeps the typed value)."""
    from selfeval_xlsx.report import build_context

    tables["绩效指标"][4][6] = "0.92"
    [result] = analyse(make_book(tables)).results
    context = build_context(result)
    assert [row["actual"] for row in context["table"]["indicators"]][3] == "92%"
    assert "0.92" not in repr(context)


def test_weight_sum_points_at_the_first_weight_cell_and_names_the_short_level(make_book, tables):
    tables["绩效指标"][4][7] = 5  # 满意度 5 instead of 10
    tables["绩效指标"][4][8] = 5
    analysis = analyse(make_book(tables))
    [problem] = [i for i in analysis.all_issues if i.code == "weight-sum"]
    assert (problem.sheet, problem.cell) == ("绩效指标", "H2")
    assert "满意度指标合计 5 分，比默认的 10 分少 5 分" in problem.message


def test_spending_mismatch_points_at_the_first_amount_cell(make_book, tables):
    tables["支出"][2][3] = 30
    assert found(analyse(make_book(tables))) == [("支出", "D2", "spending-mismatch")]


def test_a_formula_without_a_value_is_one_problem_per_cell(make_book, tables):
    path = make_book(tables)
    book = openpyxl.load_workbook(path)
    book["绩效指标"]["G2"] = "=F2"  # openpyxl saves no cached value
    book.save(path)
    assert found(analyse(path)) == [("绩效指标", "G2", "formula-no-value")]
