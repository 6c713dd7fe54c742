"""Scoring one project: budget execution plus every 三级指标 (DOMAIN.md §3). Pure, no I/O.

Rounding (half-up, 2 decimals, ``decimal``) happens at exactly these points:
  1. the budget-execution score;
  2. each indicator score (after applying its rule, then again after a deduction);
  3. the total, once, after any 不适用 rescaling.
Subtotals and the unrescaled total are sums of already-rounded scores, so they are exact
and equal the sum of the numbers shown in the tables. The execution rate is never rounded
(writers format it), so 21.54576 / 25 stays 0.8618304.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from dataclasses import replace

from . import parsing as P
from .issues import Code, issue
from .models import Indicator, IndicatorScore, Project, ProjectResult
from .present import fmt_exact
from .rules import Rules
from .schema import FUNDING, INDICATORS, LEVEL1
from .vocab import Kind, Layout, normalize_level, normalize_nature

POSITIVE, REVERSE, EQUAL = Kind.POSITIVE, Kind.REVERSE, Kind.EQUAL
DEADLINE, QUALITATIVE, NOT_APPLICABLE = Kind.DEADLINE, Kind.QUALITATIVE, Kind.NOT_APPLICABLE
REVERSE_METHOD_ZH = {"linear": "线性", "ratio": "比率"}

_CENT = Decimal("0.01")
_ZERO, _ONE, _TWO = Decimal(0), Decimal(1), Decimal(2)


def round_half_up(x: Decimal) -> Decimal:
    """Round to 2 decimals, half away from zero (6.665 -> 6.67, where float round gives 6.66)."""
    return x.quantize(_CENT, rounding=ROUND_HALF_UP)


_fmt = fmt_exact  # a Decimal as people write it, exactly: 10 not 10.00, 6.67, 0.5


class _Context:
    """What every rule of one project needs: the rules, the year, where to put issues."""

    def __init__(self, project: Project, rules: Rules):
        self.project = project
        self.rules = rules
        self.year = P.parse_year(project.year)  # converted once, not per indicator
        self.issues: list = []

    def add(self, code: Code, message: str, where: dict, value="") -> None:
        self.issues.append(issue(code, message, file=self.project.source_file, project_id=self.project.project_id,
                                 value="" if value is None else str(value), **where))


def score_project(project: Project, rules: Rules) -> ProjectResult:
    """Score one project and return its :class:`ProjectResult` with the problems met while
    computing (a target or actual that cannot be read, a self score outside its band …).

    Budget execution, each indicator (positive / reverse / equal / deadline / qualitative,
    不适用 excluded with the total rescaled), subtotals per 一级指标, total and grade. The
    record rules (weights, required cells …) are :mod:`~selfeval_xlsx.checks`' job; the
    pipeline puts both together. An error met here leaves ``total`` None and ``grade`` empty,
    but every indicator score that could be computed is still filled in."""
    ctx = _Context(project, rules)
    budget, executed, rate, budget_score = _score_budget(ctx)
    indicators = tuple(_score_indicator(ctx, ind) for ind in project.indicators)

    na_weight = _ZERO
    indicator_sum = _ZERO
    subtotals: dict[str, Decimal] = {}
    # The department's own total on the same basis as 总分: its self score where it gave one,
    # the computed score elsewhere (the form has no self score for budget execution).
    own_sum, self_given = _ZERO, False
    for s in indicators:
        key = normalize_level(s.indicator.level1, LEVEL1)
        subtotals.setdefault(key, _ZERO)
        if s.kind == NOT_APPLICABLE:
            na_weight += s.indicator.weight or _ZERO
            continue
        if s.score is not None:
            subtotals[key] += s.score
            indicator_sum += s.score
        if s.indicator.self_score is not None:
            own_sum += s.indicator.self_score
            self_given = True
        else:
            own_sum += s.score or _ZERO

    denominator = rules.total_weight - na_weight
    if indicators and (denominator <= 0 or all(s.kind == NOT_APPLICABLE for s in indicators)):
        ctx.add(Code.NO_INDICATORS, "全部指标均为「不适用」，无法计算总分", _sheet_where(project.indicators))
    total = grade = self_total = None
    if not any(i.is_error for i in ctx.issues) and all(s.score is not None or s.kind == NOT_APPLICABLE
                                                       for s in indicators):
        def rescaled(raw: Decimal) -> Decimal:
            # DOMAIN §3 rule 7: total = Σ scores × 100 / (100 − Σ weights of 不适用).
            return round_half_up(raw * rules.total_weight / denominator if na_weight else raw)

        total = rescaled(budget_score + indicator_sum)
        grade = rules.grade(total)
        if project.stated is not None and project.stated.total is not None:
            self_total = project.stated.total  # the 总分 a national form states (the checks compare it)
        elif self_given:
            self_total = rescaled(budget_score + own_sum)
    return ProjectResult(project=project, budget_weight=rules.budget_weight, total_weight=rules.total_weight,
                         budget=budget, executed=executed, rate=rate, budget_score=budget_score,
                         indicators=indicators, subtotals=subtotals, total=total, grade=grade or "",
                         self_total=self_total, issues=tuple(ctx.issues))


def _sheet_where(rows, default_sheet: str = INDICATORS.name) -> dict:
    """Location of a whole sheet's worth of rows (no cell)."""
    return {"sheet": rows[0].sheet if rows else default_sheet, "row": None, "col": None}


def _score_budget(ctx: _Context) -> tuple[Decimal, Decimal, Decimal | None, Decimal]:
    """(Σ budget, Σ executed, rate, budget score) over the project's funding rows."""
    project, rules = ctx.project, ctx.rules
    funding = project.funding
    # Amounts the reader could not read are None; it reported them, here they count 0.
    budget = sum((f.budget or _ZERO for f in funding), _ZERO)
    executed = sum((f.executed or _ZERO for f in funding), _ZERO)
    if budget <= 0:
        # The first row as the sheet has it, whatever order the rows arrived in.
        first = min(funding, key=lambda f: (f.row is None, f.row or 0), default=None)
        # No rows at all: the 资金 sheet, or the national form's own sheet (it has no 资金 sheet).
        where = first.where("budget") if first else _sheet_where([], FUNDING.name if project.layout == Layout.STANDARD
                                                                  else project.sheet)
        ctx.add(Code.BUDGET_ZERO, f"项目「{project.project_id}」全年预算数合计为 {_fmt(budget)} 万元，"
                                  "无法计算预算执行率，预算执行得 0 分", where, _fmt(budget))
        return budget, executed, None, round_half_up(_ZERO)
    rate = executed / budget
    flagged = False
    for f in funding:
        if f.budget is not None and f.executed is not None and f.executed > f.budget:
            flagged = True
            ctx.add(Code.OVER_BUDGET, f"「{f.source}」全年执行数 {_fmt(f.executed)} 万元超过全年预算数 "
                                      f"{_fmt(f.budget)} 万元，请核实", f.where("executed"), _fmt(f.executed))
    if not flagged and executed > budget:
        ctx.add(Code.OVER_BUDGET, f"全年执行数合计 {_fmt(executed)} 万元超过全年预算数合计 "
                                  f"{_fmt(budget)} 万元，请核实", funding[0].where("executed"), _fmt(executed))
    return budget, executed, rate, round_half_up(min(rate, _ONE) * rules.budget_weight)


def _kind(ctx: _Context, ind: Indicator, nature: Kind | None, target: P.Target) -> str:
    """Which rule applies. The target's form decides the family (number / date / words);
    指标性质 decides the direction of a number, and 定性 forces the qualitative rule."""
    by_nature = nature or ""
    inferred = target.direction
    if by_nature == QUALITATIVE:
        return QUALITATIVE
    if target.kind == P.QUANTITY and by_nature:
        conflict = {by_nature, inferred} == {POSITIVE, REVERSE}
        kind = by_nature
    else:
        conflict = bool(by_nature) and by_nature != inferred and not (
            inferred == DEADLINE and by_nature == REVERSE)
        kind = inferred
    if conflict:
        ctx.add(Code.NATURE_CONFLICT, f"「{ind.level3}」指标性质为「{nature.label}」，但年度指标值「{ind.target}」"
                                      f"的写法不同，已按「{nature.label if kind == by_nature else '年度指标值'}」计分",
                ind.where("nature"), ind.nature)
    return kind


def _score_indicator(ctx: _Context, ind: Indicator) -> IndicatorScore:
    # A missing or negative weight is the checks' to report; such a row cannot be scored.
    weight = ind.weight if ind.weight is not None and ind.weight >= 0 else None
    nature = Kind.by_label(normalize_nature(ind.nature))  # unknown (the checks report it): as blank
    if nature == NOT_APPLICABLE:
        return IndicatorScore(ind, NOT_APPLICABLE, NOT_APPLICABLE.label, why="不适用：不计分，总分按比例折算")

    target = P.parse_target(ind.target, ctx.year)
    if target.kind == P.INVALID:
        ctx.add(Code.BAD_TARGET, f"「{ind.level3}」{target.reason}", ind.where("target"), ind.target)
        return IndicatorScore(ind, nature or "", "", why=target.reason)
    kind = _kind(ctx, ind, nature, target)
    actual = P.parse_actual(ind.actual, target)
    if actual.from_fraction:
        ctx.add(Code.PERCENT_AS_FRACTION, f"「{ind.level3}」实际完成值「{ind.actual}」没有写 %，年度指标值「{ind.target}」"
                f"是百分比，已按 {_fmt(actual.value)}% 计分；如实际就是 {ind.actual}%，请改写为「{ind.actual}%」。",
                ind.where("actual"), ind.actual)

    if kind == QUALITATIVE or (kind == DEADLINE and actual.kind == P.BAND):
        return _finish(ctx, ind, weight, _banded(ctx, ind, weight, kind, actual, target))
    if actual.kind != (P.DATE if kind == DEADLINE else P.QUANTITY):
        reason = actual.reason or f"无法识别实际完成值「{ind.actual}」，请填写数值（如 18次、95%）"
        code = Code(actual.problem or Code.BAD_ACTUAL)
        ctx.add(code, f"「{ind.level3}」{reason}", ind.where("actual"), ind.actual)
        return IndicatorScore(ind, kind, "", target_value=target.value, unit=target.unit, why=reason)
    if kind == DEADLINE:
        return _finish(ctx, ind, weight, _deadline(target, actual))
    result = _finish(ctx, ind, weight, _quantitative(kind, target, actual, ctx.rules.reverse_method))
    # 0.92 read as 92 %: the outputs show what was scored, not the fraction typed.
    return replace(result, actual_shown=f"{_fmt(actual.value)}%") if actual.from_fraction else result


class _Scored:
    """Intermediate result of one rule: ``fraction`` of the weight (or a ready ``score``
    for qualitative bands), and the words for ``why``."""

    __slots__ = ("kind", "method", "reached", "head", "fraction", "formula", "score", "band",
                 "target_value", "actual_value", "unit", "from_self", "ok")

    def __init__(self, kind, method, reached, head, fraction=None, formula="", score=None,
                 band="", target_value=None, actual_value=None, unit="", from_self=False, ok=True):
        self.kind, self.method, self.reached, self.head = kind, method, reached, head
        self.fraction, self.formula, self.score, self.band = fraction, formula, score, band
        self.target_value, self.actual_value, self.unit = target_value, actual_value, unit
        self.from_self, self.ok = from_self, ok


def _quantitative(kind: str, target: P.Target, actual: P.Actual, method: str) -> _Scored:
    a, b, u = target.value, actual.value, target.unit or actual.unit
    shown_b = f"B={_fmt(b)}{u}"
    shown_a = f"A={_fmt(a)}{u}"

    def made(label, reached, head, fraction, formula=""):
        return _Scored(kind, label, reached, head, fraction, formula, target_value=a, actual_value=b, unit=u)

    if kind == REVERSE:
        label = f"{REVERSE.label}({REVERSE_METHOD_ZH[method]})"
        if b <= a:
            return made(label, True, f"{shown_b} ≤ {shown_a}", _ONE)
        if a <= 0:
            return made(label, False, f"{shown_b} > {shown_a}，A≤0", _ZERO)
        if method == "ratio":
            return made(label, False, f"{shown_b} > {shown_a}", a / b, f"{_fmt(a)}/{_fmt(b)}")
        if b >= _TWO * a:
            return made(label, False, f"{shown_b} ≥ 2A={_fmt(_TWO * a)}{u}", _ZERO)
        return made(label, False, f"{shown_b} > {shown_a}", _ONE - (b - a) / a,
                    f"(1-({_fmt(b)}-{_fmt(a)})/{_fmt(a)})")
    label = kind.label  # 正向 or 等于
    if kind == EQUAL and a == 0:
        if b <= 0:
            return made(label, True, f"{shown_b}，A=0 且 B≤0", _ONE)
        return made(label, False, f"{shown_b}，A=0 且 B>0", _ZERO)
    counted = max(b, _ZERO)  # a negative actual counts as 0 (DOMAIN §3 rule 2)
    note = "（负数按0计）" if b < 0 else ""
    if counted >= a:
        return made(label, True, f"{shown_b} ≥ {shown_a}", _ONE)
    return made(label, False, f"{shown_b}{note} < {shown_a}", counted / a, f"{_fmt(counted)}/{_fmt(a)}")


def _deadline(target: P.Target, actual: P.Actual) -> _Scored:
    deadline = target.date.isoformat()
    if actual.date is None:  # completion words: 按时完成 / 逾期完成 …
        head = f"{actual.text.strip()}（截止日期 {deadline}）"
    else:
        head = f"{actual.date.isoformat()} {'不晚于' if actual.on_time else '晚于'}截止日期 {deadline}"
    return _Scored(DEADLINE, DEADLINE.label, bool(actual.on_time), head, _ONE if actual.on_time else _ZERO)


def _banded(ctx: _Context, ind: Indicator, weight, kind: str, actual: P.Actual, target: P.Target) -> _Scored:
    """Qualitative rule: the actual names the band, the department's self score must lie in it."""
    rules = ctx.rules
    label = QUALITATIVE.label if kind == QUALITATIVE else f"{DEADLINE.label}({QUALITATIVE.label})"
    if actual.kind != P.BAND:
        reason = (f"无法识别实际完成值「{ind.actual}」，定性指标请填写「{P.REACHED}」「{P.PARTLY}」"
                  f"或「{P.MISSED}」")
        ctx.add(Code.BAD_ACTUAL, f"「{ind.level3}」{reason}", ind.where("actual"), ind.actual)
        return _Scored(kind, label, False, reason, ok=False)
    band = actual.band
    low, high = rules.band(band)
    top = band == rules.qualitative_bands[0][0]
    if weight is None:
        return _Scored(kind, label, band == P.REACHED, f"{band}", band=band, ok=False)
    interval = f"[{_fmt(low * weight)},{_fmt(high * weight)}{']' if top else ')'}"
    head = f"{band}，区间{interval}"
    own = ind.self_score
    if own is None:
        if band == P.REACHED:
            score = round_half_up(weight * rules.qualitative_default)
            return _Scored(kind, label, True, f"{head}，未填自评得分", score=score, band=band,
                           formula=f"按{_fmt(rules.qualitative_default * 100)}%计")
        ctx.add(Code.SELF_SCORE_REQUIRED, f"「{ind.level3}」实际完成值为「{band}」，须在区间 {interval} 内填写自评得分",
                ind.where("self_score"))
        return _Scored(kind, label, False, head, band=band, ok=False)
    if not rules.in_band(band, own, weight):
        ctx.add(Code.SELF_SCORE_OUT_OF_BAND, f"「{ind.level3}」实际完成值为「{band}」，自评得分 {_fmt(own)} "
                                          f"不在区间 {interval} 内", ind.where("self_score"), _fmt(own))
        return _Scored(kind, label, band == P.REACHED, f"{head}，自评{_fmt(own)}不在区间内", band=band, ok=False)
    return _Scored(kind, label, band == P.REACHED, f"{head}", score=round_half_up(own), band=band,
                   formula="取自评得分", from_self=True)


def _finish(ctx: _Context, ind: Indicator, weight, s: _Scored) -> IndicatorScore:
    """Turn a rule's result into the score: weight, rounding, then the deduction."""
    score = None
    if not s.ok or weight is None:
        why = f"{s.method}：{s.head}"
    elif s.score is not None:
        score = s.score
        why = f"{s.method}：{s.head}，{s.formula}{_fmt(score)}"
    else:
        score = round_half_up(s.fraction * weight)
        if s.formula:
            why = f"{s.method}：{s.head}，{s.formula}×{_fmt(weight)}={_fmt(score)}"
        elif s.fraction == _ONE:
            why = f"{s.method}：{s.head}，得满分{_fmt(weight)}"
        else:
            why = f"{s.method}：{s.head}，得0分"
    deduction = ind.deduction
    if score is None:
        pass
    elif deduction is not None and deduction < 0:
        ctx.add(Code.BAD_DEDUCTION, f"「{ind.level3}」扣分 {_fmt(deduction)} 为负数，已忽略",
                ind.where("deduction"), _fmt(deduction))
    elif deduction:
        score = round_half_up(max(_ZERO, score - deduction))
        why += f"，扣{_fmt(deduction)}分后得{_fmt(score)}"
    return IndicatorScore(ind, s.kind, s.method, target_value=s.target_value, actual_value=s.actual_value,
                          unit=s.unit, band=s.band, score=score, reached=s.reached, why=why, from_self=s.from_self)
