"""The package as users install it: a wheel carries the rules, the report template and the blank
form as package data, and runs the batch from any folder."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import EXAMPLES, REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools writes build/ and *.egg-info into the tree it builds, and
    # two test processes (pytest -n 2) building the checkout at once collide there.
    tree = out / "src"
    shutil.copytree(REPO, tree, ignore=shutil.ignore_patterns(".git", "output", "build", "*.egg-info", "__pycache__",
                                                             ".pytest_cache"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "-w", str(out), str(tree)], capture_output=True, text=True, timeout=300)
    if built.returncode != 0 and "matching distribution" in built.stderr:  # offline: no setuptools to build with
        pytest.skip(f"cannot build a wheel here: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr[-2000:]
    return next(out.glob("*.whl"))


def test_wheel_holds_package_data_and_subpackages(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"selfeval_xlsx/data/national.toml", "selfeval_xlsx/data/report_template.docx",
            "selfeval_xlsx/data/selfeval_template.xlsx", "selfeval_xlsx/batch/run.py",
            "selfeval_xlsx/report/render.py", "selfeval_xlsx/xlsx/edit.py"} <= names


def test_installed_wheel_runs_from_another_folder(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Only the installed copy is importable (the checkout is not on the path from this folder).
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "selfeval_xlsx.cli", "run", str(EXAMPLES), "-o", str(tmp_path / "x"),
                           "--quiet", "--workers", "1"], cwd=elsewhere, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "x" / "reports").glob("*.docx"))) == 9
    where = subprocess.run([sys.executable, "-c", "import selfeval_xlsx; print(selfeval_xlsx.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target))
