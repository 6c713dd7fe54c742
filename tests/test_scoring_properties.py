"""Scoring invariants checked with Hypothesis: bounds, monotonicity, row-order independence."""
import random
from decimal import Decimal as D

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from selfeval_xlsx.models import FundingRow, Indicator, Project
from dataclasses import replace

from selfeval_xlsx.rules import load_rules
from selfeval_xlsx.scoring import score_project

RULES = {"linear": load_rules(), "ratio": replace(load_rules(), reverse_method="ratio")}

amounts = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)
actuals = st.decimals(min_value=-100, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)
weights = st.decimals(min_value=0, max_value=50, places=1, allow_nan=False, allow_infinity=False)
ops = st.sampled_from(["≥", ">", "≤", "<", "=", ""])
methods = st.sampled_from(["linear", "ratio"])


def _score(target: str, actual: str, weight: D, method: str) -> D:
    ind = Indicator(sheet="绩效指标", row=1, project_id="P", level1="产出指标", level3="x",
                    target=target, actual=actual, weight=weight, deviation="x")
    result = score_project(Project(project_id="P", year="2023", indicators=[ind]), RULES[method])
    score = result.indicators[0].score
    assert score is not None, result.issues
    return score


@settings(max_examples=300, deadline=None)
@given(op=ops, a=amounts, b=actuals, w=weights, method=methods)
def test_score_is_between_zero_and_weight(op, a, b, w, method):
    score = _score(f"{op}{a}个", f"{b}个", w, method)
    assert 0 <= score <= w


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from(["≥", ">", "="]), a=amounts, b1=actuals, b2=actuals, w=weights, method=methods)
def test_positive_never_falls_as_actual_rises(op, a, b1, b2, w, method):
    assume(op != "=" or a != 0)  # "=0" is all-or-nothing by rule (B ≤ 0 → w, else 0)
    low, high = sorted((b1, b2))
    assert _score(f"{op}{a}次", f"{low}次", w, method) <= _score(f"{op}{a}次", f"{high}次", w, method)


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from(["≤", "<"]), a=amounts, b1=actuals, b2=actuals, w=weights, method=methods)
def test_reverse_never_rises_as_actual_rises(op, a, b1, b2, w, method):
    low, high = sorted((b1, b2))
    assert _score(f"{op}{a}天", f"{low}天", w, method) >= _score(f"{op}{a}天", f"{high}天", w, method)


indicator_rows = st.lists(
    st.tuples(st.sampled_from(["产出指标", "效益指标", "满意度指标"]), ops, amounts, actuals,
              st.integers(min_value=1, max_value=20), st.sampled_from(["", "不适用"])),
    min_size=1, max_size=12)
funding_rows = st.lists(st.tuples(amounts, amounts), min_size=1, max_size=5)


@settings(max_examples=150, deadline=None)
@given(rows=indicator_rows, funds=funding_rows, seed=st.integers(), method=methods)
def test_shuffling_rows_changes_no_total(rows, funds, seed, method):
    indicators = [Indicator(sheet="绩效指标", row=i, project_id="P", level1=l1, level3=f"指标{i}", nature=nature,
                            target=f"{op}{a}", actual=str(b), weight=D(w), deviation="x")
                  for i, (l1, op, a, b, w, nature) in enumerate(rows)]
    # Pad the last row so the plan sums to 100 and the project gets a total.
    used = sum(w for *_, w, _ in rows)
    if used < 90:
        indicators.append(Indicator(sheet="绩效指标", row=99, project_id="P", level1="满意度指标", level3="补足",
                                    target="≥1", actual="1", weight=D(90 - used), deviation="x"))
    funding = [FundingRow(sheet="资金", row=i, project_id="P", budget=bu, executed=ex)
               for i, (bu, ex) in enumerate(funds)]

    def run(inds, fund):
        r = score_project(Project(project_id="P", year="2023", indicators=inds, funding=fund), RULES[method])
        return (r.total, r.grade, r.budget_score, r.rate, r.subtotals, r.self_total,
                sorted((i.code, i.row, i.col) for i in r.issues))

    before = run(indicators, funding)
    rng = random.Random(seed)
    shuffled_inds, shuffled_fund = indicators[:], funding[:]
    rng.shuffle(shuffled_inds)
    rng.shuffle(shuffled_fund)
    assert run(shuffled_inds, shuffled_fund) == before
