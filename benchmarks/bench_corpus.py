"""The corpus of broken, hostile and odd inputs (tests/corpus.py) through ``selfeval run``.

    python benchmarks/bench_corpus.py [--workers N] [--keep DIR]

Builds the corpus in a temporary folder (zip bomb, entity bombs, encrypted, truncated,
far-away cell, shared-string bomb, 32,000-character cells, 20,000 blank rows, .xls, …), runs
``selfeval run`` on it as a subprocess from an empty working folder, polls the RSS of its
whole process tree every 10 ms with psutil, and ends with one ``RESULT`` line. The run must
finish in seconds and stay under 1 GB.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
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
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"RESULT corpus_files={files} seconds={seconds:.2f} peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()
