"""Every written form of targets and actuals in DOMAIN.md §3, one case each."""
import datetime as dt
from decimal import Decimal as D

import pytest

from selfeval_xlsx.parsing import (BAND, DATE, DEADLINE, INVALID, QUALITATIVE, QUANTITY, parse_actual,
                                   parse_number, parse_quantity, parse_target)


@pytest.mark.parametrize("value, expected", [
    (18, D(18)),
    (0.1, D("0.1")),                 # shortest repr, no binary noise
    (0.1 + 0.2, D("0.30000000000000004")),
    (D("2.50"), D("2.50")),
    ("1,000.50", D("1000.50")),
    ("１８", D(18)),                  # full-width digits
    ("１，０００．５", D("1000.5")),    # full-width comma and point
    ("100万元", D(100)),
    ("18次", D(18)),
    (" 95 ", D(95)),
    ("-3", D(-3)),
    ("−3", D(-3)),                   # U+2212 minus sign
    ("95%", D(95)),
    ("一百万", None),
    ("abc", None),
    ("", None),
    ("  ", None),
    ("1,00", None),                  # not a thousands separator
    ("2023-12-31", None),
    (True, None),
    (None, None),
    (float("nan"), None),
    (float("inf"), None),
    (D("NaN"), None),
    (dt.datetime(2023, 1, 1), None),
    (dt.date(2023, 1, 1), None),
])
def test_parse_number(value, expected):
    assert parse_number(value) == expected


@pytest.mark.parametrize("text, expected", [
    ("2,300人次", (D(2300), "人次")),
    ("18次", (D(18), "次")),
    ("95%", (D(95), "%")),
    ("95％", (D(95), "%")),
    ("100百分比", (D(100), "%")),
    ("3天", (D(3), "天")),
    ("100万元", (D(100), "万元")),
    ("1728 册", (D(1728), "册")),
    ("42", (D(42), "")),
    ("≥18次", None),                 # operators are not quantities
    ("达成", None),
])
def test_parse_quantity(text, expected):
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("text, op, value, unit", [
    ("≥18次", "≥", 18, "次"),
    ("≧ 735 人次", "≥", 735, "人次"),
    ("≧735人次", "≥", 735, "人次"),
    (">=95%", "≥", 95, "%"),
    ("＞＝95％", "≥", 95, "%"),
    ("⩾95%", "≥", 95, "%"),
    ("不低于95%", "≥", 95, "%"),
    ("不少于1,728册", "≥", 1728, "册"),
    ("大于等于2300人次", "≥", 2300, "人次"),
    ("95%以上", "≥", 95, "%"),
    ("满意度≥95%", "≥", 95, "%"),      # a label before the operator
    ("≤3天", "≤", 3, "天"),
    ("≦3天", "≤", 3, "天"),
    ("<=3天", "≤", 3, "天"),
    ("＜＝3天", "≤", 3, "天"),
    ("不高于5%", "≤", 5, "%"),
    ("不超过 3 天", "≤", 3, "天"),
    ("控制在3天以内", "≤", 3, "天"),
    ("3天内", "≤", 3, "天"),
    ("低于5%", "<", 5, "%"),
    ("=100%", "=", 100, "%"),
    ("＝100%", "=", 100, "%"),
    ("═100%", "=", 100, "%"),
    ("等于1个", "=", 1, "个"),
    (">90%", ">", 90, "%"),
    ("＞90%", ">", 90, "%"),
    ("<5天", "<", 5, "天"),
    ("＜5天", "<", 5, "天"),
    ("100%", "=", 100, "%"),          # bare number = equal target
    ("１８", "=", 18, ""),
    ("100万元", "=", 100, "万元"),
    ("100百分比", "=", 100, "%"),
    ("≥1,000.5万元", "≥", D("1000.5"), "万元"),
])
def test_quantitative_targets(text, op, value, unit):
    t = parse_target(text)
    assert (t.kind, t.op, t.value, t.unit) == (QUANTITY, op, D(value), unit)


@pytest.mark.parametrize("text, direction", [
    ("≥18次", "positive"), (">1", "positive"), ("≤3天", "reverse"), ("低于5%", "reverse"),
    ("=100%", "equal"), ("100%", "equal"), ("2023年12月", "deadline"), ("按时完成", "qualitative"),
    ("", ""),
])
def test_direction(text, direction):
    assert parse_target(text, 2023).direction == direction


@pytest.mark.parametrize("text, year, date", [
    ("2023年12月", None, dt.date(2023, 12, 31)),        # month only -> end of month
    ("2024年2月", None, dt.date(2024, 2, 29)),
    ("12月底前", 2023, dt.date(2023, 12, 31)),
    ("12月底前", "2022", dt.date(2022, 12, 31)),
    ("6月30日前", 2023, dt.date(2023, 6, 30)),
    ("≤2023-12-31", None, dt.date(2023, 12, 31)),
    ("<=2023/11/15", None, dt.date(2023, 11, 15)),
    ("2023年12月31日前", None, dt.date(2023, 12, 31)),
    ("2023年12月31日前完成", None, dt.date(2023, 12, 31)),
    ("2023年底前", None, dt.date(2023, 12, 31)),
    ("２０２３年１２月", None, dt.date(2023, 12, 31)),
])
def test_deadline_targets(text, year, date):
    t = parse_target(text, year)
    assert (t.kind, t.op, t.date) == (DEADLINE, "≤", date)


@pytest.mark.parametrize("text", ["按时完成", "有效提升", "逐步改善", "一百万", "群众满意"])
def test_qualitative_targets(text):
    assert parse_target(text).kind == QUALITATIVE


@pytest.mark.parametrize("text, year", [
    ("", None), ("   ", None), (None, None),
    ("12月底前", None),              # needs the project year
    ("2023年13月", None),            # no such month
    ("2023年2月30日前", None),        # no such day
    ("95%-100%", None),              # ranges are not a form we read
    ("≥18次和≥20人", None),
])
def test_bad_targets(text, year):
    t = parse_target(text, year)
    assert t.kind == INVALID and t.problem == "bad-target" and t.reason


@pytest.mark.parametrize("target, actual, value, unit", [
    ("≥18次", "20次", 20, "次"),
    ("≥50个", "50", 50, "个"),        # no unit -> the target's
    ("≥95%", "95%", 95, "%"),
    ("≥95%", "95百分比", 95, "%"),     # % and 百分比 are the same unit
    ("≥95百分比", "96%", 96, "%"),
    ("≤3天", "2.5天", D("2.5"), "天"),
    ("≧ 735 人次", "１，２００人次", 1200, "人次"),
    ("=0起", "0", 0, "起"),
    ("≥18次", " 18 次 ", 18, "次"),
    ("≥18次", "-3次", -3, "次"),
])
def test_quantitative_actuals(target, actual, value, unit):
    a = parse_actual(actual, parse_target(target))
    assert (a.kind, a.value, a.unit) == (QUANTITY, D(value), unit)


@pytest.mark.parametrize("target, actual, problem", [
    ("≥18次", "18人次", "unit-mismatch"),
    ("≥100万元", "1000000元", "unit-mismatch"),
    ("≥18次", "十八次", "bad-actual"),
    ("≥18次", "", "bad-actual"),
    ("有效提升", "基本完成", "bad-actual"),
    ("有效提升", "90%", "bad-actual"),   # a qualitative target wants a band word (scorer checks kind)
    ("2023年12月", "明年", "bad-actual"),
])
def test_bad_actuals(target, actual, problem):
    a = parse_actual(actual, parse_target(target))
    if a.kind == QUANTITY:  # "90%" for a qualitative target parses; the scorer rejects it
        assert parse_target(target).kind == QUALITATIVE
        return
    assert (a.kind, a.problem) == (INVALID, problem) and a.reason


@pytest.mark.parametrize("target, actual, band", [
    ("有效提升", "达成", "达成"),
    ("有效提升", "达成预期指标", "达成"),
    ("有效提升", "达成年度指标", "达成"),
    ("有效提升", "已完成", "达成"),
    ("有效提升", "完成", "达成"),
    ("有效提升", "有效提升", "达成"),             # same text as the target
    ("按时完成", " 按时完成 ", "达成"),
    ("有效提升", "部分达成年度指标并具有一定效果", "部分达成"),
    ("有效提升", "部分达成", "部分达成"),
    ("有效提升", "未达成年度指标且效果较差", "未达成"),
    ("有效提升", "未达成", "未达成"),
    ("≥95%", "达成", "达成"),                   # band word against a number: the scorer decides
])
def test_band_actuals(target, actual, band):
    a = parse_actual(actual, parse_target(target))
    assert (a.kind, a.band) == (BAND, band)


@pytest.mark.parametrize("target, actual, date, on_time", [
    ("2023年12月", "2023-11-30", dt.date(2023, 11, 30), True),
    ("2023年12月", "2023-12-31", dt.date(2023, 12, 31), True),
    ("2023年12月", "2024-01-05", dt.date(2024, 1, 5), False),
    ("2023年12月", "2023年11月", dt.date(2023, 11, 30), True),
    ("2023年12月", "11月底", dt.date(2023, 11, 30), True),    # year from the target
    ("≤2023-06-30", "7月", dt.date(2023, 7, 31), False),
    ("2023年12月", "2023-11-30 00:00:00", dt.date(2023, 11, 30), True),
    ("2023年12月", "按时完成", None, True),
    ("2023年12月", "已完成", None, True),
    ("2023年12月", "达成", None, True),
    ("2023年12月", "2023年12月", dt.date(2023, 12, 31), True),
    ("2023年12月", "逾期完成", None, False),
    ("2023年12月", "未按时完成", None, False),
])
def test_deadline_actuals(target, actual, date, on_time):
    a = parse_actual(actual, parse_target(target))
    assert (a.kind, a.date, a.on_time) == (DATE, date, on_time)


def test_deadline_band_actual():
    a = parse_actual("部分达成", parse_target("2023年12月"))
    assert (a.kind, a.band) == (BAND, "部分达成")


def test_parsing_never_raises_on_odd_input():
    for text in ["≥", "≥≥", "%", "次", "1e5", "2023-", "--3", "≤2023-02-30", "月底前", "\x00", "≥" * 200]:
        t = parse_target(text, 2023)
        parse_actual(text, t)
        parse_number(text)
