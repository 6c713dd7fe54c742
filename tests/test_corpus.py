"""The corpus of broken, hostile and odd inputs (tests/corpus.py) through ``selfeval run`` and
``selfeval check``, the pre-parse bounds, the time and memory limits, and output safety."""
from __future__ import annotations

import faulthandler
import hashlib
import io
import os
import re
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import docx
import openpyxl
import pandas as pd
import pytest

import corpus
from corpus import REFUSED, SCORED, SKIPPED
from selfeval_xlsx import pipeline
from selfeval_xlsx.batch import RunOptions, run
from selfeval_xlsx.batch.store import STATE_DIR
from selfeval_xlsx.cli import main
from selfeval_xlsx.guard import Limits
from selfeval_xlsx.intake import collect
from selfeval_xlsx.reader import read_workbook
from selfeval_xlsx.rules import load_rules

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")
CODE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def tree(folder: Path, skip: Path | None = None) -> dict[str, str]:
    """Relative path -> sha256 of every file (and '<dir>' for folders) under ``folder``."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if skip and (path == skip or skip in path.parents):
            continue
        if path.is_symlink() or not path.is_file():  # folders, the FIFO, the link to /dev/zero
            out[path.relative_to(folder).as_posix()] = "<other>"
        elif path.stat().st_size > 2**27:  # the sparse 3 GB file: its size and time, not 3 GB of reading
            out[path.relative_to(folder).as_posix()] = f"{path.stat().st_size}:{path.stat().st_mtime_ns}"
        else:
            out[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    cases = corpus.build_corpus(base / "inbox")
    return base, cases


@pytest.fixture(scope="module")
def corpus_run(built):
    """``selfeval run`` over the whole corpus, as a subprocess whose cwd is an empty folder."""
    base, cases = built
    cwd, out = base / "cwd", base / "out"
    cwd.mkdir()
    before = tree(base)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "selfeval_xlsx.cli", "run", str(base / "inbox"), "-o", str(out),
                           "--quiet", "--workers", "2"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    # only empty cells are missing: a project whose id is "NA" is a project
    frames = pd.read_excel(out / "summary.xlsx", sheet_name=None, engine="calamine", dtype=object,
                           keep_default_na=False, na_values=[""])
    return {"proc": proc, "out": out, "frames": frames, "cases": cases, "base": base, "before": before}


def listed(frames) -> set[tuple[str, str, str, str]]:
    issues = frames["问题清单"].fillna("")
    return {(f, s, c, code) for f, s, c, code in zip(issues["来源文件"], issues["工作表"], issues["单元格"], issues["代码"])}


# -- selfeval run over the corpus ------------------------------------------------------------

def test_run_finishes_with_exit_1_and_no_traceback(corpus_run):
    # How fast is benchmarks/bench_corpus.py's business; the subprocess timeout guards a hang.
    proc = corpus_run["proc"]
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_every_refused_or_skipped_file_is_listed_with_its_problem(corpus_run):
    found = listed(corpus_run["frames"])
    missing = [(case.name, p) for case in corpus_run["cases"] if case.expect in (REFUSED, SKIPPED)
               for p in case.problems if (case.name, *p) not in found]
    assert missing == []


def test_every_problem_has_a_stable_code_and_a_chinese_message(corpus_run):
    issues = corpus_run["frames"]["问题清单"].fillna("")
    assert len(issues) >= 20
    bad = [(f, code, msg) for f, code, msg in zip(issues["来源文件"], issues["代码"], issues["说明"])
           if not CODE.match(code) or not CJK.search(msg) or not f]
    assert bad == []


def test_refused_files_are_not_scored_and_the_rest_is(corpus_run):
    overview = corpus_run["frames"]["汇总"]
    totals = {(f, pid): total for f, pid, total in zip(overview["来源文件"], overview["项目编号"], overview["总分"])}
    for case in corpus_run["cases"]:
        if case.expect == SCORED:
            for pid in case.project_ids:
                assert float(totals[(case.name, pid)]) > 90, case.about
        else:
            assert all(pd.isna(t) for (f, _), t in totals.items() if f == case.name), case.about
    scored = [c for c in corpus_run["cases"] if c.expect == SCORED]
    assert sum(pd.notna(overview["总分"])) == len(scored)
    assert len(list((corpus_run["out"] / "reports").glob("*.docx"))) == len(scored)


def test_inputs_unchanged_and_nothing_written_outside_the_output(corpus_run):
    base, out = corpus_run["base"], corpus_run["out"]
    assert tree(base, skip=out) == corpus_run["before"]  # inputs byte-identical; cwd still empty
    assert not any((base / "cwd").iterdir())
    assert {p.name for p in out.iterdir()} <= {"summary.xlsx", "workbooks", "reports", STATE_DIR}
    for path in out.rglob("*"):
        assert out.resolve() in path.resolve().parents


def test_hostile_names_stay_inside_the_output(corpus_run):
    out = corpus_run["out"]
    reports = [p.name for p in (out / "reports").iterdir()]
    assert any(name.startswith("_P_01") and "passwd" in name for name in reports)
    copies = [p.name for p in (out / "workbooks").iterdir()]
    assert any("逃逸" in name for name in copies)
    assert all("/" not in name and ".." not in name for name in reports + copies)


def test_user_text_never_becomes_a_formula(corpus_run):
    out = corpus_run["out"]
    for path in [out / "summary.xlsx", *sorted((out / "workbooks").glob("*.xlsx"))]:
        with zipfile.ZipFile(path) as z:
            formulas = [f for n in z.namelist() if n.startswith("xl/worksheets/")
                        for f in re.findall(rb"<(?:\w+:)?f\b[^>]*>(.*?)</(?:\w+:)?f>", z.read(n), re.S)]
        # the only formula is the department's own, kept in its own copy
        assert formulas == ([b"C2*0.95"] if path.name == "公式无值.xlsx" else []), path.name
    texts = set(corpus.FORMULA_TEXTS) | {"=S-FORMULA"}
    for path in (out / "summary.xlsx", out / "workbooks" / "公式与模板文字.xlsx"):
        book = openpyxl.load_workbook(path)
        seen = {c.value for ws in book for row in ws.iter_rows() for c in row if c.data_type == "s"}
        formulas = {c.value for ws in book for row in ws.iter_rows() for c in row if c.data_type == "f"}
        assert not formulas
        assert {corpus.FORMULA_NAME, "=S-FORMULA"} <= seen, path.name
        assert texts & seen


def test_template_text_prints_literally_in_reports(corpus_run):
    [path] = [p for p in (corpus_run["out"] / "reports").glob("*.docx") if p.name.startswith("=S-FORMULA")]
    document = docx.Document(path)
    text = "\n".join([p.text for p in document.paragraphs]
                     + [c.text for t in document.tables for r in t.rows for c in r.cells])
    for literal in corpus.TEMPLATE_TEXTS + corpus.FORMULA_TEXTS[:4]:
        assert literal in text
    assert "循环循环" not in text and "<class" not in text


def test_copy_without_cell_references_or_styles_keeps_the_values(corpus_run):
    # read back as Excel would (openpyxl places cells as Excel does): a mark added as a new
    # <row r="2"> beside a row without r= used to replace the department's row 2
    book = openpyxl.load_workbook(corpus_run["out"] / "workbooks" / "无单元格引用.xlsx")
    row = [c.value for c in book["资金"][2]]
    assert row == ["S-NOREF", "本年财政拨款", "x", 100, 95]
    assert book["资金"]["C2"].fill.fgColor.rgb.endswith("FFC7CE")  # the error's mark


def test_strict_copy_keeps_the_departments_values_and_formats(corpus_run):
    book = openpyxl.load_workbook(corpus_run["out"] / "workbooks" / "严格格式.xlsx")
    assert book.sheetnames[0] == "自评结果"
    assert (book["绩效指标"]["G4"].value, book["绩效指标"]["G4"].number_format) == (0.96, "0%")


def test_refused_inputs_get_no_copy_attempt(corpus_run):
    codes = [code for *_, code in listed(corpus_run["frames"])]
    assert "copy-failed" not in codes


# -- selfeval check, one file at a time ------------------------------------------------------

def test_check_each_file(built, capsys):
    base, cases = built
    wrong = []
    for case in cases:
        path = base / "inbox" / case.file
        code = main(["check", str(path)])
        printed = capsys.readouterr()
        expected = case.check_exit if case.expect != SKIPPED else 0
        if case.name in ("远端单元格.xlsx", "共享字符串炸弹.xlsx"):
            expected = {1, 2}  # 2 once batch.UNREADABLE_CODES lists sheet-too-large and text-too-large
        if code not in (expected if isinstance(expected, set) else {expected}):
            wrong.append((case.name, code))
        for _, _, issue_code in case.problems:
            if case.expect == REFUSED and case.check_exit and issue_code not in printed.out:
                wrong.append((case.name, issue_code))
        assert "Traceback" not in printed.err
    assert wrong == []


def test_check_sees_the_same_id_from_two_departments(built):
    base, _ = built
    assert main(["check", str(base / "inbox" / "甲局.xlsx"), str(base / "inbox" / "乙局.xlsx")]) == 1


# -- bounds: refused before parsing, memory flat -----------------------------

@pytest.fixture(scope="module")
def valid_bytes():
    return corpus.workbook_bytes(corpus.tables("G01"))


def _read(data: bytes, name: str = "x.xlsx", **limits):
    return read_workbook(name, data, limits=Limits(**limits) if limits else Limits())


def test_zip_bomb_refused_with_flat_memory(valid_bytes):
    bomb = corpus.zip_bomb(valid_bytes, gigabytes=3)  # below 4 GiB: no zip64 needed
    assert len(bomb) < 5 * 2**20
    tracemalloc.start()
    sub = _read(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [i.code for i in sub.issues] == ["zip-bomb"]
    assert peak < 16 * 2**20  # refused before anything inflated (time is the benchmark's business)


def test_zip_entry_lying_about_its_size_is_refused(valid_bytes):
    # 100 KB declared for a 1 GB part: the ratio check passes, so the parser must not trust it
    bomb = corpus.zip_bomb(valid_bytes, gigabytes=1, declared=100_000)
    tracemalloc.start()
    sub = _read(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [i.code for i in sub.issues] == ["corrupt-file"] and peak < 64 * 2**20


@pytest.mark.parametrize("padding", [0, 20000])
def test_entity_bomb_refused_wherever_the_dtd_hides(valid_bytes, padding):
    assert [i.code for i in _read(corpus.entity_bomb(valid_bytes, padding=padding)).issues] == ["xml-entities"]


def test_entity_bomb_in_a_utf16_part(valid_bytes):
    with zipfile.ZipFile(io.BytesIO(corpus.entity_bomb(valid_bytes))) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    data = corpus.replace_part(valid_bytes, "xl/worksheets/sheet1.xml", xml.encode("utf-16"))
    assert [i.code for i in _read(data).issues] == ["xml-entities"]


@pytest.mark.parametrize("ref", ["XFD1048576", "Z100000", "xfd1048576"])
def test_a_far_away_value_is_refused_before_the_parser_allocates(valid_bytes, ref):
    sub = _read(corpus.far_cell(valid_bytes, ref))
    assert [(i.sheet, i.code) for i in sub.issues] == [("资金", "sheet-too-large")]
    assert sub.issues[0].cell == ref.upper()


def _with_row(valid: bytes, row_xml: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(valid)) as z:
        xml = z.read("xl/worksheets/sheet2.xml")
    return corpus.replace_part(valid, "xl/worksheets/sheet2.xml", xml.replace(b"</sheetData>", row_xml + b"</sheetData>"))


def test_far_cells_without_or_with_odd_references(valid_bytes):
    no_ref = _with_row(valid_bytes, b'<row r="1048576"><c t="inlineStr"><is><t>x</t></is></c></row>')
    quoted = _with_row(valid_bytes, b"<row r='1048576'><c r = 'XFD1048576' t='inlineStr'><is><t>x</t></is></c></row>")
    for data in (no_ref, quoted):
        assert [i.code for i in _read(data).issues] == ["sheet-too-large"]


def test_far_cells_without_a_value_are_harmless(valid_bytes):
    styled = _with_row(valid_bytes, b'<row r="1048576"><c r="XFD1048576" s="0"/></row>')
    sub = _read(styled)
    assert sub.issues == [] and [p.project_id for p in sub.projects] == ["G01"]


def test_shared_string_repeated_into_many_cells_is_refused(valid_bytes):
    sub = _read(corpus.shared_string_bomb(valid_bytes))
    assert [i.code for i in sub.issues] == ["text-too-large"]
    small = corpus.shared_string_bomb(valid_bytes, cells=20, length=32000)  # 640 KB: an odd but real file
    assert "text-too-large" not in {i.code for i in _read(small).issues}


def test_limits_are_configurable(valid_bytes):
    assert [i.code for i in _read(valid_bytes, max_file_bytes=1000).issues] == ["file-too-large"]
    assert {(i.sheet, i.cell, i.code) for i in _read(valid_bytes, max_cells=10).issues} == {
        ("项目信息", "M2", "sheet-too-large"), ("支出", "E3", "sheet-too-large"),
        ("绩效指标", "K5", "sheet-too-large")}  # 资金: 2 x 5


# -- the per-input time and memory limits really work -----------------------------------------

def _analyse(path: Path, seconds: float):
    [ref], _ = collect([path])
    return pipeline.analyse(ref, load_rules(None), Limits(seconds=seconds))


def test_time_limit_stops_a_slow_input(built, monkeypatch):
    base, _ = built
    real = pipeline.score_project

    def slow(project, rules):
        time.sleep(2)
        return real(project, rules)

    monkeypatch.setattr(pipeline, "score_project", slow)
    analysis = _analyse(base / "inbox" / "合并单元格.xlsx", 0.3)
    assert [i.code for i in analysis.issues] == ["timeout"]  # only the alarm (0.3 s < 2 s) gives this


@pytest.mark.parametrize("stage", ["metadata", "calamine"])
def test_time_limit_during_parsing_is_reported_as_timeout(built, monkeypatch, stage):
    import selfeval_xlsx.reader as reader

    target, name = (reader, "read_meta") if stage == "metadata" else (reader, "load_workbook")
    real = getattr(target, name)

    def slow(*args, **kwargs):
        time.sleep(2)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, slow)
    analysis = _analyse(built[0] / "inbox" / "合并单元格.xlsx", 0.3)
    assert [i.code for i in analysis.issues] == ["timeout"]


def _run_cli(monkeypatch, tmp_path, path: Path, work, *options) -> tuple[int, set]:
    """``selfeval run`` in-process with scoring replaced by ``work`` (forked workers inherit it)."""
    real = pipeline.score_project

    def patched(project, rules):
        work()
        return real(project, rules)

    monkeypatch.setattr(pipeline, "score_project", patched)
    code = main(["run", str(path), "-o", str(tmp_path / "o"), "--quiet", "--no-reports", "--workers", "1", *options])
    issues = pd.read_excel(tmp_path / "o" / "summary.xlsx", sheet_name="问题清单", engine="calamine")
    return code, set(zip(issues["来源文件"], issues["代码"]))


def test_cli_max_seconds_stops_a_slow_input(built, monkeypatch, tmp_path):
    code, issues = _run_cli(monkeypatch, tmp_path, built[0] / "inbox" / "合并单元格.xlsx",
                            lambda: time.sleep(30), "--max-seconds", "1")
    assert code == 1 and ("合并单元格.xlsx", "timeout") in issues


def test_cli_max_memory_stops_a_greedy_input(built, monkeypatch, tmp_path):
    code, issues = _run_cli(monkeypatch, tmp_path, built[0] / "inbox" / "合并单元格.xlsx",
                               lambda: bytearray(800 * 2**20), "--max-memory-mb", "300")
    assert code == 1 and ("合并单元格.xlsx", "memory-limit") in issues


def test_memory_limit_refuses_one_input_and_scores_the_rest(built, tmp_path):
    base, _ = built
    refs, _ = collect([base / "inbox" / "共享字符串炸弹.xlsx", base / "inbox" / "合并单元格.xlsx"])
    # the guard would refuse the bomb first; lift that bound to reach the memory cap. calamine
    # then aborts its worker; keep pytest's faulthandler from dumping the forked worker's stack.
    enabled = faulthandler.is_enabled()
    faulthandler.disable()
    try:
        result = run(refs, RunOptions(output=tmp_path / "o", workers=2, reports=False,
                                      limits=Limits(memory_mb=300, max_text_bytes=2**40)))
    finally:
        if enabled:
            faulthandler.enable()
    codes = {(i.file, i.code) for i in result.issues}
    assert codes & {("共享字符串炸弹.xlsx", "memory-limit"), ("共享字符串炸弹.xlsx", "worker-crash")}
    assert result.scored == 1
