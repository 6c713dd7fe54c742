"""What a finance reviewer sends back (DOMAIN.md §7), checked on the reports themselves: the
context's sentences, the rendered .docx, and (where LibreOffice is installed) the PDF text of
the bundled examples and of projects built for each case, converted in one soffice call."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from datetime import date, datetime, timezone
from decimal import Decimal as D

import docx
import pytest

from selfeval_xlsx import analyse
from selfeval_xlsx.batch import RunOptions, run
from selfeval_xlsx.cli import main
from selfeval_xlsx.form import write_workbook
from selfeval_xlsx.intake import collect
from selfeval_xlsx.report import ReportRenderer, build_context, to_pdf
from selfeval_xlsx.report.context import display_name, title_lines
from selfeval_xlsx.vocab import Kind

from conftest import EXAMPLES

BUREAU = EXAMPLES / "某区教育局_2023.xlsx"
SEED = EXAMPLES / "seed_党建工作经费_2022.xlsx"


def nospace(text: str) -> str:
    return re.sub(r"\s+", "", text)


def quoted(name: str) -> str:
    return "“" + name.replace("“", "‘").replace("”", "’") + "”"


@pytest.fixture(scope="module")
def examples():
    return {r.project.project_id: r for path in (SEED, BUREAU) for r in analyse(path).results}


# -- the context: sentences a reviewer reads ------------------------------------------------

@pytest.mark.parametrize("year, name, lines", [
    ("2022", "党建工作经费", ["2022年度党建工作经费绩效自评报告"]),
    ("2023", "普惠性幼儿园奖补资金", ["2023年度普惠性幼儿园奖补资金", "绩效自评报告"]),
    ("2023", "中小学校园安全设施改造", ["2023年度中小学校园安全设施改造", "绩效自评报告"]),
    ("2024", "某区城乡居民基本医疗保险（大病保险）财政补助资金",
     ["2024年度某区城乡居民基本医疗保险", "（大病保险）财政补助资金", "绩效自评报告"]),
])
def test_title_breaks_between_words(year, name, lines):
    assert title_lines(year, name) == lines


def test_a_name_starting_with_its_year_is_not_printed_twice():
    assert display_name("2024年农村公路养护工程", "2024") == "农村公路养护工程"
    assert display_name("2024年度农村公路养护工程", "2024") == "农村公路养护工程"
    assert display_name("2023年农村公路养护工程", "2024") == "2023年农村公路养护工程"
    assert display_name("2024年", "2024") == "2024年"  # nothing left: keep the name


def test_named_losses_add_up_to_the_gap_to_full_marks(examples):
    """Every point lost (budget, shortfalls, 扣分, a 达成 self-scored below its weight,
    部分达成) is named in 项目绩效分析 with its loss, and the losses add up to the applicable
    full marks minus the score (before any 不适用 rescaling)."""
    for pid, result in examples.items():
        context = build_context(result)
        analysis = context["narrative"]["analysis"]
        losses = [D(x) for x in re.findall(r"失(\d+(?:\.\d+)?)分。", analysis)]
        na = sum((s.indicator.weight for s in result.indicators if s.kind == Kind.NOT_APPLICABLE), D(0))
        raw = D(context["result"]["raw_total"])
        assert sum(losses, D(0)) == result.total_weight - na - raw, pid
        for s in result.indicators:
            if s.score is not None and s.score < s.indicator.weight:
                assert quoted(s.indicator.level3) in analysis, (pid, s.indicator.level3)
        if not na:
            assert raw == result.total
    jy01 = build_context(examples["JY2023-01"])["narrative"]["analysis"]
    assert "“家长‘接送难’问题缓解程度”实际完成情况为“达成”，按完成质量自评，得14分（分值15分），失1分" in jy01
    jy02 = build_context(examples["JY2023-02"])["narrative"]["analysis"]
    assert "“安全设施正常使用年限”达到年度指标值（年度指标值≥8年，实际完成值8年），扣2分，得13分" in jy02
    jy03 = build_context(examples["JY2023-03"])
    assert "实际完成情况为“部分达成”，得10分（分值15分），失5分" in jy03["narrative"]["analysis"]
    assert "77.29×100÷（100－5）＝81.36" in jy03["table"]["note"]


def test_over_and_under_spending_are_stated_with_the_amount(examples):
    jy02 = build_context(examples["JY2023-02"])
    assert "执行数336.80万元，执行率105.25%，执行数超出全年预算数16.80万元。" in jy02["sentences"]["finance"]
    assert "执行数超出全年预算数16.80万元" in jy02["sentences"]["conclusion"]
    assert "完成预算" not in jy02["sentences"]["conclusion"]
    jy06 = build_context(examples["JY2023-06"])
    assert "完成预算的62.17%，尚有113.50万元未执行。" in jy06["sentences"]["finance"]


def test_conclusion_is_short_and_numbers_have_one_style(examples):
    context = build_context(examples["JY2023-02"])
    conclusion = context["sentences"]["conclusion"]
    assert conclusion.count("。") <= 3 and "偏差原因" not in conclusion
    assert "8个三级指标中6个达到年度指标值、2个未达到，3个未得满分" in conclusion
    assert "得分94.66分" in conclusion and "自评等级为“优”" in conclusion
    amounts = re.findall(r"(\d+(?:\.\d+)?)万元", " ".join(context["sentences"].values()))
    assert "336.80" in amounts and "336.8" not in amounts
    assert all(re.fullmatch(r"\d+(\.\d\d)?", a) for a in amounts)


def test_optional_sections_only_with_text(examples, tmp_path):
    renderer = ReportRenderer()
    with_text = docx.Document(io.BytesIO(renderer.render(examples["JY2023-01"])))
    paragraphs = [p.text for p in with_text.paragraphs]
    for heading in ("（二）项目绩效目标", "（三）财政支出情况", "二、自评工作开展情况", "三、评价结论与绩效分析",
                    "六、其他需要说明的问题"):
        assert heading in paragraphs, heading
    assert paragraphs[paragraphs.index("六、其他需要说明的问题") + 2:][:2] == ["某区教育局", "2024年1月20日"]
    signoff = "\n".join(paragraphs[paragraphs.index("附表"):])
    assert "填报单位（盖章）：某区教育局\t填报日期：2024年1月20日" in signoff
    assert "项目负责人：陈××\t财务负责人：王××" in signoff
    without = [p.text for p in docx.Document(io.BytesIO(renderer.render(examples["JY2023-02"]))).paragraphs]
    assert "（二）财政支出情况" in without and "四、下一步改进措施" in without
    assert not any("绩效目标" in p or "自评工作开展情况" in p or "其他需要说明" in p for p in without)
    assert not any(p.startswith("{%") for p in without)


def test_document_properties_name_the_run_the_department_and_the_tool(examples):
    when = datetime(2025, 1, 15, 2, 5, tzinfo=timezone.utc)
    data = ReportRenderer().render(examples["JY2023-02"], generated=when)
    document = docx.Document(io.BytesIO(data))
    props = document.core_properties
    assert props.author == "某区教育局" and props.created == when
    assert props.title == "2023年度中小学校园安全设施改造绩效自评报告"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "<Application>selfeval-xlsx</Application>" in z.read("docProps/app.xml").decode()
        fonts = z.read("word/fontTable.xml").decode()
    assert '<w:font w:name="仿宋_GB2312"><w:altName w:val="仿宋,FangSong' in fonts
    assert '<w:font w:name="楷体_GB2312"><w:altName w:val="楷体,KaiTi' in fonts


def test_dates_in_the_table_do_not_break_at_the_hyphen(examples):
    data = ReportRenderer().render(examples["JY2023-02"])
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode()
    assert "2023<w:noBreakHyphen/>08<w:noBreakHyphen/>25" in re.sub(r'</w:t>|<w:t xml:space="preserve">', "", xml)


# -- empty narrative cells: a warning on the cell, an error under --strict ----------------------

def _empty_management(make_book, tables):
    header = tables["项目信息"][0]
    tables["项目信息"][1][header.index("项目管理情况")] = ""
    return make_book(tables)


def test_an_empty_narrative_cell_is_a_warning_on_that_cell(make_book, tables):
    analysis = analyse(_empty_management(make_book, tables))
    [result] = analysis.results
    assert [(i.sheet, i.cell, i.code) for i in analysis.all_issues] == [("项目信息", "I2", "missing-narrative")]
    assert result.total is not None
    assert build_context(result)["narrative"]["management"] == "【待补充：项目管理情况】"


def test_strict_makes_it_an_error_that_holds_the_report_back(make_book, tables, tmp_path, capsys):
    path = _empty_management(make_book, tables)
    assert main(["check", str(path)]) == 0
    assert main(["check", "--strict", str(path)]) == 1
    assert "narrative-required" in capsys.readouterr().out
    refs, skipped = collect([path])
    result = run(refs, RunOptions(output=tmp_path / "out", workers=1, strict=True), skipped=skipped)
    assert [r.total for r in result.results] == [None] and result.reports == []
    assert [(i.cell, i.code) for i in result.issues] == [("I2", "narrative-required")]


# -- rendered with LibreOffice, read back with pdftotext --------------------------------------

def _indicator(pid, level1, level2, level3, target, actual, weight, self_score=None, deviation="", **extra):
    return {"project_id": pid, "level1": level1, "level2": level2, "level3": level3, "target": target,
            "actual": actual, "weight": weight, "self_score": self_score, "deviation": deviation, **extra}


def _built_cases(folder):
    """Projects built for the cases the examples do not cover: a long name starting with its
    year and empty narrative cells (markers), twelve short indicators (附表 on one page),
    sixteen indicators with long reasons (the table runs on: 总分 kept with rows above)."""
    projects = [
        {"project_id": "C-LONG", "name": "2024年某区城乡居民基本医疗保险（大病保险）财政补助资金", "year": 2024,
         "department": "某区医疗保障局", "goal": "参保居民大病保险待遇按规定落实。"},
        {"project_id": "C-12", "name": "社区养老服务补助", "year": 2024, "department": "某区民政局",
         **{f: "已按要求开展。" for f in ("goal", "achieved", "implementation", "management", "funds_usage",
                                         "analysis", "problems", "improvements")}},
        {"project_id": "C-16", "name": "农村公路养护", "year": 2024, "department": "某区交通运输局",
         **{f: "已按要求开展。" for f in ("goal", "achieved", "implementation", "management", "funds_usage",
                                         "analysis", "problems", "improvements")}},
    ]
    funding = [{"project_id": p["project_id"], "source": "本年财政拨款", "initial_budget": 200, "budget": 200,
                "executed": 180} for p in projects]
    indicators = [
        _indicator("C-LONG", "产出指标", "数量指标", "参保人数", "≥10000人", "9000人", 50, 45, "部分居民转入职工医保。"),
        _indicator("C-LONG", "效益指标", "社会效益指标", "待遇落实率", "=100%", "100%", 30, 28, "个别材料补交，扣2分。",
                   deduction=2),
        _indicator("C-LONG", "满意度指标", "服务对象满意度指标", "参保居民满意度", "≥90%", "达成", 10, 9, nature="定性"),
    ]
    short = [("产出指标", "数量指标", 5), ("产出指标", "质量指标", 3), ("产出指标", "时效指标", 2),
             ("效益指标", "社会效益指标", 1), ("满意度指标", "服务对象满意度指标", 1)]
    k = 0
    for level1, level2, n in short:
        for _ in range(n + (1 if level1 == "效益指标" else 0)):
            k += 1
            weight = 50 if level1 == "产出指标" else 30 if level1 == "效益指标" else 10
            count = {"产出指标": 10, "效益指标": 2, "满意度指标": 1}[level1]
            indicators.append(_indicator("C-12", level1, level2, f"指标{k}", "≥10次", "10次", weight / count))
    for k in range(16):
        level1 = ("产出指标", "产出指标", "效益指标", "满意度指标")[k % 4]
        level2 = {"产出指标": "数量指标", "效益指标": "社会效益指标", "满意度指标": "服务对象满意度指标"}[level1]
        weight = {"产出指标": D("6.25"), "效益指标": D("7.5"), "满意度指标": D("2.5")}[level1]
        indicators.append(_indicator("C-16", level1, level2, f"农村公路养护里程第{k + 1}项", "≥100公里", "90公里",
                                     weight, deviation="受汛期影响，部分路段养护推迟至次年，已制定专项计划。"))
    indicators.sort(key=lambda r: (r["project_id"], ("产出指标", "效益指标", "满意度指标").index(r["level1"])))
    path = folder / "built.xlsx"
    write_workbook(path, projects, funding, [], indicators)
    return path


def _pdf_pages(path) -> list[str]:
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode()
    return out.split("\f")[:-1]


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    if not (shutil.which("soffice") and shutil.which("pdftotext")):
        pytest.skip("LibreOffice or pdftotext not installed")
    folder = tmp_path_factory.mktemp("review")
    inbox = folder / "inbox"
    inbox.mkdir()
    for path in (SEED, BUREAU):
        shutil.copy(path, inbox / path.name)
    _built_cases(inbox)
    refs, skipped = collect([inbox])
    result = run(refs, RunOptions(output=folder / "out", workers=2), skipped=skipped)
    assert result.scored == 10
    pdf_paths = to_pdf(result.reports, folder / "pdf")
    pages = {p.stem.split("_")[0]: _pdf_pages(p) for p in pdf_paths}
    full = {r.project.project_id: r for path in sorted(inbox.glob("*.xlsx")) for r in analyse(path).results}
    assert set(full) == set(pages)
    return pages, full


def test_pdfs_read_as_a_reviewer_wants(pdfs):
    pages, results = pdfs
    for pid, result in results.items():
        text = nospace("".join(pages[pid]))
        body = text[:text.index("附表项目支出绩效自评表")]
        assert "单位未填写" not in text and "「" not in text, pid
        for s in result.indicators:  # every indicator below full marks is named in the narrative
            if s.score is not None and s.score < s.indicator.weight:
                assert nospace(quoted(s.indicator.level3)) in body, (pid, s.indicator.level3)
        first_lines = [line.strip() for line in pages[pid][0].splitlines() if line.strip()][:3]
        assert any(line.endswith("绩效自评报告") for line in first_lines), (pid, first_lines)  # kept whole
        total_page = next(p for p in pages[pid] if "等级：" in p)  # the 总分 row
        assert nospace(result.indicators[-1].indicator.target) in nospace(total_page), pid  # 总分 not alone
    assert "执行数超出全年预算数16.80万元" in nospace("".join(pages["JY2023-02"]))
    assert "≤2023-08-31" in "".join(pages["JY2023-02"]).replace("\u2011", "-")  # a dated target on one line
    assert "77.29×100÷（100－5）＝81.36" in nospace("".join(pages["JY2023-03"]))
    seed = nospace("".join(pages["001"]))
    assert "党建工作经费2022年度预算安排100万元，其中当年财政拨款100万元，执行数100万元，完成预算的100%。" in seed
    assert "得分100分，其中预算执行得分10分，9个三级指标已达预期效果均得10分。" in seed
    long = nospace("".join(pages["C-LONG"]))
    assert "2024年度2024" not in long and "【待补充：项目管理情况】" in long
    table_start = next(p for p in pages["C-12"] if "项目支出绩效自评表" in p)
    assert "总分" in table_start  # twelve indicators: the 附表 fits one page
