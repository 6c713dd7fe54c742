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

from . import parsing as P
from . import schema
from .issues import Code, Issue, Scope, issue
from .models import (NARRATIVE_FIELDS, ApprovedIndicator, ApprovedProject, Approval, FundingRow, Indicator,
                     IndicatorScore, Project, ProjectResult, Row, SpendingRow, Submission)
from .present import fmt_exact, fmt_number, fmt_rate
from .rules import Rules
from .vocab import NATURES, Kind, Layout, normalize_level, normalize_name, normalize_nature, normalize_source
from .xlsx.parts import a1

_ZERO = Decimal(0)
_FAR_ABOVE = Decimal(2)  # B ≥ 2A on a positive target draws the over-achievement warning (§3 rule 13)
_SPEC = {Project: schema.PROJECTS, FundingRow: schema.FUNDING, SpendingRow: schema.SPENDING,
         Indicator: schema.INDICATORS}


_fmt = fmt_exact  # a Decimal as people write it, exactly: 10 not 10.00, 6.67, 0.5


def blocks(issues: Iterable[Issue], project_id: str) -> bool:
    """Whether ``issues`` (a file's, including the project's own) keep the project from a score."""
    return any(i.is_error and i.code.scope is not Scope.REVIEW and (i.blocks_file or i.project_id in ("", project_id))
               for i in issues)


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

    def seen(self, record: Row, field: str) -> bool:
        """Whether the cell of ``record``'s ``field`` has a problem already."""
        where = record.where(field)
        return (where["sheet"], where["row"], where["col"]) in self.reported


def _cell(record: Row, field: str) -> str:
    """``绩效指标!B7``: where ``record``'s ``field`` is, for a message."""
    where = record.where(field)
    return f"{where['sheet']}!{a1(where['row'], where['col'])}"


def check_submission(submission: Submission, rules: Rules) -> list[Issue]:
    """Every record rule over a read submission; its conversion problems (``submission.issues``)
    are taken into account so that a cell is never reported twice."""
    found = _Found(submission.file, submission.issues)
    for project in submission.projects:
        _required(found, project)
    for project in submission.duplicates:
        first = next(p for p in submission.projects if p.project_id == project.project_id)
        if project.sheet != first.sheet:  # two national forms, one sheet each
            message = (f"「{project.sheet}」与「{first.sheet}」的项目编号同为「{project.project_id}」，是同一个项目"
                       "（自评表未填项目编号时，按主管部门、项目名称和年度生成编号）。请删除重复的工作表，或核对项目名称。")
        else:
            message = (f"项目编号「{project.project_id}」在「{project.sheet}」中重复出现（第 {first.row + 1} 行和第 "
                       f"{project.row + 1} 行），请为每个项目使用唯一编号。")
        found.add(Code.DUPLICATE_PROJECT_ID, message, project, "project_id", project.project_id)
    for row in submission.orphans:
        _required(found, row)
        if row.project_id and not isinstance(row, Project):
            found.add(Code.UNKNOWN_PROJECT,
                      f"{_cell(row, 'project_id')} 的项目编号「{row.project_id}」在「项目信息」中"
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
        _stated_funding(found, project, rules)
    return found.issues


def check_project(project: Project, rules: Rules) -> list[Issue]:
    """The record rules of one project on its own (no file around it, so no sheet to miss)."""
    return check_submission(Submission(project.source_file, [project], has_funding_sheet=False), rules)


def _required(found: _Found, record: Row) -> None:
    # A 不适用 indicator has nothing to report as done (DOMAIN.md §3 rule 15).
    not_applicable = isinstance(record, Indicator) and normalize_nature(record.nature) == Kind.NOT_APPLICABLE.label
    cols = record.cols
    for field, header in _REQUIRED[type(record)]:
        if not_applicable and field == "actual" or cols.get(field) is None:
            continue
        value = getattr(record, field)
        # Not ``in ("", None)``: comparing a Decimal with "" goes through the numbers ABCs.
        if (value is None or isinstance(value, str) and not value) and not found.seen(record, field):
            found.add(Code.EMPTY_REQUIRED, f"{_cell(record, field)}「{header}」为必填项，不能为空。", record, field)


_REQUIRED = {cls: tuple((c.field, c.header) for c in spec.required) for cls, spec in _SPEC.items()}


def _vocabulary(found: _Found, record: Row) -> None:
    if isinstance(record, Indicator):
        level1 = normalize_level(record.level1, schema.LEVEL1)
        level2 = normalize_level(record.level2, schema.LEVEL2)
        # A merged 一级/二级 run is one cell (its first row): reported once, not per row.
        if level1 and level1 not in schema.LEVEL2_BY_LEVEL1:
            if not found.seen(record, "level1"):
                found.add(Code.BAD_LEVEL1, f"{_cell(record, 'level1')}「一级指标」应为{'、'.join(schema.LEVEL1)}之一，读到「{level1}」。",
                          record, "level1", level1)
        elif level1 and level2 and level2 not in schema.LEVEL2_BY_LEVEL1[level1] and not found.seen(record, "level2"):
            found.add(Code.BAD_LEVEL2,
                      f"{_cell(record, 'level2')}「二级指标」「{level2}」不属于"
                      f"「{level1}」（应为{'、'.join(schema.LEVEL2_BY_LEVEL1[level1])}之一）。",
                      record, "level2", level2)
        if normalize_nature(record.nature) not in ("", *NATURES):
            found.add(Code.BAD_NATURE, f"{_cell(record, 'nature')}「{record.level3}」的"
                      f"指标性质「{record.nature}」无法识别，应为{'、'.join(NATURES)}之一或留空，已按年度指标值判断。",
                      record, "nature", record.nature)
        if record.weight is None and "weight" in record.cols and not found.seen(record, "weight"):
            found.add(Code.MISSING_WEIGHT, f"「{record.level3}」未填写分值", record, "weight")
        elif record.weight is not None and record.weight < 0:
            found.add(Code.BAD_WEIGHT, f"「{record.level3}」分值 {_fmt(record.weight)} 为负数", record, "weight",
                      _fmt(record.weight))
    elif isinstance(record, FundingRow) and record.source and normalize_source(record.source) not in schema.SOURCES \
            and not found.seen(record, "source"):
        found.add(Code.BAD_SOURCE, f"{_cell(record, 'source')}「资金来源」建议填写"
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
        found.add(code, f"项目「{project.project_id}」的「{header}」（{_cell(project, field)}）"
                  f"未填写，自评报告中该部分{consequence}", project, field)
    if absent and project.layout == Layout.NATIONAL:  # the form has no place for them
        found.add(code, f"「{project.sheet}」是国家表式的自评表，没有" + "、".join(f"「{h}」" for h in absent)
                  + f"栏目，项目「{project.name}」自评报告中这些部分将按数据生成或标注“【待补充】”。如需写入单位"
                  "自己的文字，请改用标准填报表（selfeval template 生成）填写。", project, "project_id", "、".join(absent))
    elif absent:
        found.add(code, f"「{project.sheet or schema.PROJECTS.name}」没有" + "、".join(f"「{h}」" for h in absent)
                  + f"列，项目「{project.project_id}」自评报告中这些部分{consequence}", project, "project_id",
                  "、".join(absent))


_AMOUNTS = (("initial_budget", "年初预算数"), ("budget", "全年预算数"), ("executed", "全年执行数"))
_RATE_TOLERANCE = Decimal("0.005")  # a rate written as a whole percent (98% for 98.16%) still agrees


def _stated_funding(found: _Found, project: Project, rules: Rules) -> None:
    """A national form's 年度资金总额 row against the sum of its source rows (the rows count)."""
    stated = project.stated
    if stated is None or stated.row is None or any(f.row == stated.row for f in project.funding):
        return  # no total row, or it is the one funding row
    for name, header in _AMOUNTS:
        given, values = getattr(stated, name), [getattr(f, name) for f in project.funding]
        # Σ over the rows that were read; an unreadable amount is reported already.
        if given is None or not values or all(v is None for v in values) or (name != "initial_budget" and None in values):
            continue
        total = sum((v for v in values if v is not None), _ZERO)
        if abs(given - total) > rules.reconciliation_tolerance:
            found.add(Code.TOTALS_MISMATCH, f"「年度资金总额」的{header}填写为 {_fmt(given)} 万元，"
                      f"与其中各项资金合计 {_fmt(total)} 万元不一致，已按各项资金合计计算", stated, name, _fmt(given),
                      project_id=project.project_id)


def check_scores(result: ProjectResult, rules: Rules) -> list[Issue]:
    """Completeness once the project is scored (DOMAIN.md §3 rule 11): a self score that
    differs from the computed one, a shortfall without its 偏差原因, and a national form's own
    figures (budget 分值, 执行率, 得分, 总分) that differ from the computed ones."""
    found = _Found(result.project.source_file, ())
    for s in result.indicators:
        _self_score(found, s, rules)
        _over_achieved(found, s)
    if result.project.stated is not None:
        _stated_scores(found, result, rules)
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


def _stated_scores(found: _Found, result: ProjectResult, rules: Rules) -> None:
    stated, pid = result.project.stated, result.project.project_id

    def differs(code: Code, name: str, message: str, given: Decimal) -> None:
        found.add(code, message, stated, name, _fmt(given), project_id=pid)

    if stated.weight is not None and stated.weight != result.budget_weight:
        differs(Code.STATED_DIFFERS, "weight", f"「年度资金总额」的分值填写为 {_fmt(stated.weight)}，评分规则中为 "
                f"{_fmt(result.budget_weight)}，已按 {_fmt(result.budget_weight)} 分计算", stated.weight)
    if stated.rate is not None and result.rate is not None and abs(stated.rate - result.rate) > _RATE_TOLERANCE:
        differs(Code.STATED_DIFFERS, "rate", f"「年度资金总额」的执行率填写为 {fmt_rate(stated.rate)}，按全年执行数 {_fmt(result.executed)} "
                f"÷ 全年预算数 {_fmt(result.budget)} 计算为 {fmt_rate(result.rate)}", stated.rate)
    if stated.score is not None and result.budget_score is not None \
            and abs(stated.score - result.budget_score) > rules.self_score_tolerance:
        differs(Code.SELF_SCORE_DIFFERS, "score", f"「年度资金总额」的预算执行自评得分 {_fmt(stated.score)} 与按规则计算的得分 "
                f"{_fmt(result.budget_score)} 不一致（执行率 {fmt_rate(result.rate)}）", stated.score)
    if stated.total_weight is not None and stated.total_weight != result.total_weight:
        differs(Code.STATED_DIFFERS, "total_weight", f"「总分」的分值填写为 {_fmt(stated.total_weight)}，评分规则中为 "
                f"{_fmt(result.total_weight)}", stated.total_weight)
    if stated.total is not None and result.total is not None and abs(stated.total - result.total) > rules.self_score_tolerance:
        differs(Code.SELF_SCORE_DIFFERS, "total", f"「总分」填写为 {_fmt(stated.total)}，与按规则计算的总分 "
                f"{_fmt(result.total)} 不一致", stated.total)


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


# ---------------------------------------------------------------- approved targets (--targets)

_LOWERED, _CHANGED = "lowered", "changed"
_POSITIVE_OPS = {P.GT: 2, P.GE: 1, P.EQ: 1}  # how strict each operator of a positive target is
_REVERSE_OPS = {P.LT: 2, P.LE: 1}


def pair_indicators(indicators: list[Indicator], approved: tuple[ApprovedIndicator, ...]
                    ) -> tuple[dict[int, tuple[ApprovedIndicator, bool]], list[ApprovedIndicator]]:
    """Each submitted indicator's approved one: submitted index -> (approved, matched by
    name). Matched by 三级指标 name (normalised), else by position within the same 一级/二级;
    also the approved indicators left without a submitted one (dropped)."""
    names: dict[str, list[int]] = {}
    for j, a in enumerate(approved):
        names.setdefault(normalize_name(a.level3), []).append(j)
    pairs: dict[int, tuple[int, bool]] = {}
    used: set[int] = set()
    for i, ind in enumerate(indicators):
        free = [j for j in names.get(normalize_name(ind.level3), ()) if j not in used]
        if free:
            pairs[i] = (free[0], True)
            used.add(free[0])
    at = {key: j for j, key in enumerate(_positions((a.level1, a.level2) for a in approved))}
    for i, key in enumerate(_positions((ind.level1, ind.level2) for ind in indicators)):
        j = at.get(key)
        if i not in pairs and j is not None and j not in used:
            pairs[i] = (j, False)
            used.add(j)
    return ({i: (approved[j], by_name) for i, (j, by_name) in pairs.items()},
            [a for j, a in enumerate(approved) if j not in used])


def _positions(levels) -> list[tuple[str, str, int]]:
    """(一级, 二级, position within that 二级) of each row, in order."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for level1, level2 in levels:
        key = (normalize_level(level1, schema.LEVEL1), normalize_level(level2, schema.LEVEL2))
        seen[key] = seen.get(key, -1) + 1
        out.append((*key, seen[key]))
    return out


def target_change(submitted: str, approved: str, year=None) -> tuple[str, str]:
    """How a submitted 年度指标值 differs from the approved one, read with
    :func:`~selfeval_xlsx.parsing.parse_target`: ``("lowered", why)`` when the target was made
    easier (a positive target lower, a reverse one looser, a deadline later), ``("changed",
    why)`` for any other difference (units, direction, form, a harder target), ``("", "")``
    when both mean the same (``不少于18次`` = ``≥18次``). An unreadable submitted target is
    the scorer's to report."""
    a, s = P.parse_target(approved, year), P.parse_target(submitted, year)
    if s.kind == P.INVALID:
        return "", ""
    if a.kind == P.INVALID or a.kind != s.kind:
        same = normalize_name(approved) == normalize_name(submitted)
        return ("", "") if same else (_CHANGED, "写法或类型不同")
    if a.kind == P.QUALITATIVE:
        return ("", "") if normalize_name(approved) == normalize_name(submitted) else (_CHANGED, "")
    if a.kind == P.DEADLINE:
        if s.date == a.date:
            return "", ""
        return (_LOWERED, "完成时限推后") if s.date > a.date else (_CHANGED, "完成时限提前")
    if a.unit != s.unit:
        return _CHANGED, f"单位由「{a.unit}」改为「{s.unit}」"
    reverse = a.op in _REVERSE_OPS
    if reverse != (s.op in _REVERSE_OPS):
        return _CHANGED, "指标方向改变"
    strict = _REVERSE_OPS if reverse else _POSITIVE_OPS
    easier = s.value > a.value if reverse else s.value < a.value
    if s.value == a.value:
        easier = strict[s.op] < strict[a.op]
        if not easier:
            return ("", "") if strict[s.op] == strict[a.op] else (_CHANGED, "目标提高")
    if easier:
        return _LOWERED, "反向指标放宽了上限" if reverse else "正向指标调低了目标"
    return _CHANGED, "目标提高"


def check_approved(project: Project, approved: ApprovedProject | None, matched_by: str, rules: Rules,
                   scored_on_approved: bool = False) -> tuple[list[Issue], Approval]:
    """The project against its approved targets (a record rule given the approval as data):
    budget, every indicator's target and weight, indicators dropped, added or renamed. Each
    problem names both values and points at the department's cell. ``scored_on_approved``:
    the project is scored on the approved targets and weights, so a changed target or
    weight is a note saying so rather than a problem to fix."""
    found = _Found(project.source_file, ())
    if approved is None:
        found.add(Code.NO_APPROVED_TARGETS, f"项目「{project.project_id} {project.name}」（{project.department}）在批复绩效"
                  "目标中找不到（项目编号、主管部门+项目名称均对不上），未能与批复比对；请核对项目编号和项目名称是否与批复一致。",
                  project, "project_id", project.project_id)
        return found.issues, Approval(targets=("",) * len(project.indicators))
    pairs, dropped = pair_indicators(project.indicators, approved.indicators)
    _approved_budget(found, project, approved, rules)
    for i, ind in enumerate(project.indicators):
        if i not in pairs:
            found.add(Code.INDICATOR_ADDED, f"「{ind.level3}」不在批复的绩效目标中（{ind.level1}/{ind.level2}），"
                      "请核对是否为批复指标或说明新增依据。", ind, "level3", ind.level3)
            continue
        a, by_name = pairs[i]
        if not by_name:
            found.add(Code.INDICATOR_RENAMED, f"「{ind.level3}」与批复的三级指标「{a.level3}」名称不同（按同一二级指标下的"
                      "位置对应），请按批复名称填写。", ind, "level3", ind.level3)
        _approved_indicator(found, ind, a, project.year, scored_on_approved)
    for a in dropped:
        found.add(Code.INDICATOR_DROPPED, f"批复的三级指标「{a.level3}」（{a.level1}/{a.level2}，年度指标值「{a.target}」"
                  f"{'，分值 ' + _fmt(a.weight) if a.weight is not None else ''}）没有填报，请补充该指标的实际完成情况。",
                  value=a.level3, project_id=project.project_id, where=_dropped_where(project, a))
    targets = tuple(pairs[i][0].target if i in pairs else "" for i in range(len(project.indicators)))
    return found.issues, Approval(approved.key, matched_by, targets, len(found.issues))


def _approved_budget(found: _Found, project: Project, approved: ApprovedProject, rules: Rules) -> None:
    funding = project.funding
    if approved.budget is None or not funding or any(f.budget is None for f in funding):
        return  # an unreadable 全年预算数 is reported already
    budget = sum((f.budget for f in funding), _ZERO)
    if abs(budget - approved.budget) > rules.reconciliation_tolerance:
        found.add(Code.BUDGET_DIFFERS, f"全年预算数合计 {_fmt(budget)} 万元与批复的 {_fmt(approved.budget)} 万元不一致，"
                  "请核对（年中调整的请说明依据）。", funding[0], "budget", _fmt(budget))


def _approved_indicator(found: _Found, ind: Indicator, a: ApprovedIndicator, year: str, on_approved: bool) -> None:
    change, why = target_change(ind.target, a.target, year)
    weight_differs = a.weight is not None and ind.weight is not None and a.weight != ind.weight
    if on_approved:
        parts = []
        if change:
            parts.append(f"年度指标值「{ind.target}」与批复的「{a.target}」不一致{f'（{why}）' if why else ''}")
        if weight_differs:
            parts.append(f"分值 {_fmt(ind.weight)} 与批复的 {_fmt(a.weight)} 不一致")
        if parts:
            found.add(Code.SCORED_ON_APPROVED, f"「{ind.level3}」{'，'.join(parts)}，已按批复值计分。",
                      ind, "target" if change else "weight", ind.target if change else _fmt(ind.weight))
        return
    if change == _LOWERED:
        found.add(Code.TARGET_LOWERED, f"「{ind.level3}」年度指标值「{ind.target}」比批复的「{a.target}」容易达到（{why}），"
                  "请按批复值填写。", ind, "target", ind.target)
    elif change == _CHANGED:
        found.add(Code.TARGET_CHANGED, f"「{ind.level3}」年度指标值「{ind.target}」与批复的「{a.target}」不一致"
                  f"{f'（{why}）' if why else ''}，请按批复值填写或说明调整依据。", ind, "target", ind.target)
    if weight_differs:
        found.add(Code.WEIGHT_CHANGED, f"「{ind.level3}」分值 {_fmt(ind.weight)} 与批复的 {_fmt(a.weight)} 不一致，"
                  "请按批复分值填写。", ind, "weight", _fmt(ind.weight))


def _dropped_where(project: Project, a: ApprovedIndicator) -> dict:
    """Where a dropped indicator belongs: the 二级指标 cell of the last row of its 二级 (or
    the 一级指标 cell of its 一级), else the project's 项目编号."""
    rows = project.indicators
    for field, same in (("level2", lambda ind: (ind.level1, ind.level2) == (a.level1, a.level2)),
                        ("level1", lambda ind: ind.level1 == a.level1)):
        near = [ind for ind in rows if same(ind)]
        if near:
            return near[-1].where(field)
    return project.where("project_id")
