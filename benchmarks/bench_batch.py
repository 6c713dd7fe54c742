"""End-to-end batch benchmark: a generated inbox, a naive baseline and ``selfeval run``.

    python benchmarks/bench_batch.py --projects 1000

Generates departments of 5–20 projects with 9–12 indicators each and Chinese narrative text,
then times, in the same run, (a) a naive baseline — pandas with the openpyxl engine, a fresh
``DocxTemplate`` per report, one process — and (b) ``selfeval run`` as a subprocess (peak memory
is the sum over its process tree, polled). Ends with one ``RESULT`` line.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selfeval_xlsx.form import write_workbook  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import timed_run  # noqa: E402

PARAGRAPH = ("根据年度工作安排，项目单位严格落实预算绩效管理要求，细化实施方案，明确责任分工，"
             "按月调度项目进度，及时开展资金使用情况自查，确保资金专款专用、规范使用。")
LEVEL2 = {"产出指标": ["数量指标", "质量指标", "时效指标", "成本指标"],
          "效益指标": ["社会效益指标", "经济效益指标", "可持续影响指标"],
          "满意度指标": ["服务对象满意度指标"]}


def _indicators(rng: random.Random, pid: str) -> list[dict]:
    count = rng.randint(9, 12)
    plan = [("产出指标", count - 4, 50), ("效益指标", 3, 30), ("满意度指标", 1, 10)]
    rows = []
    for level1, n, total in plan:
        weights = [total // n] * n
        weights[0] += total - sum(weights)
        for i, weight in enumerate(weights):
            level2 = rng.choice(LEVEL2[level1])
            kind = rng.random()
            if level1 == "满意度指标":
                target, actual = "≥90%", f"{rng.randint(85, 99)}%"
            elif kind < 0.55:
                goal = rng.randint(10, 3000)
                target, actual = f"≥{goal}人次", f"{int(goal * rng.uniform(0.7, 1.2))}人次"
            elif kind < 0.7:
                target, actual = "≤5天", f"{rng.randint(3, 8)}天"
            elif kind < 0.8:
                target, actual = "=100%", f"{rng.choice([100, 100, 98])}%"
            else:
                target, actual = "有效提升", rng.choice(["达成", "达成", "部分达成"])
            row = {"project_id": pid, "level1": level1, "level2": level2, "level3": f"{level2[:2]}指标{i + 1}",
                   "target": target, "actual": actual, "weight": weight}
            if actual == "部分达成":
                row["self_score"] = round(weight * 0.7, 2)
                row["deviation"] = "受疫情影响部分活动延期，下一步将加强统筹调度。"
            rows.append(row)
    return rows


def make_inbox(folder: Path, projects: int, seed: int = 7) -> int:
    """Write department workbooks into ``folder`` until ``projects`` projects; returns the
    number of workbooks."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made, dept = 0, 0
    while made < projects:
        dept += 1
        n = min(rng.randint(5, 20), projects - made)
        info, funding, spending, indicators = [], [], [], []
        for k in range(n):
            pid = f"D{dept:03d}-{k + 1:02d}"
            budget = round(rng.uniform(20, 500), 2)
            executed = round(budget * rng.uniform(0.75, 1.0), 2)
            info.append({"project_id": pid, "name": f"第{dept}部门专项经费{k + 1}", "year": 2023,
                         "department": f"某区第{dept}局", "implementer": f"某区第{dept}局机关",
                         **{f: PARAGRAPH * rng.randint(1, 3) for f in (
                             "goal", "achieved", "implementation", "management", "funds_usage",
                             "analysis", "problems", "improvements")}})
            funding.append({"project_id": pid, "source": "本年财政拨款", "initial_budget": budget,
                            "budget": budget, "executed": executed})
            parts = [round(executed * 0.5, 2), round(executed * 0.3, 2)]
            parts.append(round(executed - sum(parts), 2))
            spending += [{"project_id": pid, "item": item, "category": "商品和服务支出", "amount": amount}
                         for item, amount in zip(("培训费", "劳务费", "印刷费"), parts)]
            indicators += _indicators(rng, pid)
        write_workbook(folder / f"某区第{dept}局_2023.xlsx", info, funding, spending, indicators)
        made += n
    return dept


def baseline(inbox: Path, out: Path) -> float:
    """The naive way: pandas + openpyxl engine, a fresh DocxTemplate per report, one process."""
    from docxtpl import DocxTemplate

    from selfeval_xlsx import reader
    from selfeval_xlsx.annotate import annotate_workbook
    from selfeval_xlsx.pipeline import analyse
    from selfeval_xlsx.guard import Limits
    from selfeval_xlsx.intake import collect
    from selfeval_xlsx.report import build_context, report_filename
    from selfeval_xlsx.report.template import DEFAULT_TEMPLATE
    from selfeval_xlsx.rules import load_rules
    from selfeval_xlsx.summary import write_summary

    start = time.perf_counter()
    reader.ENGINE = "openpyxl"
    try:
        rules, results, issues = load_rules(), [], []
        (out / "reports").mkdir(parents=True)
        for ref in collect([inbox])[0]:
            analysis = analyse(ref, rules, Limits())
            annotate_workbook(ref.path, out / "workbooks" / Path(ref.name).name, analysis.results, analysis.all_issues,
                              grades=rules.grade_names)
            for result in analysis.results:
                doc = DocxTemplate(DEFAULT_TEMPLATE)
                doc.render(build_context(result), autoescape=True)
                doc.save(out / "reports" / report_filename(result))
            results += analysis.results
            issues += analysis.all_issues
        write_summary(out / "summary.xlsx", results, issues, grades=rules.grade_names)
    finally:
        reader.ENGINE = "calamine"
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0, help="selfeval --workers (0 = all cores)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive baseline (large N)")
    parser.add_argument("--keep", type=Path, help="keep the inbox and outputs in this folder")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="selfeval-bench-"))
    inbox = work / "inbox"
    t = time.perf_counter()
    books = make_inbox(inbox, args.projects)
    print(f"inbox: {args.projects} projects in {books} workbooks, generated in {time.perf_counter() - t:.1f}s "
          f"({os.cpu_count()} cores)")
    base_s = float("nan") if args.no_baseline else baseline(inbox, work / "baseline")
    if not args.no_baseline:
        print(f"baseline (pandas+openpyxl, DocxTemplate per report, 1 process): {base_s:.2f}s")
    command = [sys.executable, "-m", "selfeval_xlsx.cli", "run", str(inbox), "-o", str(work / "out"), "--quiet",
               "--workers", str(args.workers)]
    code, selfeval_s, peak_mb, stderr = timed_run(command)
    if code not in (0, 1):
        raise SystemExit(f"selfeval run failed with exit code {code}:\n{stderr}")
    reports = len(list((work / "out" / "reports").glob("*.docx")))
    print(f"selfeval run: {selfeval_s:.2f}s, {reports} reports, peak RSS {peak_mb:.0f} MB")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"RESULT projects={args.projects} selfeval_s={selfeval_s:.2f} baseline_s={base_s:.2f} "
          f"speedup={base_s / selfeval_s:.1f} reports_per_s={reports / selfeval_s:.0f} peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()
