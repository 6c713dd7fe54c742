"""Word reports: context sentences, rendering, escaping, file names, templates, PDF."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from decimal import Decimal as D

import docx
import pytest
from docx.shared import Mm

from selfeval_xlsx.errors import SelfevalError, TemplateError
from selfeval_xlsx.models import FundingRow, Indicator, IndicatorScore, Project, ProjectResult, SpendingRow
from selfeval_xlsx.present import fmt_number
from selfeval_xlsx.report import ReportRenderer, build_context, report_filename, to_pdf
from selfeval_xlsx.report.render import PREPARED, prepared_parts
from selfeval_xlsx.report.template import DEFAULT_TEMPLATE, build_template
from selfeval_xlsx.vocab import Kind

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"

SEED_ROWS = [
    ("产出指标", "数量指标", "开设培训班", "≥18次", "18次"),
    ("产出指标", "数量指标", "党员培训", "≥2300人次", "2300人次"),
    ("产出指标", "数量指标", "购买红色书籍", "≥1728册", "1728册"),
    ("产出指标", "质量指标", "培训覆盖率", "=100%", "100%"),
    ("产出指标", "时效指标", "按时完成率", "按时完成", "达成"),
    ("效益指标", "社会效益指标", "党员教育覆盖", "达成年度指标", "达成"),
    ("效益指标", "社会效益指标", "后进党组织集中培训", "≥25次", "25次"),
    ("效益指标", "可持续影响指标", "长效机制建设", "达成年度指标", "达成"),
    ("满意度指标", "服务对象满意度指标", "党员满意度", "≥95%", "95%"),
]
HEADINGS = ["一、基本情况", "（一）项目实施情况", "（二）财政支出情况", "（三）项目管理情况",
            "（四）项目资金来源及使用情况", "二、评价结论与绩效分析", "（一）总体结论", "（二）项目绩效分析",
            "三、存在问题或不足", "四、下一步改进措施", "附表"]


def make_result(scores=None, reasons=None, kinds=None, **project_fields) -> ProjectResult:
    """Seed-like project: 100 万元 fully spent, nine indicators worth 10. ``scores``/``reasons``/
    ``kinds`` override rows by index."""
    scores, reasons, kinds = scores or {}, reasons or {}, kinds or {}
    fields = {"project_id": "P001", "name": "党建工作经费", "year": "2022", "department": "区委组织部",
              "implementer": "街道党建办", "goal": "开展党员教育培训。", "achieved": "完成了党员教育培训工作",
              "implementation": "区财政2022年共下拨党工委党建工作经费100万元。",
              "management": "严格贯彻落实内控制度。", "funds_usage": "主要用于党的二十大精神学习宣传。",
              "analysis": "满意度约为95%。", "problems": "一是缺乏创新思路。", "improvements": "加强资金的合理使用。"}
    fields.update(project_fields)
    project = Project(**fields)
    project.funding = [FundingRow(project_id="P001", source="本年财政拨款", initial_budget=D(100),
                                  budget=D(100), executed=D(100))]
    result_scores = []
    for i, (l1, l2, l3, target, actual) in enumerate(SEED_ROWS):
        ind = Indicator(project_id="P001", level1=l1, level2=l2, level3=l3, target=target, actual=actual,
                        weight=D(10), deviation=reasons.get(i, ""))
        project.indicators.append(ind)
        kind = kinds.get(i, Kind.POSITIVE)
        score = None if kind == Kind.NOT_APPLICABLE else scores.get(i, D(10))
        reached = score is not None and score >= D(10)
        result_scores.append(IndicatorScore(indicator=ind, kind=kind, method="", score=score, reached=reached))
    subtotals: dict[str, D] = {}
    for s in result_scores:
        if s.score is not None:
            subtotals[s.indicator.level1] = subtotals.get(s.indicator.level1, D(0)) + s.score
    total = D(10) + sum(subtotals.values())
    return ProjectResult(project=project, budget_weight=D(10), total_weight=D(100), budget=D(100), executed=D(100),
                         rate=D(1), budget_score=D(10), indicators=tuple(result_scores), subtotals=subtotals, total=total,
                         grade="优" if total >= 90 else "良")


@pytest.fixture(scope="module")
def renderer():
    return ReportRenderer()


def open_docx(data: bytes):
    return docx.Document(io.BytesIO(data))


def all_text(document) -> str:
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(c.text for c in row.cells)
    return "\n".join(parts)


def nospace(text: str) -> str:
    return re.sub(r"\s+", "", text)


def cell_rows(document) -> list[list[str]]:
    """The 附表's rows as the cells a reader sees (a spanned cell once)."""
    table = document.tables[0]
    return [[docx.table._Cell(tc, table).text for tc in tr.tc_lst] for tr in table._tbl.tr_lst]


def indicator_rows(document) -> list[list[str]]:
    rows = cell_rows(document)
    start = next(i for i, r in enumerate(rows) if "一级指标" in r)
    end = next(i for i, r in enumerate(rows) if r[0] == "总分")
    return rows[start + 1:end]


@pytest.mark.parametrize("value, text", [
    (D("100.00"), "100"), (D("92.50"), "92.5"), (D("97.975"), "97.98"), (D("1E+2"), "100"),
    (D("0.005"), "0.01"), (D("-0.00"), "0"), (D("1234.5678"), "1234.57"), (None, "—"), (10, "10"),
])
def test_fmt_number(value, text):
    assert fmt_number(value) == text


def test_seed_report_reads_like_the_seed(renderer):
    document = open_docx(renderer.render(make_result()))
    paragraphs = [p.text for p in document.paragraphs]
    assert paragraphs[0] == "2022年度党建工作经费绩效自评报告"
    assert document.paragraphs[0].style.name == "Title"
    # every heading of DOMAIN.md §7, in order
    positions = [paragraphs.index(h) for h in HEADINGS]
    assert positions == sorted(positions)
    body = nospace("\n".join(paragraphs))
    for phrase in ("执行数100万元", "完成预算的100%", "得分100分", "预算执行得分10分", "9个三级指标",
                   "其中当年财政拨款100万元"):
        assert phrase in body, phrase
    assert "已达预期效果均得10分" in body
    # no heading is followed directly by another heading of the same level or left empty
    for h in HEADINGS[:-1]:
        nxt = paragraphs[paragraphs.index(h) + 1]
        assert nxt.strip(), h
    # 附表: one table; nine indicator rows between the header and the total row
    assert len(document.tables) == 1
    assert [row[3] for row in indicator_rows(document)] == [r[2] for r in SEED_ROWS]
    assert cell_rows(document)[-1] == ["总分", "100", "100", "等级：优"]
    funding = cell_rows(document)
    assert ["", "年度资金总额", "100", "100", "100", "10", "100%", "10"] in funding  # 分值 | 执行率 | 得分
    assert ["", "其中：当年财政拨款", "100", "100", "100", "—", "—", "—"] in funding
    assert ["", "上年结转资金", "0", "0", "0", "—", "—", "—"] in funding
    section = document.sections[0]
    assert abs(section.top_margin - Mm(37)) < Mm(0.1) and abs(section.left_margin - Mm(28)) < Mm(0.1)
    assert abs(section.page_width - Mm(210)) < Mm(0.5)


def test_styles_name_the_official_east_asian_fonts(renderer):
    data = renderer.render(make_result())
    styles = zipfile.ZipFile(io.BytesIO(data)).read("word/styles.xml").decode()
    expected = {"Normal": "仿宋_GB2312", "Title": "方正小标宋简体", "ReportHeading1": "黑体",
                "ReportHeading2": "楷体_GB2312"}
    for style_id, font in expected.items():
        block = re.search(rf'<w:style [^>]*w:styleId="{style_id}".*?</w:style>', styles, re.DOTALL).group(0)
        assert f'w:eastAsia="{font}"' in block, style_id
        assert "eastAsiaTheme" not in block
    assert re.search(r'w:styleId="Normal".*?w:firstLineChars="200".*?</w:style>', styles, re.DOTALL)
    document = open_docx(data)
    assert document.styles["Normal"].font.size.pt == 16
    assert document.styles["Title"].font.size.pt == 22
    assert {"一级标题", "二级标题", "自评表格"} <= {s.name for s in document.styles}
    footer = zipfile.ZipFile(io.BytesIO(data)).read("word/footer1.xml").decode()
    assert "PAGE" in footer and "—" in footer


def test_table_pages_well_and_level_cells_merge(renderer):
    document = open_docx(renderer.render(make_result()))
    rows = document.tables[0]._tbl.tr_lst
    assert rows[0].find(f"{W}trPr/{W}tblHeader") is not None  # the project's name repeats
    assert all(tr.find(f"{W}trPr/{W}cantSplit") is not None for tr in rows)  # no row splits
    indicators = rows[-10:-1]
    merges = [tr.tc_lst[1].find(f"{W}tcPr/{W}vMerge").get(f"{W}val") for tr in indicators]
    # 产出指标 ×5, 效益指标 ×3, 满意度指标 ×1
    assert merges == ["restart", "continue", "continue", "continue", "continue",
                      "restart", "continue", "continue", "restart"]
    # the last two indicator rows and the 总分 row keep with what follows; the others do not
    keeps = [tr.find(f".//{W}keepNext") is not None for tr in rows[-10:]]
    assert keeps == [False] * 7 + [True] * 3
    # a 二级 name too long for its column breaks before its suffix, not inside a word
    assert indicator_rows(document)[-1][2] == "服务对象\n满意度指标"
    assert [f.get(f"{W}w") for f in document.tables[0]._tbl.tblGrid.findall(f"{W}gridCol")][1] == str(round(18 * 1440 / 25.4))


def test_shortfalls_are_named_with_scores_and_reasons(renderer):
    result = make_result(scores={1: D("8.5"), 8: D("9.47")}, reasons={1: "受疫情影响，部分培训改为线上。"})
    text = nospace(all_text(open_docx(renderer.render(result))))
    assert "9个三级指标中7个达到年度指标值、2个未达到" in text
    assert "一是“党员培训”未达到年度指标值（年度指标值≥2300人次，实际完成值2300人次），得8.50分（分值10分），" \
           "失1.50分。偏差原因及改进措施：受疫情影响，部分培训改为线上。" in text
    assert "二是“党员满意度”" in text and "失0.53分" in text
    assert "【待补充：偏差原因分析及改进措施】" in text and "单位未填写" not in text
    assert "得分97.97分" in text and "合计失2.03分" in text
    assert "均得10分" not in text and "「" not in text


def test_every_shortfall_is_named_without_a_cap():
    context = build_context(make_result(scores={i: D(9) for i in range(9)}))
    losses = context["sentences"]["losses"].split("\n")
    assert len(losses) == 9 and losses[0].startswith("一是“开设培训班”") and losses[8].startswith("九是“党员满意度”")
    assert "“开设培训班”" not in context["sentences"]["conclusion"]  # 总体结论 stays short


def test_tc_loop_in_custom_template_fixes_the_grid(tmp_path):
    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    table.cell(0, 0).text = "{%tc for row in table.indicators %}"
    table.cell(0, 1).text = "{{ row.score }}"
    table.cell(0, 2).text = "{%tc endfor %}"
    path = tmp_path / "tc.docx"
    document.save(path)
    rendered = open_docx(ReportRenderer(path, sandboxed=True).render(make_result()))
    tbl = rendered.tables[0]._tbl
    assert len(tbl.tr_lst[0].tc_lst) == 9 and len(tbl.tblGrid.gridCol_lst) == 9  # grid had 3 columns


def test_not_applicable_indicators_are_mentioned(renderer):
    result = make_result(kinds={2: "not_applicable"})
    context = build_context(result)
    assert "另有1个三级指标不适用" in context["sentences"]["conclusion"]
    assert context["table"]["indicators"][2]["score"] == "不适用"
    assert "8个三级指标已达预期效果均得10分" in context["sentences"]["conclusion"]
    assert "“购买红色书籍”不适用" in context["table"]["note"] and "÷（100－10）" in context["table"]["note"]


def test_empty_narrative_cells_get_generated_sentences(renderer):
    result = make_result(implementation="", management="", funds_usage="", analysis="", problems="",
                         improvements="", achieved="", scores={0: D(5)})
    result.project.spending = [SpendingRow(project_id="P001", item="培训费", amount=D("60.5")),
                               SpendingRow(project_id="P001", item="书籍资料费", amount=D("39.5"))]
    context = build_context(result)
    narrative = context["narrative"]
    assert narrative["implementation"].startswith("项目年度总体目标：开展党员教育培训。\n全年9个三级指标中8个达到")
    assert "培训费60.50万元、书籍资料费39.50万元" in narrative["funds_usage"]
    assert "产出指标得45分（分值50分）" in narrative["analysis"]
    assert narrative["problems"].startswith("一是部分绩效指标未达到年度指标值：“开设培训班”实际完成值18次")
    assert narrative["management"] == "【待补充：项目管理情况】"
    assert narrative["improvements"] == "【待补充：下一步改进措施】"
    assert context["table"]["achieved"].startswith("全年9个三级指标中8个达到年度指标值")
    document = open_docx(renderer.render(result))
    paragraphs = [p.text for p in document.paragraphs]
    for heading in HEADINGS[:-1]:
        assert paragraphs[paragraphs.index(heading) + 1].strip()


def test_data_prints_literally_and_line_breaks_make_paragraphs(renderer):
    result = make_result(name='A&B <c> "d" \'e\' {{ 7*7 }}',
                         implementation="{{ 7*7 }} {% if true %}x{% endif %}\r\n　　第二段\x01\ud800结束",
                         reasons={0: "第一行\n第二行 <b>&amp;"}, scores={0: D(9)})
    data = renderer.render(result)
    document = open_docx(data)  # valid XML, or this raises
    paragraphs = [p.text for p in document.paragraphs]
    assert paragraphs[0] == '2022年度A&B <c> "d" \'e\' {{ 7*7 }}\n绩效自评报告'  # broken before 绩效自评报告
    index = paragraphs.index("（一）项目实施情况")
    assert paragraphs[index + 1] == "{{ 7*7 }} {% if true %}x{% endif %}"
    assert paragraphs[index + 2] == "第二段结束"  # own paragraph, indent spaces and control char dropped
    assert document.paragraphs[index + 2].style.name == "Normal"
    assert "{{ 7*7 }}" in all_text(document) and " 49" not in all_text(document)
    cell = docx.table._Cell(document.tables[0]._tbl.tr_lst[10].tc_lst[-1], document.tables[0])
    assert [p.text for p in cell.paragraphs] == ["第一行", "第二行 <b>&amp;"]
    assert document.core_properties.title == paragraphs[0].replace("\n", "")


def test_unscored_result_is_not_rendered(renderer):
    result = replace(make_result(), total=None)
    with pytest.raises(SelfevalError):
        renderer.render(result)


@pytest.mark.parametrize("project_id, name", [
    ("../../evil", "x"), ("P1", "a:b*c?d|e<f>\"g"), ("..", ".."), ("CON", ""), ("P/1\\2", "名" * 300),
])
def test_write_stays_inside_out_dir(tmp_path, renderer, project_id, name):
    out = tmp_path / "reports"
    result = make_result(project_id=project_id, name=name)
    path = renderer.write(result, out)
    assert path.parent == out.resolve()
    assert path.suffix == ".docx" and len(path.name) <= 125 and len(path.name.encode()) <= 205
    assert not re.search(r'[\\/:*?"<>|]', path.name) and not path.name.startswith(".")
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]
    assert [p.name for p in out.iterdir()] == [path.name]  # no temp file left behind
    open_docx(path.read_bytes())


def test_report_filename():
    assert report_filename(make_result()) == "P001_党建工作经费.docx"


def test_bundled_template_equals_generated():
    built = zipfile.ZipFile(io.BytesIO(build_template()))
    bundled = zipfile.ZipFile(DEFAULT_TEMPLATE)
    for name in ("word/document.xml", "word/styles.xml", "word/footer1.xml"):
        assert built.read(name).decode() == bundled.read(name).decode(), name


def test_bundled_template_is_prepared_as_docxtpl_prepares_it():
    """The stored parts a run uses instead of docxtpl are what docxtpl's clean-up gives for
    the bundled template (rebuild with ``python -m selfeval_xlsx.report.template``)."""
    stored = json.loads(PREPARED.read_text(encoding="utf-8"))
    fresh = prepared_parts(DEFAULT_TEMPLATE.read_bytes())
    assert stored["sha256"] == fresh["sha256"]
    assert set(stored["parts"]) == set(fresh["parts"]) == {"word/document.xml", "docProps/core.xml"}
    for name, (xml, needs_fix, code) in stored["parts"].items():
        assert [xml, needs_fix] == fresh["parts"][name][:2], name
        # The generated code is used only under the Jinja version that made it.
        assert code == fresh["parts"][name][2] or stored["jinja2"] != fresh["jinja2"], name


def test_bundled_template_renders_without_docxtpl():
    code = ("import sys; from selfeval_xlsx.report import ReportRenderer; ReportRenderer(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('docx', 'docxtpl')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _custom_template(tmp_path, *paragraphs) -> str:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    path = tmp_path / "custom.docx"
    document.save(path)
    return str(path)


def test_custom_template_renders_with_chinese_aliases(tmp_path):
    path = _custom_template(tmp_path, "{{ 年度 }}年度{{ 项目名称 }}：{{ 总分 }}分",
                            "{%p for row in table.indicators %}", "{{ row.level3 }}={{ row.score }}",
                            "{%p endfor %}")
    document = open_docx(ReportRenderer(path, sandboxed=True).render(make_result(scores={0: D("7.5")})))
    texts = [p.text for p in document.paragraphs]
    assert texts[0] == "2022年度党建工作经费：97.50分"  # one number style: whole numbers bare, else 2 decimals
    assert texts[1:] == [f"{r[2]}={'7.50' if i == 0 else '10'}" for i, r in enumerate(SEED_ROWS)]


@pytest.mark.parametrize("bad", ["{{ project.name ", "{% for x in %}", "{{ project.name.x.y }}",
                                 "{{ ''.__class__.__mro__[1].__subclasses__() }}"])
def test_broken_template_raises_template_error(tmp_path, bad):
    path = _custom_template(tmp_path, "第一段", bad)
    with pytest.raises(TemplateError) as info:
        ReportRenderer(path, sandboxed=True).render(make_result())
    message = str(info.value)
    assert "custom.docx" in message and "word/document.xml" in message and "第 2 段" in message


def test_not_a_docx_raises_template_error(tmp_path):
    path = tmp_path / "x.docx"
    path.write_bytes(b"not a zip")
    with pytest.raises(TemplateError):
        ReportRenderer(path)
    with pytest.raises(TemplateError):
        ReportRenderer(tmp_path / "missing.docx")


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_to_pdf(tmp_path, renderer):
    paths = [renderer.write(make_result(project_id=f"P{i}"), tmp_path / "docx") for i in range(2)]
    pdfs = to_pdf(paths, tmp_path / "pdf")
    assert [p.name for p in pdfs] == ["P0_党建工作经费.pdf", "P1_党建工作经费.pdf"]
    for pdf in pdfs:
        assert pdf.read_bytes().startswith(b"%PDF")


def test_to_pdf_without_soffice(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SelfevalError, match="LibreOffice"):
        to_pdf([tmp_path / "a.docx"], tmp_path)


def test_budget_weight_is_the_rules_own(tmp_path):
    """A legal rules file worth 120 in all (budget 20): the report states the budget score with
    its real weight (it used to guess 100 − Σ indicator weights, or 10: "得19分（分值10分）")."""
    from selfeval_xlsx.pipeline import score
    from selfeval_xlsx.rules import load_rules

    rules_path = tmp_path / "local.toml"
    rules_path.write_text('[weights]\nbudget = 20\n"产出指标" = 60\ntotal = 120\n', encoding="utf-8")
    rules = load_rules(rules_path)
    project = make_result().project
    project.funding[0].executed = D(95)
    for ind in project.indicators[:5]:
        ind.weight = D(12)  # 产出 5 × 12 = 60, 效益 3 × 10, 满意度 10
    result = score(project, rules)
    assert result.total is not None and result.budget_score == D(19)
    context = build_context(result)
    assert "预算执行得19分（分值20分）" in context["sentences"]["subtotals"]
    assert context["table"]["budget"]["weight"] == "20" and context["table"]["total"]["weight"] == "120"
