"""Scoring rules of DOMAIN.md §3, each with numbers worked out by hand.

Issues are compared as (sheet, cell, code) tuples. Indicator rows sit on sheet 绩效指标 with
columns A 项目编号 … F 年度指标值, G 实际完成值, H 分值, I 自评得分, J 扣分, K 偏差原因.
"""
from decimal import Decimal as D

import pytest

from dataclasses import replace

from selfeval_xlsx.issues import Code
from selfeval_xlsx.models import NARRATIVE_FIELDS, FundingRow, Indicator, Project, SpendingRow
from selfeval_xlsx.pipeline import score as score_project  # record checks + scoring + completeness
from selfeval_xlsx.rules import load_rules
from selfeval_xlsx.scoring import round_half_up

IND_COLS = {"project_id": 0, "level1": 1, "level2": 2, "level3": 3, "nature": 4, "target": 5, "actual": 6,
            "weight": 7, "self_score": 8, "deduction": 9, "deviation": 10}
FUND_COLS = {"project_id": 0, "source": 1, "initial_budget": 2, "budget": 3, "executed": 4}
LINEAR = load_rules()
RATIO = replace(LINEAR, reverse_method="ratio")


def ind(target, actual, weight=10, *, level1="产出指标", level3="指标", nature="", self_score=None,
        deduction=None, deviation="", row=1):
    return Indicator(sheet="绩效指标", row=row, cols=IND_COLS, project_id="P1", level1=level1, level2="",
                     level3=level3, nature=nature, target=target, actual=actual,
                     weight=None if weight is None else D(str(weight)),
                     self_score=None if self_score is None else D(str(self_score)),
                     deduction=None if deduction is None else D(str(deduction)), deviation=deviation)


def fund(budget, executed, row=1, source="本年财政拨款"):
    return FundingRow(sheet="资金", row=row, cols=FUND_COLS, project_id="P1", source=source,
                      budget=None if budget is None else D(str(budget)),
                      executed=None if executed is None else D(str(executed)))


def project(indicators, funding=None, spending=(), year="2023"):
    return Project(sheet="项目信息", row=1, cols={"project_id": 0}, project_id="P1", name="测试项目",
                   year=year, source_file="dept.xlsx", indicators=list(indicators),
                   **{field: "说明。" for field in NARRATIVE_FIELDS},
                   funding=[fund(100, 100)] if funding is None else list(funding), spending=list(spending))


def issues(result, ignore=("weight-sum", "weight-split", "missing-deviation")):
    return sorted((i.sheet, i.cell, i.code) for i in result.issues if i.code not in ignore)


def seed_indicators():
    """The seed report's table: 产出 5×10, 效益 3×10, 满意度 1×10, all reached."""
    rows = [
        ("产出指标", "开设培训班", "≥18次", "18次"),
        ("产出指标", "党员培训人次", "≥2300人次", "2300人次"),
        ("产出指标", "购买红色书籍", "≥1728册", "1728册"),
        ("产出指标", "后进党组织集中培训", "≥25次", "25次"),
        ("产出指标", "资金支付及时性", "2022年12月底前", "按时完成"),
        ("效益指标", "党员教育覆盖面", "有效提升", "达成"),
        ("效益指标", "基层党组织作用发挥", "有效提升", "达成年度指标"),
        ("效益指标", "党建品牌影响力", "逐步扩大", "逐步扩大"),
        ("满意度指标", "党员群众满意度", "≥95%", "95%"),
    ]
    return [ind(t, a, 10, level1=l1, level3=l3, row=r) for r, (l1, l3, t, a) in enumerate(rows, start=2)]


def test_seed_project_scores_100():
    r = score_project(project(seed_indicators(), year="2022"), LINEAR)
    assert not r.issues
    assert (r.budget, r.executed, r.rate, r.budget_score) == (D(100), D(100), D(1), D(10))
    assert r.subtotals == {"产出指标": D(50), "效益指标": D(30), "满意度指标": D(10)}
    assert (r.total, r.grade, r.status) == (D(100), "优", "通过")
    assert all(s.reached and s.score == 10 for s in r.indicators)
    assert [s.kind for s in r.indicators] == ["positive"] * 4 + ["deadline"] + ["qualitative"] * 3 + ["positive"]
    assert r.self_total is None


# (target, actual, weight, nature, rules, score, reached, kind)
QUANT_CASES = [
    ("≥18次", "20次", 10, "", LINEAR, "10", True, "positive"),       # exceeding never earns more than w
    ("≥18次", "18次", 10, "", LINEAR, "10", True, "positive"),
    ("≥18次", "9次", 10, "", LINEAR, "5", False, "positive"),          # 9/18×10
    ("≥18次", "-3次", 10, "", LINEAR, "0", False, "positive"),         # negative B counts 0
    ("≥95%", "90%", 10, "", LINEAR, "9.47", False, "positive"),        # 90/95×10 = 9.4736…
    ("≥2000人次", "1333", 10, "", LINEAR, "6.67", False, "positive"),  # 1333/2000×10 = 6.665 exactly → 6.67
    ("≥400", "107", 10, "", LINEAR, "2.68", False, "positive"),        # 2.675 → 2.68 (round(2.675, 2) gives 2.67)
    (">90%", "90%", 10, "", LINEAR, "10", True, "positive"),
    ("≤3天", "2.5天", 10, "", LINEAR, "10", True, "reverse"),
    ("≤3天", "3天", 10, "", LINEAR, "10", True, "reverse"),
    ("≤3天", "4天", 10, "", LINEAR, "6.67", False, "reverse"),         # (1-(4-3)/3)×10
    ("≤3天", "4天", 10, "", RATIO, "7.50", False, "reverse"),          # 3/4×10
    ("≤3天", "6天", 10, "", LINEAR, "0", False, "reverse"),            # B = 2A
    ("≤3天", "9天", 10, "", LINEAR, "0", False, "reverse"),            # B > 2A
    ("≤3天", "6天", 10, "", RATIO, "5", False, "reverse"),
    ("≤4天", "5天", 8, "", LINEAR, "6", False, "reverse"),             # (1-1/4)×8
    ("低于5%", "6%", 10, "", LINEAR, "8", False, "reverse"),           # (1-(6-5)/5)×10
    ("=100%", "100%", 10, "", LINEAR, "10", True, "equal"),
    ("=100%", "98%", 10, "", LINEAR, "9.80", False, "equal"),          # treated as positive
    ("100%", "98%", 5, "", LINEAR, "4.90", False, "equal"),            # bare number = equal
    ("=0起", "0", 10, "", LINEAR, "10", True, "equal"),                # A = 0, B ≤ 0 → w
    ("=0起", "1起", 10, "", LINEAR, "0", False, "equal"),              # A = 0, B > 0 → 0
    ("3天", "4天", 10, "反向", LINEAR, "6.67", False, "reverse"),        # 指标性质 gives the direction
    ("18次", "9次", 10, "正向", LINEAR, "5", False, "positive"),
    ("≥18", "18次", 10, "", LINEAR, "10", True, "positive"),           # target without unit
    ("≥95%", "95", 10, "", LINEAR, "10", True, "positive"),            # no unit = target's unit: 95%
    ("≤0.5%", "0.3", 10, "", LINEAR, "10", True, "reverse"),           # target ≤ 1%: 0.3 stays 0.3%
]


@pytest.mark.parametrize("target, actual, weight, nature, rules, score, reached, kind", QUANT_CASES)
def test_quantitative_rules(target, actual, weight, nature, rules, score, reached, kind):
    r = score_project(project([ind(target, actual, weight, nature=nature, deviation="原因")]), rules)
    s = r.indicators[0]
    assert (s.score, s.reached, s.kind) == (D(score), reached, kind)
    assert issues(r) == []


@pytest.mark.parametrize("actual", ["0.92", 0.92])
def test_percent_typed_as_a_fraction_is_read_as_a_percent_and_said(actual):
    """Issue #12 problem 4: 0.92 against ≥90% scored 0.1 of 10 silently (read as 0.92 %)."""
    r = score_project(project([ind("≥90%", actual, 10)]), LINEAR)
    s = r.indicators[0]
    assert (s.score, s.reached, s.actual_value, s.unit) == (D(10), True, D(92), "%")
    assert issues(r, ignore=("weight-sum", "weight-split")) == [("绩效指标", "G2", "percent-as-fraction")]
    assert "92%" in r.issues[-1].message


def test_far_above_a_positive_target_scores_full_and_warns():
    """DOMAIN §3 rule 13: B ≥ 2A still scores w; the warning says the target may be too low."""
    r = score_project(project([ind("≥18次", "40次", 10), ind("≥18次", "35次", 10, row=2), ind("≤3天", "9天", 10, row=3)]),
                      LINEAR)
    assert [s.score for s in r.indicators] == [D(10), D(10), D(0)]
    assert issues(r, ignore=("weight-sum", "weight-split", "missing-deviation")) == [("绩效指标", "G2", "over-achieved")]


def test_half_up_differs_from_float_round():
    assert round(2.675, 2) == 2.67                     # float: 2.675 is stored as 2.67499…
    assert round_half_up(D("2.675")) == D("2.68")
    assert round_half_up(D("6.665")) == D("6.67")
    assert round_half_up(D("0.005")) == D("0.01")
    assert round_half_up(D("6.6649")) == D("6.66")


def test_why_shows_the_arithmetic():
    linear = score_project(project([ind("≤3天", "4天")]), LINEAR).indicators[0]
    ratio = score_project(project([ind("≤3天", "4天")]), RATIO).indicators[0]
    assert linear.why == "反向(线性)：B=4天 > A=3天，(1-(4-3)/3)×10=6.67"
    assert ratio.why == "反向(比率)：B=4天 > A=3天，3/4×10=7.5"
    assert (linear.target_value, linear.actual_value, linear.unit) == (D(3), D(4), "天")
    late = score_project(project([ind("2023年12月", "2024-01-05")]), LINEAR).indicators[0]
    assert late.why == "时限：2024-01-05 晚于截止日期 2023-12-31，得0分"
    band = score_project(project([ind("有效提升", "部分达成", self_score="7")]), LINEAR).indicators[0]
    assert band.why == "定性：部分达成，区间[6,8)，取自评得分7"
    cut = score_project(project([ind("≥18次", "9次", deduction="1")]), LINEAR).indicators[0]
    assert cut.why == "正向：B=9次 < A=18次，9/18×10=5，扣1分后得4"


@pytest.mark.parametrize("target, actual, year, score, reached", [
    ("2023年12月", "2023-11-30", "2023", "10", True),
    ("2023年12月", "2023-12-31", "2023", "10", True),
    ("2023年12月", "2024-01-05", "2023", "0", False),
    ("12月底前", "11月底", "2023", "10", True),          # year from the project
    ("≤2023-12-31", "按时完成", "2023", "10", True),
    ("2023年12月31日前", "已完成", "2023", "10", True),
    ("2023年12月31日前", "逾期完成", "2023", "0", False),
])
def test_deadlines(target, actual, year, score, reached):
    r = score_project(project([ind(target, actual, deviation="原因")], year=year), LINEAR)
    s = r.indicators[0]
    assert (s.kind, s.score, s.reached) == ("deadline", D(score), reached)
    assert issues(r) == []


# (actual, self_score, score, band, issue codes at I2)
QUAL_CASES = [
    ("达成", None, "10", "达成", []),                  # no self score → w
    ("达成预期指标", "9", "9", "达成", []),
    ("有效提升", "8", "8", "达成", []),                  # same text as the target
    ("达成", "7.9", None, "达成", ["self-score-out-of-band"]),
    ("部分达成年度指标并具有一定效果", "7", "7", "部分达成", []),
    ("部分达成", "6", "6", "部分达成", []),
    ("部分达成", "8", None, "部分达成", ["self-score-out-of-band"]),   # 8 belongs to 达成
    ("部分达成", "5.9", None, "部分达成", ["self-score-out-of-band"]),
    ("部分达成", None, None, "部分达成", ["self-score-required"]),
    ("未达成年度指标且效果较差", "3", "3", "未达成", []),
    ("未达成", "0", "0", "未达成", []),
    ("未达成", "6", None, "未达成", ["self-score-out-of-band"]),
    ("未达成", None, None, "未达成", ["self-score-required"]),
]


@pytest.mark.parametrize("actual, self_score, score, band, codes", QUAL_CASES)
def test_qualitative_bands(actual, self_score, score, band, codes):
    r = score_project(project([ind("有效提升", actual, self_score=self_score, deviation="原因", row=1)]), LINEAR)
    s = r.indicators[0]
    assert (s.kind, s.band, s.score) == ("qualitative", band, None if score is None else D(score))
    assert s.reached == (band == "达成")
    assert issues(r) == sorted(("绩效指标", "I2", c) for c in codes)
    if codes:
        assert r.total is None and r.grade == ""


def test_qualitative_nature_forces_band_rule():
    r = score_project(project([ind("≥95%", "部分达成", nature="定性", self_score="7", deviation="x")]), LINEAR)
    assert (r.indicators[0].kind, r.indicators[0].score) == ("qualitative", D(7))
    bad = score_project(project([ind("有效提升", "基本完成", deviation="x")]), LINEAR)
    assert issues(bad) == [("绩效指标", "G2", "bad-actual")]


def test_qualitative_weight_from_rules_default():
    rules = replace(LINEAR, qualitative_default=D("0.9"))
    s = score_project(project([ind("有效提升", "达成", deviation="x")]), rules).indicators[0]
    assert s.score == D("9.00")


@pytest.mark.parametrize("deduction, score", [("2", "8"), ("2.345", "7.66"), ("12", "0"), ("0", "10")])
def test_deduction(deduction, score):
    r = score_project(project([ind("≥18次", "20次", deduction=deduction, deviation="x")]), LINEAR)
    assert r.indicators[0].score == D(score)


def test_negative_deduction_is_ignored_with_warning():
    r = score_project(project([ind("≥18次", "20次", deduction="-2")]), LINEAR)
    assert r.indicators[0].score == 10
    assert issues(r) == [("绩效指标", "J2", "bad-deduction")]


def test_budget_execution_with_amounts_converted_from_yuan():
    # 250000 元 = 25 万元 budget, 21.54576 万元 executed
    r = score_project(project(seed_indicators(), funding=[fund("25", "21.54576")]), LINEAR)
    assert r.rate == D("0.8618304")
    assert f"{r.rate:.2%}" == "86.18%"
    assert r.budget_score == D("8.62")
    assert (r.total, r.grade) == (D("98.62"), "优")


def test_budget_sums_rows_and_counts_none_as_zero():
    rows = [fund(60, 50, row=1), fund(40, None, row=2, source="上年结转资金"), fund(None, 20, row=3)]
    r = score_project(project(seed_indicators(), funding=rows), LINEAR)
    assert (r.budget, r.executed, r.rate, r.budget_score) == (D(100), D(70), D("0.7"), D(7))


def test_over_budget_warns_and_rate_is_unclipped():
    r = score_project(project(seed_indicators(), funding=[fund(100, 120, row=4)]), LINEAR)
    assert r.rate == D("1.2") and r.budget_score == 10 and r.total == 100
    assert issues(r) == [("资金", "E5", "over-budget")]
    assert r.status == "警告"


@pytest.mark.parametrize("funding, cell", [([fund(0, 0, row=2)], "D3"), ([], "")])
def test_budget_zero(funding, cell):
    r = score_project(project(seed_indicators(), funding=funding), LINEAR)
    assert r.rate is None and r.budget_score == 0
    assert issues(r) == [("资金", cell, "budget-zero")]
    assert r.total == 90


@pytest.mark.parametrize("amounts, warned", [(["60", "40"], False), (["60", "40.01"], False),
                                             (["60", "39.98"], True), ([], False)])
def test_spending_reconciliation(amounts, warned):
    spending = [SpendingRow(sheet="支出", row=i + 1, cols={"amount": 3}, project_id="P1", item="x", amount=D(a))
                for i, a in enumerate(amounts)]
    r = score_project(project(seed_indicators(), spending=spending), LINEAR)
    assert issues(r) == ([("支出", "D2", "spending-mismatch")] if warned else [])  # the first 金额 cell


def test_not_applicable_rescales_the_whole_total():
    inds = seed_indicators()
    inds[0].nature = "不适用"          # 10 points out of the plan
    inds[1].actual = "1150人次"        # 1150/2300×10 = 5
    inds[1].deviation = "疫情影响"
    r = score_project(project(inds), LINEAR)
    assert r.indicators[0].kind == "not_applicable" and r.indicators[0].score is None
    # (10 budget + 75 indicators) × 100 / (100 − 10) = 94.444… → 94.44
    assert r.subtotals["产出指标"] == D(35)
    assert r.total == D("94.44") and r.grade == "优"
    assert issues(r, ignore=()) == []   # the 不适用 weight still counts in the weight sum


def test_all_not_applicable_is_an_error():
    inds = seed_indicators()
    for i in inds:
        i.nature = "不适用"
    r = score_project(project(inds), LINEAR)
    assert issues(r) == [("绩效指标", "", "no-indicators")] and r.total is None


@pytest.mark.parametrize("zeros, partial, total, grade", [
    (1, None, "90", "优"), (1, "999", "89.99", "良"), (2, None, "80", "良"), (2, "999", "79.99", "中"),
    (4, None, "60", "中"), (4, "999", "59.99", "差"),
])
def test_grade_edges(zeros, partial, total, grade):
    inds = seed_indicators()
    for i in inds[:zeros]:             # ≥… with 0 → 0 points
        i.actual, i.deviation = "0", "原因"
    if partial:                        # ≥1000 with 999 → 9.99
        inds[zeros].target, inds[zeros].actual, inds[zeros].deviation = "≥1000", partial, "原因"
    r = score_project(project(inds), LINEAR)
    assert (r.total, r.grade) == (D(total), grade)


def test_weights_not_100_are_an_error_but_scores_are_filled():
    inds = seed_indicators()
    inds[0].weight = D(15)
    r = score_project(project(inds), LINEAR)
    assert issues(r, ignore=()) == [("绩效指标", "H3", "weight-sum")]  # the project's first 分值 cell
    assert "产出指标合计 55 分，比默认的 50 分多 5 分" in r.issues[0].message
    assert r.total is None and r.grade == "" and r.status == "错误"
    assert r.indicators[0].score == 15 and r.subtotals["产出指标"] == 55


def test_other_split_is_a_warning():
    inds = seed_indicators()
    inds[0].weight, inds[8].weight = D(5), D(15)     # 产出 45, 满意度 15
    r = score_project(project(inds), LINEAR)
    assert issues(r, ignore=()) == [("绩效指标", "", "weight-split")]
    assert r.total == 100 and r.subtotals == {"产出指标": D(45), "效益指标": D(30), "满意度指标": D(15)}


def test_cost_level1_with_points_is_a_non_default_split():
    inds = seed_indicators()
    inds[0].level1 = "成本指标"
    r = score_project(project(inds), LINEAR)
    assert issues(r, ignore=()) == [("绩效指标", "", "weight-split")]
    assert r.subtotals["成本指标"] == 10 and r.total == 100


def test_level1_written_without_suffix_is_the_same_group():
    inds = seed_indicators()
    inds[0].level1 = "产出"
    r = score_project(project(inds), LINEAR)
    assert not r.issues and r.subtotals["产出指标"] == 50


def test_self_score_checks():
    inds = seed_indicators()
    inds[0].actual, inds[0].self_score = "9次", D(10)    # computed 5, said 10, no reason given
    inds[1].self_score = D("9.995")                       # within 0.01 of 10
    inds[2].self_score = D("9.98")                        # 0.02 off
    r = score_project(project(inds), LINEAR)
    assert issues(r, ignore=()) == [("绩效指标", "I3", "self-score-differs"), ("绩效指标", "I5", "self-score-differs"),
                                    ("绩效指标", "K3", "missing-deviation")]
    differs = next(i for i in r.issues if i.cell == "I3")
    assert "10" in differs.message and "5" in differs.message and differs.severity == "warning"
    # budget 10 + self scores 10 + 9.995 + 9.98 + the six computed 10s = 99.975 -> 99.98
    assert r.self_total == D("99.98")
    assert r.total == 95 and r.status == "警告"


@pytest.mark.parametrize("target, actual, weight, cell, code", [
    ("95%-100%", "96%", 10, "F2", "bad-target"),
    ("12月底前", "按时完成", 10, "F2", "bad-target"),      # no year anywhere
    ("≥18次", "十八次", 10, "G2", "bad-actual"),
    ("≥18次", "达成", 10, "G2", "bad-actual"),            # a number target needs a number
    ("≥18次", "18人次", 10, "G2", "unit-mismatch"),
    ("≥100万元", "1000000元", 10, "G2", "unit-mismatch"),
    ("2023年12月", "明年", 10, "G2", "bad-actual"),
    ("≥18次", "18次", None, "H2", "empty-required"),
    ("≥18次", "18次", -5, "H2", "bad-weight"),
])
def test_row_errors_block_the_total(target, actual, weight, cell, code):
    inds = seed_indicators()
    inds.append(ind(target, actual, weight, row=1))
    r = score_project(project(inds, year=""), LINEAR)
    assert issues(r) == [("绩效指标", cell, code)]
    assert r.indicators[-1].score is None
    assert r.total is None and r.grade == "" and r.status == "错误"
    assert r.indicators[0].score == 10                     # the others are still scored
    assert Code(code).severity == "error"


def test_nature_warnings():
    conflict = score_project(project([ind("≤3天", "4天", nature="正向", deviation="x")]), LINEAR)
    assert issues(conflict) == [("绩效指标", "E2", "nature-conflict")]
    assert conflict.indicators[0].kind == "positive" and conflict.indicators[0].score == 10
    unknown = score_project(project([ind("≤3天", "4天", nature="负向", deviation="x")]), LINEAR)
    assert issues(unknown) == [("绩效指标", "E2", "bad-nature")]
    assert unknown.indicators[0].kind == "reverse"
    suffixed = score_project(project([ind("3天", "4天", nature="反向指标", deviation="x")]), LINEAR)
    assert issues(suffixed) == [] and suffixed.indicators[0].kind == "reverse"


def test_missing_deviation_only_when_short_of_full_marks():
    r = score_project(project([ind("≥18次", "9次"), ind("≥18次", "18次", row=2),
                               ind("≥18次", "9次", deviation="疫情", row=3)]), LINEAR)
    assert issues(r, ignore=("weight-sum",)) == [("绩效指标", "K2", "missing-deviation")]


def test_no_indicators():
    r = score_project(project([]), LINEAR)
    assert issues(r) == [("项目信息", "A2", "no-indicators")] and r.total is None


def test_issue_fields_for_the_analyst():
    r = score_project(project([ind("≥18次", "十八次")]), LINEAR)
    issue = next(i for i in r.issues if i.code == "bad-actual")
    assert (issue.file, issue.project_id, issue.value, issue.where) == ("dept.xlsx", "P1", "十八次", "绩效指标!G2")


def test_every_code_raised_is_declared():
    assert all(code.severity in ("error", "warning") and code.title for code in Code)
    assert {"bad-target", "bad-actual", "unit-mismatch", "self-score-required", "self-score-out-of-band",
            "self-score-differs", "missing-deviation", "weight-sum", "weight-split", "budget-zero",
            "over-budget", "spending-mismatch", "missing-weight", "no-indicators"} <= set(Code)


def test_no_reconciliation_against_an_unreadable_executed_amount():
    inds = seed_indicators()
    p = project(inds)
    p.funding[0].executed = None  # the reader reported the cell; 0 would be a false mismatch
    p.spending = [SpendingRow(sheet="支出", row=1, project_id=p.project_id, item="培训费", amount=D(100))]
    r = score_project(p, LINEAR)
    assert "spending-mismatch" not in {i.code for i in r.issues}
