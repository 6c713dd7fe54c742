"""What a run leaves behind and how it stops: helper processes, temporary files, the lock,
an output folder that refuses writes, signals, argument ranges, and reruns that cost nothing."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from selfeval_xlsx.batch import RunOptions, run
from selfeval_xlsx.batch.helper import Helper
from selfeval_xlsx.batch.store import HOST, _boot_id, _process_start
from selfeval_xlsx.cli import main
from selfeval_xlsx.intake import collect

from conftest import EXAMPLES, REPO

psutil = pytest.importorskip("psutil")
CLI = [sys.executable, "-m", "selfeval_xlsx.cli", "run"]


@pytest.fixture(scope="module")
def examples_out(tmp_path_factory):
    """The examples run once, cleanly: what every run over them must end with."""
    out = tmp_path_factory.mktemp("examples") / "out"
    refs, skipped = collect([EXAMPLES])
    run(refs, RunOptions(output=out, workers=2), skipped=skipped)
    return {sub: sorted(p.name for p in (out / sub).iterdir()) for sub in ("reports", "workbooks")}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    """60 projects in a few workbooks: a run that lasts a few seconds."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_batch import make_inbox

    folder = tmp_path_factory.mktemp("inbox")
    make_inbox(folder, 60, seed=3)
    return folder


def _env(tmp_path: Path) -> dict:
    """The command line's environment with an empty TMPDIR of its own, to see what lands there."""
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(system_tmp), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")])}


def _start(inbox: Path, out: Path, env: dict, **popen) -> tuple[subprocess.Popen, list]:
    """Start a run and wait until its helpers work; returns the process and the helpers."""
    proc = subprocess.Popen([*CLI, str(inbox), "-o", str(out), "--quiet", "--workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
    deadline = time.monotonic() + 60
    helpers = []
    while time.monotonic() < deadline and proc.poll() is None and not list(out.glob("workbooks/*.xlsx")):
        helpers = psutil.Process(proc.pid).children() or helpers
        time.sleep(0.02)
    assert proc.poll() is None and len(helpers) == 2, "the run ended before it could be stopped"
    return proc, helpers


def _gone(processes, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes):
            return True
        time.sleep(0.05)
    return False


# -- processes die with the run ---------------------------------------------------------------

def test_sigkill_of_the_run_leaves_no_helper_and_nothing_in_tmpdir(inbox, tmp_path):
    env = _env(tmp_path)
    proc, helpers = _start(inbox, tmp_path / "out", env)
    proc.kill()  # the main process only, as the OOM killer or `kill -9 PID` would
    proc.communicate()
    assert _gone(helpers), "helpers outlived the killed run"
    assert subprocess.run([*CLI, str(inbox), "-o", str(tmp_path / "out"), "--quiet"], env=env,
                          capture_output=True).returncode == 0  # the rerun finishes the job
    assert not list((tmp_path / "out").rglob(".tmp-*"))
    assert not list(Path(env["TMPDIR"]).iterdir())  # also not what the killed run was writing


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_sigterm_and_ctrl_c_stop_with_a_message_and_no_traceback(inbox, tmp_path, how):
    proc, helpers = _start(inbox, tmp_path / "out", _env(tmp_path), start_new_session=True)
    if how == "sigterm":
        proc.terminate()
    else:  # a terminal sends SIGINT to the whole foreground process group
        os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == (143 if how == "sigterm" else 130)
    assert ("终止信号" if how == "sigterm" else "已中断") in err and "Traceback" not in err
    assert _gone(helpers)
    assert not (tmp_path / "out" / ".selfeval" / "lock").exists()


def test_helper_limits_and_deaths():
    helper = Helper(512)
    assert helper.call((sum, [1, 2]), None) == ("ok", 3)
    assert helper.call((bytearray, 2 * 2**30), None)[0] == "error"  # MemoryError: over the cap, the helper lives
    assert helper.call((time.sleep, 30), 0.5) == ("timeout", "")  # ended from outside
    assert not helper.alive
    helper = Helper(512, fork=True)
    assert helper.call((os.kill, 0, 0), None) == ("ok", None)
    status, how = helper.call((os.abort,), None)
    assert status == "died" and "SIGABRT" in how


# -- temporary files and the lock --------------------------------------------------------------

def _lock(out: Path, **holder) -> Path:
    lock = out / ".selfeval" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps(holder))
    return lock


def test_a_lock_whose_pid_now_belongs_to_another_program_is_taken_over(tmp_path):
    me = os.getpid()  # alive: only the start time and the boot tell it is not the run that locked
    for holder in ({"host": HOST, "pid": me, "started": "1", "boot": _boot_id()},
                   {"host": HOST, "pid": me, "started": _process_start(me), "boot": "an-earlier-boot"}):
        _lock(tmp_path / "out", **holder)
        assert main(["run", str(EXAMPLES), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    lock = (tmp_path / "out" / ".selfeval" / "lock")
    lock.write_text(str(me))  # an old-style lock: a PID alone, written before the machine booted
    os.utime(lock, (0, 0))
    assert main(["run", str(EXAMPLES), "-o", str(tmp_path / "out"), "--quiet"]) == 0


def test_a_live_lock_of_this_run_or_another_machine_is_respected(tmp_path, capsys):
    me = os.getpid()
    _lock(tmp_path / "out", host=HOST, pid=me, started=_process_start(me), boot=_boot_id())
    assert main(["run", str(EXAMPLES), "-o", str(tmp_path / "out"), "--quiet"]) == 2
    assert "正在写入" in capsys.readouterr().err
    _lock(tmp_path / "out", host="another-host", pid=me, started="1", boot="x")
    assert main(["run", str(EXAMPLES), "-o", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "another-host" in err and "--break-lock" in err
    assert main(["run", str(EXAMPLES), "-o", str(tmp_path / "out"), "--quiet", "--break-lock"]) == 0
    assert not (tmp_path / "out" / ".selfeval" / "lock").exists()


def test_temporary_names_carry_host_and_a_random_token(tmp_path):
    from selfeval_xlsx._io import atomic_path

    with atomic_path(tmp_path / "a.docx") as first:
        name = first.name
        assert HOST[:8].replace("-", "_") in name and str(os.getpid()) in name
        first.write_bytes(b"x")
    pid = os.fork()
    if pid == 0:  # a forked writer (same PID space, same counter) never picks the same name
        with atomic_path(tmp_path / "a.docx") as child:
            os._exit(0 if child.name.split("-")[-2] != name.split("-")[-2] else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


# -- an output folder that refuses writes: exit 2, a message, nothing left behind ----------------

def _refuse(code: int):
    def write(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(args[0]) if args else None)
    return write


@pytest.mark.parametrize("target, code, words", [
    ("selfeval_xlsx.report.render.atomic_write_bytes", errno.ENOSPC, "磁盘空间不足"),
    ("selfeval_xlsx.annotate.atomic_write_bytes", errno.EACCES, "没有写入权限"),
    ("xlsxwriter.workbook.Workbook._store_workbook", errno.ENOSPC, "磁盘空间不足"),
])
def test_a_write_the_disk_refuses_is_exit_2_with_a_message(tmp_path, monkeypatch, capsys, target, code, words,
                                                           examples_out):
    if target.startswith("xlsxwriter"):
        from xlsxwriter.exceptions import FileCreateError

        def refuse(self):
            raise FileCreateError(OSError(code, os.strerror(code)))
    else:
        refuse = _refuse(code)
    monkeypatch.setattr(target, refuse)  # the forked helpers inherit it
    monkeypatch.setenv("TMPDIR", str(tmp_path / "system-tmp"))
    (tmp_path / "system-tmp").mkdir()
    assert main(["run", str(EXAMPLES), "-o", str(tmp_path / "out"), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert words in captured.err and "Traceback" not in captured.err + captured.out
    assert not list((tmp_path / "out").rglob(".tmp-*")) and not list((tmp_path / "system-tmp").iterdir())
    assert not (tmp_path / "out" / ".selfeval" / "lock").exists()
    monkeypatch.undo()
    assert main(["run", str(EXAMPLES), "-o", str(tmp_path / "out"), "--quiet"]) == 0  # and the rerun completes
    assert sorted(p.name for p in (tmp_path / "out" / "reports").iterdir()) == examples_out["reports"]


@pytest.mark.parametrize("option, value", [("--max-memory-mb", "0"), ("--max-memory-mb", "100"),
                                           ("--max-seconds", "inf"), ("--max-seconds", "nan"),
                                           ("--max-seconds", "0"), ("--max-seconds", "-1"),
                                           ("--connect-timeout", "0")])
def test_argument_ranges(tmp_path, capsys, option, value):
    assert main(["run", str(EXAMPLES), "-o", str(tmp_path / "o"), option, value]) == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_the_smallest_memory_limit_still_scores_the_examples(tmp_path):
    from selfeval_xlsx.cli import MIN_MEMORY_MB

    assert main(["run", str(EXAMPLES), "-o", str(tmp_path / "o"), "--quiet",
                 "--max-memory-mb", str(MIN_MEMORY_MB)]) == 0


# -- reruns -------------------------------------------------------------------------------------

def _mtimes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_an_unchanged_rerun_rewrites_nothing_and_imports_no_pandas(tmp_path):
    out = tmp_path / "out"
    env = _env(tmp_path)
    assert subprocess.run([*CLI, str(EXAMPLES), "-o", str(out), "--quiet"], env=env).returncode == 0
    before = _mtimes(out)
    probe = ("import sys; from selfeval_xlsx.cli import main; code = main(sys.argv[1:]); "
             "print(code, sorted(m for m in ('pandas', 'numpy', 'xlsxwriter', 'docxtpl') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe, "run", str(EXAMPLES), "-o", str(out), "--quiet"], env=env,
                          capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "0 []"
    assert _mtimes(out) == before  # not one file written, the manifest included


def _three_departments(make_book, tables, folder: str = "") -> None:
    """d0.xlsx … d2.xlsx, each the valid form with its project renamed P0 … P2."""
    for i in range(3):
        t = {k: [row[:] for row in v] for k, v in tables.items()}
        for rows in t.values():
            for row in rows[1:]:
                row[0] = f"P{i}"
        make_book(t, name=f"{folder}d{i}.xlsx")


def test_only_what_changed_is_redone(tmp_path, make_book, tables):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _three_departments(make_book, tables, "inbox/")
    out = tmp_path / "out"

    def again():
        refs, skipped = collect([inbox])
        return run(refs, RunOptions(output=out, workers=2), skipped=skipped)

    again()
    before = _mtimes(out)
    tables["资金"][1][4] = 90  # one input changes: its outputs and the summary are rewritten, nothing else
    for rows in tables.values():
        for row in rows[1:]:
            row[0] = "P1"
    make_book(tables, name="inbox/d1.xlsx")
    result = again()
    after = _mtimes(out)
    assert result.reused == 2
    changed = {p for p in after if after[p] != before.get(p) and not p.startswith(".selfeval")}
    assert changed == {"summary.xlsx", "workbooks/d1.xlsx", "reports/P1_社区党建经费.docx"}
    overview = pd.read_excel(out / "summary.xlsx", sheet_name="汇总", engine="calamine").set_index("项目编号")
    assert overview.loc["P1", "全年执行数"] == 90


def test_an_input_whose_outputs_failed_is_redone_and_keeps_what_it_wrote(tmp_path, monkeypatch, examples_out):
    from selfeval_xlsx.report.render import ReportRenderer

    real = ReportRenderer.write

    def fail_one(self, result, out_dir, name=None, **kwargs):
        if result.project.project_id == "JY2023-03":
            raise ValueError("模板出错")
        return real(self, result, out_dir, name, **kwargs)

    monkeypatch.setattr(ReportRenderer, "write", fail_one)  # the forked helpers inherit it
    refs, skipped = collect([EXAMPLES])
    first = run(refs, RunOptions(output=tmp_path / "out", workers=2), skipped=skipped)
    assert [(i.file, i.code) for i in first.issues if i.code == "report-failed"] == [("某区教育局_2023.xlsx",
                                                                                        "report-failed")]
    written = sorted(p.name for p in (tmp_path / "out" / "reports").iterdir())
    assert written == [n for n in examples_out["reports"] if not n.startswith("JY2023-03")]  # what was written stays
    assert sorted(p.name for p in (tmp_path / "out" / "workbooks").iterdir()) == examples_out["workbooks"]
    monkeypatch.undo()
    again = run(refs, RunOptions(output=tmp_path / "out", workers=2), skipped=skipped)
    assert again.reused == len(refs) - 1  # the failed input is redone, the others reused
    assert not [i for i in again.issues if i.code == "report-failed"]
    assert sorted(p.name for p in (tmp_path / "out" / "reports").iterdir()) == examples_out["reports"]
    assert sorted(p.name for p in (tmp_path / "out" / "workbooks").iterdir()) == examples_out["workbooks"]


def test_each_job_carries_only_its_own_report_names(tmp_path, monkeypatch, make_book, tables):
    """Submit cost linear in the job's own size: no job carries the batch's name map."""
    from selfeval_xlsx.batch import workers

    _three_departments(make_book, tables)
    jobs = []
    real = workers.LocalWorkers.map
    monkeypatch.setattr(workers.LocalWorkers, "map", lambda self, batch, *a, **kw: jobs.extend(batch) or real(
        self, batch, *a, **kw))
    refs, _ = collect([tmp_path / f"d{i}.xlsx" for i in range(3)])
    run(refs, RunOptions(output=tmp_path / "out", workers=2))
    published = [job for job in jobs if job[0].__name__ == "publish"]
    assert [(job[1].name, job[5]) for job in published] == [
        (f"d{i}.xlsx", {f"P{i}": f"P{i}_社区党建经费.docx"}) for i in range(3)]


def test_an_input_that_cannot_be_read_again_costs_its_copy_not_the_run(tmp_path, monkeypatch, examples_out):
    from selfeval_xlsx.intake import InputRef

    real = InputRef.read

    def read(self, *args, **kwargs):  # refused when read again for the department copy, as after a permission change
        if sys._getframe(1).f_code.co_name == "_department_copy" and self.name == "某区教育局_2023.xlsx":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), self.name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(InputRef, "read", read)  # the forked helpers inherit it
    refs, skipped = collect([EXAMPLES])
    result = run(refs, RunOptions(output=tmp_path / "out", workers=2), skipped=skipped)
    assert [(i.file, i.code) for i in result.issues if i.code == "copy-failed"] == [("某区教育局_2023.xlsx", "copy-failed")]
    assert sorted(p.name for p in (tmp_path / "out" / "reports").iterdir()) == examples_out["reports"]
    assert "某区教育局_2023.xlsx" not in {p.name for p in (tmp_path / "out" / "workbooks").iterdir()}


def test_cluster_tasks_group_consecutive_inputs_and_keep_the_summary_alone():
    from selfeval_xlsx.batch.workers import GROUP_MAX, groups

    order = [5, 0, *range(6, 400), 1, 2, 3, 4]
    runs = groups(order, {0}, threads=2)
    assert [i for run in runs for i in run] == order  # every job once, in the order asked
    assert [0] in runs and max(map(len, runs)) == GROUP_MAX
    assert groups(list(range(10)), set(), threads=2) == [[i] for i in range(10)]  # few inputs: one task each
    sizes = [len(run) for run in groups(list(range(160)), set(), threads=2)]
    assert sizes == [10] * 16  # 8 tasks for each thread, so the last ones end close together
