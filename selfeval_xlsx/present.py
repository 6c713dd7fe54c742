"""What every writer shares about how results look: number formats, the one decimal-to-text
formatter, the one CJK text-width function, colours per grade and per severity, the order of
the 一级指标 columns and of problems. Writers (summary, workbook copies, reports, the command
line) depend on this module, not on each other. Grade names come from the rules, never from here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Iterable, Sequence

from .vocab import Level1, Severity, Status

AUTHOR = "selfeval-xlsx"
DASH = "—"  # a missing value in text
NO_DEPARTMENT = "未填写主管部门"  # a project without 主管部门, where forms and replies group by it
MONEY_FORMAT = "#,##0.00"
RATE_FORMAT = "0.00%"
SCORE_FORMAT = "0.00"
MAX_WIDTH = 50  # column width cap (characters)
MAX_TEXT = 32767  # Excel's limit for one cell


@dataclass(frozen=True)
class Colour:
    """A cell fill and its text colour, as RGB hex (Excel's good/neutral/bad styles)."""

    fill: str
    font: str


GREEN, BLUE = Colour("C6EFCE", "006100"), Colour("DDEBF7", "1F4E78")
YELLOW, RED = Colour("FFEB9C", "9C5700"), Colour("FFC7CE", "9C0006")
GREY = Colour("EDEDED", "595959")
SEVERITY_COLOURS = {Severity.ERROR: RED, Severity.WARNING: YELLOW}
# Status words (the result's 状态 column) share the severity colours; 已取代 is greyed out.
STATUS_COLOURS = {Severity.ERROR.label: RED, Severity.WARNING.label: YELLOW, Status.SUPERSEDED.value: GREY}
TIME_FORMAT = "yyyy-mm-dd hh:mm"


def grade_colours(grades: Sequence[str]) -> dict[str, Colour]:
    """Grade name -> colour, from the best grade (green) to the worst (red), for whatever
    names and how many grades the rules define."""
    palette = [GREEN, BLUE, YELLOW, RED]
    n = len(grades)
    if n <= len(palette):
        chosen = palette[:n - 1] + [RED] if n > 1 else [GREEN]
    else:  # more grades than colours: the best green, the worst red, the middle shared
        chosen = [GREEN] + [BLUE] * (n - 3) + [YELLOW, RED]
    return dict(zip(grades, chosen))


_STEPS = {2: Decimal("0.01"), 0: Decimal(1)}


def fmt_number(value, places: int | None = 2, *, fixed: bool = False) -> str:
    """A number as people write it: half-up to ``places`` decimals (None: as exact as given),
    trailing zeros dropped unless ``fixed`` (``100.00`` -> ``100``, ``92.50`` -> ``92.5``),
    never an exponent; None or "" -> ``—``."""
    if isinstance(value, Decimal):
        d = value
    elif value is None or value == "":
        return DASH
    else:
        d = Decimal(str(value))
    if not d.is_finite():
        return DASH
    if places is None:  # the common case in messages: exact, no trailing zeros
        text = format(d.normalize(), "f")
        return "0" if text in ("-0", "") else text
    else:
        try:
            d = d.quantize(_STEPS.get(places) or Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        except InvalidOperation:  # more digits than the context holds: print as is
            pass
    text = format(d, "f")
    if "." in text and not fixed:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_exact(value) -> str:
    """``fmt_number(value, None)`` for a ``Decimal``: as exact as given, no trailing zeros.
    The scorer's and the checks' explanations show the same few figures (weights, scores,
    targets) tens of thousands of times a batch, so each distinct value is formatted once."""
    return _exact(value) if type(value) is Decimal and value.is_finite() else fmt_number(value, None)


@lru_cache(maxsize=4096)
def _exact(value: Decimal) -> str:
    return fmt_number(value, None)  # equal values (10, 10.00) print alike, so the value is the key


def fmt_figure(value) -> str:
    """An amount or a score in the one number style of a document: whole numbers bare
    (``100``), anything else with two decimals (``336.80``, ``92.50``); None -> ``—``."""
    text = fmt_number(value, fixed=True)
    return text[:-3] if text.endswith(".00") else text


def fmt_rate(rate) -> str:
    """A ratio as a percentage (``Decimal("1")`` -> ``100%``); None -> ``—``."""
    return DASH if rate is None else fmt_number(Decimal(str(rate)) * 100) + "%"


def text_width(text: str) -> int:
    """Display width of ``text`` in Excel column units (and terminal columns): CJK and
    full-width characters count double.

    GBK encodes CJK (and full-width) characters in two bytes and ASCII in one, which is the
    width we want, computed in C rather than character by character."""
    return len(text.encode("gbk", errors="replace"))


_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(value: object) -> str:
    """Text that XML can hold (no control characters or lone surrogates): for cells and reports."""
    return _ILLEGAL.sub("", str(value))


def level1_order(names: Iterable[str]) -> list[str]:
    """一级指标 names in the order tables list them (产出, 效益, 满意度, 成本), any other after,
    alphabetically."""
    known = [l1.value for l1 in Level1]
    present = set(names)
    return [n for n in known if n in present] + sorted(present - set(known))


def level1_columns(subtotal_keys: Iterable[str]) -> list[str]:
    """The 一级指标 subtotal columns to show: 产出/效益/满意度 always, 成本指标 (and any other
    一级 a rules file introduced) only when some project has it."""
    return level1_order({*subtotal_keys, Level1.OUTPUT, Level1.BENEFIT, Level1.SATISFACTION})


def issue_sort_key(issue, sheet_order: Sequence[str] = ()):
    """Order problems by file, then sheet (the workbook's own order when given, file-level
    problems first), row and column."""
    position = {name: k for k, name in enumerate(sheet_order)}
    sheet = (position.get(issue.sheet, len(position)) if issue.sheet else -1, issue.sheet)
    return (issue.file, sheet, -1 if issue.row is None else issue.row, -1 if issue.col is None else issue.col)
