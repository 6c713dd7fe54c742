"""The command line, run in-process: what users type and what they get back."""
from __future__ import annotations

import json
import shutil

import openpyxl
import pytest

from selfeval_xlsx.cli import main

from conftest import EXAMPLES

SEED = EXAMPLES / "seed_党建工作经费_2022.xlsx"


def test_help_explains_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("check", "score", "run", "template"):
        assert command in out
    assert main(["run", "--help"]) == 0
    assert "--workers" in capsys.readouterr().out


def test_score_json_gives_each_project(capsys):
    assert main(["score", str(SEED), "--json"]) == 0
    [project] = json.loads(capsys.readouterr().out)
    assert (project["project_id"], project["total"], project["grade"], project["budget_score"]) == ("001", 100.0, "优", 10.0)
    assert project["subtotals"] == {"产出指标": 50.0, "效益指标": 30.0, "满意度指标": 10.0}


def test_check_json_lists_issues_with_cells(tmp_path, make_book, tables, capsys):
    tables["资金"][1][4] = "一百万"
    assert main(["check", str(make_book(tables)), "--json"]) == 1
    issues = json.loads(capsys.readouterr().out)["issues"]
    assert {(i["sheet"], i["cell"], i["code"]) for i in issues} >= {("资金", "E2", "bad-number")}


def test_rules_file_swaps_the_reverse_method(tmp_path, make_book, tables, capsys):
    tables["绩效指标"][2][6] = "4天"  # ≤3天 with 4天: linear 25×(2/3)=16.67, ratio 25×3/4=18.75
    book = make_book(tables)
    rules = tmp_path / "ratio.toml"
    rules.write_text('[reverse]\nmethod = "ratio"\n', "utf-8")
    main(["score", str(book), "--json"])
    linear = json.loads(capsys.readouterr().out)[0]["subtotals"]["产出指标"]
    main(["score", str(book), "--json", "--rules", str(rules)])
    ratio = json.loads(capsys.readouterr().out)[0]["subtotals"]["产出指标"]
    assert (linear, ratio) == (25 + 16.67, 25 + 18.75)


def test_bad_rules_file_is_a_clear_error(tmp_path, capsys):
    rules = tmp_path / "bad.toml"
    rules.write_text("[weights]\nbudjet = 10\n", "utf-8")
    assert main(["score", str(SEED), "--rules", str(rules)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "budjet" in err and "Traceback" not in err


def test_template_writes_the_form_and_never_overwrites(tmp_path):
    path = tmp_path / "模板.xlsx"
    assert main(["template", str(path)]) == 0
    assert openpyxl.load_workbook(path).sheetnames[:5] == ["填表说明", "项目信息", "资金", "支出", "绩效指标"]
    before = path.read_bytes()
    assert main(["template", str(path)]) == 2
    assert path.read_bytes() == before


def test_broken_report_template_fails_reports_not_the_batch(tmp_path):
    from docx import Document

    template = tmp_path / "office.docx"
    doc = Document()
    doc.add_paragraph("{{ project.name ")  # unclosed tag
    doc.save(template)
    out = tmp_path / "out"
    assert main(["run", str(SEED), "-o", str(out), "--quiet", "--report-template", str(template)]) == 1
    import pandas as pd

    problems = pd.read_excel(out / "summary.xlsx", sheet_name="问题清单", engine="calamine")
    assert "report-failed" in set(problems["代码"])
    assert pd.read_excel(out / "summary.xlsx", sheet_name="汇总", engine="calamine")["总分"].tolist()[:-1] == [100]
    assert (out / "workbooks" / "seed_党建工作经费_2022.xlsx").exists()
    assert not list((out / "reports").glob("*.docx")) if (out / "reports").exists() else True


def test_missing_report_template_is_a_usage_error(tmp_path):
    assert main(["run", str(SEED), "-o", str(tmp_path / "o"), "--report-template", str(tmp_path / "nope.docx")]) == 2


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed")
def test_run_with_pdf(tmp_path, monkeypatch):
    import tempfile

    system_tmp = tmp_path / "system-tmp"  # LibreOffice's profile and files stay in the output folder
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    out = tmp_path / "out"
    assert main(["run", str(SEED), "-o", str(out), "--quiet", "--pdf"]) == 0
    assert [p.name for p in (out / "reports").glob("*.pdf")] == ["001_党建工作经费.pdf"]
    assert not list(system_tmp.iterdir())


def test_unwritable_output_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert main(["run", str(SEED), "-o", str(blocker / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not-a-folder" in err and "Traceback" not in err


@pytest.mark.parametrize("what, name", [("rules", "national.toml"), ("report-template", "report_template.docx")])
def test_export_bundled_files_for_local_editing(tmp_path, monkeypatch, capsys, what, name):
    from importlib import resources

    monkeypatch.chdir(tmp_path)
    assert main(["export", what]) == 0
    assert (tmp_path / name).read_bytes() == (resources.files("selfeval_xlsx") / "data" / name).read_bytes()
    assert main(["export", what]) == 2 and "已存在" in capsys.readouterr().err  # never overwritten silently
    if what == "rules":
        assert main(["score", "--rules", name, str(EXAMPLES / "seed_党建工作经费_2022.xlsx")]) == 0
