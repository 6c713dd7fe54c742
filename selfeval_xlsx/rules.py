"""The scoring rules as data: weights, grade bands, reverse method, qualitative bands,
tolerances (DOMAIN.md §3). The defaults are the national self-evaluation table, kept once, in
the bundled ``data/national.toml``; a local office changes them in a TOML file of its own,
never in code. Keys its file leaves out keep the national values.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import RulesError
from .vocab import Band, Level1

BUNDLED_RULES = resources.files(__package__) / "data" / "national.toml"
REVERSE_METHODS = ("linear", "ratio")

D = Decimal


@dataclass(frozen=True)
class Rules:
    """Every number and choice the scorer applies (no defaults here: :func:`load_rules` reads
    them from the bundled national file).

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
    - ``strict``: the run's ``--strict``: an empty narrative cell holds the project back.
    """

    budget_weight: Decimal
    level1_weights: tuple[tuple[str, Decimal], ...]
    total_weight: Decimal
    grade_bands: tuple[tuple[Decimal, str], ...]
    lowest_grade: str
    reverse_method: str
    qualitative_bands: tuple[tuple[str, Decimal, Decimal], ...]
    qualitative_default: Decimal
    self_score_tolerance: Decimal
    reconciliation_tolerance: Decimal
    source: str = field(default="", compare=False)
    strict: bool = False  # an empty report text cell is an error (``--strict``), not a warning

    @property
    def grade_names(self) -> tuple[str, ...]:
        """Every grade, from the best to the lowest."""
        return (*(name for _, name in self.grade_bands), self.lowest_grade)

    def default_weight(self, level1: str) -> Decimal:
        """Default points of one 一级指标 (0 for one the rules do not list)."""
        return dict(self.level1_weights).get(level1, D(0))

    def grade(self, total: Decimal) -> str:
        """The grade of a total score."""
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


def _layout(grade_names) -> dict:
    return {
        "weights": {"budget": _NUMBER, "total": _NUMBER, **{k.value: _NUMBER for k in Level1}},
        "grades": {**{k: _NUMBER for k in grade_names}, "lowest": _STRING},
        "reverse": {"method": _STRING},
        "qualitative": {**{k.value: _PAIR for k in Band}, "default": _NUMBER},
        "tolerance": {"self_score": _NUMBER, "reconciliation": _NUMBER},
    }


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_types(data: dict, where: str, layout: dict) -> None:
    for table, keys in data.items():
        if table not in layout:
            raise RulesError(f"规则文件 {where} 中有未知的表「[{table}]」，允许的有：{'、'.join(layout)}")
        if not isinstance(keys, dict):
            raise RulesError(f"规则文件 {where} 中「{table}」应为表（[{table}]）")
        for key, value in keys.items():
            kind = layout[table].get(key)
            name = f"{table}.{key}"
            if kind is None:
                raise RulesError(f"规则文件 {where} 中有未知的键「{name}」，允许的有：{'、'.join(layout[table])}")
            ok = (_is_number(value) if kind == _NUMBER else isinstance(value, str) if kind == _STRING
                  else isinstance(value, list) and len(value) == 2 and all(map(_is_number, value)))
            if not ok:
                raise RulesError(f"规则文件 {where} 中「{name}」应为{kind}，实际为「{value!r}」")


def _dec(v) -> Decimal:
    return D(repr(v)) if isinstance(v, float) else D(v)


def _build(data: dict, where: str) -> Rules:
    """Rules from a complete table (the bundled file with the office's keys laid over it)."""
    w, g, q, t = data["weights"], data["grades"], data["qualitative"], data["tolerance"]
    rules = Rules(
        budget_weight=_dec(w["budget"]),
        level1_weights=tuple((k.value, _dec(w.get(k.value, 0))) for k in Level1),
        total_weight=_dec(w["total"]),
        grade_bands=tuple((_dec(low), name) for name, low in g.items() if name != "lowest"),
        lowest_grade=g["lowest"],
        reverse_method=data["reverse"]["method"],
        qualitative_bands=tuple((b.value, *(_dec(x) for x in q[b.value])) for b in Band),
        qualitative_default=_dec(q["default"]),
        self_score_tolerance=_dec(t["self_score"]),
        reconciliation_tolerance=_dec(t["reconciliation"]),
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
        names = [name for _, name in r.grade_bands]
        fail("grades", f"分数线应从「{names[0]}」到「{names[-1]}」严格递减且在 0 到 {r.total_weight} 之间，实际为 {lows}")
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


def _read(path, where: str) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise RulesError(f"找不到规则文件 {where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"无法读取规则文件 {where}：{exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"规则文件 {where} 格式错误：{exc}") from None


@lru_cache(maxsize=1)
def _national() -> tuple[dict, Rules]:
    data = _read(BUNDLED_RULES, str(BUNDLED_RULES))
    return data, _build(data, str(BUNDLED_RULES))


def load_rules(path=None, *, strict: bool = False) -> Rules:
    """Load a rules TOML; keys left out keep the national values of the bundled file.

    ``path=None`` gives the national rules themselves; ``strict`` makes an empty narrative
    cell an error (``--strict``). Raises :class:`RulesError` naming the
    file and the key for a missing or malformed file, an unknown key, a wrong type or a bad
    value (its grade names are those of the national file; ``grades.lowest`` renames the last)."""
    national, rules = _national()
    if path is not None:
        path = Path(path)
        data = _read(path, str(path))
        _check_types(data, str(path), _layout([k for k in national["grades"] if k != "lowest"]))
        merged = {table: {**keys, **data.get(table, {})} for table, keys in national.items()}
        rules = _build(merged, str(path))
    return replace(rules, strict=True) if strict else rules
