"""The corpus of broken, hostile and odd inputs (tests/corpus.py) through ``selfeval run``.

    python benchmarks/bench_corpus.py [--workers N] [--keep DIR] [--mail-mb MB]

Builds the corpus in a temporary folder (zip bomb, entity bombs, encrypted, truncated,
far-away cell, shared-string bomb, 32,000-character cells, 20,000 blank rows, .xls, a FIFO,
a 3 GB sparse file, Strict, .msg, .ods, zips, …), runs ``selfeval run`` on it as a subprocess
from an empty working folder, polls the RSS of its whole process tree every 10 ms with
psutil, and ends with one ``RESULT`` line. The run must finish in seconds and stay under 1 GB.

Then one e-mail of ``--mail-mb`` MB carrying 60 workbooks against the same 60 files loose
(``--no-reports``): an e-mail is parsed once, so the ratio stays near 1 (it was ~34 when every
attachment re-parsed the whole e-mail).
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # corpus.py (and the conftest it builds on)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build_corpus  # noqa: E402
from measure import timed_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=0, help="selfeval --workers (0 = all cores)")
    parser.add_argument("--keep", type=Path, help="keep the corpus and outputs in this folder")
    parser.add_argument("--mail-mb", type=int, default=50, help="size of the e-mail with 60 attachments (0: skip)")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="selfeval-corpus-"))
    started = time.perf_counter()
    cases = build_corpus(work / "inbox")
    files = sum(1 for p in (work / "inbox").iterdir() if p.is_file())
    print(f"corpus: {files} files ({len(cases)} cases) built in {time.perf_counter() - started:.2f}s")
    cwd = work / "cwd"
    cwd.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "selfeval_xlsx.cli", "run", str(work / "inbox"), "-o", str(work / "out"),
               "--quiet", "--workers", str(args.workers)]
    code, seconds, peak_mb, stderr = timed_run(command, cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})
    reports = len(list((work / "out" / "reports").glob("*.docx")))
    print(f"selfeval run: exit {code}, {seconds:.2f}s, {reports} reports, peak RSS {peak_mb:.0f} MB")
    if "Traceback" in stderr or code != 1:
        print(stderr, file=sys.stderr)
        raise SystemExit(f"expected exit code 1 and no traceback, got {code}")
    mail = _mail_against_loose(work, args.mail_mb, args.workers) if args.mail_mb else ""
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"RESULT corpus_files={files} seconds={seconds:.2f} peak_rss_mb={peak_mb:.0f}{mail}")


def _mail_against_loose(work: Path, megabytes: int, workers: int) -> str:
    """One e-mail with 60 workbook attachments (padded to ``megabytes``) and the same files
    loose, each through ``selfeval run --no-reports``: seconds and their ratio."""
    from corpus import tables, workbook_bytes, write_eml

    pad = megabytes * 2**20 // 60
    books = []
    for i in range(60):  # a workbook padded with an incompressible extra part (a real file carries images)
        data = io.BytesIO(workbook_bytes(tables(f"M{i:02d}")))
        with zipfile.ZipFile(data, "a") as z:
            z.writestr("xl/media/image1.png", os.urandom(pad))
        books.append((f"表{i:02d}.xlsx", data.getvalue()))
    (work / "mail").mkdir(exist_ok=True)
    (work / "loose").mkdir(exist_ok=True)
    write_eml(work / "mail" / "六十个附件.eml", books)
    for name, data in books:
        (work / "loose" / name).write_bytes(data)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seconds = {}
    for kind in ("mail", "loose"):
        command = [sys.executable, "-m", "selfeval_xlsx.cli", "run", str(work / kind), "-o", str(work / f"out-{kind}"),
                   "--quiet", "--no-reports", "--workers", str(workers)]
        code, seconds[kind], peak, stderr = timed_run(command, work / "cwd", env)
        if code != 0:
            raise SystemExit(f"{kind}: exit {code}\n{stderr}")
    size = (work / "mail" / "六十个附件.eml").stat().st_size / 2**20
    print(f"e-mail of {size:.0f} MB with 60 workbooks: {seconds['mail']:.2f}s; the same files loose: "
          f"{seconds['loose']:.2f}s")
    return f" mail_seconds={seconds['mail']:.2f} loose_seconds={seconds['loose']:.2f} " \
           f"mail_ratio={seconds['mail'] / seconds['loose']:.2f}"


if __name__ == "__main__":
    main()
