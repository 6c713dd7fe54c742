"""When a submission was made, on one clock (DOMAIN.md §8), in local time.

A submission's time comes from the best source it has: the form's own 填报日期, else the
e-mail's Date, else the time the workbook was last saved in Excel (docProps/core.xml), else the
file's modification time (which copying, unzipping or downloading resets, so it is the least
trusted). Times are compared and shown in local time: the ``TZ`` environment variable when it
names a zone, else the machine's own zone, else 北京时间 (a machine left on UTC, as servers
and containers usually are, is not where its users are).
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import re
import time
from dataclasses import dataclass

FORM, EMAIL, SAVED, FILE = "form", "email", "saved", "file"
BASIS = {FORM: "填报日期", EMAIL: "邮件发送时间", SAVED: "工作簿保存时间", FILE: "文件修改时间"}
BEIJING = dt.timezone(dt.timedelta(hours=8), "北京时间")
CLOSE = dt.timedelta(minutes=10)  # two submissions this close are told apart only with care

_DATE = re.compile(r"(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*[日号]?"
                   r"(?:\s*[T ]?\s*(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?)?")


def _zone() -> dt.tzinfo | None:
    """The zone times are shown in; None means the C library's local time (the machine's
    zone, with its daylight saving rules)."""
    return _zone_named(os.environ.get("TZ", "").lstrip(":"))


@functools.lru_cache(maxsize=8)  # worked out once per TZ: a batch asks for every project's stamps
def _zone_named(name: str) -> dt.tzinfo | None:
    if name:
        try:
            from zoneinfo import ZoneInfo

            return ZoneInfo(name)
        except Exception:  # noqa: BLE001 - a POSIX TZ string ("CST-8") the C library understands
            time.tzset()
            return None
    if dt.datetime.now().astimezone().utcoffset() == dt.timedelta(0):
        return BEIJING
    return None


def local(t: dt.datetime) -> dt.datetime:
    """``t`` in local time (aware). A naive ``t`` is taken to be local time already."""
    zone = _zone()
    if t.tzinfo is None:
        return t.replace(tzinfo=zone) if zone is not None else t.astimezone()
    return t.astimezone(zone) if zone is not None else t.astimezone()


def fmt_time(t: dt.datetime | None) -> str:
    """``2025-01-15 10:05`` in local time; a 填报日期 without a time of day as ``2025-01-15``."""
    if t is None:
        return ""
    if t.tzinfo is None and t.time() == dt.time():
        return f"{t:%Y-%m-%d}"
    return f"{local(t):%Y-%m-%d %H:%M}"


def parse_form_date(text: str) -> dt.datetime | None:
    """A 填报日期 as written (``2025年1月15日``, ``2025-01-15``, ``2025/1/15 10:05``) -> a naive
    local datetime; None when it holds no valid date."""
    m = _DATE.search(str(text or ""))
    if not m:
        return None
    y, mo, d, hh, mm, ss = (int(g) if g else 0 for g in m.groups())
    try:
        return dt.datetime(y, mo, d, hh, mm, ss)
    except ValueError:
        return None


@dataclass(frozen=True)
class Stamp:
    """One reading of a submission's time: ``time`` (aware, or naive local for a date read
    from the form) and the ``basis`` it came from (:data:`FORM`, :data:`EMAIL`, :data:`SAVED`
    or :data:`FILE`)."""

    time: dt.datetime
    basis: str

    @property
    def instant(self) -> dt.datetime:
        """The time as an aware datetime, comparable with any other stamp."""
        return local(self.time)

    def __str__(self) -> str:
        return f"{BASIS[self.basis]} {fmt_time(self.time)}"


def stamps(received: dt.datetime, received_basis: str, saved: dt.datetime | None,
           form_date: str = "") -> tuple[Stamp, ...]:
    """Every time a submission has, best first: the form's 填报日期, the e-mail's Date or the
    file time the intake recorded (``received``, of ``received_basis`` EMAIL or FILE), the
    workbook's saved time between them (it outranks a file time, not an e-mail's Date)."""
    found = []
    filled = parse_form_date(form_date)
    if filled is not None:
        found.append(Stamp(filled, FORM))
    if received_basis == EMAIL:
        found.append(Stamp(received, EMAIL))
    if saved is not None:
        found.append(Stamp(saved, SAVED))
    if received_basis != EMAIL:
        found.append(Stamp(received, FILE))
    return tuple(found)


def order_key(found: tuple[Stamp, ...]) -> tuple[dt.datetime, ...]:
    """Sort key, newest last: the best stamp decides; the next ones only break exact ties
    (two forms dated the same day)."""
    return tuple(s.instant for s in found)


def doubtful(newer: Stamp, older: Stamp) -> str:
    """Why the order of two submissions needs a second look ("" when it does not): their
    times come from different kinds of source, or lie within minutes of each other."""
    if newer.basis != older.basis:
        return f"两者的时间来源不同（{BASIS[newer.basis]}、{BASIS[older.basis]}）"
    if abs(newer.instant - older.instant) <= CLOSE:
        return f"两者的时间相差不到 {CLOSE.seconds // 60} 分钟" if newer.instant != older.instant else "两者的时间相同"
    return ""
