"""How fast are Word reports rendered?

Renders N seed-like reports (nine indicators, long narrative cells) and writes them to a temp
folder, in ``--workers`` processes, and compares with the time to merely write the same .docx
zip with zipfile (the floor for any renderer that produces the file) and with docxtpl's own
``render`` + ``save`` on a few reports.

    python benchmarks/bench_report.py [-n 1000] [--workers 2] [--level 1]

Prints ``RESULT reports_per_s=… zip_only_per_s=… docxtpl_per_s=…``.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal as D
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selfeval_xlsx import report
from selfeval_xlsx.report import render as report_render
from selfeval_xlsx.vocab import Kind
from selfeval_xlsx.models import FundingRow, Indicator, IndicatorScore, Project, ProjectResult

TEXT = ("根据上级文件要求，区财政共下拨党工委党建工作经费100万元。党建办认真贯彻落实，聚焦提升党建引领"
        "基层治理效能主题主线，扎实推进各项党建工作，有效提升为民服务质效。")
ROWS = [("产出指标", "数量指标", "开设培训班", "≥18次", "18次"), ("产出指标", "数量指标", "党员培训", "≥2300人次", "2300人次"),
        ("产出指标", "数量指标", "购买红色书籍", "≥1728册", "1728册"), ("产出指标", "质量指标", "培训覆盖率", "=100%", "100%"),
        ("产出指标", "时效指标", "按时完成", "按时完成", "达成"), ("效益指标", "社会效益指标", "党员教育全覆盖", "达成年度指标", "达成"),
        ("效益指标", "社会效益指标", "集中培训", "≥25次", "25次"), ("效益指标", "可持续影响指标", "长效机制", "达成年度指标", "达成"),
        ("满意度指标", "服务对象满意度指标", "党员满意度", "≥95%", "95%")]


def make_result(i: int) -> ProjectResult:
    pid = f"P{i:05d}"
    project = Project(project_id=pid, name=f"党建工作经费{i}", year="2022", department="区委组织部",
                      implementer="街道党建办", goal=TEXT, achieved=TEXT, implementation=TEXT * 4,
                      management=TEXT * 2, funds_usage=TEXT * 4, analysis=TEXT, problems=TEXT * 2,
                      improvements=TEXT * 2)
    project.funding = [FundingRow(project_id=pid, source="本年财政拨款", initial_budget=D(100), budget=D(100),
                                  executed=D(100))]
    scores = []
    for level1, level2, level3, target, actual in ROWS:
        ind = Indicator(project_id=pid, level1=level1, level2=level2, level3=level3, target=target,
                        actual=actual, weight=D(10))
        project.indicators.append(ind)
        scores.append(IndicatorScore(indicator=ind, kind=Kind.POSITIVE, method="", score=D(10), reached=True))
    return ProjectResult(project=project, budget_weight=D(10), total_weight=D(100), budget=D(100), executed=D(100),
                         rate=D(1), budget_score=D(10), indicators=tuple(scores), subtotals={"产出指标": D(50), "效益指标": D(30), "满意度指标": D(10)},
                         total=D(100), grade="优")


_renderer = None


def _work(args):
    start, stop, out_dir = args
    global _renderer
    if _renderer is None:
        _renderer = report.ReportRenderer()
    for i in range(start, stop):
        _renderer.write(make_result(i), out_dir)
    return stop - start


def bench_render(n: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        chunks = [(i, min(i + 50, n), tmp) for i in range(0, n, 50)]
        t0 = time.perf_counter()
        if workers <= 1:
            done = sum(map(_work, chunks))
        else:
            with ProcessPoolExecutor(workers) as pool:
                done = sum(pool.map(_work, chunks))
        elapsed = time.perf_counter() - t0
        assert done == n and len(os.listdir(tmp)) == n
    return elapsed


def bench_zip_only(n: int, level: int) -> float:
    """Write the same entries (already rendered) with zipfile, n times, one process."""
    data = report.ReportRenderer().render(make_result(0))
    entries = [(info, zipfile.ZipFile(io.BytesIO(data)).read(info.filename))
               for info in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    t0 = time.perf_counter()
    for _ in range(n):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
            for info, raw in entries:
                zf.writestr(info.filename, raw)
    return time.perf_counter() - t0


def bench_docxtpl(n: int) -> float:
    from docxtpl import DocxTemplate

    from selfeval_xlsx.report.template import DEFAULT_TEMPLATE

    t0 = time.perf_counter()
    for i in range(n):
        tpl = DocxTemplate(DEFAULT_TEMPLATE)
        tpl.render(report.build_context(make_result(i)), autoescape=True)
        tpl.save(io.BytesIO())
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--level", type=int, default=report_render.COMPRESS_LEVEL, help="deflate level")
    args = ap.parse_args()
    report_render.COMPRESS_LEVEL = args.level

    single = report.ReportRenderer()
    t0 = time.perf_counter()
    for i in range(200):
        single.render(make_result(i))
    per_report_ms = (time.perf_counter() - t0) / 200 * 1000
    size = len(single.render(make_result(0)))

    elapsed = bench_render(args.n, args.workers)
    zip_elapsed = bench_zip_only(args.n, args.level)
    tpl_n = 20
    tpl_elapsed = bench_docxtpl(tpl_n)
    print(f"{args.n} reports with {args.workers} workers in {elapsed:.2f} s "
          f"(render only, 1 process: {per_report_ms:.2f} ms/report, {size} bytes, deflate level {args.level}); "
          f"zip only: {zip_elapsed / args.n * 1000:.2f} ms/report; docxtpl render+save: "
          f"{tpl_elapsed / tpl_n * 1000:.1f} ms/report")
    print(f"RESULT reports_per_s={args.n / elapsed:.0f} zip_only_per_s={args.n / zip_elapsed:.0f} "
          f"docxtpl_per_s={tpl_n / tpl_elapsed:.0f}")


if __name__ == "__main__":
    main()
