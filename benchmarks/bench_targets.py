"""What comparing with approved targets and writing reply drafts costs in a batch.

    python benchmarks/bench_targets.py --projects 1000

Generates the inbox of ``bench_batch.py``, an approved-targets workbook (sheet 绩效目标) with
every generated project plus as many approved projects nobody submitted (a county's file is
larger than one month's inbox), one target in ten lowered in the submissions, then times, in
the same run, ``selfeval run --no-reports`` without and with ``--targets --replies``. Ends with
one ``RESULT`` line (the ratio is what counts; the machine is shared and noisy).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import make_inbox  # noqa: E402
from measure import timed_run  # noqa: E402

from selfeval_xlsx.reader import read_workbook  # noqa: E402

HEADER = ["项目编号", "项目名称", "主管部门", "年度", "全年预算数", "一级指标", "二级指标", "三级指标", "年度指标值", "分值"]


def write_targets(inbox: Path, path: Path) -> int:
    """The approved targets of every project in ``inbox`` (with every tenth target approved
    higher than submitted) and as many unsubmitted ones; returns the approved projects."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    ws = book.add_worksheet("绩效目标")
    ws.write_row(0, 0, HEADER)
    row, n = 1, 0
    for file in sorted(inbox.glob("*.xlsx")):
        projects = read_workbook(file).projects
        for copy in ("", "-X"):  # -X: an approved project nobody submitted
            for p in projects:
                budget = sum(f.budget or 0 for f in p.funding)
                for k, ind in enumerate(p.indicators):
                    target = ind.target
                    if k == 0 and n % 10 == 0 and target.startswith("≥") and target.endswith("人次"):
                        target = f"≥{int(target[1:-2]) + 1}人次"
                    first = [p.project_id + copy, p.name, p.department, 2023, float(budget)] if k == 0 else [""] * 5
                    ws.write_row(row, 0, [*first, ind.level1, ind.level2, ind.level3, target, float(ind.weight)])
                    row += 1
                n += 1
    book.close()
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="selfeval-bench-targets-"))
    try:
        books = make_inbox(work / "inbox", args.projects)
        t = time.perf_counter()
        approved = write_targets(work / "inbox", work / "批复目标.xlsx")
        print(f"inbox: {args.projects} projects in {books} workbooks; targets: {approved} approved projects "
              f"({time.perf_counter() - t:.1f}s)")
        base = [sys.executable, "-m", "selfeval_xlsx.cli", "run", str(work / "inbox"), "--quiet", "--no-reports",
                "--workers", str(args.workers)]
        timings = {}
        for label, extra in (("plain", []), ("targets", ["--targets", str(work / "批复目标.xlsx"), "--replies"])):
            code, seconds, peak, stderr = timed_run([*base, "-o", str(work / label), *extra])
            if code not in (0, 1):
                raise SystemExit(f"selfeval run ({label}) failed with exit code {code}:\n{stderr}")
            timings[label] = (seconds, peak)
            print(f"{label}: {seconds:.2f}s, peak RSS {peak:.0f} MB")
        drafts = len(list((work / "targets" / "replies").glob("*.eml")))
        (plain_s, plain_mb), (targets_s, targets_mb) = timings["plain"], timings["targets"]
        print(f"RESULT projects={args.projects} plain_s={plain_s:.2f} targets_s={targets_s:.2f} "
              f"ratio={targets_s / plain_s:.2f} drafts={drafts} plain_rss_mb={plain_mb:.0f} targets_rss_mb={targets_mb:.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
