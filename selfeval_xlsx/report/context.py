"""The report's content: :func:`build_context` turns a scored
:class:`~selfeval_xlsx.models.ProjectResult` into plain strings for the template (pure, no I/O).

Template variables (every value is already formatted text; numbers print as ``100`` or
``92.5``, amounts in 万元, rates as ``100%``; ``—`` stands for a missing value):

``project``
    ``id``, ``name``, ``year``, ``department``, ``implementer``, ``leader``, ``source_file``.
``title``
    ``{year}年度{name}绩效自评报告``.
``narrative`` (the department's text cells, with a generated sentence when a cell is empty)
    ``goal`` (年度总体目标), ``achieved`` (实际完成情况), ``implementation`` (项目实施情况),
    ``management`` (项目管理情况), ``funds_usage`` (资金使用情况, else ``sentences.funds``),
    ``conclusion`` (text put before the generated 总体结论 sentence: 实际完成情况, may be
    empty), ``analysis`` (绩效分析), ``problems`` (存在问题), ``improvements`` (改进措施).
``sentences`` (generated from the numbers, in the seed's wording)
    ``finance`` (财政支出情况), ``funds`` (资金来源及使用情况), ``conclusion`` (总体结论:
    budget, execution, total, indicator results, shortfalls), ``indicators`` (the indicator
    part of it alone), ``subtotals`` (score per 一级指标), ``shortfalls`` (the indicators
    that fell short, or empty).
``result``
    ``budget``, ``executed``, ``rate``, ``budget_score``, ``budget_weight``, ``total``,
    ``grade``, ``self_total``, ``status``, ``subtotals`` (list of ``{level1, weight, score}``).
``table`` (the 附表)
    ``budget`` (年度资金总额 row: ``initial_budget``, ``budget``, ``executed``, ``weight``,
    ``score``, ``rate``), ``funding`` (one row per 资金来源: ``source``, ``initial_budget``,
    ``budget``, ``executed``, ``rate``), ``indicators`` (one row per 三级指标: ``level1``,
    ``level2``, ``level3``, ``level1_merge``/``level2_merge`` (``restart``/``continue`` for
    ``w:vMerge``; the text is empty on continued rows), ``nature``, ``target``, ``actual``,
    ``weight``, ``score`` (``不适用`` for 不适用 rows), ``reached`` (bool), ``deviation``),
    ``goal``, ``achieved``, ``total`` (``weight``, ``score``, ``grade``).
Chinese aliases for simple templates: ``年度``, ``项目名称``, ``项目编号``, ``主管部门``,
``实施单位``, ``总分``, ``等级``.

Line breaks in any value become separate paragraphs (same paragraph and run style). Values
are always XML-escaped and never parsed as a template, so ``{{ 7*7 }}`` in a cell prints
literally. Results that were not scored (``total is None``) are not rendered: the functions
here raise :class:`~selfeval_xlsx.errors.SelfevalError`; a batch should skip them.
"""
from __future__ import annotations

import re
from decimal import Decimal

from .._io import safe_filename
from ..errors import SelfevalError
from ..models import ProjectResult
from ..present import DASH, fmt_number, fmt_rate, level1_order
from ..vocab import Kind, Source

SOURCE_NAMES = {Source.CURRENT.value: "当年财政拨款"}  # the national table's wording
MAX_NAMED = 6  # shortfalls named in a sentence; the rest are pointed to the 附表


def _sum(values) -> Decimal | None:
    values = [v for v in values if v is not None]
    return sum(values, Decimal(0)) if values else None


# -- text ----------------------------------------------------------------------------------

_INDENT = re.compile(r"^[ \t\u3000]+")
_END_PUNCT = "。！？；.!?;…"


def _clean(text) -> str:
    """Department text -> paragraphs joined by ``\\n``: no leading full-width spaces (the
    style indents), no blank lines."""
    if text is None:
        return ""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(_INDENT.sub("", line).rstrip() for line in lines if line.strip())


def _inline(text) -> str:
    """Text quoted inside a generated sentence: one line, no trailing punctuation."""
    return re.sub(r"\s+", " ", str(text or "")).strip().rstrip(_END_PUNCT + "，,、 ")


def _sentence_end(text: str) -> str:
    return text if not text or text[-1] in _END_PUNCT else text + "。"


# -- context -------------------------------------------------------------------------------

def _funding_by_source(result: ProjectResult) -> list[dict]:
    groups: dict[str, list] = {}
    for row in result.project.funding:
        groups.setdefault(row.source.strip() or "其他资金", []).append(row)
    rows = []
    for source, items in groups.items():
        budget, executed = _sum(r.budget for r in items), _sum(r.executed for r in items)
        rate = executed / budget if budget and executed is not None else None
        rows.append({"source": SOURCE_NAMES.get(source, source),
                     "initial_budget": fmt_number(_sum(r.initial_budget for r in items)),
                     "budget": fmt_number(budget), "executed": fmt_number(executed),
                     "rate": fmt_rate(rate), "_budget": budget})
    return rows


def _indicator_rows(result: ProjectResult) -> list[dict]:
    rows, prev1, prev2 = [], None, None
    for s in result.indicators:
        ind = s.indicator
        key1, key2 = ind.level1, (ind.level1, ind.level2)
        # Merge 一级/二级 cells down consecutive rows with the same value, as printed tables do.
        same1, same2 = key1 == prev1, key2 == prev2
        prev1, prev2 = key1, key2
        na = s.kind == Kind.NOT_APPLICABLE
        rows.append({
            "level1": "" if same1 else ind.level1, "level1_merge": "continue" if same1 else "restart",
            "level2": "" if same2 else ind.level2, "level2_merge": "continue" if same2 else "restart",
            "level3": ind.level3, "nature": ind.nature, "target": ind.target or DASH,
            "actual": ind.actual or DASH, "weight": fmt_number(ind.weight),
            "score": Kind.NOT_APPLICABLE.label if na else fmt_number(s.score), "reached": bool(s.reached),
            "deviation": _clean(ind.deviation),
        })
    return rows


def _indicator_sentence(result: ProjectResult) -> tuple[str, str]:
    """The indicator part of the conclusion, and the shortfall list (or "")."""
    scored = [s for s in result.indicators if s.kind != Kind.NOT_APPLICABLE]
    na = [s for s in result.indicators if s.kind == Kind.NOT_APPLICABLE]
    short = [s for s in scored if not s.reached or s.score is None]
    reached = [s for s in scored if s.reached and s.score is not None]  # the complement of short
    parts = []
    if scored and not short:
        weights = {s.indicator.weight for s in scored}
        full = all(s.score is not None and s.indicator.weight is not None and s.score >= s.indicator.weight
                   for s in scored)
        if full and len(weights) == 1:
            parts.append(f"{len(scored)}个三级指标已达预期效果均得{fmt_number(weights.pop())}分")
        elif full:
            parts.append(f"{len(scored)}个三级指标均已达到预期目标，均得满分")
        else:
            got = _sum(s.score for s in scored)
            worth = _sum(s.indicator.weight for s in scored)
            parts.append(f"{len(scored)}个三级指标均已达预期效果，合计得{fmt_number(got)}分"
                         f"（分值{fmt_number(worth)}分）")
    shortfalls = ""
    if short:
        items = []
        for s in short[:MAX_NAMED]:
            ind = s.indicator
            score = "未能计分" if s.score is None else f"得{fmt_number(s.score)}分"
            reason = _inline(ind.deviation) or "单位未填写"
            items.append(f"「{_inline(ind.level3)}」{score}（分值{fmt_number(ind.weight)}分），偏差原因：{reason}")
        shortfalls = "；".join(items)
        if len(short) > MAX_NAMED:
            shortfalls += f"；其余{len(short) - MAX_NAMED}个详见附表"
        lead = f"{len(reached)}个三级指标已达预期效果" if reached else "三级指标均未完全达到预期效果"
        parts.append(f"{lead}；{len(short)}个三级指标未完全达到预期：{shortfalls}")
    if na:
        names = "".join(f"「{_inline(s.indicator.level3)}」" for s in na)
        parts.append(f"另有{len(na)}个三级指标不适用（{names}），不计分，总分按适用指标折算")
    return "；".join(parts), shortfalls


def _subtotals(result: ProjectResult) -> list[dict]:
    weights: dict[str, Decimal] = {}
    for s in result.indicators:
        if s.kind != Kind.NOT_APPLICABLE and s.indicator.weight is not None:
            weights[s.indicator.level1] = weights.get(s.indicator.level1, Decimal(0)) + s.indicator.weight
    order = level1_order({**weights, **result.subtotals})
    return [{"level1": l1, "weight": fmt_number(weights.get(l1)), "score": fmt_number(result.subtotals.get(l1))}
            for l1 in order]


def build_context(result: ProjectResult) -> dict:
    """The template context of one scored project (see the module docstring for every key).
    Pure: reads the result, returns plain dicts/lists/strings. Raises ``SelfevalError`` when
    the project was not scored (``result.total is None``)."""
    p = result.project
    if result.total is None:
        raise SelfevalError(f"项目「{p.project_id} {p.name}」因数据错误未能计分，不生成报告。")
    name, year = p.name.strip(), str(p.year).strip()
    sources = _funding_by_source(result)
    budget, executed = fmt_number(result.budget), fmt_number(result.executed)
    rate = fmt_rate(result.rate)
    weight_sum = _sum(s.indicator.weight for s in result.indicators) or Decimal(0)
    budget_weight = result.budget_weight  # what the rules gave budget execution

    source_text = "、".join(f"{r['source']}{r['budget']}万元" for r in sources if r["_budget"] is not None)
    finance = f"{name}{year}年度预算安排{budget}万元"
    finance += f"，其中{source_text}" if source_text else ""
    finance += f"，执行数{executed}万元"
    finance += f"，完成预算的{rate}。" if result.rate is not None else "。"

    funds = f"{year}年度{name}预算安排{budget}万元"
    funds += f"，其中{source_text}" if source_text else ""
    funds += f"，全年执行{executed}万元"
    spent = [s for s in p.spending if s.amount is not None and s.item.strip()]
    if spent:
        listed = "、".join(f"{_inline(s.item)}{fmt_number(s.amount)}万元" for s in spent[:12])
        funds += f"，主要支出为{listed}{'等' if len(spent) > 12 else ''}"
    funds += "。"

    indicators, shortfalls = _indicator_sentence(result)
    conclusion = f"该项目全年预算数为{budget}万元，执行数为{executed}万元"
    conclusion += f"，完成预算的{rate}" if result.rate is not None else ""
    conclusion += f"，得分{fmt_number(result.total)}分"
    if result.budget_score is not None:
        conclusion += f"，其中预算执行得分{fmt_number(result.budget_score)}分"
        conclusion += f"，{indicators}" if indicators else ""
    elif indicators:
        conclusion += f"，其中{indicators}"
    conclusion += "。"
    if result.grade:
        conclusion += f"自评等级为“{result.grade}”。"

    subtotals = _subtotals(result)
    subtotal_text = "；".join(f"{s['level1']}得{s['score']}分（分值{s['weight']}分）" for s in subtotals)
    subtotal_text = (f"预算执行得{fmt_number(result.budget_score)}分（分值{fmt_number(budget_weight)}分）"
                     + (f"；{subtotal_text}" if subtotal_text else "") + "。")

    goal, achieved = _clean(p.goal), _clean(p.achieved)
    implementation = _clean(p.implementation)
    if not implementation:
        lines = ([f"项目年度总体目标：{_sentence_end(goal)}"] if goal else []) + \
                ([f"实际完成情况：{_sentence_end(achieved)}"] if achieved else [])
        implementation = "\n".join(lines) or "（单位未填写项目实施情况。）"
    problems = _clean(p.problems)
    if not problems:
        problems = (f"部分三级指标未达到年度指标值：{shortfalls}。" if shortfalls
                    else "（单位未填写存在问题或不足。）")
    narrative = {
        "goal": goal, "achieved": achieved, "implementation": implementation,
        "management": _clean(p.management) or "（单位未填写项目管理情况。）",
        "funds_usage": _clean(p.funds_usage) or funds,
        "conclusion": _sentence_end(achieved),
        "analysis": _clean(p.analysis) or f"项目各项得分情况：{subtotal_text}",
        "problems": problems,
        "improvements": _clean(p.improvements) or "（单位未填写下一步改进措施。）",
    }
    total, grade = fmt_number(result.total), result.grade or DASH
    return {
        "title": f"{year}年度{name}绩效自评报告",
        "project": {"id": p.project_id, "name": name, "year": year, "department": p.department,
                    "implementer": p.implementer or DASH, "leader": p.leader, "source_file": p.source_file},
        "narrative": narrative,
        "sentences": {"finance": finance, "funds": funds, "conclusion": conclusion,
                      "indicators": indicators, "subtotals": subtotal_text, "shortfalls": shortfalls},
        "result": {"budget": budget, "executed": executed, "rate": rate,
                   "budget_score": fmt_number(result.budget_score), "budget_weight": fmt_number(budget_weight),
                   "total": total, "grade": grade, "self_total": fmt_number(result.self_total),
                   "status": result.status, "subtotals": subtotals},
        "table": {
            "budget": {"initial_budget": fmt_number(_sum(r.initial_budget for r in p.funding)),
                       "budget": budget, "executed": executed, "weight": fmt_number(budget_weight),
                       "score": fmt_number(result.budget_score), "rate": rate},
            "funding": [{k: v for k, v in r.items() if not k.startswith("_")} for r in sources],
            "indicators": _indicator_rows(result),
            "goal": goal or DASH, "achieved": achieved or DASH,
            "total": {"weight": fmt_number(result.total_weight), "score": total, "grade": grade},
        },
        "年度": year, "项目名称": name, "项目编号": p.project_id, "主管部门": p.department,
        "实施单位": p.implementer, "总分": total, "等级": grade,
    }


def report_filename(result: ProjectResult) -> str:
    """``{项目编号}_{项目名称}.docx``, made safe for Windows and POSIX (no separators, no
    forbidden or control characters, no leading dots or ``..``, no device names, at most 120
    characters and 200 UTF-8 bytes before ``.docx``: Linux file systems count bytes (255)
    and 120 Chinese characters take 360)."""
    p = result.project
    return safe_filename(f"{p.project_id}_{p.name}".strip(), max_len=120, max_bytes=200) + ".docx"


