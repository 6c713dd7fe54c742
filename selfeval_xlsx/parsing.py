"""Reading numbers, targets (年度指标值) and actuals (实际完成值) as departments write them.

Pure functions, no I/O. Every written form of DOMAIN.md §3 is understood: operators as
symbols (also full-width and look-alike ones), ASCII or words; numbers with units, thousands
separators and full-width digits; percents; deadlines; qualitative wording. Nothing here
raises on bad input: an unreadable target or actual comes back with ``kind == "invalid"``
and a ``problem`` code plus a Chinese ``reason`` that the scorer turns into an Issue.
"""
from __future__ import annotations

import calendar
import datetime as dt
import math
import numbers
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from .issues import Code
from .vocab import Band, Kind

# Target kinds (a date target is a deadline, words without a number a qualitative target)
QUANTITY, INVALID = "quantity", "invalid"
DEADLINE, QUALITATIVE = Kind.DEADLINE, Kind.QUALITATIVE
# Actual kinds (QUANTITY and INVALID are shared)
DATE, BAND = "date", "band"
# Qualitative bands (DOMAIN.md §3 rule 5)
REACHED, PARTLY, MISSED = Band.REACHED, Band.PARTLY, Band.MISSED
GE, GT, LE, LT, EQ = "≥", ">", "≤", "<", "="

# Full-width and look-alike characters -> the ASCII/standard ones the grammar below expects.
_TRANSLATE = str.maketrans({
    **{chr(0xFF10 + i): str(i) for i in range(10)},
    "．": ".", "，": ",", "％": "%", "﹪": "%", "＞": ">", "＜": "<", "＝": "=", "═": "=",
    "≧": "≥", "≦": "≤", "⩾": "≥", "⩽": "≤", "－": "-", "−": "-", "—": "-", "＋": "+",
    "：": ":", "／": "/", "\u3000": " ", "\u00a0": " ",
})
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")  # "2023-11-30 00:00:00"
_SPACES = re.compile(r"\s+")
_PUNCT_END = "。.;；,!！"

# Operator words, longest first so 不低于 wins over 低于 and 大于等于 over 大于.
_OP_WORDS = {
    "大于或等于": GE, "大于等于": GE, "不低于": GE, "不少于": GE, "不小于": GE, "至少": GE,
    "达到": GE, "≥": GE,
    "小于或等于": LE, "小于等于": LE, "不高于": LE, "不超过": LE, "不多于": LE, "不大于": LE,
    "控制在": LE, "最多": LE, "≤": LE,
    # 低于 is written for "at most" in many tables; either way it is a reverse target.
    "低于": LT, "小于": LT, "<": LT,
    "高于": GT, "大于": GT, "超过": GT, ">": GT,
    "等于": EQ, "=": EQ,
}
_SUFFIX_OPS = {"及以上": GE, "以上": GE, "及以下": LE, "以下": LE, "以内": LE, "之内": LE, "内": LE}
_OP_RE = "|".join(sorted(map(re.escape, _OP_WORDS), key=len, reverse=True))
_SUFFIX_RE = "|".join(sorted(map(re.escape, _SUFFIX_OPS), key=len, reverse=True))
_NUM_RE = r"[+-]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_UNIT_RE = r"[^\d.,+\-≥≤<>=:]{0,8}?"

_QUANTITY = re.compile(rf"(?P<num>{_NUM_RE})(?P<unit>{_UNIT_RE})")
# label (e.g. 满意度) + operator + number + unit + suffix (以上/以内 …)
_EXPRESSION = re.compile(
    rf"(?P<label>\D*?)(?P<op>{_OP_RE})?(?P<num>{_NUM_RE})(?P<unit>{_UNIT_RE})(?P<suffix>{_SUFFIX_RE})?")

# Date forms, most specific first. Month-only forms mean the end of that month.
_DATE_FORMS = (
    ("ymd", re.compile(r"(?P<y>\d{4})(?:[-/.]|年)(?P<m>\d{1,2})(?:[-/.]|月)(?P<d>\d{1,2})[日号]?")),
    ("y_end", re.compile(r"(?P<y>\d{4})年(?:底|末)")),
    ("ym", re.compile(r"(?P<y>\d{4})(?:年|[-/])(?P<m>\d{1,2})月?(?:底|末|份)?")),
    ("md", re.compile(r"(?P<m>\d{1,2})月(?:(?P<d>\d{1,2})[日号]|底|末|份)?")),
)
# Words allowed around a deadline date (they carry no number).
_DEADLINE_OK_WORDS = re.compile(r"^(?:[≤<=]|不晚于|截至|截止|截止到|截至到|于|在|完成时间|时间|前|之前|以前|"
                                r"底前|内|以内|完成|前完成|全部完成|按时完成)*$")

_REACHED_WORDS = frozenset({"达成", "已达成", "达成预期指标", "达成年度指标", "已完成", "完成"})
_ON_TIME_WORDS = frozenset({"按时完成", "已按时完成", "如期完成", "按期完成", "提前完成", "全部完成",
                            "已全部完成"}) | _REACHED_WORDS
_LATE_WORDS = ("未按时完成", "未按期完成", "未如期完成", "逾期", "延期", "延迟", "推迟", "未完成")

_UNIT_ALIASES = {"百分比": "%", "百分之": "%"}


@dataclass(frozen=True)
class Target:
    """A parsed 年度指标值 (A).

    ``kind``: ``quantity`` (``op`` one of ≥ > ≤ < =, ``value``, ``unit``), ``deadline``
    (``date``: done on or before it), ``qualitative`` (text without a number) or ``invalid``
    (``problem`` is the issue code, ``reason`` says why in Chinese)."""

    text: str
    kind: str
    op: str = ""
    value: Decimal | None = None
    unit: str = ""
    date: dt.date | None = None
    problem: str = ""
    reason: str = ""

    @property
    def direction(self) -> str:
        """How the target scores when 指标性质 is blank: a :class:`Kind` (positive, reverse,
        equal, deadline, qualitative) or "" (invalid)."""
        if self.kind == QUANTITY:
            return {GE: Kind.POSITIVE, GT: Kind.POSITIVE, LE: Kind.REVERSE, LT: Kind.REVERSE}.get(self.op, Kind.EQUAL)
        return "" if self.kind == INVALID else self.kind


@dataclass(frozen=True)
class Actual:
    """A parsed 实际完成值 (B), read against its target.

    ``kind``: ``quantity`` (``value`` in ``unit``; no unit written -> the target's),
    ``date`` (``date`` may be None for completion words; ``on_time`` says whether the
    deadline was kept), ``band`` (``band`` is 达成 / 部分达成 / 未达成) or ``invalid``
    (``problem`` is ``bad-actual`` or ``unit-mismatch``, ``reason`` says why).
    ``from_fraction``: a unit-less 0 < B ≤ 1 against a percent target, read as B × 100 %."""

    text: str
    kind: str
    value: Decimal | None = None
    unit: str = ""
    date: dt.date | None = None
    on_time: bool | None = None
    band: str = ""
    problem: str = ""
    reason: str = ""
    from_fraction: bool = False


def _normalize(text: str) -> str:
    s = str(text).translate(_TRANSLATE).strip()
    s = _TIME_SUFFIX.sub("", s)
    s = _SPACES.sub("", s)
    s = s.replace(">=", GE).replace("<=", LE).replace("≥=", GE).replace("≤=", LE).replace("==", "=")
    return s.rstrip(_PUNCT_END)


def _unit(text: str) -> str:
    u = text.strip()
    return _UNIT_ALIASES.get(u, u)


def _decimal(num: str) -> Decimal | None:
    try:
        return Decimal(num.replace(",", ""))
    except InvalidOperation:
        return None


def parse_quantity(text) -> tuple[Decimal, str] | None:
    """``"2,300人次"`` -> ``(Decimal("2300"), "人次")``; ``"100百分比"`` -> ``(100, "%")``.
    Only a number followed by an optional unit (no operator, no other words); None otherwise."""
    if not isinstance(text, str):
        return None
    m = _QUANTITY.fullmatch(_normalize(text))
    if not m:
        return None
    value = _decimal(m["num"])
    return None if value is None else (value, _unit(m["unit"]))


def parse_number(value) -> Decimal | None:
    """A cell value as a ``Decimal``, or None when it is not a number.

    Numbers pass through (floats via their shortest repr, so 0.1 stays ``0.1``); text may
    have thousands separators, full-width digits, spaces, a sign and a unit suffix
    (``"100万元"`` -> 100: the caller knows the column's unit). Booleans, dates, NaN and
    words (``"一百万"``) give None."""
    kind = type(value)
    if kind is float:  # the common cases first (the ABC checks below are slow)
        return Decimal(repr(value)) if math.isfinite(value) else None
    if kind is int:
        return Decimal(value)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, numbers.Integral):
        return Decimal(int(value))
    if isinstance(value, numbers.Real):
        f = float(value)
        return Decimal(repr(f)) if math.isfinite(f) else None
    if isinstance(value, str):
        q = parse_quantity(value)
        return q[0] if q else None
    return None


def parse_year(year) -> int | None:
    """The 年度 as an int (2023, "2023", "2023年" -> 2023), or None when it is not a year."""
    if year is None or isinstance(year, int):
        return year if year is None or 1900 <= year <= 2200 else None
    try:
        y = int(str(year).strip()[:4])
    except ValueError:
        return None
    return y if 1900 <= y <= 2200 else None


def _find_date(s: str, year: int | None) -> tuple[dt.date | None, str, str] | None:
    """Look for one date form in ``s``. Returns (date, words around it, problem reason) or
    None when ``s`` holds no date form. A month-only date is the last day of the month."""
    for form, pattern in _DATE_FORMS:
        m = pattern.search(s)
        if not m:
            continue
        rest = s[:m.start()] + s[m.end():]
        if any(c.isdigit() for c in rest):
            return None
        y = int(m["y"]) if "y" in pattern.groupindex else year
        if y is None:
            return None, rest, f"「{s}」没有写年份，无法确定截止日期，请写成如「2023年12月底前」"
        month = 12 if form == "y_end" else int(m["m"])
        if not 1 <= month <= 12:
            return None, rest, f"「{s}」中的月份不正确"
        last = calendar.monthrange(y, month)[1]
        day = int(m["d"]) if "d" in pattern.groupindex and m["d"] else last
        if not 1 <= day <= last:
            return None, rest, f"「{s}」中的日期不存在"
        return dt.date(y, month, day), rest, ""
    return None


def parse_target(text, year=None) -> Target:
    """Parse a 年度指标值. ``year`` (the project's 年度) completes deadlines written without
    a year, such as ``12月底前``. Never raises; see :class:`Target` for the result."""
    return _parse_target("" if text is None else str(text), parse_year(year))


@lru_cache(maxsize=8192)
def _parse_target(text: str, year: int | None) -> Target:
    s = _normalize(text)
    if not s:
        return Target(text, INVALID, problem=Code.BAD_TARGET, reason="年度指标值为空")
    if not any(c.isdigit() for c in s):
        return Target(text, QUALITATIVE)
    found = _find_date(s, year)
    if found is not None:
        date, rest, reason = found
        if reason:
            return Target(text, INVALID, problem=Code.BAD_TARGET, reason=reason)
        if not _DEADLINE_OK_WORDS.match(rest):
            return Target(text, INVALID, problem=Code.BAD_TARGET,
                          reason=f"「{text}」看起来是时限指标，但无法识别，请写成如「2023年12月31日前」")
        return Target(text, DEADLINE, op=LE, date=date)
    m = _EXPRESSION.fullmatch(s)
    value = _decimal(m["num"]) if m else None
    if value is None:
        return Target(text, INVALID, problem=Code.BAD_TARGET,
                      reason=f"无法识别年度指标值「{text}」，请写成如「≥18次」「≤3天」「=100%」或文字描述")
    op = _OP_WORDS[m["op"]] if m["op"] else _SUFFIX_OPS.get(m["suffix"] or "", EQ)
    return Target(text, QUANTITY, op=op, value=value, unit=_unit(m["unit"]))


def parse_actual(text, target: Target) -> Actual:
    """Parse a 实际完成值 against its parsed target. A number without a unit takes the
    target's unit; another unit is ``unit-mismatch`` (never converted). Band words
    (达成 / 部分达成… / 未达成…) give ``kind="band"``; for a deadline, dates and completion
    words give ``kind="date"`` with ``on_time``. Never raises."""
    return _parse_actual("" if text is None else str(text), target)


def _band(s: str, target: Target) -> str:
    if s.startswith(PARTLY):
        return PARTLY
    if s.startswith(MISSED):
        return MISSED
    if s in _REACHED_WORDS:
        return REACHED
    if target.kind != QUANTITY and s == _normalize(target.text):
        return REACHED
    return ""


@lru_cache(maxsize=8192)
def _parse_actual(text: str, target: Target) -> Actual:
    s = _normalize(text)
    if not s:
        return Actual(text, INVALID, problem=Code.BAD_ACTUAL, reason="实际完成值为空")
    if target.kind == DEADLINE:
        if s.startswith(PARTLY) or s.startswith(MISSED):
            return Actual(text, BAND, band=_band(s, target))
        found = _find_date(s, target.date.year)
        if found is not None and not found[2] and _DEADLINE_OK_WORDS.match(found[1]):
            return Actual(text, DATE, date=found[0], on_time=found[0] <= target.date)
        if s in _ON_TIME_WORDS or s == _normalize(target.text):
            return Actual(text, DATE, on_time=True)
        if any(s.startswith(w) for w in _LATE_WORDS) or "逾期" in s or "延期" in s:
            return Actual(text, DATE, on_time=False)
        return Actual(text, INVALID, problem=Code.BAD_ACTUAL,
                      reason=f"无法识别实际完成值「{text}」，请填写完成日期（如 2023-11-30）或「按时完成」")
    band = _band(s, target)
    if band:
        return Actual(text, BAND, band=band)
    m = _EXPRESSION.fullmatch(s) if any(c.isdigit() for c in s) else None
    value = _decimal(m["num"]) if m else None
    if value is None:
        if target.kind == QUALITATIVE:
            reason = f"无法识别实际完成值「{text}」，定性指标请填写「达成」「部分达成」或「未达成」"
        else:
            reason = f"无法识别实际完成值「{text}」，请填写数值（如 18次、95%）"
        return Actual(text, INVALID, problem=Code.BAD_ACTUAL, reason=reason)
    unit = _unit(m["unit"]) or target.unit
    if not m["unit"] and target.kind == QUANTITY and target.unit == "%" and target.value > 1 and 0 < value <= 1:
        # DOMAIN §3 rule 14: 0.92 against ≥90% is 92 % typed as a fraction (an Excel percent
        # cell arrives as "92%"). A target of at most 1 % leaves 0.3 ambiguous: read as typed.
        return Actual(text, QUANTITY, value=value * 100, unit="%", from_fraction=True)
    if target.kind == QUANTITY and target.unit and unit != target.unit:
        return Actual(text, INVALID, value=value, unit=unit, problem=Code.UNIT_MISMATCH,
                      reason=f"实际完成值单位「{unit}」与年度指标值单位「{target.unit}」不一致，请换算成同一单位")
    return Actual(text, QUANTITY, value=value, unit=unit)
