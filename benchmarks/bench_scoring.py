"""Throughput of the pure scoring engine on synthetic projects.

    python benchmarks/bench_scoring.py --projects 2000

Builds N projects of 9–12 indicators (positive, reverse, equal, deadline and qualitative
targets with varied numbers, so the parse caches see realistic reuse), scores each once and
prints ``RESULT indicators_per_s=… projects_per_s=…``.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selfeval_xlsx.models import FundingRow, Indicator, Project, SpendingRow  # noqa: E402
from selfeval_xlsx.rules import load_rules  # noqa: E402
from selfeval_xlsx.pipeline import score  # noqa: E402 - record checks, scoring and completeness


def _indicator(rng: random.Random, pid: str, row: int, level1: str, weight: Decimal) -> Indicator:
    form = rng.choice(["positive", "positive", "reverse", "equal", "deadline", "qualitative"])
    if form == "positive":
        a = rng.randint(5, 3000)
        unit = rng.choice(["次", "人次", "册", "个", "%"])
        target, actual = f"{rng.choice(['≥', '≧ ', '不少于'])}{a}{unit}", f"{rng.randint(a // 2, a * 2)}{unit}"
    elif form == "reverse":
        a = rng.randint(1, 30)
        target, actual = f"≤{a}天", f"{round(rng.uniform(0, 2.5 * a), 1)}天"
    elif form == "equal":
        target, actual = "=100%", f"{rng.choice([100, 100, 98, 95])}%"
    elif form == "deadline":
        target, actual = f"2023年{rng.randint(6, 12)}月", f"2023-{rng.randint(5, 12):02d}-{rng.randint(1, 28):02d}"
    else:
        target = rng.choice(["有效提升", "逐步改善", "按时完成"])
        actual = rng.choice(["达成", "达成年度指标", "部分达成"])
    self_score = Decimal(7) if actual == "部分达成" else None
    return Indicator(sheet="绩效指标", row=row, cols={"target": 5, "actual": 6, "self_score": 8}, project_id=pid,
                     level1=level1, level3=f"指标{row}", target=target, actual=actual, weight=weight,
                     self_score=None if self_score is None else self_score * weight / 10, deviation="")


def build_projects(n: int, seed: int = 1) -> list[Project]:
    """N synthetic projects whose weights follow the default split (budget 10 + 90)."""
    rng = random.Random(seed)
    projects = []
    for p in range(n):
        pid = f"P{p:05d}"
        count = rng.randint(9, 12)
        # 满意度 gets one indicator worth 10; 效益 3 worth 10; 产出 takes the rest of 50.
        n_output = count - 4
        output_weights = [Decimal(50) / n_output] * n_output
        output_weights[-1] = Decimal(50) - sum(output_weights[:-1])
        plan = [("产出指标", w) for w in output_weights] + [("效益指标", Decimal(10))] * 3 + [("满意度指标", Decimal(10))]
        indicators = [_indicator(rng, pid, i + 1, l1, w) for i, (l1, w) in enumerate(plan)]
        budget = Decimal(rng.randint(10, 1000))
        executed = (budget * Decimal(rng.randint(60, 105)) / 100).quantize(Decimal("0.01"))
        projects.append(Project(project_id=pid, name=f"项目{p}", year="2023", source_file="bench.xlsx",
                                funding=[FundingRow(sheet="资金", row=1, project_id=pid, budget=budget,
                                                    executed=executed)],
                                spending=[SpendingRow(sheet="支出", row=1, project_id=pid, amount=executed)],
                                indicators=indicators))
    return projects


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    projects = build_projects(args.projects, args.seed)
    rules = load_rules()
    indicators = sum(len(p.indicators) for p in projects)
    start = time.perf_counter()
    results = [score(p, rules) for p in projects]
    elapsed = time.perf_counter() - start
    scored = sum(r.total is not None for r in results)
    print(f"projects={len(projects)} indicators={indicators} scored={scored} seconds={elapsed:.3f} "
          f"us_per_indicator={elapsed / indicators * 1e6:.1f}")
    print(f"RESULT indicators_per_s={indicators / elapsed:.0f} projects_per_s={len(projects) / elapsed:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
