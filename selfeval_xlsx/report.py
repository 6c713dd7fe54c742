"""Render one Word report (绩效自评报告) per scored project, shaped like the seed report.

Two halves: :func:`build_context` turns a :class:`~selfeval_xlsx.models.ProjectResult` into
plain strings (pure, no I/O), and :class:`ReportRenderer` fills a docxtpl template with them.
The renderer prepares the template once (docxtpl's ``patch_xml``, one compiled Jinja template
per templated part, every other zip entry cached as bytes) and then per report renders the XML
and writes the zip directly, which is far faster than ``DocxTemplate.render`` + ``save``.

Template variables (every value is already formatted text; numbers print as ``100`` or
``92.5``, amounts in 万元, rates as ``100%``; ``—`` stands for a missing value):

``project``
    ``id``, ``name``, ``year``, ``department``, ``implementer``, ``leader``, ``source_file``.
``title``
    ``{year}年度{name}绩效自评报告``.
``narrative`` (the department's text cells, with a generated sentence when a cell is empty)
    ``goal`` (年度总体目标), ``achieved`` (实际完成情况), ``implementation`` (项目实施情况),
    ``management`` (项目管理情况), ``funds_usage`` (资金使用情况, else ``sentences.funds``),
    ``conclusion`` (text put before the generated 总体结论 sentence: 实际完成情况, may be
    empty), ``analysis`` (绩效分析), ``problems`` (存在问题), ``improvements`` (改进措施).
``sentences`` (generated from the numbers, in the seed's wording)
    ``finance`` (财政支出情况), ``funds`` (资金来源及使用情况), ``conclusion`` (总体结论:
    budget, execution, total, indicator results, shortfalls), ``indicators`` (the indicator
    part of it alone), ``subtotals`` (score per 一级指标), ``shortfalls`` (the indicators
    that fell short, or empty).
``result``
    ``budget``, ``executed``, ``rate``, ``budget_score``, ``budget_weight``, ``total``,
    ``grade``, ``self_total``, ``status``, ``subtotals`` (list of ``{level1, weight, score}``).
``table`` (the 附表)
    ``budget`` (年度资金总额 row: ``initial_budget``, ``budget``, ``executed``, ``weight``,
    ``score``, ``rate``), ``funding`` (one row per 资金来源: ``source``, ``initial_budget``,
    ``budget``, ``executed``, ``rate``), ``indicators`` (one row per 三级指标: ``level1``,
    ``level2``, ``level3``, ``level1_merge``/``level2_merge`` (``restart``/``continue`` for
    ``w:vMerge``; the text is empty on continued rows), ``nature``, ``target``, ``actual``,
    ``weight``, ``score`` (``不适用`` for 不适用 rows), ``reached`` (bool), ``deviation``),
    ``goal``, ``achieved``, ``total`` (``weight``, ``score``, ``grade``).
Chinese aliases for simple templates: ``年度``, ``项目名称``, ``项目编号``, ``主管部门``,
``实施单位``, ``总分``, ``等级``.

Line breaks in any value become separate paragraphs (same paragraph and run style). Values
are always XML-escaped and never parsed as a template, so ``{{ 7*7 }}`` in a cell prints
literally. Results that were not scored (``total is None``) are not rendered: the functions
here raise :class:`~selfeval_xlsx.errors.SelfevalError`; a batch should skip them.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
import struct
import traceback
import zipfile
import zlib
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from markupsafe import Markup, escape

from ._io import atomic_write_bytes, safe_filename
from ._ooxml import clean_text
from .errors import SelfevalError, TemplateError
from .models import ProjectResult
from .schema import LEVEL1

DASH = "—"
SOURCE_NAMES = {"本年财政拨款": "当年财政拨款"}
_CENT = Decimal("0.01")
MAX_NAMED = 6  # shortfalls named in a sentence; the rest are pointed to the 附表


# -- numbers -------------------------------------------------------------------------------

def fmt_number(value) -> str:
    """``Decimal`` (or int/float/str number) -> text: half-up to 2 decimals, no trailing
    zeros, never an exponent (``100.00`` -> ``100``, ``92.50`` -> ``92.5``); None -> ``—``."""
    if value is None or value == "":
        return DASH
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if not d.is_finite():
        return DASH
    try:
        d = d.quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the context holds: print as is
        pass
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_rate(rate: Decimal | None) -> str:
    """Execution rate as a percentage (``Decimal("1")`` -> ``100%``); None -> ``—``."""
    return DASH if rate is None else fmt_number(rate * 100) + "%"


def _sum(values) -> Decimal | None:
    values = [v for v in values if v is not None]
    return sum(values, Decimal(0)) if values else None


# -- text ----------------------------------------------------------------------------------

_INDENT = re.compile(r"^[ \t\u3000]+")
_END_PUNCT = "。！？；.!?;…"


def _clean(text) -> str:
    """Department text -> paragraphs joined by ``\\n``: no leading full-width spaces (the
    style indents), no blank lines."""
    if text is None:
        return ""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(_INDENT.sub("", line).rstrip() for line in lines if line.strip())


def _inline(text) -> str:
    """Text quoted inside a generated sentence: one line, no trailing punctuation."""
    return re.sub(r"\s+", " ", str(text or "")).strip().rstrip(_END_PUNCT + "，,、 ")


def _sentence_end(text: str) -> str:
    return text if not text or text[-1] in _END_PUNCT else text + "。"


# -- context -------------------------------------------------------------------------------

def _funding_by_source(result: ProjectResult) -> list[dict]:
    groups: dict[str, list] = {}
    for row in result.project.funding:
        groups.setdefault(row.source.strip() or "其他资金", []).append(row)
    rows = []
    for source, items in groups.items():
        budget, executed = _sum(r.budget for r in items), _sum(r.executed for r in items)
        rate = executed / budget if budget and executed is not None else None
        rows.append({"source": SOURCE_NAMES.get(source, source),
                     "initial_budget": fmt_number(_sum(r.initial_budget for r in items)),
                     "budget": fmt_number(budget), "executed": fmt_number(executed),
                     "rate": fmt_rate(rate), "_budget": budget})
    return rows


def _indicator_rows(result: ProjectResult) -> list[dict]:
    rows, prev1, prev2 = [], None, None
    for s in result.indicators:
        ind = s.indicator
        key1, key2 = ind.level1, (ind.level1, ind.level2)
        # Merge 一级/二级 cells down consecutive rows with the same value, as printed tables do.
        same1, same2 = key1 == prev1, key2 == prev2
        prev1, prev2 = key1, key2
        na = s.kind == "not_applicable"
        rows.append({
            "level1": "" if same1 else ind.level1, "level1_merge": "continue" if same1 else "restart",
            "level2": "" if same2 else ind.level2, "level2_merge": "continue" if same2 else "restart",
            "level3": ind.level3, "nature": ind.nature, "target": ind.target or DASH,
            "actual": ind.actual or DASH, "weight": fmt_number(ind.weight),
            "score": "不适用" if na else fmt_number(s.score), "reached": bool(s.reached),
            "deviation": _clean(ind.deviation),
        })
    return rows


def _indicator_sentence(result: ProjectResult) -> tuple[str, str]:
    """The indicator part of the conclusion, and the shortfall list (or "")."""
    scored = [s for s in result.indicators if s.kind != "not_applicable"]
    na = [s for s in result.indicators if s.kind == "not_applicable"]
    short = [s for s in scored if not s.reached or s.score is None]
    reached = [s for s in scored if s.reached and s.score is not None]  # the complement of short
    parts = []
    if scored and not short:
        weights = {s.indicator.weight for s in scored}
        full = all(s.score is not None and s.indicator.weight is not None and s.score >= s.indicator.weight
                   for s in scored)
        if full and len(weights) == 1:
            parts.append(f"{len(scored)}个三级指标已达预期效果均得{fmt_number(weights.pop())}分")
        elif full:
            parts.append(f"{len(scored)}个三级指标均已达到预期目标，均得满分")
        else:
            got = _sum(s.score for s in scored)
            worth = _sum(s.indicator.weight for s in scored)
            parts.append(f"{len(scored)}个三级指标均已达预期效果，合计得{fmt_number(got)}分"
                         f"（分值{fmt_number(worth)}分）")
    shortfalls = ""
    if short:
        items = []
        for s in short[:MAX_NAMED]:
            ind = s.indicator
            score = "未能计分" if s.score is None else f"得{fmt_number(s.score)}分"
            reason = _inline(ind.deviation) or "单位未填写"
            items.append(f"「{_inline(ind.level3)}」{score}（分值{fmt_number(ind.weight)}分），偏差原因：{reason}")
        shortfalls = "；".join(items)
        if len(short) > MAX_NAMED:
            shortfalls += f"；其余{len(short) - MAX_NAMED}个详见附表"
        lead = f"{len(reached)}个三级指标已达预期效果" if reached else "三级指标均未完全达到预期效果"
        parts.append(f"{lead}；{len(short)}个三级指标未完全达到预期：{shortfalls}")
    if na:
        names = "".join(f"「{_inline(s.indicator.level3)}」" for s in na)
        parts.append(f"另有{len(na)}个三级指标不适用（{names}），不计分，总分按适用指标折算")
    return "；".join(parts), shortfalls


def _subtotals(result: ProjectResult) -> list[dict]:
    weights: dict[str, Decimal] = {}
    for s in result.indicators:
        if s.kind != "not_applicable" and s.indicator.weight is not None:
            weights[s.indicator.level1] = weights.get(s.indicator.level1, Decimal(0)) + s.indicator.weight
    order = [l1 for l1 in LEVEL1 if l1 in result.subtotals or l1 in weights]
    order += [l1 for l1 in {**weights, **result.subtotals} if l1 not in order]
    return [{"level1": l1, "weight": fmt_number(weights.get(l1)), "score": fmt_number(result.subtotals.get(l1))}
            for l1 in order]


def build_context(result: ProjectResult) -> dict:
    """The template context of one scored project (see the module docstring for every key).
    Pure: reads the result, returns plain dicts/lists/strings. Raises ``SelfevalError`` when
    the project was not scored (``result.total is None``)."""
    p = result.project
    if result.total is None:
        raise SelfevalError(f"项目「{p.project_id} {p.name}」因数据错误未能计分，不生成报告。")
    name, year = p.name.strip(), str(p.year).strip()
    sources = _funding_by_source(result)
    budget, executed = fmt_number(result.budget), fmt_number(result.executed)
    rate = fmt_rate(result.rate)
    weight_sum = _sum(s.indicator.weight for s in result.indicators) or Decimal(0)
    # Budget execution is worth what the indicators leave of 100 (10 by default, rules may differ).
    budget_weight = Decimal(100) - weight_sum if 0 < weight_sum < 100 else Decimal(10)

    source_text = "、".join(f"{r['source']}{r['budget']}万元" for r in sources if r["_budget"] is not None)
    finance = f"{name}{year}年度预算安排{budget}万元"
    finance += f"，其中{source_text}" if source_text else ""
    finance += f"，执行数{executed}万元"
    finance += f"，完成预算的{rate}。" if result.rate is not None else "。"

    funds = f"{year}年度{name}预算安排{budget}万元"
    funds += f"，其中{source_text}" if source_text else ""
    funds += f"，全年执行{executed}万元"
    spent = [s for s in p.spending if s.amount is not None and s.item.strip()]
    if spent:
        listed = "、".join(f"{_inline(s.item)}{fmt_number(s.amount)}万元" for s in spent[:12])
        funds += f"，主要支出为{listed}{'等' if len(spent) > 12 else ''}"
    funds += "。"

    indicators, shortfalls = _indicator_sentence(result)
    conclusion = f"该项目全年预算数为{budget}万元，执行数为{executed}万元"
    conclusion += f"，完成预算的{rate}" if result.rate is not None else ""
    conclusion += f"，得分{fmt_number(result.total)}分"
    if result.budget_score is not None:
        conclusion += f"，其中预算执行得分{fmt_number(result.budget_score)}分"
        conclusion += f"，{indicators}" if indicators else ""
    elif indicators:
        conclusion += f"，其中{indicators}"
    conclusion += "。"
    if result.grade:
        conclusion += f"自评等级为“{result.grade}”。"

    subtotals = _subtotals(result)
    subtotal_text = "；".join(f"{s['level1']}得{s['score']}分（分值{s['weight']}分）" for s in subtotals)
    subtotal_text = (f"预算执行得{fmt_number(result.budget_score)}分（分值{fmt_number(budget_weight)}分）"
                     + (f"；{subtotal_text}" if subtotal_text else "") + "。")

    goal, achieved = _clean(p.goal), _clean(p.achieved)
    implementation = _clean(p.implementation)
    if not implementation:
        lines = ([f"项目年度总体目标：{_sentence_end(goal)}"] if goal else []) + \
                ([f"实际完成情况：{_sentence_end(achieved)}"] if achieved else [])
        implementation = "\n".join(lines) or "（单位未填写项目实施情况。）"
    problems = _clean(p.problems)
    if not problems:
        problems = (f"部分三级指标未达到年度指标值：{shortfalls}。" if shortfalls
                    else "（单位未填写存在问题或不足。）")
    narrative = {
        "goal": goal, "achieved": achieved, "implementation": implementation,
        "management": _clean(p.management) or "（单位未填写项目管理情况。）",
        "funds_usage": _clean(p.funds_usage) or funds,
        "conclusion": _sentence_end(achieved),
        "analysis": _clean(p.analysis) or f"项目各项得分情况：{subtotal_text}",
        "problems": problems,
        "improvements": _clean(p.improvements) or "（单位未填写下一步改进措施。）",
    }
    total, grade = fmt_number(result.total), result.grade or DASH
    return {
        "title": f"{year}年度{name}绩效自评报告",
        "project": {"id": p.project_id, "name": name, "year": year, "department": p.department,
                    "implementer": p.implementer or DASH, "leader": p.leader, "source_file": p.source_file},
        "narrative": narrative,
        "sentences": {"finance": finance, "funds": funds, "conclusion": conclusion,
                      "indicators": indicators, "subtotals": subtotal_text, "shortfalls": shortfalls},
        "result": {"budget": budget, "executed": executed, "rate": rate,
                   "budget_score": fmt_number(result.budget_score), "budget_weight": fmt_number(budget_weight),
                   "total": total, "grade": grade, "self_total": fmt_number(result.self_total),
                   "status": result.status, "subtotals": subtotals},
        "table": {
            "budget": {"initial_budget": fmt_number(_sum(r.initial_budget for r in p.funding)),
                       "budget": budget, "executed": executed, "weight": fmt_number(budget_weight),
                       "score": fmt_number(result.budget_score), "rate": rate},
            "funding": [{k: v for k, v in r.items() if not k.startswith("_")} for r in sources],
            "indicators": _indicator_rows(result),
            "goal": goal or DASH, "achieved": achieved or DASH,
            "total": {"weight": fmt_number(budget_weight + weight_sum), "score": total, "grade": grade},
        },
        "年度": year, "项目名称": name, "项目编号": p.project_id, "主管部门": p.department,
        "实施单位": p.implementer, "总分": total, "等级": grade,
    }


def report_filename(result: ProjectResult) -> str:
    """``{项目编号}_{项目名称}.docx``, made safe for Windows and POSIX (no separators, no
    forbidden or control characters, no leading dots or ``..``, no device names, at most 120
    characters and 200 UTF-8 bytes before ``.docx``: Linux file systems count bytes (255)
    and 120 Chinese characters take 360)."""
    p = result.project
    return safe_filename(f"{p.project_id}_{p.name}".strip(), max_len=120, max_bytes=200) + ".docx"


# -- rendering -----------------------------------------------------------------------------

# Characters XML 1.0 forbids (and lone surrogates, which UTF-8 cannot encode) are dropped.
_SPECIAL = re.compile("[\x00-\x1f\ud800-\udfff\ufffe\uffff]")
_BREAK = "\a"  # marker for "new paragraph here"; never survives into the output
_TEMPLATED = re.compile(r"word/(document\d*|header\d*|footer\d*|footnotes)\.xml|docProps/core\.xml")
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_LOCAL = struct.Struct("<4s5H3L2H")  # zip local file header (APPNOTE 4.3.7)
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # central directory header (4.3.12)
_END = struct.Struct("<4s4H2LH")  # end of central directory (4.3.16)
_DOS_DATE = (1 << 5) | 1  # 1980-01-01, time 00:00: reports are byte-identical across runs


class _Deflated:
    """One zip entry, compressed once: the template's fixed parts are reused by every report."""

    def __init__(self, name: str, raw: bytes):
        packer = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15)  # raw deflate, as zip wants
        self.name, self.size, self.crc = name.encode(), len(raw), zlib.crc32(raw)
        self.data = packer.compress(raw) + packer.flush()


def _zip(entries: list[_Deflated]) -> bytes:
    """A zip archive of already deflated entries. Report parts are far below 4 GB, so no
    zip64; this skips zipfile's per-entry work and recompressing the fixed parts."""
    out, central, offset = [], [], 0
    for e in entries:
        local = _LOCAL.pack(b"PK\x03\x04", 20, 0, 8, 0, _DOS_DATE, e.crc, len(e.data), e.size, len(e.name), 0)
        central.append(_CENTRAL.pack(b"PK\x01\x02", (3 << 8) | 20, 20, 0, 8, 0, _DOS_DATE, e.crc, len(e.data),
                                     e.size, len(e.name), 0, 0, 0, 0, 0o644 << 16, offset) + e.name)
        out += (local, e.name, e.data)
        offset += len(local) + len(e.name) + len(e.data)
    directory = b"".join(central)
    return b"".join(out) + directory + _END.pack(b"PK\x05\x06", 0, 0, len(entries), len(entries),
                                                 len(directory), offset, 0)
COMPRESS_LEVEL = 1  # measured: level 6 makes files ~10 % smaller and rendering ~25 % slower


def _finalize(value):
    """Every ``{{ }}`` output: Decimals formatted, control characters dropped, text escaped,
    tabs as ``w:tab``, line breaks marked for a paragraph split (done after rendering)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return fmt_number(value)
    text = value if isinstance(value, str) else str(value)
    if isinstance(text, Markup) or not _SPECIAL.search(text):
        return escape(text)  # the common case: plain text, escaped once
    text = clean_text(text.replace("\r\n", "\n").replace("\r", "\n"))
    text = str(escape(text))
    if "\t" in text:
        text = text.replace("\t", '</w:t><w:tab/><w:t xml:space="preserve">')
    return Markup(text.replace("\n", _BREAK))


_PPR = re.compile(r"<w:p(?: [^>]*)?>(<w:pPr>.*?</w:pPr>)?", re.DOTALL)
_RUN = re.compile(r"<w:r[ >].*?</w:r>", re.DOTALL)
_RPR = re.compile(r"<w:rPr>.*?</w:rPr>", re.DOTALL)


def _split_paragraph(para: str) -> str:
    ppr = _PPR.match(para).group(1) or ""

    def run(m):
        r = m.group(0)
        if _BREAK not in r:
            return r
        rpr = _RPR.search(r)
        rpr = rpr.group(0) if rpr else ""
        return r.replace(_BREAK, f'</w:t></w:r></w:p><w:p>{ppr}<w:r>{rpr}<w:t xml:space="preserve">')

    return _RUN.sub(run, para)


def _split_paragraphs(xml: str) -> str:
    """Turn each break marker into a new paragraph with the same paragraph and run properties
    (only the paragraphs holding a marker are touched)."""
    out, pos = [], 0
    while (i := xml.find(_BREAK, pos)) >= 0:
        start = max(xml.rfind("<w:p>", pos, i), xml.rfind("<w:p ", pos, i))
        end = xml.find("</w:p>", i)
        if start < 0 or end < 0:  # marker outside a paragraph (an attribute): drop it
            out.append(xml[pos:i + 1].replace(_BREAK, " "))
            pos = i + 1
            continue
        end += len("</w:p>")
        out.append(xml[pos:start])
        out.append(_split_paragraph(xml[start:end]))
        pos = end
    out.append(xml[pos:])
    return "".join(out)


def _strip_tags(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip()


class _Part:
    """One templated zip entry: the compiled Jinja template and what its output needs."""

    def __init__(self, name, template, source, fix_tables, unescape_braces):
        self.name, self.template, self.source = name, template, source
        self.fix_tables, self.unescape_braces = fix_tables, unescape_braces


class ReportRenderer:
    """Fills a report template for one project at a time.

    ``template_path``: a .docx with docxtpl tags; None -> the bundled template (built in
    memory when the bundled file is missing). ``sandboxed``: render with Jinja's
    ``SandboxedEnvironment`` — use it for a template an office supplies (the bundled template
    always is). Any problem with the template (not a .docx, a broken tag, a failing
    expression) raises ``TemplateError`` with a Chinese message naming the part, the
    paragraph and the text around the tag.
    Preparing costs ~15 ms (plus ~80 ms of imports once); build one per process and reuse it."""

    def __init__(self, template_path=None, *, sandboxed: bool = False):
        from docxtpl import DocxTemplate
        from jinja2 import Environment
        from jinja2.sandbox import SandboxedEnvironment

        from .report_template import DEFAULT_TEMPLATE, build_template

        if template_path is None:
            self.template_name = "内置报告模板"
            data = DEFAULT_TEMPLATE.read_bytes() if DEFAULT_TEMPLATE.is_file() else build_template()
        else:
            self.template_name = Path(template_path).name
            try:
                data = Path(template_path).read_bytes()
            except OSError as exc:
                raise TemplateError(f"无法读取报告模板 {template_path}：{exc.strerror or exc}") from exc
        # The bundled template is sandboxed too: it costs nothing measurable (~1 %).
        env_class = SandboxedEnvironment if sandboxed or template_path is None else Environment
        # keep_trailing_newline: the XML is data, not a text file Jinja may trim.
        self.env = env_class(autoescape=True, finalize=_finalize, keep_trailing_newline=True)
        self._docxtpl = DocxTemplate(io.BytesIO(data))
        self._entries: list[_Deflated | _Part] = []
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise TemplateError(f"报告模板 {self.template_name} 不是有效的 .docx 文件（{exc}）。") from exc
        if "word/document.xml" not in names:
            raise TemplateError(f"报告模板 {self.template_name} 不是 Word 文档（缺少 word/document.xml）。")
        with zf:
            for name in names:
                raw = zf.read(name)
                part = self._prepare(name, raw) if _TEMPLATED.fullmatch(name) and b"{" in raw else None
                self._entries.append(part or _Deflated(name, raw))

    def _prepare(self, name: str, raw: bytes) -> _Part | None:
        """docxtpl's XML clean-up, then one Jinja compile; None when the part has no tags."""
        from docx.oxml import parse_xml
        from jinja2 import TemplateSyntaxError
        from lxml import etree

        try:
            root = parse_xml(raw)
        except etree.XMLSyntaxError as exc:
            raise TemplateError(f"报告模板 {self.template_name} 的 {name} 不是有效的 XML：{exc}") from exc
        xml = etree.tostring(root, encoding="unicode")
        # fix_tables is only needed when {%tc %} loops change the cell count of a row, and the
        # docPr renumbering only when pictures may be repeated: check once, skip otherwise.
        needs_fix = "{%tc" in re.sub(r"<[^>]+>", "", xml).replace(" ", "") or "docPr" in xml
        if name != "docProps/core.xml":
            xml = self._docxtpl.patch_xml(xml)
        if not any(tag in xml for tag in ("{{", "{%", "{#")):
            return None
        # One line per paragraph, as docxtpl does, so Jinja's line numbers count paragraphs.
        source = re.sub(r"<w:p([ >])", r"\n<w:p\1", xml)
        try:
            template = self.env.from_string(source)
        except TemplateSyntaxError as exc:
            raise self._error(name, source, exc.lineno, exc.message or str(exc)) from exc
        return _Part(name, template, source, fix_tables=needs_fix, unescape_braces=any(t in xml for t in ("{_{", "}_}", "{_%", "%_}")))

    def _error(self, part: str, source: str, lineno: int | None, message: str) -> TemplateError:
        where = ""
        if lineno:
            lines = source.splitlines()
            # Line 1 holds the part's opening tags; line n + 1 is paragraph n.
            snippet = _strip_tags(lines[lineno - 1]) if lineno <= len(lines) else ""
            where = f"第 {max(lineno - 1, 1)} 段" + (f"（「{snippet[:120]}」）" if snippet else "")
        return TemplateError(f"报告模板 {self.template_name} 的 {part} {where}有错误的标签，"
                             f"请检查 {{{{ }}}} 与 {{% %}} 是否成对、变量名是否正确。Jinja 报告：{message}")

    def _render_part(self, part: _Part, context: dict) -> bytes:
        try:
            xml = part.template.render(context)
        except Exception as exc:  # a template expression failing at run time
            lineno = next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
                           if f.filename == "<template>"), None)
            raise self._error(part.name, part.source, lineno, f"{type(exc).__name__}: {exc}") from exc
        xml = xml.replace("\n<w:p>", "<w:p>").replace("\n<w:p ", "<w:p ")
        if _BREAK in xml:
            xml = _split_paragraphs(xml)
        if part.unescape_braces:
            xml = xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
        if part.fix_tables:
            from lxml import etree

            tree = self._docxtpl.fix_tables(xml)
            self._docxtpl.docx_ids_index = 1000
            self._docxtpl.fix_docpr_ids(tree)
            xml = etree.tostring(tree, encoding="unicode")
        return (_XML_DECL + xml).encode("utf-8")

    def render(self, result: ProjectResult) -> bytes:
        """The .docx bytes of one project's report."""
        return self.render_context(build_context(result))

    def render_context(self, context: dict) -> bytes:
        """The .docx bytes for an already built context (see :func:`build_context`)."""
        return _zip([_Deflated(e.name, self._render_part(e, context)) if isinstance(e, _Part) else e
                     for e in self._entries])

    def write(self, result: ProjectResult, out_dir, name: str | None = None) -> Path:
        """Render and write ``out_dir/<name>`` (default :func:`report_filename`) atomically;
        the file always lands inside ``out_dir``. Returns its path."""
        out_dir = Path(out_dir).resolve()
        name = name or report_filename(result)
        path = (out_dir / name).resolve()
        if path.parent != out_dir:
            raise SelfevalError(f"报告文件名不安全：{name}")
        return atomic_write_bytes(path, self.render(result))


# -- PDF -----------------------------------------------------------------------------------

def to_pdf(docx_paths, out_dir, *, timeout: float = 600, batch: int = 200) -> list[Path]:
    """Convert .docx files to PDF into ``out_dir`` with LibreOffice (one ``soffice`` call per
    ``batch`` files, a private profile so it runs beside an open LibreOffice). Returns the PDF
    paths in input order. Raises ``SelfevalError`` (Chinese message) when soffice is missing,
    times out, or a PDF was not produced. Inputs must have distinct file names."""
    docx_paths = [Path(p).resolve() for p in docx_paths]
    if not docx_paths:
        return []
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        raise SelfevalError("未找到 LibreOffice（soffice 命令），无法把报告转换为 PDF；"
                            "请安装 LibreOffice 后重试，或不要求输出 PDF。")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="selfeval-lo-"))
    try:
        for i in range(0, len(docx_paths), batch):
            chunk = docx_paths[i:i + batch]
            cmd = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                   "--nologo", "--nodefault", "--convert-to", "pdf", "--outdir", str(out_dir),
                   *map(str, chunk)]
            try:
                proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired as exc:
                raise SelfevalError(f"LibreOffice 转换 PDF 超时（{timeout:g} 秒），已中止。") from exc
            missing = [p.name for p in chunk if not (out_dir / (p.stem + ".pdf")).is_file()]
            if missing:
                detail = proc.stderr.decode("utf-8", "replace").strip()[-300:]
                raise SelfevalError(f"LibreOffice 未能把下列报告转换为 PDF：{'、'.join(missing[:10])}"
                                    + (f"（{detail}）" if detail else ""))
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return [out_dir / (p.stem + ".pdf") for p in docx_paths]
