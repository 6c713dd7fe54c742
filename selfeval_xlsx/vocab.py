"""The fixed vocabularies of the domain, each in one place with its Chinese label
(DOMAIN.md §2–§4): how serious a problem is, how an indicator is scored, the 一级指标 names,
the funding sources and the qualitative bands. Values are what the code passes around;
``label`` is what users read."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

try:
    from enum import StrEnum
except ImportError:  # pragma: no cover - Python 3.10
    from enum import Enum

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)


class _Labelled(StrEnum):
    """A StrEnum whose members also carry a Chinese ``label``: ``NAME = "value", "标签"``."""

    def __new__(cls, value: str, label: str = ""):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value
        return member

    @classmethod
    def by_label(cls, label: str):
        """The member whose label is ``label``, else None."""
        labels = cls.__dict__.get("_labels")
        if labels is None:
            labels = {m.label: m for m in cls}
            setattr(cls, "_labels", labels)
        return labels.get(label)


class Severity(_Labelled):
    """How serious a problem is: an error blocks what it concerns, a warning does not."""

    ERROR = "error", "错误"
    WARNING = "warning", "警告"


class Kind(_Labelled):
    """Which scoring rule an indicator follows (DOMAIN.md §3). The labels are the 指标性质 a
    department may write; 时限 is never written, it is inferred from a date target."""

    POSITIVE = "positive", "正向"
    REVERSE = "reverse", "反向"
    EQUAL = "equal", "等于"
    DEADLINE = "deadline", "时限"
    QUALITATIVE = "qualitative", "定性"
    NOT_APPLICABLE = "not_applicable", "不适用"


NATURES = tuple(k.label for k in Kind if k is not Kind.DEADLINE)  # what 指标性质 accepts


class Status(StrEnum):
    """A project's 状态 in every output: not scored (an error), scored with warnings, scored
    cleanly, or replaced by a newer submission of the same project (DOMAIN.md §8)."""

    ERROR = "错误"
    WARNING = "警告"
    PASSED = "通过"
    SUPERSEDED = "已取代"


class Level1(StrEnum):
    """一级指标, in the order tables list them (newer tables add 成本指标)."""

    OUTPUT = "产出指标"
    BENEFIT = "效益指标"
    SATISFACTION = "满意度指标"
    COST = "成本指标"


class Source(StrEnum):
    """资金来源, as the national table lists them."""

    CURRENT = "本年财政拨款"
    CARRIED_OVER = "上年结转资金"
    OTHER = "其他资金"


class Layout(_Labelled):
    """The input layouts a workbook may use (DOMAIN.md §5 and §5b)."""

    STANDARD = "standard", "标准填报表"
    NATIONAL = "national", "项目支出绩效自评表（国家表式）"


class Band(StrEnum):
    """Qualitative bands (DOMAIN.md §3 rule 5), from the best."""

    REACHED = "达成"
    PARTLY = "部分达成"
    MISSED = "未达成"


def compact(text: object) -> str:
    """Text with every kind of white space removed (``产 出`` -> ``产出``)."""
    return "".join(str(text or "").split())


# Unicode format characters (category Cf: zero-width space and joiners, BOM, direction marks,
# soft hyphen …). Excel shows nothing for them, but text copied from web pages, chat tools and
# PDFs carries them, and ``项目\u200b编号`` is not ``项目编号``. Listed as ranges because asking
# unicodedata character by character costs microseconds per cell (a test checks the list).
_FORMAT_CHARS = re.compile("[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
                           "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
                           "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
                           "\U000e0020-\U000e007f]")


def strip_format_chars(text: str) -> str:
    """``text`` without invisible Unicode format characters (category Cf)."""
    return text if text.isascii() else _FORMAT_CHARS.sub("", text)


@lru_cache(maxsize=4096)
def normalize_level(name: object, known: tuple[str, ...]) -> str:
    """An 一级/二级指标 name as the taxonomy writes it: spaces removed and the 指标 suffix
    departments often drop put back (``产出`` -> ``产出指标``) when that names a ``known``
    level; anything else comes back as written, for the checks to report."""
    level = compact(name)
    return level + "指标" if level and level + "指标" in known else level


@lru_cache(maxsize=1024)
def normalize_nature(text: object) -> str:
    """指标性质 as one of :data:`NATURES` (``反向指标`` -> ``反向``), ``""`` when blank, or the
    text as written when it is none of them (the checks report it)."""
    s = compact(text)
    return s.removesuffix("指标") if s.removesuffix("指标") in NATURES else s


@lru_cache(maxsize=1024)
def normalize_source(text: object) -> str:
    """资金来源 as the national table writes it (``其中：当年财政拨款`` -> ``本年财政拨款``);
    other text comes back stripped, for the checks to report."""
    s = compact(text).removeprefix("其中:").removeprefix("其中：")
    return {"当年财政拨款": Source.CURRENT.value, "财政拨款": Source.CURRENT.value,
            "上年结转": Source.CARRIED_OVER.value, "其他": Source.OTHER.value}.get(s, s)


@lru_cache(maxsize=4096)
def normalize_name(text: object) -> str:
    """A name for matching (项目名称, 主管部门, 三级指标): full-width letters, digits and
    brackets as ASCII (NFKC), invisible format characters (zero-width spaces, BOM) and every
    kind of white space removed, letters lower-cased. Two names that look the same on screen
    compare equal."""
    return compact(strip_format_chars(unicodedata.normalize("NFKC", str(text or "")))).lower()
