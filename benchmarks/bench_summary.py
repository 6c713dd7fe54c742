"""How fast is summary.xlsx written?

Times ``write_summary`` alone (CPU seconds, best of ``--repeat``) on N generated projects (ten
indicators each, Chinese text, some of it needing XML escapes, 4–5 problems per project)
against the reference in the same run: xlsxwriter writing every cell (``summary.XML_ROWS =
False``). Then the peak Python memory (tracemalloc) of one fast write with the projects
streamed from a generator, as the batch streams them from its cache: it must not grow with N.

    python benchmarks/bench_summary.py [--projects 1000] [--repeat 3] [--inbox /tmp/bb/inbox]

``--inbox DIR`` scores the workbooks of DIR instead (what the batch would write for them).
Prints ``RESULT summary_s=… reference_s=… speedup=… peak_mb=…``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal as D
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selfeval_xlsx import summary  # noqa: E402
from selfeval_xlsx.issues import Code, issue  # noqa: E402
from selfeval_xlsx.models import Indicator, IndicatorScore, Project, ProjectResult, Receipt  # noqa: E402
from selfeval_xlsx.rules import load_rules  # noqa: E402
from selfeval_xlsx.vocab import Kind  # noqa: E402

ROWS = [("产出指标", "数量指标", "开设培训班", "≥18次", "16次", Kind.POSITIVE),
        ("产出指标", "数量指标", "党员培训", "≥2300人次", "2300人次", Kind.POSITIVE),
        ("产出指标", "质量指标", "培训覆盖率", "=100%", "100%", Kind.EQUAL),
        ("产出指标", "时效指标", "按时完成", "≤12天", "13天", Kind.REVERSE),
        ("产出指标", "成本指标", "人均成本", "≤500元", "480元", Kind.REVERSE),
        ("效益指标", "社会效益指标", "党员教育全覆盖", "达成年度指标", "达成", Kind.QUALITATIVE),
        ("效益指标", "社会效益指标", "集中培训", "≥25次", "25次", Kind.POSITIVE),
        ("效益指标", "可持续影响指标", "长效机制", "达成年度指标", "部分达成", Kind.QUALITATIVE),
        ("满意度指标", "服务对象满意度指标", "党员满意度", "≥95%", "96%", Kind.POSITIVE),
        ("满意度指标", "服务对象满意度指标", "群众满意度", "≥90%", "88%", Kind.POSITIVE)]


def make_result(i: int) -> ProjectResult:
    """Project ``i`` of department ``i // 12``, scored with a few shortfalls."""
    dept, pid = f"某区第{i // 12}局", f"D{i // 12:03d}-{i % 12:02d}"
    project = Project(sheet="项目信息", row=i % 12 + 1, project_id=pid, name=f"第{i // 12}部门专项经费{i % 12}",
                      year="2023", department=dept, source_file=f"{dept}_2023.xlsx")
    scores = []
    for k, (l1, l2, l3, target, actual, kind) in enumerate(ROWS):
        reached = k % 4 != 0
        ind = Indicator(sheet="绩效指标", row=k + 1, project_id=pid, level1=l1, level2=l2, level3=f"{l3}{i % 7}",
                        target=target, actual=actual, weight=D(10), self_score=D(10),
                        deviation="" if reached else "受疫情影响，部分培训延期至次年，已调整计划并加强督导。")
        score = D(10) if reached else D("8.62")
        why = f"{kind.label}：B={actual} ≥ A={target}，得满分10" if reached else \
            f"{kind.label}：B={actual} < A={target}，1533/1779×10=8.62"
        scores.append(IndicatorScore(ind, kind, kind.label, score=score, reached=reached, why=why))
        project.indicators.append(ind)
    budget = D(100 + i % 500)
    return ProjectResult(project, budget=budget, executed=budget * D("0.93"), rate=D("0.93"), budget_score=D("9.3"),
                         indicators=tuple(scores), subtotals={"产出指标": D("46.55"), "效益指标": D("28.62"),
                                                              "满意度指标": D("18.62")},
                         total=D("93.09"), grade="优", self_total=D(95), receipt=Receipt(
                             dt.datetime(2023, 3, 1 + i % 28, 9, 30), "邮件发送时间", f"dept{i // 12}@example.cn"))


def make_issues(n_projects: int) -> list:
    """Four or five problems per project (the inbox of the issue had 4,523 for 1,000)."""
    return [issue(Code.SELF_SCORE_DIFFERS, f"自评得分10与计算得分8.62不一致（第{k}行）", file=f"某区第{i // 12}局_2023.xlsx",
                  sheet="绩效指标", row=k, col=8, value="10", project_id=f"D{i // 12:03d}-{i % 12:02d}")
            for i in range(n_projects) for k in range(4 + i % 2)]


def from_inbox(inbox: Path):
    """The results and problems the batch would give ``write_summary`` for the workbooks of ``inbox``."""
    from selfeval_xlsx.guard import Limits
    from selfeval_xlsx.intake import collect
    from selfeval_xlsx.pipeline import analyse

    rules = load_rules()
    analyses = [analyse(ref, rules, Limits()) for ref in collect([inbox])[0]]
    return [r for a in analyses for r in a.results], [i for a in analyses for i in a.all_issues]


def write_once(out: Path, results, issues, grades) -> float:
    """CPU seconds of one ``write_summary`` (``results``: a callable giving the projects)."""
    start = time.process_time()
    summary.write_summary(out, results(), issues, grades=grades, level1=["产出指标", "效益指标", "满意度指标"])
    return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--inbox", type=Path, help="score these workbooks instead of generated projects")
    args = ap.parse_args()
    grades = load_rules().grade_names
    if args.inbox:
        listed, issues = from_inbox(args.inbox)
        streamed = lambda: iter(listed)  # noqa: E731
    else:
        listed, issues = list(map(make_result, range(args.projects))), make_issues(args.projects)
        streamed = lambda: map(make_result, range(args.projects))  # noqa: E731
    n = len(listed)

    best = {True: float("inf"), False: float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "summary.xlsx"
        for _ in range(args.repeat):  # interleaved, so both see the same machine
            for xml_rows in best:
                summary.XML_ROWS = xml_rows
                best[xml_rows] = min(best[xml_rows], write_once(out, lambda: listed, issues, grades))
        summary.XML_ROWS = True
        tracemalloc.start()
        write_once(out, streamed, issues, grades)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        size = out.stat().st_size
    print(f"{n} projects, {len(issues)} problems: summary.xlsx in {best[True]:.3f} s CPU "
          f"(xlsxwriter cell by cell: {best[False]:.3f} s, {best[False] / best[True]:.1f}x), {size / 1e6:.2f} MB, "
          f"peak Python memory {peak:.1f} MB (best of {args.repeat})")
    print(f"RESULT summary_s={best[True]:.3f} reference_s={best[False]:.3f} speedup={best[False] / best[True]:.2f} "
          f"peak_mb={peak:.1f}")


if __name__ == "__main__":
    main()
