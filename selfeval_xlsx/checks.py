"""The record rules, in one pass over a read submission, and the policy of what blocks what.

The reader only converts cells (a number that is not one, a missing sheet); the scorer only
computes. Everything a department must get right about its records is checked here: required
cells, the vocabularies (一级/二级指标, 指标性质, 资金来源), duplicate and unknown 项目编号,
missing funding, the weight plan and the spending reconciliation (:func:`check_submission`),
and, once scores exist, whether the department's own figures agree with them
(:func:`check_scores`). Every problem is an :class:`~selfeval_xlsx.issues.Issue` naming its cell.

Blocking (:func:`blocks`): an error whose scope is the file, or one on a row that names no
project at all, blocks every project in the file (the row may belong to any of them); any other
error blocks only the project it names (a row naming an unknown 项目编号 blocks nobody).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Iterable

from . import schema
from .issues import Code, Issue, issue
from .models import (NARRATIVE_FIELDS, FundingRow, Indicator, IndicatorScore, Project, ProjectResult, Row, SpendingRow,
                     Submission)
from .present import fmt_number
from .rules import Rules
from .vocab import NATURES, Kind, normalize_level, normalize_nature, normalize_source
from .xlsx.parts import a1

_ZERO = Decimal(0)
_FAR_ABOVE = Decimal(2)  # B ≥ 2A on a positive target draws the over-achievement warning (§3 rule 13)
_SPEC = {Project: schema.PROJECTS, FundingRow: schema.FUNDING, SpendingRow: schema.SPENDING,
         Indicator: schema.INDICATORS}


def _fmt(x: Decimal) -> str:
    return fmt_number(x, None)


def blocks(issues: Iterable[Issue], project_id: str) -> bool:
    """Whether ``issues`` (a file's, including the project's own) keep the project from a score."""
    return any(i.is_error and (i.blocks_file or i.project_id in ("", project_id)) for i in issues)


class _Found:
    """The problems of one submission, each cell reported once."""

    def __init__(self, file: str, reported: Iterable[Issue]):
        self.file = file
        self.issues: list[Issue] = []
        self.reported = {(i.sheet, i.row, i.col) for i in reported}

    def add(self, code: Code, message: str, record: Row | None = None, field: str | None = None,
            value="", project_id: str = "", where: dict | None = None) -> None:
        where = where if where is not None else record.where(field)
        self.reported.add((where["sheet"], where["row"], where["col"]))
        pid = project_id or getattr(record, "project_id", "")
        self.issues.append(issue(code, message, file=self.file, value="" if value is None else str(value),
                                 project_id=pid, **where))


def check_submission(submission: Submission, rules: Rules) -> list[Issue]:
    """Every record rule over a read submission; its conversion problems (``submission.issues``)
    are taken into account so that a cell is never reported twice."""
    found = _Found(submission.file, submission.issues)
    for project in submission.projects:
        _required(found, project)
    for project in submission.duplicates:
        first = next(p for p in submission.projects if p.project_id == project.project_id)
        found.add(Code.DUPLICATE_PROJECT_ID,
                  f"项目编号「{project.project_id}」在「{project.sheet}」中重复出现（第 {first.row + 1} 行和第 "
                  f"{project.row + 1} 行），请为每个项目使用唯一编号。", project, "project_id", project.project_id)
    for row in submission.orphans:
        _required(found, row)
        if row.project_id and not isinstance(row, Project):
            found.add(Code.UNKNOWN_PROJECT,
                      f"{row.sheet}!{a1(row.row, row.cols['project_id'])} 的项目编号「{row.project_id}」在「项目信息」中"
                      "不存在，请核对编号或在「项目信息」中补充该项目。", row, "project_id", row.project_id)
    for project in submission.projects:
        for row in (*project.funding, *project.spending, *project.indicators):
            _required(found, row)
            _vocabulary(found, row)
        if submission.has_funding_sheet and not project.funding:
            found.add(Code.NO_FUNDING, f"项目「{project.project_id}」在「资金」工作表中没有任何资金行，无法计算预算执行率。",
                      project, "project_id")
        _weights(found, project, rules)
        _reconcile_spending(found, project, rules)
        _narratives(found, project, rules)
    return found.issues


def check_project(project: Project, rules: Rules) -> list[Issue]:
    """The record rules of one project on its own (no file around it, so no sheet to miss)."""
    return check_submission(Submission(project.source_file, [project], has_funding_sheet=False), rules)


def _required(found: _Found, record: Row) -> None:
    spec = _SPEC[type(record)]
    # A 不适用 indicator has nothing to report as done (DOMAIN.md §3 rule 15).
    not_applicable = isinstance(record, Indicator) and normalize_nature(record.nature) == Kind.NOT_APPLICABLE.label
    for column in spec.required:
        if not_applicable and column.field == "actual":
            continue
        col = record.cols.get(column.field)
        if col is not None and getattr(record, column.field) in ("", None) \
                and (record.sheet, record.row, col) not in found.reported:
            found.add(Code.EMPTY_REQUIRED, f"{record.sheet}!{a1(record.row, col)}「{column.header}」为必填项，不能为空。",
                      record, column.field)


def _vocabulary(found: _Found, record: Row) -> None:
    if isinstance(record, Indicator):
        level1 = normalize_level(record.level1, schema.LEVEL1)
        level2 = normalize_level(record.level2, schema.LEVEL2)
        if level1 and level1 not in schema.LEVEL2_BY_LEVEL1:
            found.add(Code.BAD_LEVEL1, f"{record.sheet}!{a1(record.row, record.cols.get('level1'))}「一级指标」应为{'、'.join(schema.LEVEL1)}之一，读到「{level1}」。",
                      record, "level1", level1)
        elif level1 and level2 and level2 not in schema.LEVEL2_BY_LEVEL1[level1]:
            found.add(Code.BAD_LEVEL2,
                      f"{record.sheet}!{a1(record.row, record.cols.get('level2'))}「二级指标」「{level2}」不属于"
                      f"「{level1}」（应为{'、'.join(schema.LEVEL2_BY_LEVEL1[level1])}之一）。",
                      record, "level2", level2)
        if normalize_nature(record.nature) not in ("", *NATURES):
            found.add(Code.BAD_NATURE, f"{record.sheet}!{a1(record.row, record.cols.get('nature'))}「{record.level3}」的"
                      f"指标性质「{record.nature}」无法识别，应为{'、'.join(NATURES)}之一或留空，已按年度指标值判断。",
                      record, "nature", record.nature)
        if record.weight is None and "weight" in record.cols \
                and (record.sheet, record.row, record.cols["weight"]) not in found.reported:
            found.add(Code.MISSING_WEIGHT, f"「{record.level3}」未填写分值", record, "weight")
        elif record.weight is not None and record.weight < 0:
            found.add(Code.BAD_WEIGHT, f"「{record.level3}」分值 {_fmt(record.weight)} 为负数", record, "weight",
                      _fmt(record.weight))
    elif isinstance(record, FundingRow) and record.source and normalize_source(record.source) not in schema.SOURCES:
        found.add(Code.BAD_SOURCE, f"{record.sheet}!{a1(record.row, record.cols.get('source'))}「资金来源」建议填写"
                  f"{'、'.join(schema.SOURCES)}之一，读到「{record.source}」。", record, "source", record.source)


def _sheet_where(rows, default_sheet: str) -> dict:
    """Location of a whole sheet's worth of rows (no cell)."""
    return {"sheet": rows[0].sheet if rows else default_sheet, "row": None, "col": None}


def _weights(found: _Found, project: Project, rules: Rules) -> None:
    """The weight plan (DOMAIN.md §3 rule 10): budget + indicator weights sum to the total."""
    indicators = project.indicators
    if not indicators:
        found.add(Code.NO_INDICATORS, f"项目「{project.project_id}」没有绩效指标，无法评分", project, "project_id",
                  project.project_id)
        return
    per_level1: dict[str, Decimal] = {}
    for ind in indicators:  # 不适用 rows keep their weight in the plan (DOMAIN §3 rule 7)
        key = normalize_level(ind.level1, schema.LEVEL1)
        per_level1[key] = per_level1.get(key, _ZERO) + (ind.weight if ind.weight and ind.weight > 0 else _ZERO)
    indicator_total = sum(per_level1.values(), _ZERO)
    total = rules.budget_weight + indicator_total
    where = _sheet_where(indicators, schema.INDICATORS.name)
    names = [n for n, _ in rules.level1_weights] + [k for k in per_level1 if k not in dict(rules.level1_weights)]
    differs = [n for n in names if per_level1.get(n, _ZERO) != rules.default_weight(n)]
    if total != rules.total_weight:
        # On the project's first 分值 cell, naming the 一级 whose weights fall short (or exceed).
        first = min(indicators, key=lambda i: (i.row is None, i.row or 0))
        gaps = "；".join(f"{n}合计 {_fmt(per_level1.get(n, _ZERO))} 分，比默认的 {_fmt(rules.default_weight(n))} 分"
                        f"{'少' if per_level1.get(n, _ZERO) < rules.default_weight(n) else '多'} "
                        f"{_fmt(abs(per_level1.get(n, _ZERO) - rules.default_weight(n)))} 分" for n in differs)
        found.add(Code.WEIGHT_SUM, f"预算执行分值 {_fmt(rules.budget_weight)} 与各指标分值合计 {_fmt(indicator_total)} "
                  f"之和为 {_fmt(total)}，应为 {_fmt(rules.total_weight)}{'：' + gaps if gaps else ''}。请核对各指标分值。",
                  first, "weight", _fmt(total))
        return
    if differs:
        shown = "，".join(f"{n} {_fmt(per_level1.get(n, _ZERO))} 分（默认 {_fmt(rules.default_weight(n))} 分）"
                         for n in differs)
        found.add(Code.WEIGHT_SPLIT, f"各一级指标分值与默认分配不同：{shown}，请确认",
                  value="；".join(f"{n}={_fmt(per_level1.get(n, _ZERO))}" for n in differs),
                  project_id=project.project_id, where=where)


def _reconcile_spending(found: _Found, project: Project, rules: Rules) -> None:
    """DOMAIN.md §3 rule 12: Σ spending rows = Σ executed (± the tolerance)."""
    spending = project.spending
    if not spending or any(f.executed is None for f in project.funding):
        return  # an unreadable 全年执行数 is reported already; comparing against 0 would only add noise
    spent = sum((s.amount or _ZERO for s in spending), _ZERO)
    executed = sum((f.executed for f in project.funding), _ZERO)
    if abs(spent - executed) > rules.reconciliation_tolerance:
        first = min(spending, key=lambda r: (r.row is None, r.row or 0))  # the project's first 金额 cell
        found.add(Code.SPENDING_MISMATCH, f"项目「{project.project_id}」支出明细合计 {_fmt(spent)} 万元与全年执行数合计 "
                  f"{_fmt(executed)} 万元不一致（相差 {_fmt(abs(spent - executed))} 万元），请核对", first, "amount",
                  _fmt(spent))


def _narratives(found: _Found, project: Project, rules: Rules) -> None:
    """DOMAIN.md §7: an empty text cell the report needs is never papered over. The report
    shows a sentence from the data or a 【待补充】 marker there; the department is told here,
    on the cell (an error holding the report back under ``--strict``). Columns its form
    lacks altogether are named in one problem on the project's 项目编号."""
    code = Code.NARRATIVE_REQUIRED if rules.strict else Code.MISSING_NARRATIVE
    consequence = "将按数据生成或标注“【待补充】”，请补充后重新报送。"
    absent = []
    for field in NARRATIVE_FIELDS:
        if str(getattr(project, field) or "").strip():
            continue
        header = schema.PROJECTS.column(field).header
        if field not in project.cols:
            absent.append(header)
            continue
        found.add(code, f"项目「{project.project_id}」的「{header}」（{project.sheet}!{a1(project.row, project.cols[field])}）"
                  f"未填写，自评报告中该部分{consequence}", project, field)
    if absent:
        found.add(code, f"「{project.sheet or schema.PROJECTS.name}」没有" + "、".join(f"「{h}」" for h in absent)
                  + f"列，项目「{project.project_id}」自评报告中这些部分{consequence}", project, "project_id",
                  "、".join(absent))


def check_scores(result: ProjectResult, rules: Rules) -> list[Issue]:
    """Completeness once the project is scored (DOMAIN.md §3 rule 11): a self score that
    differs from the computed one, a shortfall without its 偏差原因."""
    found = _Found(result.project.source_file, ())
    for s in result.indicators:
        _self_score(found, s, rules)
        _over_achieved(found, s)
    return found.issues


def _over_achieved(found: _Found, s: IndicatorScore) -> None:
    """DOMAIN.md §3 rule 13: far above a positive target still scores w, but the target may
    have been set too low; the reviewer decides, the tool never cuts the score itself."""
    a, b = s.target_value, s.actual_value
    if s.kind != Kind.POSITIVE or a is None or b is None or a <= 0 or b < _FAR_ABOVE * a:
        return
    ind = s.indicator
    found.add(Code.OVER_ACHIEVED, f"「{ind.level3}」实际完成值 {_fmt(b)}{s.unit} 是年度指标值 {_fmt(a)}{s.unit} 的 "
              f"{fmt_number(b / a, 1)} 倍，已按满分计；指标值可能定得过低，请复核。", ind, "actual", ind.actual)


def _self_score(found: _Found, s: IndicatorScore, rules: Rules) -> None:
    ind, score = s.indicator, s.score
    if score is None or s.kind == Kind.NOT_APPLICABLE or ind.weight is None:
        return
    own = ind.self_score
    if own is not None and not s.from_self and abs(own - score) > rules.self_score_tolerance:
        found.add(Code.SELF_SCORE_DIFFERS, f"「{ind.level3}」自评得分 {_fmt(own)} 与按规则计算的得分 {_fmt(score)} "
                  f"不一致（{s.why}）", ind, "self_score", _fmt(own))
    if score < ind.weight and not str(ind.deviation or "").strip():
        found.add(Code.MISSING_DEVIATION, f"「{ind.level3}」得分 {_fmt(score)} 低于分值 {_fmt(ind.weight)}，"
                  "请填写偏差原因分析及改进措施", ind, "deviation")
