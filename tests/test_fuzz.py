"""Fuzzing the reader and the scorer: any value in any cell of the form (random unicode,
numbers, dates, times, huge and empty strings, formulas, booleans) ends in a score or an
Issue — never an exception — and user text never becomes a formula in the summary."""
from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
import zipfile
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

import corpus
from selfeval_xlsx.pipeline import analyse
from selfeval_xlsx.guard import Limits
from selfeval_xlsx.intake import InputRef
from selfeval_xlsx.rules import load_rules
from selfeval_xlsx.summary import write_summary

RULES = load_rules(None)
CJK = re.compile(r"[\u4e00-\u9fff]")
CODE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
BASE = corpus.tables("F01")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)

# Text openpyxl can store (XML 1.0 characters), so the fuzz reaches the reader, not the writer.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40).map(lambda s: ILLEGAL_CHARACTERS_RE.sub("", s))
domain_words = st.sampled_from(["≥18次", "≤3天", "=100%", "100%", "达成", "部分达成", "未达成", "不适用", "产出指标",
                                "效益", "满意度指标", "数量指标", "本年财政拨款", "１８", "1,000", "二十五", "12月底前",
                                "2023年12月", "≧ 735 人次", "控制在5%以内", "-5", "1e308", "NaN", "inf", "P01", "F01"])
cell_value = st.one_of(
    st.none(),
    st.just(""),
    text,
    domain_words,
    st.integers(min_value=-10**15, max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 12, 31)),
    st.dates(min_value=dt.date(1900, 3, 1)),
    st.times(),
    text.map(lambda s: "=" + s),                   # a formula (no cached value) or broken formula text
    st.sampled_from(["=1/0", "=SUM(A1:A3)", "=HYPERLINK(\"x\")", "=A1"]),
    st.tuples(text, st.integers(1000, 32000)).map(lambda t: ((t[0] or "长") * t[1])[:t[1]]),  # huge strings
)
# (sheet, 0-based row, 0-based col) of every cell of the form, header rows included
CELLS = [(sheet, r, c) for sheet, rows in BASE.items() for r, row in enumerate(rows) for c in range(len(row) + 1)]
edits = st.lists(st.tuples(st.sampled_from(CELLS), cell_value), max_size=12)


def build(changes) -> bytes:
    sheets = {name: [list(row) for row in rows] for name, rows in BASE.items()}
    for (sheet, r, c), value in changes:
        row = sheets[sheet][r]
        row.extend([None] * (c + 1 - len(row)))
        row[c] = value
    buf = io.BytesIO()
    try:
        corpus.write_xlsx(buf, sheets)
    except (ValueError, TypeError, OverflowError):  # openpyxl cannot write it: not an input anyone can send
        return b""
    return buf.getvalue()


_SCRATCH = Path(tempfile.mkdtemp(prefix="selfeval-fuzz-"))


def analysed(data: bytes):
    """``batch.analyse`` (reader, then scorer) on the bytes, as a file named fuzz.xlsx."""
    path = _SCRATCH / "fuzz.xlsx"
    path.write_bytes(data)
    ref = InputRef(str(path), "fuzz.xlsx", "0" * 64, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    return analyse(ref, RULES, Limits(seconds=0))


def check_outcome(analysis) -> None:
    issues = analysis.all_issues
    assert "internal-error" not in {i.code for i in issues}, issues  # analyse turns exceptions into this
    for issue in issues:
        assert CODE.match(issue.code), issue
        assert issue.severity in ("error", "warning") and CJK.search(issue.message), issue
        assert isinstance(issue.value, str) and issue.file == "fuzz.xlsx"
        assert issue.row is None or issue.row >= 0
    if not analysis.results:
        assert any(i.is_error for i in analysis.issues)  # nothing read: a file-level error says why
    for result in analysis.results:
        if result.total is None:
            assert any(i.is_error for i in issues), "unscored without an error"
        else:
            assert 0 <= result.total <= 100 and result.grade in ("优", "良", "中", "差")
            assert not result.has_errors


@SETTINGS
@given(edits)
@example([(("绩效指标", 0, 1), None)])      # 一级指标 header gone: the 二级 check once raised KeyError
@example([(("绩效指标", 3, 7), 1e26)])      # a weight past Decimal's 28 digits once raised InvalidOperation
@example([(("资金", 1, 3), 5e-324), (("绩效指标", 1, 5), "≤0.000000000000000000000000001天")])
def test_any_cell_values_end_in_a_score_or_an_issue(changes):
    data = build(changes)
    if data:
        check_outcome(analysed(data))


def test_fuzz_reaches_both_outcomes():
    """The harness itself: the untouched form scores, a broken one is refused."""
    good = analysed(build([]))
    assert [r.total is not None for r in good.results] == [True]
    bad = analysed(build([(("资金", 1, 4), "=C2*0.95")]))
    assert bad.results[0].total is None and "formula-no-value" in {i.code for r in bad.results for i in r.issues}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.lists(st.tuples(st.sampled_from([c for c in CELLS if c[1] > 0]), st.one_of(text, domain_words,
                                                                                      text.map(lambda s: "=" + s))),
                min_size=1, max_size=8))
def test_fuzzed_text_never_becomes_a_formula_in_the_summary(tmp_path_factory, changes):
    data = build(changes)
    if not data:
        return
    analysis = analysed(data)
    out = Path(tmp_path_factory.mktemp("fuzz")) / "summary.xlsx"
    write_summary(out, analysis.results, analysis.all_issues, grades=RULES.grade_names)
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<(?:\w+:)?f\b", z.read(name)), name
    book = openpyxl.load_workbook(out, read_only=True)
    values = {c.value for row in book["汇总"].iter_rows() for c in row}
    book.close()
    for result in analysis.results:
        assert result.project.name in values or not result.project.name  # stored as the text it was
