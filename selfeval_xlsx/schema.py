"""The standard workbook, declared as data: sheets, columns, aliases, taxonomy.

Everything the reader, the checks and the blank-form generator need to know about the form
lives here; the code that applies it is generic (DOMAIN.md §5).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from .vocab import NATURES, Level1, Source, strip_format_chars  # noqa: F401 - NATURES is part of the form

TEXT, AMOUNT, NUMBER, YEAR, VALUE = "text", "amount", "number", "year", "value"


@dataclass(frozen=True)
class Column:
    """One column of a sheet. ``kind`` says how cells are read: text, amount (万元, may be
    given in 元), number (weights, scores), year, or value (target/actual kept as written,
    with Excel percents turned into ``"95%"``)."""

    field: str
    header: str
    required: bool = False
    kind: str = TEXT
    aliases: tuple[str, ...] = ()
    width: int = 14


@dataclass(frozen=True)
class SheetSpec:
    """One sheet of the form: its key, Chinese name, accepted names and columns."""

    key: str
    name: str
    aliases: tuple[str, ...]
    columns: tuple[Column, ...]

    @cached_property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    def column(self, field: str) -> Column:
        return next(c for c in self.columns if c.field == field)


PROJECT_ID = Column("project_id", "项目编号", True, aliases=("项目编码", "项目代码", "编号"), width=14)

PROJECTS = SheetSpec("projects", "项目信息", ("projects", "项目", "项目基本信息"), (
    PROJECT_ID,
    Column("name", "项目名称", True, aliases=("project_name",), width=28),
    Column("year", "年度", True, YEAR, aliases=("年份", "预算年度"), width=8),
    Column("department", "主管部门", True, aliases=("部门", "主管单位"), width=20),
    Column("implementer", "实施单位", aliases=("执行单位",), width=20),
    Column("leader", "项目负责人", aliases=("负责人",), width=12),
    Column("goal", "年度总体目标", aliases=("总体目标", "年度目标"), width=40),
    Column("achieved", "实际完成情况", aliases=("总体完成情况",), width=40),
    Column("implementation", "项目实施情况", width=40),
    Column("management", "项目管理情况", width=40),
    Column("funds_usage", "资金使用情况", aliases=("项目资金来源及使用情况", "资金来源及使用情况"), width=40),
    Column("analysis", "绩效分析", aliases=("项目绩效分析",), width=40),
    Column("problems", "存在问题", aliases=("存在问题或不足",), width=40),
    Column("improvements", "改进措施", aliases=("下一步改进措施",), width=40),
    # Optional: report sections printed only when filled, and the sign-off.
    Column("objectives", "绩效目标", aliases=("项目绩效目标",), width=40),
    Column("evaluation_work", "自评工作开展情况", aliases=("绩效自评工作开展情况", "自评工作情况"), width=40),
    Column("other_notes", "其他需要说明的问题", aliases=("其他需要说明的情况", "其他说明"), width=40),
    Column("finance_officer", "财务负责人", width=12),
    Column("closing_unit", "落款单位", width=20),
    Column("closing_date", "落款日期", width=12),
))

FUNDING = SheetSpec("funding", "资金", ("funding", "资金情况", "项目资金", "预算执行"), (
    PROJECT_ID,
    Column("source", "资金来源", True, aliases=("资金性质",), width=16),
    Column("initial_budget", "年初预算数", kind=AMOUNT, width=16),
    Column("budget", "全年预算数", True, AMOUNT, aliases=("预算数", "调整后预算数"), width=16),
    Column("executed", "全年执行数", True, AMOUNT, aliases=("执行数", "实际支出数"), width=16),
))

SPENDING = SheetSpec("spending", "支出", ("spending", "支出明细", "支出情况"), (
    PROJECT_ID,
    Column("item", "支出事项", True, aliases=("支出内容", "事项"), width=30),
    Column("category", "经济分类", aliases=("支出经济分类",), width=20),
    Column("amount", "金额", True, AMOUNT, aliases=("支出金额",), width=16),
    Column("note", "备注", width=30),
))

INDICATORS = SheetSpec("indicators", "绩效指标", ("indicators", "绩效指标表", "指标"), (
    PROJECT_ID,
    Column("level1", "一级指标", True, width=12),
    Column("level2", "二级指标", width=14),
    Column("level3", "三级指标", True, width=28),
    Column("nature", "指标性质", aliases=("指标类型",), width=10),
    Column("target", "年度指标值", True, VALUE, aliases=("指标值", "年度目标值", "目标值"), width=16),
    Column("actual", "实际完成值", True, VALUE, aliases=("实际值", "完成值"), width=16),
    Column("weight", "分值", True, NUMBER, aliases=("权重", "指标分值"), width=8),
    Column("self_score", "自评得分", kind=NUMBER, aliases=("自评分", "得分"), width=10),
    Column("deduction", "扣分", kind=NUMBER, width=8),
    Column("deviation", "偏差原因分析及改进措施", aliases=("偏差原因", "偏差原因分析", "原因分析"), width=36),
))

SHEETS: tuple[SheetSpec, ...] = (PROJECTS, FUNDING, SPENDING, INDICATORS)

# The approved targets (--targets) in the standard layout: one row per approved indicator,
# the project's columns repeated, merged or written on its first row only. Not part of the
# department's form; the 项目编号 or 主管部门 + 项目名称 identify the project.
TARGETS = SheetSpec("targets", "绩效目标", ("approved", "targets", "批复绩效目标", "绩效目标批复"), (
    Column("project_id", "项目编号", aliases=PROJECT_ID.aliases),
    Column("name", "项目名称", aliases=("project_name",)),
    Column("department", "主管部门", aliases=("部门", "主管单位", "主管部门及代码")),
    Column("year", "年度", kind=YEAR, aliases=("年份", "预算年度")),
    Column("budget", "全年预算数", kind=AMOUNT, aliases=("预算数", "批复预算数", "年度资金总额", "项目资金")),
    Column("level1", "一级指标", True),
    Column("level2", "二级指标"),
    Column("level3", "三级指标", True),
    Column("nature", "指标性质", aliases=("指标类型",)),
    Column("target", "年度指标值", True, VALUE, aliases=("指标值", "年度目标值", "目标值", "批复指标值")),
    Column("weight", "分值", kind=NUMBER, aliases=("权重", "指标分值")),
))
GUIDE_SHEET = "填表说明"
RESULT_SHEET = "自评结果"

# Indicator taxonomy (DOMAIN.md §4). Newer tables also use 成本指标 as a 一级.
LEVEL2_BY_LEVEL1: dict[str, tuple[str, ...]] = {
    Level1.OUTPUT: ("数量指标", "质量指标", "时效指标", "成本指标"),
    Level1.BENEFIT: ("经济效益指标", "社会效益指标", "生态效益指标", "可持续影响指标"),
    Level1.SATISFACTION: ("服务对象满意度指标",),
    Level1.COST: ("经济成本指标", "社会成本指标", "生态环境成本指标"),
}
LEVEL1 = tuple(l1.value for l1 in Level1)
LEVEL2 = tuple(dict.fromkeys(n for names in LEVEL2_BY_LEVEL1.values() for n in names))
SOURCES = tuple(s.value for s in Source)

_BRACKETS = re.compile(r"[（(【\[]([^）)】\]]*)[）)】\]]")
_SPACE = re.compile(r"[\s\u3000]+")


def normalize_header(text: object) -> tuple[str, str]:
    """Header cell -> (name, unit). Spaces, line breaks and invisible format characters are
    dropped, bracket groups such as ``（万元）`` or ``(A)`` are removed; the unit is
    ``"元"``/``"万元"`` when a group says so."""
    text = text if type(text) is str else str(text or "")
    # The same headers and labels come back in every workbook; long texts are not kept.
    return _cached_header(text) if len(text) <= 64 else _normalize_header(text)


def _normalize_header(text: str) -> tuple[str, str]:
    s = _SPACE.sub("", strip_format_chars(text))
    unit = ""
    for group in _BRACKETS.findall(s):
        if group in ("元", "万元"):
            unit = group
    name = _BRACKETS.sub("", s)
    for suffix in ("万元", "元"):  # "金额万元" without brackets is rare but seen
        if name.endswith(suffix) and len(name) > len(suffix) + 1 and name not in ("万元", "元"):
            name, unit = name[: -len(suffix)], unit or suffix
    return name.lower(), unit


_cached_header = lru_cache(maxsize=4096)(_normalize_header)


def _names(*items: str) -> tuple[str, ...]:
    return tuple(normalize_header(i)[0] for i in items)


HEADER_NAMES: dict[str, dict[str, str]] = {
    spec.key: {n: c.field for c in spec.columns for n in _names(c.header, c.field, *c.aliases)}
    for spec in (*SHEETS, TARGETS)
}
SHEET_NAMES: dict[str, str] = {n: s.key for s in SHEETS for n in _names(s.name, s.key, *s.aliases)}
