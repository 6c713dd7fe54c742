"""The scoring rules as data: weights, grade bands, reverse method, qualitative bands,
tolerances (DOMAIN.md §3). Defaults follow the national self-evaluation table; a local
office changes them in a TOML file, never in code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import RulesError

BUNDLED_RULES = Path(__file__).resolve().parent.parent / "workbook_templates" / "rules" / "national.toml"
REVERSE_METHODS = ("linear", "ratio")
GRADE_NAMES = ("优", "良", "中")
BAND_NAMES = ("达成", "部分达成", "未达成")
LEVEL1_NAMES = ("产出指标", "效益指标", "满意度指标", "成本指标")

D = Decimal


@dataclass(frozen=True)
class Rules:
    """Every number and choice the scorer applies.

    - ``budget_weight``: points of 预算执行率; ``level1_weights``: the default split of the
      indicator points per 一级指标 (a project with another split draws a warning, and a
      一级 absent here, or present with 0, is expected to carry no points);
      ``total_weight``: what budget + indicator weights must sum to.
    - ``grade_bands``: (lowest total, grade) from the top; below the last one ``lowest_grade``.
    - ``reverse_method``: ``linear`` or ``ratio`` (DOMAIN.md §3 rule 3).
    - ``qualitative_bands``: (band, low, high) as fractions of the weight; the low end is
      included, the high end only for the top band (达成).
    - ``qualitative_default``: fraction of the weight for 达成 without a self score.
    - ``self_score_tolerance`` (points) and ``reconciliation_tolerance`` (万元).
    """

    budget_weight: Decimal = D(10)
    level1_weights: tuple[tuple[str, Decimal], ...] = (
        ("产出指标", D(50)), ("效益指标", D(30)), ("满意度指标", D(10)), ("成本指标", D(0)))
    total_weight: Decimal = D(100)
    grade_bands: tuple[tuple[Decimal, str], ...] = ((D(90), "优"), (D(80), "良"), (D(60), "中"))
    lowest_grade: str = "差"
    reverse_method: str = "linear"
    qualitative_bands: tuple[tuple[str, Decimal, Decimal], ...] = (
        ("达成", D("0.8"), D(1)), ("部分达成", D("0.6"), D("0.8")), ("未达成", D(0), D("0.6")))
    qualitative_default: Decimal = D(1)
    self_score_tolerance: Decimal = D("0.01")
    reconciliation_tolerance: Decimal = D("0.01")
    source: str = field(default="", compare=False)

    def default_weight(self, level1: str) -> Decimal:
        """Default points of one 一级指标 (0 for one the rules do not list)."""
        return dict(self.level1_weights).get(level1, D(0))

    def grade(self, total: Decimal) -> str:
        """优 / 良 / 中 / 差 for a total score."""
        for low, name in self.grade_bands:
            if total >= low:
                return name
        return self.lowest_grade

    def band(self, name: str) -> tuple[Decimal, Decimal]:
        """(low, high) fractions of the weight for a qualitative band."""
        for band, low, high in self.qualitative_bands:
            if band == name:
                return low, high
        raise KeyError(name)

    def in_band(self, name: str, score: Decimal, weight: Decimal) -> bool:
        """Whether ``score`` lies in band ``name`` of an indicator worth ``weight``."""
        low, high = self.band(name)
        top = name == self.qualitative_bands[0][0]
        return low * weight <= score and (score <= high * weight if top else score < high * weight)


# TOML layout: table -> key -> expected type. Kept flat so every error can name "table.key".
_NUMBER, _STRING, _PAIR = "数值", "文字", "两个数值组成的数组"
_LAYOUT = {
    "weights": {"budget": _NUMBER, "total": _NUMBER, **{k: _NUMBER for k in LEVEL1_NAMES}},
    "grades": {**{k: _NUMBER for k in GRADE_NAMES}, "lowest": _STRING},
    "reverse": {"method": _STRING},
    "qualitative": {**{k: _PAIR for k in BAND_NAMES}, "default": _NUMBER},
    "tolerance": {"self_score": _NUMBER, "reconciliation": _NUMBER},
}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_types(data: dict, where: str) -> None:
    for table, keys in data.items():
        if table not in _LAYOUT:
            raise RulesError(f"规则文件 {where} 中有未知的表「[{table}]」，允许的有：{'、'.join(_LAYOUT)}")
        if not isinstance(keys, dict):
            raise RulesError(f"规则文件 {where} 中「{table}」应为表（[{table}]）")
        for key, value in keys.items():
            kind = _LAYOUT[table].get(key)
            name = f"{table}.{key}"
            if kind is None:
                raise RulesError(f"规则文件 {where} 中有未知的键「{name}」，允许的有：{'、'.join(_LAYOUT[table])}")
            ok = (_is_number(value) if kind == _NUMBER else isinstance(value, str) if kind == _STRING
                  else isinstance(value, list) and len(value) == 2 and all(map(_is_number, value)))
            if not ok:
                raise RulesError(f"规则文件 {where} 中「{name}」应为{kind}，实际为「{value!r}」")


def _dec(v) -> Decimal:
    return D(repr(v)) if isinstance(v, float) else D(v)


def _build(data: dict, where: str) -> Rules:
    base = Rules()
    w = data.get("weights", {})
    g = data.get("grades", {})
    q = data.get("qualitative", {})
    t = data.get("tolerance", {})
    level1 = tuple((k, _dec(w.get(k, v))) for k, v in base.level1_weights)
    grades = dict((name, low) for low, name in base.grade_bands)
    bands = {name: (lo, hi) for name, lo, hi in base.qualitative_bands}
    rules = Rules(
        budget_weight=_dec(w.get("budget", base.budget_weight)),
        level1_weights=level1,
        total_weight=_dec(w.get("total", base.total_weight)),
        grade_bands=tuple((_dec(g.get(n, grades[n])), n) for n in GRADE_NAMES),
        lowest_grade=g.get("lowest", base.lowest_grade),
        reverse_method=data.get("reverse", {}).get("method", base.reverse_method),
        qualitative_bands=tuple((n, *(_dec(x) for x in q.get(n, bands[n]))) for n in BAND_NAMES),
        qualitative_default=_dec(q.get("default", base.qualitative_default)),
        self_score_tolerance=_dec(t.get("self_score", base.self_score_tolerance)),
        reconciliation_tolerance=_dec(t.get("reconciliation", base.reconciliation_tolerance)),
        source=where,
    )
    _check_values(rules, where)
    return rules


def _check_values(r: Rules, where: str) -> None:
    def fail(key: str, why: str):
        raise RulesError(f"规则文件 {where} 中「{key}」{why}")

    if r.budget_weight < 0:
        fail("weights.budget", "不能为负数")
    for name, weight in r.level1_weights:
        if weight < 0:
            fail(f"weights.{name}", "不能为负数")
    if r.total_weight <= 0:
        fail("weights.total", "必须大于 0")
    split = r.budget_weight + sum(w for _, w in r.level1_weights)
    if split != r.total_weight:
        fail("weights.total", f"为 {r.total_weight}，但预算执行与各一级指标的默认分值合计为 {split}")
    if r.reverse_method not in REVERSE_METHODS:
        fail("reverse.method", f"只能是 {' 或 '.join(REVERSE_METHODS)}，实际为「{r.reverse_method}」")
    lows = [low for low, _ in r.grade_bands]
    if any(not 0 <= low <= r.total_weight for low in lows) or lows != sorted(set(lows), reverse=True):
        fail("grades", f"分数线应从「优」到「中」严格递减且在 0 到 {r.total_weight} 之间，实际为 {lows}")
    if not r.lowest_grade.strip():
        fail("grades.lowest", "不能为空")
    previous_low = D(1)
    for name, low, high in r.qualitative_bands:  # from 达成 down to 未达成
        if not (0 <= low < high <= 1) or high > previous_low:
            fail(f"qualitative.{name}", f"区间 [{low}, {high}] 不正确：应在 0 到 1 之间、下限小于上限，"
                                        "且 达成 ≥ 部分达成 ≥ 未达成 依次不重叠")
        previous_low = low
    top_low, top_high = r.qualitative_bands[0][1:]
    if not top_low <= r.qualitative_default <= top_high:
        fail("qualitative.default", f"应在「达成」区间 [{top_low}, {top_high}] 内")
    if r.self_score_tolerance < 0:
        fail("tolerance.self_score", "不能为负数")
    if r.reconciliation_tolerance < 0:
        fail("tolerance.reconciliation", "不能为负数")


def load_rules(path=None) -> Rules:
    """Load a rules TOML; keys left out keep the national defaults.

    ``path=None`` loads the bundled ``national.toml`` (or the built-in defaults when the
    file is not shipped, e.g. in a wheel). Raises :class:`RulesError` naming the file and
    the key for a missing or malformed file, an unknown key, a wrong type or a bad value."""
    if path is None:
        if not BUNDLED_RULES.is_file():
            return Rules(source="")
        path = BUNDLED_RULES
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise RulesError(f"找不到规则文件 {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"无法读取规则文件 {path}：{exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"规则文件 {path} 格式错误：{exc}") from None
    _check_types(data, str(path))
    return _build(data, str(path))
