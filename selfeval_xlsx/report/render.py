"""Fill a docxtpl template with one project's context and write the .docx.

:class:`ReportRenderer` prepares the template once (docxtpl's ``patch_xml``, one compiled Jinja
template per templated part, every other zip entry deflated once; for the bundled template the
first two come ready from :data:`PREPARED`) and then per report renders
the XML and writes the zip directly, which is far faster than ``DocxTemplate.render`` + ``save``.
Values are always XML-escaped and never parsed as a template, so ``{{ 7*7 }}`` in a cell prints
literally.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import os
import re
import traceback
import zipfile
from decimal import Decimal
from importlib import resources
from pathlib import Path

from markupsafe import Markup, escape

from .._io import atomic_write_bytes
from .._zip import LEVEL, Entry, deflated, package
from ..errors import SelfevalError, TemplateError
from ..models import ProjectResult
from ..present import clean_text, fmt_figure
from .context import build_context, report_filename


# -- rendering -----------------------------------------------------------------------------

# Characters XML 1.0 forbids (and lone surrogates, which UTF-8 cannot encode) are dropped;
# a vertical tab is Word's manual line break and U+2011 its non-breaking hyphen.
_SPECIAL = re.compile("[\x00-\x1f\u2011\ud800-\udfff\ufffe\uffff]")
_RUN_XML = {"\t": "<w:tab/>", "\v": "<w:br/>", "\u2011": "<w:noBreakHyphen/>"}
_BREAK = "\a"  # marker for "new paragraph here"; never survives into the output
_TEMPLATED = re.compile(r"word/(document\d*|header\d*|footer\d*|footnotes)\.xml|docProps/core\.xml")
_SEPARATORS = re.compile(r"[/\\]")
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


COMPRESS_LEVEL = LEVEL  # read at each call, so a benchmark can try another


def _finalize(value):
    """Every ``{{ }}`` output: Decimals formatted, control characters dropped, tabs, vertical
    tabs and U+2011 as ``w:tab``, ``w:br`` and ``w:noBreakHyphen``, line breaks marked for a
    paragraph split (done after rendering). Autoescaping escapes what this returns, except
    the markup it builds itself."""
    if type(value) is str and not _SPECIAL.search(value):
        return value  # the common case: plain text, escaped once by autoescaping
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return fmt_figure(value)
    text = value if isinstance(value, str) else str(value)
    if isinstance(text, Markup) or not _SPECIAL.search(text):
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = str(escape("\v".join(clean_text(part) for part in text.split("\v"))))
    for char, xml in _RUN_XML.items():
        if char in text:
            text = text.replace(char, f'</w:t>{xml}<w:t xml:space="preserve">')
    return Markup(text.replace("\n", _BREAK))


# What markupsafe's escape changes in a string.
_ESCAPED = re.compile("[&<>\"']")


def _escape_plain(value, _escape=escape, _search=_ESCAPED.search):
    """markupsafe's ``escape`` as a compiled template calls it on each ``{{ }}`` output (~160
    per report), with the common case short-cut: a plain string with nothing to escape is
    returned as it is, not wrapped in a new ``Markup`` (the same text once joined: a fifth
    of the rendering)."""
    if type(value) is str and _search(value) is None:
        return value
    return _escape(value)


def _with_fast_escape(template):
    """``template`` (just compiled) calling :func:`_escape_plain` for its outputs: Jinja's
    generated code looks ``escape`` up in the namespace the template was compiled in, which
    its render functions share (``__globals__``)."""
    namespace = template.root_render_func.__globals__
    if namespace.get("escape") is escape:
        namespace["escape"] = _escape_plain
    return template


# Every dict method name: Jinja prefers an attribute to an item, so ``row.items`` stays the method.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _DictLookup:
    """``row.level1`` on a plain dict looked up as an item first: Jinja's own ``getattr``
    tries the attribute and pays for an ``AttributeError`` on each of a report's ~270
    lookups. Same result, as dict keys that name a dict attribute still go the long way."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


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


@functools.cache
def _with_dict_lookup(environment: type) -> type:
    """``environment`` (Jinja's plain or sandboxed class, imported only when a renderer is
    made) with the dict lookup fast path; the sandbox checks attributes, not items."""
    return type(environment.__name__, (_DictLookup, environment), {})


def _environment(sandboxed: bool):
    """The Jinja environment reports render in (Jinja's sandboxed one for the bundled template
    and an office's), with the dict lookup fast path, :func:`_finalize` and autoescaping."""
    from jinja2 import Environment
    from jinja2.sandbox import SandboxedEnvironment

    # keep_trailing_newline: the XML is data, not a text file Jinja may trim.
    return _with_dict_lookup(SandboxedEnvironment if sandboxed else Environment)(
        autoescape=True, finalize=_finalize, keep_trailing_newline=True)


def _syntax_error_line(env, source: str) -> int | None:
    """The line of a syntax error in ``source`` (the template whose lines are paragraphs)."""
    from jinja2 import TemplateSyntaxError

    try:
        env.from_string(source)
    except TemplateSyntaxError as exc:
        return exc.lineno
    return None


DEFAULT_TEMPLATE = resources.files("selfeval_xlsx") / "data" / "report_template.docx"
# The bundled template's templated parts as docxtpl's clean-up leaves them, with the template's
# SHA-256, so that a run imports neither docxtpl nor python-docx (~0.12 s of start-up). Written
# with the template (template.write_template); a test pins it to what docxtpl gives.
PREPARED = resources.files("selfeval_xlsx") / "data" / "report_template.prepared.json"


def _patched(name: str, raw: bytes, template_name: str, docxtpl) -> tuple[str, bool]:
    """One templated part after docxtpl's XML clean-up, and whether its output needs
    docxtpl's ``fix_tables``."""
    from docx.oxml import parse_xml
    from lxml import etree

    try:
        root = parse_xml(raw)
    except etree.XMLSyntaxError as exc:
        raise TemplateError(f"报告模板 {template_name} 的 {name} 不是有效的 XML：{exc}") from exc
    xml = etree.tostring(root, encoding="unicode")
    # fix_tables is only needed when {%tc %} loops change the cell count of a row, and the
    # docPr renumbering only when pictures may be repeated: check once, skip otherwise.
    needs_fix = "{%tc" in re.sub(r"<[^>]+>", "", xml).replace(" ", "") or "docPr" in xml
    if name != "docProps/core.xml":
        xml = docxtpl.patch_xml(xml)
    return xml, needs_fix


def prepared_parts(data: bytes) -> dict:
    """What :data:`PREPARED` holds for the bundled template ``data``: its SHA-256, the Jinja
    version, and per templated part ``[xml, needs_fix, code]``: the XML and whether it needs
    ``fix_tables`` as docxtpl's clean-up gives them, and the Python Jinja generates from it."""
    import jinja2
    from docxtpl import DocxTemplate

    docxtpl, env, parts = DocxTemplate(io.BytesIO(data)), _environment(True), {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            raw = zf.read(name)
            if _TEMPLATED.fullmatch(name) and b"{" in raw:
                xml, needs_fix = _patched(name, raw, name, docxtpl)
                parts[name] = [xml, needs_fix, env.compile(xml, raw=True)]
    return {"sha256": hashlib.sha256(data).hexdigest(), "jinja2": jinja2.__version__, "parts": parts}


def bundled_parts(data: bytes) -> dict[str, tuple[str, bool, str | None]]:
    """The prepared parts of the bundled template ``data`` (see :data:`PREPARED`); empty when
    that file is missing or was made from another template (docxtpl prepares it then); the
    generated code only when it was made by this Jinja version."""
    import jinja2

    try:
        stored = json.loads(PREPARED.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if stored.get("sha256") != hashlib.sha256(data).hexdigest():
        return {}
    same_jinja = stored.get("jinja2") == jinja2.__version__
    return {name: (xml, needs_fix, code if same_jinja else None) for name, (xml, needs_fix, code) in stored["parts"].items()}


class _Part:
    """One templated zip entry: the compiled Jinja template and what its output needs.

    ``source`` has a line break before every paragraph, so Jinja's line numbers count
    paragraphs for error messages; ``template`` is compiled from the same XML without those
    breaks (removing them from every output cost a fifth of the rendering); ``source`` is
    compiled only when an error needs its line."""

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
    Preparing costs ~15 ms (plus ~80 ms of imports once; the bundled template, prepared ahead
    in :data:`PREPARED`, a few ms and no docxtpl); build one per process and reuse it."""

    def __init__(self, template_path=None, *, sandboxed: bool = False):
        if template_path is None:
            self.template_name = "内置报告模板"
            if DEFAULT_TEMPLATE.is_file():
                data = DEFAULT_TEMPLATE.read_bytes()
            else:
                from .template import build_template

                data = build_template()
        else:
            self.template_name = Path(template_path).name
            try:
                data = Path(template_path).read_bytes()
            except OSError as exc:
                raise TemplateError(f"无法读取报告模板 {template_path}：{exc.strerror or exc}") from exc
        # The bundled template is sandboxed too: it costs nothing measurable (~1 %).
        self.env = _environment(sandboxed or template_path is None)
        self._data = data
        self._entries: list[Entry | _Part] = []
        self._folders: dict[str, Path] = {}
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise TemplateError(f"报告模板 {self.template_name} 不是有效的 .docx 文件（{exc}）。") from exc
        if "word/document.xml" not in names:
            raise TemplateError(f"报告模板 {self.template_name} 不是 Word 文档（缺少 word/document.xml）。")
        prepared = bundled_parts(data) if template_path is None else {}
        with zf:
            for name in names:
                raw = zf.read(name)
                part = None
                if _TEMPLATED.fullmatch(name) and b"{" in raw:
                    part = self._compile(name, *(prepared.get(name) or (*_patched(name, raw, self.template_name,
                                                                                    self._docxtpl), None)))
                self._entries.append(part or deflated(name, raw, COMPRESS_LEVEL))

    @functools.cached_property
    def _docxtpl(self):
        """docxtpl, imported (with python-docx, ~0.12 s) only for a template that needs it."""
        from docxtpl import DocxTemplate

        return DocxTemplate(io.BytesIO(self._data))

    def _compile(self, name: str, xml: str, needs_fix: bool, code: str | None) -> _Part | None:
        """One Jinja compile of a patched part (``code``: the Python Jinja generated from it
        before, see :func:`bundled_parts`); None when the part has no tags."""
        from jinja2 import TemplateSyntaxError

        if not any(tag in xml for tag in ("{{", "{%", "{#")):
            return None
        # One line per paragraph, as docxtpl does, so Jinja's line numbers count paragraphs.
        source = re.sub(r"<w:p([ >])", r"\n<w:p\1", xml)
        try:
            if code is None:
                template = self.env.from_string(xml)
            else:  # what from_string does, less Jinja's parsing and code generation
                template = self.env.template_class.from_code(self.env, compile(code, "<template>", "exec"),
                                                             self.env.make_globals(None), None)
            template = _with_fast_escape(template)
        except TemplateSyntaxError as exc:
            raise self._error(name, source, _syntax_error_line(self.env, source), exc.message or str(exc)) from exc
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
            raise self._error(part.name, part.source, self._error_line(part, context),
                              f"{type(exc).__name__}: {exc}") from exc
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

    def _error_line(self, part: _Part, context: dict) -> int | None:
        """The line (paragraph + 1) where rendering ``part`` fails: the same render again,
        with the template whose lines are paragraphs."""
        try:
            self.env.from_string(part.source).render(context)
        except Exception as exc:
            return next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
                         if f.filename == "<template>"), None)
        return None

    def render(self, result: ProjectResult, *, generated: dt.datetime | None = None) -> bytes:
        """The .docx bytes of one project's report; ``generated`` is the run's time (now by
        default), stored in the document properties."""
        return self.render_context(build_context(result, generated=generated))

    def render_context(self, context: dict) -> bytes:
        """The .docx bytes for an already built context (see :func:`build_context`)."""
        return package([deflated(e.name, self._render_part(e, context), COMPRESS_LEVEL) if isinstance(e, _Part) else e
                     for e in self._entries])

    def write(self, result: ProjectResult, out_dir, name: str | None = None, *,
              generated: dt.datetime | None = None) -> Path:
        """Render and write ``out_dir/<name>`` (default :func:`report_filename`) atomically;
        the file always lands inside ``out_dir``. Returns its path."""
        out_dir = self._resolved(out_dir)
        name = name or report_filename(result)
        path = out_dir / name
        # A plain file name needs no resolving (two path walks per report); anything else,
        # or a link in the name's place, must resolve to a file in out_dir.
        if _SEPARATORS.search(name) or name in (".", "..") or path.is_symlink():
            path = path.resolve()
        if path.parent != out_dir:
            raise SelfevalError(f"报告文件名不安全：{name}")
        return atomic_write_bytes(path, self.render(result, generated=generated))

    def _resolved(self, folder) -> Path:
        """``folder`` resolved, remembered for the next report into the same folder."""
        key = os.path.abspath(folder)
        if key not in self._folders:
            self._folders[key] = Path(folder).resolve()
        return self._folders[key]


