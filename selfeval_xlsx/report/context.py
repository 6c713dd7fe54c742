"""The report's content: :func:`build_context` turns a scored
:class:`~selfeval_xlsx.models.ProjectResult` into plain strings for the template (pure, no I/O).

What a finance reviewer sends back shapes every rule here (DOMAIN.md §7): no internal notes
(an empty narrative cell becomes a sentence from the data or a visible ``【待补充：…】``
marker, and the checks list it); every lost point named with its reason, so the named losses
add up to the gap to full marks; over- and under-spending stated with the amount; one number
style (whole numbers bare, otherwise two decimals); “” quotes; titles broken between words.

Template variables (every value is already formatted text; ``—`` stands for a missing value;
``\\n`` starts a new paragraph, ``\\v`` a new line in the same paragraph):

``title``
    ``{year}年度{name}绩效自评报告`` on one line (document properties, file lists);
    ``title_wrapped``: the same with a line break between the project name and 绩效自评报告
    when it is longer than a line (and inside a long name at a word boundary);
    ``title_lines``: those lines.
``project``
    ``id``, ``name`` (a leading ``{year}年``/``{year}年度`` dropped, so the year is not
    printed twice), ``year``, ``department``, ``implementer``, ``leader``,
    ``finance_officer``, ``source_file``.
``headings``
    The section headings, numbered for the sections present: ``basic``, ``implementation``,
    ``objectives``, ``finance``, ``management``, ``funds``, ``evaluation_work``,
    ``conclusion``, ``overall``, ``analysis``, ``problems``, ``improvements``,
    ``other_notes`` (``""`` for an optional section without text).
``narrative`` (the department's text; where a cell is empty, a sentence from the data or a
``【待补充：…】`` marker)
    ``goal``, ``achieved``, ``implementation``, ``management``, ``funds_usage``,
    ``conclusion`` (the department's 实际完成情况, put before the generated 总体结论; may be
    empty), ``analysis`` (the department's 绩效分析, then scores per 一级 and every loss),
    ``problems``, ``improvements``; optional ``objectives``, ``evaluation_work``,
    ``other_notes`` (empty when not filled).
``sentences`` (generated from the numbers)
    ``finance`` (财政支出情况), ``funds`` (资金来源及使用情况), ``conclusion`` (总体结论),
    ``indicators`` (its indicator part), ``subtotals`` (score per part), ``losses`` (one
    paragraph per loss, ``一是…``), ``rescale`` (the 不适用 rescaling, or empty).
``result``
    ``budget``, ``executed``, ``rate``, ``budget_score``, ``budget_weight``, ``total``,
    ``raw_total`` (before rescaling), ``lost`` (points lost), ``grade``, ``self_total``,
    ``status``, ``subtotals`` (list of ``{level1, weight, score}``).
``table`` (the 附表, national layout)
    ``budget`` (年度资金总额: ``initial_budget``, ``budget``, ``executed``, ``weight``,
    ``score``, ``rate``), ``funding`` (the three national rows: ``source``,
    ``initial_budget``, ``budget``, ``executed``, ``rate``), ``indicators`` (``level1``,
    ``level2``, ``level3``, ``level1_merge``/``level2_merge`` (``restart``/``continue``),
    ``nature``, ``target``, ``actual``, ``weight``, ``score``, ``reached``, ``deviation``,
    ``keep_next``), ``goal``, ``achieved``, ``total`` (``weight``, ``score``, ``grade``),
    ``note`` (the 不适用 rescale note, or empty).
``signoff`` (under the 附表): ``unit``, ``leader``, ``finance_officer``, ``date``.
``closing`` (落款): ``unit``, ``date`` (empty when the workbook has neither).
``generated``: when the report was made (W3CDTF, UTC), for the document properties.
Chinese aliases: ``年度``, ``项目名称``, ``项目编号``, ``主管部门``, ``实施单位``, ``总分``, ``等级``.

Values are always XML-escaped and never parsed as a template, so ``{{ 7*7 }}`` in a cell
prints literally. Results that were not scored (``total is None``) are not rendered: the
functions here raise :class:`~selfeval_xlsx.errors.SelfevalError`; a batch should skip them.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal

from .._io import safe_filename
from ..errors import SelfevalError
from ..issues import Code
from ..models import IndicatorScore, ProjectResult
from ..present import DASH, level1_order, text_width
from ..present import fmt_figure as _fmt_figure
from ..vocab import Band, Kind, Source, normalize_source

PENDING = "【待补充：{}】"  # what a report shows for text only the department can give
TITLE_TAIL = "绩效自评报告"
# Half-width units on one title line: 二号 (22 pt) in the 156 mm text block holds 20 CJK
# characters; two units spare for fonts whose digits are wider than half an em.
TITLE_UNITS = 38
LEVEL_UNITS = 10  # the 附表's 一级/二级 columns hold five CJK characters a line
MAX_LISTED = 6  # items listed inside one sentence before "等"
SOURCE_ROWS = ((Source.CURRENT, "其中：当年财政拨款"), (Source.CARRIED_OVER, "上年结转资金"), (Source.OTHER, "其他资金"))
SOURCE_NAMES = {Source.CURRENT.value: "当年财政拨款"}  # the national table's wording in sentences
# Word boundaries a long project name may be broken at (after these / before these).
_BREAK_AFTER = ("年度", "）", ")", "”", "、", "，")
_BREAK_BEFORE = ("（", "(", "“", "专项资金", "补助资金", "奖补资金", "资金", "经费", "项目", "工程")
_LEVEL_SUFFIXES = ("满意度指标", "效益指标", "影响指标", "成本指标", "指标")
# Enum members looked up once: a class attribute of an Enum is a slow lookup, and these are
# compared with every indicator.
_NA, _NA_LABEL, _OTHER_SOURCE = Kind.NOT_APPLICABLE, Kind.NOT_APPLICABLE.label, Source.OTHER.value
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_ZERO = Decimal(0)


_ZERO_TEXT, _NEGATIVE_ZERO = _fmt_figure(_ZERO), _fmt_figure(Decimal("-0"))
_FIGURES: dict[Decimal, str] = {}  # the values met (the same weights and scores recur in every report)
_MAX_FIGURES = 4096


def fmt_figure(value) -> str:
    """:func:`~selfeval_xlsx.present.fmt_figure`, remembered: a report formats ~90 numbers
    and most are the same few weights and scores."""
    if not value:  # 0 and -0 are one key to a cache but not one text
        if type(value) is Decimal:  # six a report (empty funding rows): not formatted anew each time
            return _NEGATIVE_ZERO if value.is_signed() else _ZERO_TEXT
        return _fmt_figure(value)
    if type(value) is not Decimal:
        return _fmt_figure(value)
    try:
        text = _FIGURES.get(value)
    except TypeError:  # not hashable (a signalling NaN cannot be)
        return _fmt_figure(value)
    if text is None:
        text = _fmt_figure(value)
        if len(_FIGURES) >= _MAX_FIGURES:  # start afresh: the amounts of the reports to come
            _FIGURES.clear()
        _FIGURES[value] = text
    return text


def _sum(values) -> Decimal | None:
    values = [v for v in values if v is not None]
    return sum(values, _ZERO) if values else None


def _rate(rate) -> str:
    return DASH if rate is None else fmt_figure(Decimal(str(rate)) * 100) + "%"


def _cn_number(n: int) -> str:
    """1..99 in Chinese numerals (一, 十, 十一, 二十一)."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


# -- text ----------------------------------------------------------------------------------

_INDENT = re.compile(r"^[ \t\u3000]+")
_END_PUNCT = "。！？；.!?;…"
_INLINE_END = _END_PUNCT + "，,、 "
_QUOTES = str.maketrans({"「": "“", "」": "”", "『": "‘", "』": "’"})
_ODD_QUOTES = re.compile("[「」『』]")


def _mainland_quotes(text: str) -> str:
    # str.translate is slow per character; most text has no 「」 at all.
    return text.translate(_QUOTES) if _ODD_QUOTES.search(text) else text


def _clean(text) -> str:
    """Department text -> paragraphs joined by ``\\n``: no leading full-width spaces (the
    style indents), no blank lines, mainland quotes (“” for 「」)."""
    if text is None:
        return ""
    text = _mainland_quotes(str(text))
    if "\n" not in text and "\r" not in text:  # one line, as most cells are
        return _INDENT.sub("", text).rstrip() if text.strip() else ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(_INDENT.sub("", line).rstrip() for line in lines if line.strip())


def _inline(text) -> str:
    """Text quoted inside a generated sentence: one line, no trailing punctuation."""
    # split() and join: white space runs to one space, ends trimmed (what \s+ -> " " and strip do)
    return " ".join(_mainland_quotes(str(text or "")).split()).rstrip(_INLINE_END)


def _sentence_end(text: str) -> str:
    return text if not text or text[-1] in _END_PUNCT else text + "。"


def _q(name) -> str:
    """A name in quotes; quotes inside it become single quotes, as mainland documents nest them."""
    return "“" + _inline(name).replace("“", "‘").replace("”", "’") + "”"


def _listed(items: list[str]) -> str:
    return "、".join(items[:MAX_LISTED]) + ("等" if len(items) > MAX_LISTED else "")


def _paragraphs(items: list[str]) -> str:
    """``一是…。`` ``二是…。``, one paragraph each."""
    return "\n".join(f"{_cn_number(i)}是{_sentence_end(t)}" for i, t in enumerate(items, start=1))


def display_name(name: str, year: str) -> str:
    """The project name as titles and sentences print it: a leading ``{year}年`` or
    ``{year}年度`` is dropped, because they already say ``{year}年度``."""
    name = name.strip()
    short = re.sub(rf"^{re.escape(year)}\s*年度?\s*", "", name) if year else name
    return short or name


def title_lines(year: str, name: str) -> list[str]:
    """The title on as many lines as it needs: never broken inside 绩效自评报告 or a word
    (GB/T 9704); the break goes between the name and 绩效自评报告, and a name longer than a
    line is split at the word boundary that balances its lines best."""
    head = f"{year}年度{name}" if year else name
    if text_width(head + TITLE_TAIL) <= TITLE_UNITS:
        return [head + TITLE_TAIL]
    if text_width(head) <= TITLE_UNITS:
        return [head, TITLE_TAIL]
    cuts = {i + len(w) for w in _BREAK_AFTER for i in _find_all(head, w)}
    cuts |= {i for w in _BREAK_BEFORE for i in _find_all(head, w)}
    cuts = [c for c in cuts if 0 < c < len(head)] or [len(head) // 2]
    best = min(cuts, key=lambda c: (max(text_width(head[:c]), text_width(head[c:])) > TITLE_UNITS,
                                    abs(text_width(head[:c]) - text_width(head[c:]))))
    return [head[:best], head[best:], TITLE_TAIL]


def _find_all(text: str, word: str) -> list[int]:
    return [m.start() for m in re.finditer(re.escape(word), text)]


@functools.lru_cache(maxsize=1024)
def _level_text(name: str) -> str:
    """An 一级/二级 name for its narrow 附表 column: one too long for a line is broken before
    its suffix (``服务对象`` / ``满意度指标``), never inside a word."""
    if text_width(name) <= LEVEL_UNITS:
        return name
    for suffix in _LEVEL_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)] + "\v" + suffix
    return name


def _unbroken_dates(text: str) -> str:
    """Dates keep their hyphens on one line (U+2011, Word's non-breaking hyphen)."""
    if "-" not in text:
        return text
    return _DATE.sub(lambda m: "\u2011".join(m.groups()), text)


def _cn_date(text: str) -> str:
    """``2024-03-15`` (as the reader gives an Excel date) -> ``2024年3月15日``; other text as is."""
    m = _DATE.fullmatch(text.strip().split(" ")[0]) if text.strip() else None
    return f"{m[1]}年{int(m[2])}月{int(m[3])}日" if m else text.strip()


# -- the facts sentences are made of ----------------------------------------------------------

class _Facts:
    """What the sentences say, computed once: scored and 不适用 indicators, losses, amounts."""

    def __init__(self, result: ProjectResult):
        self.result = result
        self.scored = [s for s in result.indicators if s.kind != _NA]
        self.na = [s for s in result.indicators if s.kind == _NA]
        self.reached = [s for s in self.scored if s.reached]
        self.short = [s for s in self.scored if s.score is not None and s.indicator.weight is not None
                      and s.score < s.indicator.weight]
        self.na_weight = _sum(s.indicator.weight for s in self.na) or _ZERO
        self.raw_total = (result.budget_score or _ZERO) + (_sum(s.score for s in self.scored) or _ZERO)
        budget_lost = max(result.budget_weight - (result.budget_score or _ZERO), _ZERO)
        self.budget_lost = budget_lost
        self.lost = budget_lost + sum((s.indicator.weight - s.score for s in self.short), _ZERO)
        self.over = result.executed - result.budget if result.rate is not None and result.rate > 1 else None
        self.unspent = result.budget - result.executed if result.rate is not None and result.rate < 1 else None
        self.rate = _rate(result.rate)  # the 执行率 as text: a report prints it up to six times


def _funding_rows(result: ProjectResult) -> tuple[list[dict], str]:
    """The national table's three rows (other sources count as 其他资金), and the sentence
    part naming the sources that have money (``其中当年财政拨款100万元``)."""
    groups: dict[str, list] = {s.value: [] for s, _ in SOURCE_ROWS}
    for row in result.project.funding:
        key = normalize_source(row.source)
        groups[key if key in groups else _OTHER_SOURCE].append(row)
    rows, named = [], []
    for source, label in SOURCE_ROWS:
        items = groups[source.value]
        if not items:  # most projects have one source: the other rows are zeros (as _sum gives them)
            rows.append({"source": label, "initial_budget": _ZERO_TEXT, "budget": _ZERO_TEXT,
                         "executed": _ZERO_TEXT, "rate": DASH})
            continue
        budget, executed = _sum(r.budget for r in items), _sum(r.executed for r in items)
        rows.append({"source": label, "initial_budget": fmt_figure(_sum(r.initial_budget for r in items) or _ZERO),
                     "budget": fmt_figure(budget or _ZERO), "executed": fmt_figure(executed or _ZERO),
                     "rate": _rate(executed / budget if budget and executed is not None else None)})
        if budget:
            named.append(f"{SOURCE_NAMES.get(source.value, source.value)}{fmt_figure(budget)}万元")
    return rows, "、".join(named)


def _finance_sentence(f: _Facts, name: str, year: str, sources: str) -> str:
    r = f.result
    initial = _sum(row.initial_budget for row in r.project.funding)
    text = f"{name}{year}年度预算安排{fmt_figure(r.budget)}万元"
    if initial is not None and initial != r.budget:
        text += f"（年初预算{fmt_figure(initial)}万元，年中调整为{fmt_figure(r.budget)}万元）"
    text += f"，其中{sources}" if sources else ""
    text += f"，执行数{fmt_figure(r.executed)}万元"
    if f.over is not None:
        text += f"，执行率{f.rate}，执行数超出全年预算数{fmt_figure(f.over)}万元"
    elif r.rate is not None:
        text += f"，完成预算的{f.rate}"
        text += f"，尚有{fmt_figure(f.unspent)}万元未执行" if f.unspent is not None else ""
    return text + "。"


def _funds_sentence(f: _Facts, name: str, year: str, sources: str) -> str:
    r = f.result
    text = f"{year}年度{name}预算安排{fmt_figure(r.budget)}万元"
    text += f"，其中{sources}" if sources else ""
    text += f"，全年执行{fmt_figure(r.executed)}万元"
    spent = [s for s in r.project.spending if s.amount is not None and s.item.strip()]
    if spent:
        text += "，主要支出为" + "、".join(f"{_inline(s.item)}{fmt_figure(s.amount)}万元" for s in spent[:12])
        text += "等" if len(spent) > 12 else ""
    return text + "。"


def _indicator_sentence(f: _Facts) -> str:
    """The indicator part of 总体结论: how many met their target and got full marks."""
    n = len(f.scored)
    if not n:
        return ""
    if not f.short and len(f.reached) == n:
        weights = {s.indicator.weight for s in f.scored}
        if len(weights) == 1:  # the seed's own wording
            return f"{n}个三级指标已达预期效果均得{fmt_figure(weights.pop())}分"
        return f"{n}个三级指标均已达到年度指标值并得满分"
    text = f"{n}个三级指标中{len(f.reached)}个达到年度指标值"
    if len(f.reached) < n:
        text += f"、{n - len(f.reached)}个未达到"
    if f.short:
        text += f"，{len(f.short)}个未得满分，失分情况见“项目绩效分析”"
    return text


def _conclusion(f: _Facts, indicators: str) -> str:
    """总体结论; ``indicators``: its indicator part (:func:`_indicator_sentence`)."""
    r = f.result
    text = f"该项目全年预算数为{fmt_figure(r.budget)}万元，执行数为{fmt_figure(r.executed)}万元"
    if f.over is not None:
        text += f"，执行数超出全年预算数{fmt_figure(f.over)}万元（执行率{f.rate}）"
    elif r.rate is not None:
        text += f"，完成预算的{f.rate}"
    text += f"，得分{fmt_figure(r.total)}分，其中预算执行得分{fmt_figure(r.budget_score)}分"
    if indicators:  # all full marks: the seed's one sentence; otherwise a clause of its own
        text += ("，" if not f.short and len(f.reached) == len(f.scored) else "；") + indicators
    text += "。"
    if f.na:
        text += f"另有{len(f.na)}个三级指标不适用，不计分，总分按适用指标折算。"
    if r.grade:
        text += f"自评等级为“{r.grade}”。"
    return text


def _subtotals(f: _Facts) -> list[dict]:
    weights: dict[str, Decimal] = {}
    for s in f.scored:
        if s.indicator.weight is not None:
            weights[s.indicator.level1] = weights.get(s.indicator.level1, _ZERO) + s.indicator.weight
    subtotals = f.result.subtotals
    return [{"level1": l1, "weight": fmt_figure(weights.get(l1)), "score": fmt_figure(subtotals.get(l1))}
            for l1 in _level1_order(frozenset({**weights, **subtotals}))]


@functools.lru_cache(maxsize=64)
def _level1_order(names: frozenset[str]) -> tuple[str, ...]:
    """:func:`~selfeval_xlsx.present.level1_order`, remembered: every report asks for the
    same few sets."""
    return tuple(level1_order(names))


def _loss_items(f: _Facts) -> list[str]:
    """Every lost point, budget execution first, each with its reason: they add up to
    ``f.lost``, the gap between the applicable full marks and the score."""
    r, items = f.result, []
    if f.budget_lost:
        items.append(f"预算执行率{f.rate}，预算执行得{fmt_figure(r.budget_score)}分"
                     f"（分值{fmt_figure(r.budget_weight)}分），失{fmt_figure(f.budget_lost)}分")
    for s in f.short:
        items.append(_loss_item(s))
    return items


def _loss_item(s: IndicatorScore) -> str:
    ind = s.indicator
    values = f"（年度指标值{_inline(ind.target) or DASH}，实际完成值{_inline(s.actual) or DASH}）"
    if s.band:
        text = f"{_q(ind.level3)}实际完成情况为“{s.band}”" + ("，按完成质量自评" if s.band == Band.REACHED else "")
    elif s.reached:
        text = f"{_q(ind.level3)}达到年度指标值{values}"
    else:
        text = f"{_q(ind.level3)}未达到年度指标值{values}"
    if ind.deduction and ind.deduction > 0:
        text += f"，扣{fmt_figure(ind.deduction)}分"
    text += f"，得{fmt_figure(s.score)}分（分值{fmt_figure(ind.weight)}分），失{fmt_figure(ind.weight - s.score)}分。"
    reason = _inline(ind.deviation) or PENDING.format("偏差原因分析及改进措施")
    return text + f"偏差原因及改进措施：{reason}"


def _rescale(f: _Facts) -> str:
    """The 不适用 rescaling in words, with its arithmetic (DOMAIN §3 rule 7)."""
    if not f.na:
        return ""
    r = f.result
    names = "、".join(_q(s.indicator.level3) for s in f.na)
    return (f"{names}不适用，不计分（分值{fmt_figure(f.na_weight)}分）；适用部分满分"
            f"{fmt_figure(r.total_weight - f.na_weight)}分，得分合计{fmt_figure(f.raw_total)}分，总分按"
            f"{fmt_figure(f.raw_total)}×{fmt_figure(r.total_weight)}÷（{fmt_figure(r.total_weight)}－"
            f"{fmt_figure(f.na_weight)}）＝{fmt_figure(r.total)}分折算")


def _analysis(f: _Facts, own: str, subtotals: str, losses: list[str], rescale: str) -> str:
    """（二）项目绩效分析: the department's text, then (when points were lost, or the
    department wrote nothing) the score of each part and every loss as 一是…二是…"""
    parts = [own] if own else []
    if losses or not own:
        parts.append(f"各部分得分情况：{subtotals}")
    if losses:
        parts.append(f"未得满分的共{len(losses)}项，合计失{fmt_figure(f.lost)}分：")
        parts.append(_paragraphs(losses))
    if rescale:
        parts.append(_sentence_end(rescale))
    return "\n".join(parts)


def _problems(f: _Facts) -> str:
    """存在问题 when the department left it empty: the shortfalls and the warnings that
    describe the project (not the form); empty when the data shows none."""
    r, items = f.result, []
    missed = [s for s in f.scored if not s.reached]
    if missed:
        items.append("部分绩效指标未达到年度指标值：" + _listed(
            [f"{_q(s.indicator.level3)}实际完成值{_inline(s.actual) or DASH}"
             f"（年度指标值{_inline(s.indicator.target) or DASH}）" for s in missed]))
    deducted = [s for s in f.scored if s.indicator.deduction and s.indicator.deduction > 0]
    if deducted:
        items.append(_listed([_q(s.indicator.level3) for s in deducted]) + "存在问题被扣分")
    if f.unspent is not None:
        items.append(f"预算执行率为{f.rate}，尚有{fmt_figure(f.unspent)}万元未执行")
    if f.over is not None:
        items.append(f"执行数超出全年预算数{fmt_figure(f.over)}万元")
    codes = {i.code for i in r.issues}
    if Code.SPENDING_MISMATCH in codes:
        items.append("支出明细合计与全年执行数不一致")
    if Code.SELF_SCORE_DIFFERS in codes:
        items.append("部分指标自评得分与评分规则计算结果不一致")
    return _paragraphs(items)


def _implementation(f: _Facts, goal: str) -> str:
    """项目实施情况 when the department left it empty: the goal and the indicators met."""
    lines = [f"项目年度总体目标：{_sentence_end(goal)}"] if goal else []
    if f.reached:
        lines.append(_achieved(f))
    return "\n".join(lines)


def _achieved(f: _Facts) -> str:
    """实际完成情况 from the indicators (empty when none was met)."""
    if not f.reached:
        return ""
    done = [f"{_q(s.indicator.level3)}{_inline(s.actual)}" for s in f.reached]
    return f"全年{len(f.scored)}个三级指标中{len(f.reached)}个达到年度指标值，其中{_listed(done)}。"


# -- context -------------------------------------------------------------------------------

def _headings(optional: dict[str, str]) -> dict[str, str]:
    """Section headings numbered for the sections present (optional ones only with text)."""
    return dict(_numbered_headings(frozenset(k for k, text in optional.items() if not text)))


@functools.lru_cache(maxsize=16)
def _numbered_headings(absent: frozenset[str]) -> dict[str, str]:
    """:func:`_headings` for the optional sections in ``absent`` left out (eight sets at most)."""
    top = ["basic", "evaluation_work", "conclusion", "problems", "improvements", "other_notes"]
    names = {"basic": "基本情况", "evaluation_work": "自评工作开展情况", "conclusion": "评价结论与绩效分析",
             "problems": "存在问题或不足", "improvements": "下一步改进措施", "other_notes": "其他需要说明的问题"}
    present = [k for k in top if k not in absent]
    headings = {k: "" for k in top}
    headings.update({k: f"{_cn_number(i)}、{names[k]}" for i, k in enumerate(present, start=1)})
    subs = [("implementation", "项目实施情况"), ("objectives", "项目绩效目标"), ("finance", "财政支出情况"),
            ("management", "项目管理情况"), ("funds", "项目资金来源及使用情况")]
    subs = [(k, t) for k, t in subs if k not in absent]
    headings["objectives"] = ""
    headings.update({k: f"（{_cn_number(i)}）{t}" for i, (k, t) in enumerate(subs, start=1)})
    headings.update({"overall": "（一）总体结论", "analysis": "（二）项目绩效分析"})
    return headings


def _indicator_rows(result: ProjectResult) -> list[dict]:
    rows, prev1, prev2 = [], None, None
    count = len(result.indicators)
    for k, s in enumerate(result.indicators):
        ind = s.indicator
        key1, key2 = ind.level1, (ind.level1, ind.level2)
        # Merge 一级/二级 cells down consecutive rows with the same value, as printed tables do.
        same1, same2 = key1 == prev1, key2 == prev2
        prev1, prev2 = key1, key2
        na = s.kind == _NA
        rows.append({
            "level1": "" if same1 else _level_text(ind.level1), "level1_merge": "continue" if same1 else "restart",
            "level2": "" if same2 else _level_text(ind.level2), "level2_merge": "continue" if same2 else "restart",
            "level3": ind.level3, "nature": ind.nature, "target": _unbroken_dates(ind.target) or DASH,
            "actual": _unbroken_dates(s.actual) or DASH, "weight": fmt_figure(ind.weight),
            "score": _NA_LABEL if na else fmt_figure(s.score), "reached": bool(s.reached),
            "deviation": _clean(ind.deviation),
            "keep_next": k >= count - 2,  # the last rows stay with the 总分 row
        })
    return rows


def _generated(when: dt.datetime | None) -> str:
    return _w3cdtf(when or dt.datetime.now(dt.timezone.utc))


@functools.lru_cache(maxsize=4)
def _w3cdtf(when: dt.datetime) -> str:
    """``when`` in UTC as W3CDTF, remembered: a batch dates all its reports with the run's time."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_context(result: ProjectResult, *, generated: dt.datetime | None = None) -> dict:
    """The template context of one scored project (see the module docstring for every key).
    ``generated``: the run's time, for the document properties (now when None). Reads the
    result, returns plain dicts/lists/strings. Raises ``SelfevalError`` when the project was
    not scored (``result.total is None``)."""
    p = result.project
    if result.total is None:
        raise SelfevalError(f"项目「{p.project_id} {p.name}」因数据错误未能计分，不生成报告。")
    year = str(p.year).strip()
    name = display_name(p.name, year)
    f = _Facts(result)
    funding, sources = _funding_rows(result)
    subtotals = _subtotals(f)
    subtotal_text = "；".join([f"预算执行得{fmt_figure(result.budget_score)}分（分值{fmt_figure(result.budget_weight)}分）"]
                             + [f"{s['level1']}得{s['score']}分（分值{s['weight']}分）" for s in subtotals]) + "。"
    losses, rescale = _loss_items(f), _rescale(f)
    funds = _funds_sentence(f, name, year, sources)
    indicators = _indicator_sentence(f)

    text = {field: _clean(getattr(p, field)) for field in (
        "goal", "achieved", "implementation", "management", "funds_usage", "analysis", "problems",
        "improvements", "objectives", "evaluation_work", "other_notes")}
    achieved = text["achieved"] or _achieved(f)
    narrative = {
        "goal": text["goal"] or PENDING.format("年度总体目标"),
        "achieved": achieved or PENDING.format("实际完成情况"),
        "implementation": text["implementation"] or _implementation(f, text["goal"]) or PENDING.format("项目实施情况"),
        "management": text["management"] or PENDING.format("项目管理情况"),
        "funds_usage": text["funds_usage"] or funds,
        "conclusion": _sentence_end(text["achieved"]),
        "analysis": _analysis(f, text["analysis"], subtotal_text, losses, rescale),
        "problems": text["problems"] or _problems(f) or PENDING.format("存在问题或不足"),
        "improvements": text["improvements"] or PENDING.format("下一步改进措施"),
        "objectives": text["objectives"], "evaluation_work": text["evaluation_work"],
        "other_notes": text["other_notes"],
    }
    lines = title_lines(year, name)
    total, grade = fmt_figure(result.total), result.grade or DASH
    return {
        "title": "".join(lines), "title_lines": lines, "title_wrapped": "\v".join(lines),
        "project": {"id": p.project_id, "name": name, "year": year, "department": p.department,
                    "implementer": p.implementer or DASH, "leader": p.leader, "finance_officer": p.finance_officer,
                    "source_file": p.source_file},
        "headings": _headings({k: text[k] for k in ("objectives", "evaluation_work", "other_notes")}),
        "narrative": narrative,
        "sentences": {"finance": _finance_sentence(f, name, year, sources), "funds": funds,
                      "conclusion": _conclusion(f, indicators), "indicators": indicators,
                      "subtotals": subtotal_text, "losses": _paragraphs(losses), "rescale": rescale},
        "result": {"budget": fmt_figure(result.budget), "executed": fmt_figure(result.executed),
                   "rate": f.rate, "budget_score": fmt_figure(result.budget_score),
                   "budget_weight": fmt_figure(result.budget_weight), "total": total,
                   "raw_total": fmt_figure(f.raw_total), "lost": fmt_figure(f.lost), "grade": grade,
                   "self_total": fmt_figure(result.self_total), "status": result.status, "subtotals": subtotals},
        "table": {
            "budget": {"initial_budget": fmt_figure(_sum(r.initial_budget for r in p.funding)),
                       "budget": fmt_figure(result.budget), "executed": fmt_figure(result.executed),
                       "weight": fmt_figure(result.budget_weight), "score": fmt_figure(result.budget_score),
                       "rate": f.rate},
            "funding": funding,
            "indicators": _indicator_rows(result),
            "goal": narrative["goal"], "achieved": narrative["achieved"],
            "total": {"weight": fmt_figure(result.total_weight), "score": total, "grade": grade},
            "note": f"注：{rescale}。" if rescale else "",
        },
        "signoff": {"unit": _inline(p.closing_unit) or p.implementer or p.department, "leader": p.leader,
                    "finance_officer": p.finance_officer, "date": _cn_date(p.closing_date)},
        "closing": {"unit": _inline(p.closing_unit), "date": _cn_date(p.closing_date)},
        "generated": _generated(generated),
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
