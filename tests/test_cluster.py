"""The batch on a real multi-process dask cluster: a ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1, started once for the module (skipped when ``distributed`` is absent).

Covers what a cluster adds: hostile input under the limits on a worker, a worker killed in
the middle of a job, relative paths, equality with the local run, the preflight, and every
way the cluster can be missing (never a traceback)."""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.xdist_group("cluster")  # one cluster for the module, on one xdist worker

from selfeval_xlsx.batch import RunOptions, run  # noqa: E402
from selfeval_xlsx.cli import main  # noqa: E402
from selfeval_xlsx.errors import ClusterError  # noqa: E402
from selfeval_xlsx.guard import Limits  # noqa: E402
from selfeval_xlsx.intake import collect  # noqa: E402

from conftest import EXAMPLES, REPO  # noqa: E402
from corpus import shared_string_bomb, tables, workbook_bytes  # noqa: E402

TESTS = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """``dask scheduler`` + ``workers`` ``dask worker`` processes (one thread each), run from
    a folder of their own so that a relative path can only work if the client made it
    absolute. The scheduler gives up on a task at the first worker death (allowed-failures
    0), so that the run's own retry, not dask's, is what a killed worker exercises."""

    def __init__(self, cwd: Path, workers: int = 2):
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS), os.environ.get("PYTHONPATH", "")]),
               "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
        quiet = {"cwd": cwd, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        port = self.address.rsplit(":", 1)[1]
        self.scheduler = subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
                                          **quiet)
        self.workers = [subprocess.Popen(["dask", "worker", self.address, "--nthreads", "1", "--no-dashboard",
                                          "--name", f"w{i}"], **quiet) for i in range(workers)]
        self.client = distributed.Client(self.address, timeout=60, set_as_default=False)
        self.client.wait_for_workers(workers, timeout=120)

    def close(self) -> None:
        try:
            self.client.shutdown()  # the scheduler ends its workers: quicker than signals one by one
        except Exception:  # noqa: BLE001 - already gone
            self.client.close()
        for proc in [*self.workers, self.scheduler]:
            proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not shutil.which("dask"):
        pytest.skip("the dask command is not installed")
    cluster = Cluster(tmp_path_factory.mktemp("workers-cwd"))
    yield cluster
    cluster.close()


@pytest.fixture
def inbox(tmp_path):
    """The examples plus three small department workbooks."""
    folder = tmp_path / "inbox"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("*.py"))
    for i in range(3):
        (folder / f"dept{i}.xlsx").write_bytes(workbook_bytes(tables(f"C{i}", f"部门{i}")))
    return folder


def _run(inputs, out, **options):
    refs, skipped = collect(inputs)
    return run(refs, RunOptions(output=out, **options), skipped=skipped)


def _same_outputs(a: Path, b: Path) -> None:
    """Reports part by part (but the time they were made); copies and summary sheet by sheet
    (their zips carry a time)."""
    def digests(folder):
        return {p.name: _parts(p) for p in sorted((folder / "reports").glob("*"))}

    assert digests(a) == digests(b)
    assert sorted(p.name for p in (a / "workbooks").iterdir()) == sorted(p.name for p in (b / "workbooks").iterdir())
    for left in [a / "summary.xlsx", *sorted((a / "workbooks").iterdir())]:
        right = b / left.relative_to(a)
        x = pd.read_excel(left, sheet_name=None, engine="calamine")
        y = pd.read_excel(right, sheet_name=None, engine="calamine")
        assert x.keys() == y.keys()
        for name in x:
            pd.testing.assert_frame_equal(x[name], y[name])


def _parts(docx: Path) -> dict[str, str]:
    with zipfile.ZipFile(docx) as z:
        return {n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if n != "docProps/core.xml"}


# -- the cluster does what the local pool does ---------------------------------------------------

def test_relative_paths_give_the_same_outputs_as_the_local_run(cluster, inbox, tmp_path, monkeypatch):
    _run([inbox], tmp_path / "local", workers=2)
    monkeypatch.chdir(tmp_path)  # the workers run elsewhere: only absolute paths can reach them
    code = main(["run", "inbox", "-o", "dask", "--quiet", "--scheduler", cluster.address])
    assert code == 0
    _same_outputs(tmp_path / "local", tmp_path / "dask")
    assert not list((tmp_path / "dask").rglob(".tmp-*"))


def test_a_bomb_costs_its_input_one_problem_on_a_worker(cluster, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "炸弹.xlsx").write_bytes(shared_string_bomb(workbook_bytes(tables("BOMB"))))
    (inbox / "good.xlsx").write_bytes(workbook_bytes(tables("GOOD")))
    # The guard would refuse the bomb in milliseconds; lift that bound to reach the memory cap,
    # which calamine meets while copying 640 MB of text.
    limits = Limits(memory_mb=300, max_text_bytes=2**40)
    local = _run([inbox], tmp_path / "local", workers=2, limits=limits)
    on_dask = _run([inbox], tmp_path / "dask", scheduler=cluster.address, limits=limits)
    codes = {(i.file, i.code) for i in on_dask.issues if i.file == "炸弹.xlsx"}
    assert codes == {(i.file, i.code) for i in local.issues if i.file == "炸弹.xlsx"}  # the same limits, the same code
    assert codes & {("炸弹.xlsx", "memory-limit"), ("炸弹.xlsx", "worker-crash")}
    assert [r.project.project_id for r in on_dask.results if r.total is not None] == ["GOOD"]
    assert [p.name for p in (tmp_path / "dask" / "reports").iterdir()] == ["GOOD_社区党建经费.docx"]
    assert cluster.client.nthreads().keys() == set(cluster.client.nthreads())  # no worker was lost


class KillWorker(distributed.WorkerPlugin):
    """Ends its worker process the moment a phase A task starts there whose key ends with one
    of ``always``, and the first time one ends with ``once`` (``marker`` remembers it; the
    empty ``once`` matches phase A's first task)."""

    def __init__(self, always: tuple[str, ...], once: str, marker: str):
        self.always, self.once, self.marker = always, once, marker

    def transition(self, key, start, finish, **kwargs):
        key = str(key)
        if finish != "executing" or not key.startswith("selfeval-analyse"):
            return
        if key.endswith(self.once) and not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)
        if key.endswith(self.always):
            os._exit(1)


def test_killed_workers_cost_a_retry_or_one_input(cluster, inbox, tmp_path, capsys):
    """Job 1's worker is killed once: the job is retried alone and its outputs are as in a
    local run. Job 2 kills every worker it runs on: it is reported against its file, in
    Chinese, and everything else is published."""
    refs, _ = collect([inbox])
    victim = refs[2].name
    shutil.copytree(inbox, tmp_path / "rest", ignore=shutil.ignore_patterns(victim))
    _run([tmp_path / "rest"], tmp_path / "local", workers=2)
    cluster.client.register_plugin(KillWorker(("-2", "-2retry"), "-1", str(tmp_path / "killed")), name="kill")
    try:
        code = main(["run", str(inbox), "-o", str(tmp_path / "dask"), "--quiet", "--scheduler", cluster.address])
    finally:
        cluster.client.unregister_worker_plugin("kill")
        cluster.client.wait_for_workers(2, timeout=120)  # the nannies restart what was killed
    assert (tmp_path / "killed").exists()  # a worker really died in the middle of job 1
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err + captured.out
    issues = pd.read_excel(tmp_path / "dask" / "summary.xlsx", sheet_name="问题清单", engine="calamine")
    crashed = issues[issues["代码"] == "worker-crash"]
    assert list(crashed["来源文件"]) == [victim] and "两次意外退出" in crashed["说明"].iloc[0]
    shutil.rmtree(tmp_path / "dask" / ".selfeval")
    for sheet in ("汇总", "指标明细"):  # the rest exactly as a local run without the victim
        local = pd.read_excel(tmp_path / "local" / "summary.xlsx", sheet_name=sheet, engine="calamine")
        dask = pd.read_excel(tmp_path / "dask" / "summary.xlsx", sheet_name=sheet, engine="calamine")
        pd.testing.assert_frame_equal(local, dask)
    assert sorted(p.name for p in (tmp_path / "local" / "reports").iterdir()) == sorted(
        p.name for p in (tmp_path / "dask" / "reports").iterdir())


def test_a_killed_task_of_several_inputs_retries_each_alone(cluster, inbox, tmp_path, monkeypatch):
    """Inputs travel in groups, one task each: when a group's worker dies, each of its inputs
    is retried alone, so only the one that kills its worker again is lost."""
    from selfeval_xlsx.batch import workers

    monkeypatch.setattr(workers, "groups", lambda order, untimed, threads: [list(order)])  # one task for all
    refs, _ = collect([inbox])
    victim = refs[2].name
    cluster.client.register_plugin(KillWorker(("-2retry",), "", str(tmp_path / "killed")), name="kill")
    try:
        result = _run([inbox], tmp_path / "dask", scheduler=cluster.address)
    finally:
        cluster.client.unregister_worker_plugin("kill")
        cluster.client.wait_for_workers(2, timeout=120)
    assert (tmp_path / "killed").exists()
    assert [(i.file, i.code) for i in result.issues if i.code == "worker-crash"] == [(victim, "worker-crash")]
    assert {r.project.source_file for r in result.results} == {ref.name for ref in refs} - {victim}


# -- the preflight -------------------------------------------------------------------------------

def test_preflight_names_each_worker_that_runs_other_code(cluster, inbox, tmp_path, monkeypatch):
    import selfeval_xlsx

    monkeypatch.setattr(selfeval_xlsx, "__version__", "9.9.9")
    with pytest.raises(ClusterError) as caught:
        _run([inbox], tmp_path / "out", scheduler=cluster.address)
    message = str(caught.value)
    assert message.count("版本或代码") == 2 and all(w in message for w in cluster.client.nthreads())
    assert not (tmp_path / "out" / "summary.xlsx").exists()


def test_preflight_checks_paths_as_a_worker_sees_them(tmp_path):
    from selfeval_xlsx import __version__
    from selfeval_xlsx.batch.workers import _preflight, code_digest

    output = tmp_path / "out"
    (output / ".selfeval" / "tmp").mkdir(parents=True)
    (output / ".selfeval" / "preflight-abc").write_text("abc")
    good = tmp_path / "a.xlsx"
    good.write_bytes(b"12345")
    ok = _preflight(__version__, code_digest(), [(str(good), 5)], str(output), "abc", None)
    assert ok["problems"] == []
    bad = _preflight(__version__, code_digest(), [(str(good), 6), ("/nowhere/b.xlsx", 1)], str(output), "xyz",
                     ("/nowhere/t.docx", 1))
    assert [p[:4] for p in bad["problems"]] == ["看不到 ", "看不到输", "看不到报"]


# -- no usable cluster: exit 2 with a message, never a traceback ----------------------------------

@pytest.mark.parametrize("address, words", [
    ("tcp://127.0.0.1:{port}", "无法连接 dask 调度器"),
    ("http://127.0.0.1:{port}", "无法识别"),
    ("127.0.0.1::x", "无法识别"),
])
def test_no_scheduler_is_exit_2_with_a_message(tmp_path, capsys, address, words):
    address = address.format(port=_free_port())
    code = main(["run", str(EXAMPLES), "-o", str(tmp_path / "o"), "--quiet", "--scheduler", address,
                 "--connect-timeout", "1"])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err


def test_a_port_that_is_no_scheduler_is_exit_2_with_a_message(tmp_path, capsys):
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer_junk():
        conn, _ = server.accept()
        conn.sendall(b"\xff" * 64 + b"HTTP/1.1 400 Bad Request\r\n\r\n")
        time.sleep(2)
        conn.close()

    threading.Thread(target=answer_junk, daemon=True).start()
    code = main(["run", str(EXAMPLES), "-o", str(tmp_path / "o"), "--quiet", "--connect-timeout", "1",
                 "--scheduler", f"127.0.0.1:{server.getsockname()[1]}"])  # no scheme: tcp, as dask reads it
    server.close()
    err = capsys.readouterr().err
    assert code == 2 and "似乎不是 dask 调度器" in err and "Traceback" not in err


def test_distributed_not_installed_is_exit_2_with_a_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    code = main(["run", str(EXAMPLES), "-o", str(tmp_path / "o"), "--quiet", "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install" in err


def test_a_cluster_without_workers_warns_and_gives_up(tmp_path, capsys):
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty:
        code = main(["run", str(EXAMPLES), "-o", str(tmp_path / "o"), "--quiet", "--scheduler",
                     empty.scheduler_address, "--connect-timeout", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "还没有工作进程" in err and "没有任何工作进程" in err
    assert not (tmp_path / "o" / ".selfeval" / "lock").exists()


def test_workers_with_a_scheduler_is_an_error(tmp_path, capsys):
    assert main(["run", str(EXAMPLES), "-o", str(tmp_path / "o"), "--workers", "2", "--scheduler", "tcp://x:1"]) == 2
    assert "--workers" in capsys.readouterr().err


# -- mid-run: connection lost, Ctrl-C ----------------------------------------------------------

def test_losing_the_scheduler_mid_run_stops_with_a_message(tmp_path, inbox):
    lonely = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    try:
        def close_cluster(_):
            lonely.close()  # after the first job: the others are still queued

        refs, skipped = collect([inbox])
        with pytest.raises(ClusterError, match="连接中断"):
            run(refs, RunOptions(output=tmp_path / "o", scheduler=lonely.scheduler_address), skipped=skipped,
                progress=close_cluster)
        assert not (tmp_path / "o" / ".selfeval" / "lock").exists()
    finally:
        lonely.close()


def test_ctrl_c_cancels_what_is_queued(cluster, inbox, tmp_path):
    def interrupt(_):
        raise KeyboardInterrupt

    refs, skipped = collect([inbox])
    with pytest.raises(KeyboardInterrupt):
        run(refs, RunOptions(output=tmp_path / "o", scheduler=cluster.address), skipped=skipped, progress=interrupt)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and cluster.client.run_on_scheduler(
            lambda dask_scheduler: sum(str(k).startswith("selfeval") for k in dask_scheduler.tasks)):
        time.sleep(0.1)
    assert not cluster.client.run_on_scheduler(
        lambda dask_scheduler: [k for k in dask_scheduler.tasks if str(k).startswith("selfeval")])
    assert not (tmp_path / "o" / ".selfeval" / "lock").exists()
