"""Adding a sheet, cell marks and comments to an .xlsx by editing its zip parts directly.

Loading and saving a whole workbook with openpyxl costs ~60 ms and drops what openpyxl does
not model (images, charts, shapes, newer-format dropdowns). Here every part of the
department's file is copied byte for byte except the few that change: the workbook, its
relationships and content types, styles (a few appended formats), the sheets with marked
cells, and new comment parts. Macros are removed (the copy is always a plain .xlsx).
"""
from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from copy import deepcopy
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from operator import itemgetter

from lxml import etree

from .. import _zip
from ..present import clean_text
from .parts import (CT, MAIN, PKG_REL, REL, STRICT_MAIN, column_letter, escape, parse_ref as _parse_ref, resolve,
                    to_transitional)
from .sheet_text import AFTER_LEGACY_DRAWING, TextSheet
T_SHEET = f"{REL}/worksheet"
T_COMMENTS = f"{REL}/comments"
T_VML = f"{REL}/vmlDrawing"
T_STYLES = f"{REL}/styles"
T_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
CT_STYLES = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
CT_WORKBOOK = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=False)
_AFTER_LEGACY = {f"{{{MAIN}}}{name}" for name in AFTER_LEGACY_DRAWING}


@dataclass(frozen=True)
class Style:
    """A cell format to append to styles.xml (every field optional)."""

    bold: bool = False
    size: float | None = None
    color: str = ""
    underline: bool = False
    fill: str = ""
    border: bool = False
    num_format: str = ""
    center: bool = False
    wrap: bool = False


@dataclass
class NewSheet:
    """The sheet to add: ``cells`` as (0-based row, col, value, style key); ``links`` as
    (row, col, "'Sheet'!E7"); ``widths`` 0-based col -> width in characters."""

    name: str
    cells: list[tuple[int, int, object, str]]
    styles: dict[str, Style]
    widths: dict[int, float] = field(default_factory=dict)
    links: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Mark:
    """Fill one cell of an existing sheet and add ``note`` to its comment."""

    sheet: str
    row: int
    col: int
    fill: str
    note: str
    priority: int = 0  # a mark with a higher priority wins the fill (an error over a warning)


def _ref(row: int, col: int) -> str:
    return f"{column_letter(col)}{row + 1}"


class _Parts:
    """Part name -> bytes. The department's parts are inflated only when asked for; a part
    set here (new, or edited as bytes) is written anew, every other one is copied over as
    it is stored. Names list the department's parts in their order, then the new ones."""

    def __init__(self, data: bytes, zf: zipfile.ZipFile | None = None):
        self.data = data
        self._zip = zf or zipfile.ZipFile(io.BytesIO(data))
        self.stored = {i.filename: i for i in self._zip.infolist()}
        self._read: dict[str, bytes] = {}
        self.changed: dict[str, bytes] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.stored or name in self.changed

    def __getitem__(self, name: str) -> bytes:
        if name in self.changed:
            return self.changed[name]
        if name not in self._read:
            if name not in self.stored:
                raise KeyError(name)
            self._read[name] = self._inflate(name)
        return self._read[name]

    def _inflate(self, name: str) -> bytes:
        """The part's bytes: inflated here from the stored entry (several times cheaper than
        ``ZipFile.read`` for the small parts of a workbook), checked against its CRC as
        ``zipfile`` does; anything unusual goes through ``zipfile``."""
        entry = _zip.stored_entry(self.data, self.stored[name])
        if entry is not None:
            try:
                raw = entry.data if entry.method == _zip.STORED else zlib.decompress(entry.data, -15)
            except zlib.error:
                raw = None
            if raw is not None and len(raw) == entry.size and zlib.crc32(raw) == entry.crc:
                return raw
        return self._zip.read(name)

    def __setitem__(self, name: str, data: bytes) -> None:
        self.changed[name] = data

    def __iter__(self):
        yield from self.stored
        yield from (name for name in self.changed if name not in self.stored)

    def get(self, name: str, default: bytes | None = None) -> bytes | None:
        return self[name] if name in self else default

    def entry(self, name: str) -> _zip.Entry:
        """The part as a zip entry: taken over as stored when unchanged."""
        if name not in self.changed:
            entry = _zip.stored_entry(self.data, self.stored[name])
            if entry is not None:
                return entry
        return _zip.deflated(name, self[name])


class _Package:
    """The zip's parts as bytes, with parsed XML for the parts being edited."""

    def __init__(self, data: bytes, zf: zipfile.ZipFile | None = None):
        self.parts = _Parts(data, zf)
        if STRICT_MAIN.encode() in self.parts.get("xl/workbook.xml", b""):
            # A Strict workbook is edited, and comes back, as the transitional workbook it
            # maps to: the same parts under the namespaces every reader knows.
            for name in list(self.parts):
                if name.endswith((".xml", ".rels", ".vml")):
                    self.parts[name] = to_transitional(self.parts[name])
        self.xml: dict[str, etree._Element] = {}

    def tree(self, name: str) -> etree._Element:
        if name not in self.xml:
            self.xml[name] = etree.fromstring(self.parts[name], _PARSER)
        return self.xml[name]

    def rels_name(self, part: str) -> str:
        folder, base = posixpath.split(part)
        return posixpath.join(folder, "_rels", base + ".rels")

    def rels(self, part: str) -> etree._Element:
        name = self.rels_name(part)
        if name not in self.parts and name not in self.xml:
            self.xml[name] = etree.Element(f"{{{PKG_REL}}}Relationships", nsmap={None: PKG_REL})
        return self.tree(name)

    def add_rel(self, part: str, rel_type: str, target: str) -> str:
        rels = self.rels(part)
        ids = {r.get("Id") for r in rels}
        n = len(ids) + 1
        while f"rId{n}" in ids:
            n += 1
        etree.SubElement(rels, f"{{{PKG_REL}}}Relationship", Id=f"rId{n}", Type=rel_type, Target=target)
        return f"rId{n}"

    def target(self, part: str, rel: etree._Element) -> str:
        return resolve(part, rel.get("Target", ""))

    def free_name(self, pattern: str) -> str:
        n = 1
        while pattern.format(n) in self.parts or pattern.format(n) in self.xml:
            n += 1
        return pattern.format(n)

    def override(self, part: str, content_type: str) -> None:
        types = self.tree("[Content_Types].xml")
        etree.SubElement(types, f"{{{CT}}}Override", PartName="/" + part, ContentType=content_type)

    def to_bytes(self, drop: set[str]) -> bytes:
        names = [n for n in self.parts if n not in drop] + [n for n in self.xml if n not in self.parts]
        return _zip.package([_zip.deflated(name, _DECLARATION + etree.tostring(self.xml[name], encoding="UTF-8"))
                             if name in self.xml else self.parts.entry(name) for name in names])


def _styles_part(pkg: _Package) -> str:
    """The workbook's styles part; a workbook written without one (valid OOXML) gets the
    minimal one Excel assumes (default font, the two reserved fills, one border, one format)."""
    rel = next((r for r in pkg.rels("xl/workbook.xml") if r.get("Type") == T_STYLES), None)
    part = pkg.target("xl/workbook.xml", rel) if rel is not None else "xl/styles.xml"
    if part in pkg.parts:
        return part
    pkg.xml[part] = etree.fromstring(
        f'<styleSheet xmlns="{MAIN}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
        '</fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'.encode())
    pkg.override(part, CT_STYLES)
    if rel is None:
        pkg.add_rel("xl/workbook.xml", T_STYLES, "/" + part)
    return part


class _Styles:
    """Appends fonts, fills, borders, number formats and cell formats to styles.xml."""

    def __init__(self, pkg: _Package):
        self.root = pkg.tree(_styles_part(pkg))
        self.cache: dict = {}
        self._lists: dict[str, etree._Element] = {}

    def _list(self, tag: str, before: tuple[str, ...] = ()) -> etree._Element:
        if tag not in self._lists:
            self._lists[tag] = self._find_list(tag, before)
        return self._lists[tag]

    def _find_list(self, tag: str, before: tuple[str, ...]) -> etree._Element:
        node = self.root.find(f"{{{MAIN}}}{tag}")
        if node is None:
            node = etree.Element(f"{{{MAIN}}}{tag}")
            anchor = next((self.root.find(f"{{{MAIN}}}{t}") for t in before if self.root.find(f"{{{MAIN}}}{t}") is not None), None)
            if anchor is not None:
                anchor.addprevious(node)
            else:
                self.root.append(node)
        return node

    def _append(self, tag: str, element: etree._Element) -> int:
        parent = self._list(tag + "s", ("fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles", "dxfs"))
        parent.append(element)
        parent.set("count", str(len(parent)))
        return len(parent) - 1

    def _num_format(self, code: str) -> int:
        builtin = {"0.00": 2, "#,##0.00": 4, "0%": 9, "0.00%": 10, "@": 49}
        if code in builtin:
            return builtin[code]
        fmts = self._list("numFmts", ("fonts",))
        for f in fmts:
            if f.get("formatCode") == code:
                return int(f.get("numFmtId"))
        new_id = max([163] + [int(f.get("numFmtId", 0)) for f in fmts]) + 1
        etree.SubElement(fmts, f"{{{MAIN}}}numFmt", numFmtId=str(new_id), formatCode=code)
        fmts.set("count", str(len(fmts)))
        return new_id

    def _fill(self, rgb: str) -> int:
        return self._append("fill", deepcopy(_fill_element(rgb)))

    def _font(self, style: Style) -> int:
        fonts = self._list("fonts")
        font = deepcopy(fonts[0]) if len(fonts) else etree.Element(f"{{{MAIN}}}font")
        for child in list(font):
            if etree.QName(child).localname in ("b", "u", "color", "sz") and (
                    etree.QName(child).localname != "sz" or style.size):
                font.remove(child)
        # ECMA order inside <font>: b, i, …, u, vertAlign, sz, color, name, family, charset, scheme
        if style.bold:
            font.insert(0, etree.Element(f"{{{MAIN}}}b"))
        position = sum(1 for c in font if etree.QName(c).localname in ("b", "i", "strike", "condense", "extend",
                                                                        "outline", "shadow"))
        extra = []
        if style.underline:
            extra.append(etree.Element(f"{{{MAIN}}}u"))
        if style.size:
            extra.append(etree.Element(f"{{{MAIN}}}sz", val=f"{style.size:g}"))
        for k, element in enumerate(extra):
            font.insert(position + k, element)
        if style.color:
            sz = font.find(f"{{{MAIN}}}sz")
            color = etree.Element(f"{{{MAIN}}}color", rgb="FF" + style.color)
            if sz is not None:
                sz.addnext(color)
            else:
                font.insert(position + len(extra), color)
        return self._append("font", font)

    def _border(self) -> int:
        return self._append("border", deepcopy(_BORDER))

    def xf(self, style: Style) -> int:
        """Index of a cell format with ``style`` (appended once per workbook)."""
        cached = self.cache.get(style)
        if cached is not None:
            return cached
        xf = etree.Element(f"{{{MAIN}}}xf", numFmtId=str(self._num_format(style.num_format)) if style.num_format else "0",
                           fontId=str(self._font(style)) if (style.bold or style.size or style.color or style.underline)
                           else "0",
                           fillId=str(self._fill(style.fill)) if style.fill else "0",
                           borderId=str(self._border()) if style.border else "0", xfId="0")
        for flag, on in (("applyNumberFormat", style.num_format), ("applyFont", xf.get("fontId") != "0"),
                         ("applyFill", style.fill), ("applyBorder", style.border),
                         ("applyAlignment", style.center or style.wrap)):
            if on:
                xf.set(flag, "1")
        if style.center or style.wrap:
            align = etree.SubElement(xf, f"{{{MAIN}}}alignment", vertical="center")
            if style.center:
                align.set("horizontal", "center")
            if style.wrap:
                align.set("wrapText", "1")
        self.cache[style] = self._add_xf(xf)
        return self.cache[style]

    def _add_xf(self, xf: etree._Element) -> int:
        cell_xfs = self._list("cellXfs", ("cellStyles", "dxfs", "tableStyles", "colors", "extLst"))
        if len(cell_xfs) == 0:  # index 0 is the default format every cell falls back to
            etree.SubElement(cell_xfs, f"{{{MAIN}}}xf", numFmtId="0", fontId="0", fillId="0", borderId="0", xfId="0")
        cell_xfs.append(xf)
        cell_xfs.set("count", str(len(cell_xfs)))
        return len(cell_xfs) - 1

    def with_fill(self, base: int, rgb: str) -> int:
        """A copy of cell format ``base`` with a solid ``rgb`` fill (the cell keeps its font,
        number format and borders)."""
        key = ("fill", base, rgb)
        if key not in self.cache:
            cell_xfs = self._list("cellXfs")
            xf = deepcopy(cell_xfs[base]) if base < len(cell_xfs) else etree.Element(
                f"{{{MAIN}}}xf", numFmtId="0", fontId="0", fillId="0", borderId="0", xfId="0")
            xf.set("fillId", str(self._fill(rgb)))
            xf.set("applyFill", "1")
            self.cache[key] = self._add_xf(xf)
        return self.cache[key]


@lru_cache(maxsize=64)
def _fill_element(rgb: str) -> etree._Element:
    """A solid ``rgb`` fill, built once per run; workbooks get copies."""
    fill = etree.Element(f"{{{MAIN}}}fill")
    pattern = etree.SubElement(fill, f"{{{MAIN}}}patternFill", patternType="solid")
    etree.SubElement(pattern, f"{{{MAIN}}}fgColor", rgb="FF" + rgb)
    etree.SubElement(pattern, f"{{{MAIN}}}bgColor", indexed="64")
    return fill


def _border_element() -> etree._Element:
    """The thin grey border of the result sheet's cells."""
    border = etree.Element(f"{{{MAIN}}}border")
    for side in ("left", "right", "top", "bottom"):
        edge = etree.SubElement(border, f"{{{MAIN}}}{side}", style="thin")
        etree.SubElement(edge, f"{{{MAIN}}}color", rgb="FF808080")
    etree.SubElement(border, f"{{{MAIN}}}diagonal")
    return border


_BORDER = _border_element()  # built once per run: a workbook gets a copy per bordered format


# What a cell's text needs done before it is XML: escaping, or characters XML refuses dropped.
_NOT_XML_READY = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _other_cell(ref: str, style: str, value) -> str:
    """A cell whose value is not a non-empty string or a float: empty, an int, other text."""
    if value is None or value == "":
        return f'<c r="{ref}"{style}/>'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<c r="{ref}"{style}><v>{value!r}</v></c>'
    text = str(value)
    text = escape(clean_text(text)) if _NOT_XML_READY.search(text) else text
    return f'<c r="{ref}"{style} t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _sheet_xml(sheet: NewSheet, styles: _Styles) -> bytes:
    attr = {key: f' s="{styles.xf(style)}"' for key, style in sheet.styles.items()}
    out = [f'<worksheet xmlns="{MAIN}" xmlns:r="{REL}"><sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
           '<sheetViews><sheetView tabSelected="1" workbookViewId="0"/></sheetViews>'
           '<sheetFormatPr defaultRowHeight="15"/>']
    if sheet.widths:
        out.append("<cols>")
        out.extend(f'<col min="{c + 1}" max="{c + 1}" width="{w:g}" customWidth="1"/>' for c, w in sorted(sheet.widths.items()))
        out.append("</cols>")
    out.append("<sheetData>")
    append, letters = out.append, _Letters()
    current, number = None, ""
    for r, c, value, key in sorted(sheet.cells, key=itemgetter(0, 1)):
        if r != current:
            number = str(r + 1)
            append(f'</row><row r="{number}">' if current is not None else f'<row r="{number}">')
            current = r
        kind = type(value)
        if kind is str and value:  # inline string: user text is never a formula
            text = escape(clean_text(value)) if _NOT_XML_READY.search(value) else value
            append(f'<c r="{letters[c]}{number}"{attr.get(key, "")} t="inlineStr"><is><t xml:space="preserve">'
                   f'{text}</t></is></c>')
        elif kind is float:
            append(f'<c r="{letters[c]}{number}"{attr.get(key, "")}><v>{value!r}</v></c>')
        else:
            append(_other_cell(letters[c] + number, attr.get(key, ""), value))
    if current is not None:
        out.append("</row>")
    out.append("</sheetData>")
    if sheet.links:
        out.append("<hyperlinks>")
        out.extend(f'<hyperlink ref="{_ref(r, c)}" location="{escape(loc, {chr(34): "&quot;"})}"/>'
                   for r, c, loc in sheet.links)
        out.append("</hyperlinks>")
    out.append('<pageMargins left="0.5" right="0.5" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
               '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/></worksheet>')
    return "".join(out).encode("utf-8")


class _Letters(dict):
    """Column index -> letters, each worked out once."""

    def __missing__(self, col: int) -> str:
        self[col] = letters = column_letter(col)
        return letters


def _remove_macros(pkg: _Package, drop: set[str]) -> None:
    types = pkg.tree("[Content_Types].xml")
    for node in list(types):
        if node.get("PartName") == "/xl/workbook.xml":
            node.set("ContentType", CT_WORKBOOK)
        elif "vbaProject" in node.get("ContentType", "") or "vbaProject" in node.get("PartName", ""):
            types.remove(node)
    rels = pkg.rels("xl/workbook.xml")
    for rel in list(rels):
        if rel.get("Type") == T_VBA:
            drop.add(pkg.target("xl/workbook.xml", rel))
            rels.remove(rel)
    drop.update(n for n in pkg.parts if n.startswith("xl/vbaProject"))


class _Sheet:
    """A department sheet being marked: its rows and cells, found or created in order. A
    plainly written sheet is edited as text (:class:`~.sheet_text.TextSheet`, ``text``),
    any other as a tree; both give the same workbook. :meth:`save` puts the edits back."""

    def __init__(self, pkg: _Package, part: str):
        self.pkg, self.part = pkg, part
        self.text = TextSheet.open(pkg.parts[part]) if part not in pkg.xml else None
        if self.text is not None:
            self.has_cells = True
            return
        self.root = pkg.tree(part)
        self.data = self.root.find(f"{{{MAIN}}}sheetData")
        self.has_cells = self.data is not None  # a chart sheet has none

    @cached_property
    def merged(self) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """The merged ranges, read only for a sheet with marks (not one whose tab is only unselected)."""
        if self.text is not None:
            return self.text.merged
        merged = []
        for m in self.root.iterfind(f"{{{MAIN}}}mergeCells/{{{MAIN}}}mergeCell"):
            a, _, b = m.get("ref", "").partition(":")
            if b:
                merged.append((_parse_ref(a), _parse_ref(b)))
        return merged

    def fill(self, row: int, col: int, rgb: str, styles: _Styles) -> None:
        """Fill the cell at 0-based (row, col) with ``rgb``, keeping the rest of its format."""
        if self.text is not None:
            self.text.fill(row, col, lambda base: styles.with_fill(base, rgb))
            return
        cell = self.cell(row, col)
        cell.set("s", str(styles.with_fill(int(cell.get("s", "0")), rgb)))

    def unselect(self) -> None:
        """Not a selected tab: Excel would open the department's sheets grouped with ours."""
        if self.text is not None:
            self.text.unselect()
            return
        for view in self.root.iterfind(f"{{{MAIN}}}sheetViews/{{{MAIN}}}sheetView"):
            view.attrib.pop("tabSelected", None)

    def save(self) -> None:
        """Put a text-edited sheet's edits into the package (a tree is written with it)."""
        if self.text is not None and (data := self.text.data()) is not None:
            self.pkg.parts[self.part] = data

    @cached_property
    def rows(self) -> dict[int, etree._Element]:
        """Row number -> row, numbered on first use: a sheet whose tab is only unselected is
        left as written."""
        return self._number_cells() if self.data is not None else {}

    def _number_cells(self) -> dict[int, etree._Element]:
        """Row number -> row, after giving every row and cell its ``r`` reference. Both may
        be left out (valid OOXML some generators write): a row then follows the previous
        one and a cell the previous cell, the way Excel reads them; with the references
        written out, cells added for marks land beside the department's, not over them."""
        rows, number = {}, 0
        # Visiting every cell costs more than the rest of the copy; do it only when some lack one.
        complete = not self.data.xpath("boolean(m:row/m:c[not(@r)])", namespaces={"m": MAIN})
        for row in self.data.iterfind(f"{{{MAIN}}}row"):
            r = row.get("r")
            number = int(r) if r else number + 1
            if r != str(number):
                row.set("r", str(number))
            rows[number] = row
            if complete:
                continue
            col, ref = -1, None  # ref: the last reference not yet read into col
            for cell in row.iterfind(f"{{{MAIN}}}c"):
                r = cell.get("r")
                if r:
                    ref = r  # read only when a cell without one follows (rare)
                    continue
                col = (_parse_ref(ref)[1] if ref else col) + 1
                ref = None
                cell.set("r", _ref(number - 1, col))
        return rows

    def anchor(self, row: int, col: int) -> tuple[int, int]:
        """The top-left cell of the merged range covering (row, col), else the cell itself."""
        for (r0, c0), (r1, c1) in self.merged:
            if r0 <= row <= r1 and c0 <= col <= c1:
                return r0, c0
        return row, col

    def cell(self, row: int, col: int) -> etree._Element:
        number = row + 1
        row_el = self.rows.get(number)
        if row_el is None:
            row_el = etree.Element(f"{{{MAIN}}}row", r=str(number))
            later = [n for n in self.rows if n > number]
            if later:
                self.rows[min(later)].addprevious(row_el)
            else:
                self.data.append(row_el)
            self.rows[number] = row_el
        ref = _ref(row, col)
        cells = list(row_el.iterfind(f"{{{MAIN}}}c"))
        for c in cells:
            if c.get("r") == ref:
                return c
        # The new cell goes after the last cell left of it (from the end: marks are mostly
        # in a row's last columns).
        previous = next((c for c in reversed(cells) if c.get("r") and _parse_ref(c.get("r"))[1] < col), None)
        new = etree.Element(f"{{{MAIN}}}c", r=ref)
        if previous is not None:
            previous.addnext(new)
        else:
            row_el.insert(0, new)
        return new

    def add_comments(self, notes: dict[tuple[int, int], str], author: str, shape_block: int) -> None:
        """Add ``notes`` to the sheet's comments part (created when missing) with a VML shape
        each, so Excel and LibreOffice show them on hover."""
        comments_part = vml_part = None
        for rel in self.pkg.rels(self.part):
            if rel.get("Type") == T_COMMENTS:
                comments_part = self.pkg.target(self.part, rel)
            elif rel.get("Type") == T_VML:
                vml_part = self.pkg.target(self.part, rel)
        if comments_part is None:  # the usual case: written as text, not built node by node
            self.pkg.parts[self._new_comments()] = _comments_xml(notes, author)
            shapes = [(row, col, note) for (row, col), note in sorted(notes.items())]
        else:
            shapes = self._append_comments(comments_part, notes, author)
        if shapes:
            self._append_shapes(vml_part or self._new_drawing(shape_block), shapes)

    def _new_comments(self) -> str:
        """The name of a new comments part for the sheet, with its content type and relationship."""
        part = self.pkg.free_name("xl/comments_selfeval{}.xml")
        self.pkg.override(part, CT_COMMENTS)
        self.pkg.add_rel(self.part, T_COMMENTS, "/" + part)
        return part

    def _append_comments(self, part: str, notes: dict[tuple[int, int], str], author: str) -> list[tuple]:
        """Notes appended to the department's own comment of a cell, or new comments; returns
        (row, col, note) of the new ones, which need a shape."""
        comments = self.pkg.tree(part)
        authors = comments.find(f"{{{MAIN}}}authors")
        names = [a.text for a in authors]
        if author not in names:
            etree.SubElement(authors, f"{{{MAIN}}}author").text = author
            names.append(author)
        listing = comments.find(f"{{{MAIN}}}commentList")
        existing = {c.get("ref"): c for c in listing}
        shapes = []
        for (row, col), note in sorted(notes.items()):
            ref = _ref(row, col)
            if ref in existing:
                text, prefix = existing[ref].find(f"{{{MAIN}}}text"), "\n"
            else:
                comment = etree.SubElement(listing, f"{{{MAIN}}}comment", ref=ref, authorId=str(names.index(author)))
                text, prefix = etree.SubElement(comment, f"{{{MAIN}}}text"), ""
                shapes.append((row, col, note))
            t = etree.SubElement(etree.SubElement(text, f"{{{MAIN}}}r"), f"{{{MAIN}}}t")
            t.text = prefix + clean_text(note)
            t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
        return shapes

    def _new_drawing(self, shape_block: int) -> str:
        part = self.pkg.free_name("xl/drawings/vmlDrawing_selfeval{}.vml")
        self.pkg.parts[part] = _VML_HEAD.format(block=shape_block).encode() + b"</xml>"
        types = self.pkg.tree("[Content_Types].xml")
        if not any(d.get("Extension", "").lower() == "vml" for d in types):
            etree.SubElement(types, f"{{{CT}}}Default", Extension="vml", ContentType=CT_VML)
        rid = self.pkg.add_rel(self.part, T_VML, "/" + part)
        if self.text is not None:
            self.text.add_legacy_drawing(rid)
            return part
        legacy = etree.Element(f"{{{MAIN}}}legacyDrawing", nsmap={"r": REL})
        legacy.set(f"{{{REL}}}id", rid)
        after = next((c for c in self.root if c.tag in _AFTER_LEGACY), None)
        if after is not None:
            after.addprevious(legacy)
        else:
            self.root.append(legacy)
        return part

    def _append_shapes(self, part: str, shapes: list[tuple]) -> None:
        vml = self.pkg.parts[part]
        # Shape ids continue after the drawing's own, inside the id block it declares.
        taken = [int(n) for n in re.findall(rb"_x0000_s(\d+)", vml)]
        block = re.search(rb'data="(\d+)', vml)
        first = max(taken) + 1 if taken else int(block.group(1) if block else 1) * 1024 + 1
        added = "".join(_vml_shape(row, col, first + k, note) for k, (row, col, note) in enumerate(shapes))
        if b'id="_x0000_t202"' not in vml:  # a drawing of other shapes (buttons) lacks the note type
            added = _VML_NOTE_TYPE + added
        end = vml.rfind(b"</xml>")
        self.pkg.parts[part] = vml[:end] + added.encode() + vml[end:]


def _xml_text(text: str) -> str:
    """Text content as lxml writes it (``&``, ``<``, ``>`` and carriage returns escaped)."""
    return escape(text, {"\r": "&#13;"})


def _comments_xml(notes: dict[tuple[int, int], str], author: str) -> bytes:
    """A comments part holding ``notes``, in cell order, all by ``author``."""
    out = [f'<comments xmlns="{MAIN}"><authors><author>{_xml_text(author)}</author></authors><commentList>']
    out.extend(f'<comment ref="{_ref(row, col)}" authorId="0"><text><r><t xml:space="preserve">'
               f'{_xml_text(clean_text(note))}</t></r></text></comment>' for (row, col), note in sorted(notes.items()))
    out.append("</commentList></comments>")
    return _DECLARATION + "".join(out).encode("utf-8")


# Namespaces declared on each element: appended to a drawing another program wrote (openpyxl
# declares them locally, with other prefixes), the shapes must still be well-formed XML.
_VML_NS = ('xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
           'xmlns:x="urn:schemas-microsoft-com:office:excel"')
_VML_NOTE_TYPE = (f'<v:shapetype {_VML_NS} id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe">'
                  '<v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>')
_VML_HEAD = (f'<xml {_VML_NS}><o:shapelayout v:ext="edit">'
             '<o:idmap v:ext="edit" data="{block}"/></o:shapelayout>' + _VML_NOTE_TYPE)


def _vml_shape(row: int, col: int, shape_id: int, note: str) -> str:
    lines = sum(1 + len(line) // 20 for line in note.split("\n"))
    height = min(300, 20 + 14 * lines)
    return (f'<v:shape {_VML_NS} id="_x0000_s{shape_id}" type="#_x0000_t202" style="position:absolute;margin-left:80pt;'
            f'margin-top:2pt;width:220pt;height:{height}pt;z-index:{shape_id % 1024};visibility:hidden" '
            'fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/>'
            '<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
            '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div></v:textbox>'
            f'<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
            f'<x:Anchor>{col + 1}, 15, {row}, 2, {col + 4}, 15, {row + 6}, 16</x:Anchor>'
            f'<x:AutoFill>False</x:AutoFill><x:Row>{row}</x:Row><x:Column>{col}</x:Column></x:ClientData></v:shape>')


class Workbook:
    """A department's .xlsx whose zip is read once for its copy: :attr:`sheet_names` to plan
    the new sheet, then :meth:`annotate`."""

    def __init__(self, data: bytes, zf: zipfile.ZipFile | None = None):
        self._pkg = _Package(data, zf)

    @property
    def sheet_names(self) -> list[str]:
        """The sheet names of workbook.xml, in order."""
        book = self._pkg.tree("xl/workbook.xml")
        return [s.get("name") for s in book.iterfind(f"{{{MAIN}}}sheets/{{{MAIN}}}sheet")]

    def annotate(self, sheet: NewSheet, marks: list[Mark], author: str) -> bytes:
        """See :func:`annotate` (once per workbook: the package is edited in place)."""
        return _annotate(self._pkg, sheet, marks, author)


def annotate(data: bytes, sheet: NewSheet, marks: list[Mark], author: str) -> bytes:
    """The workbook ``data`` with ``sheet`` added first and active (replacing a sheet of the
    same name), ``marks`` applied, and macros removed. Returns the new file's bytes."""
    return _annotate(_Package(data), sheet, marks, author)


def _annotate(pkg: _Package, sheet: NewSheet, marks: list[Mark], author: str) -> bytes:
    drop: set[str] = set()
    _remove_macros(pkg, drop)
    sheet_parts = _sheet_parts(pkg)
    styles = _Styles(pkg)
    opened = _apply_marks(pkg, sheet_parts, styles, [m for m in marks if m.sheet != sheet.name], author)
    _insert_first(pkg, sheet, styles, drop)
    for name, part in sheet_parts.items():  # otherwise Excel opens with the department's sheets grouped with ours
        if name != sheet.name and part in pkg.parts and (name in opened or b'tabSelected="1"' in pkg.parts[part]):
            target = opened.get(name) or opened.setdefault(name, _Sheet(pkg, part))
            target.unselect()
    for target in opened.values():
        target.save()
    return pkg.to_bytes(drop)


def _sheet_parts(pkg: _Package) -> dict[str, str]:
    """Sheet name -> part, from the workbook as it is being edited."""
    by_id = {r.get("Id"): r for r in pkg.rels("xl/workbook.xml")}
    parts = {}
    for s in pkg.tree("xl/workbook.xml").find(f"{{{MAIN}}}sheets"):
        rel = by_id.get(s.get(f"{{{REL}}}id"))
        if rel is not None:
            parts[s.get("name")] = pkg.target("xl/workbook.xml", rel)
    return parts


def _apply_marks(pkg: _Package, sheet_parts: dict[str, str], styles: _Styles, marks: list[Mark],
                 author: str) -> dict[str, _Sheet]:
    """Fill the marked cells (an error's fill wins over a warning's) and add every mark's note
    to the cell's comment. Returns the sheets that were opened."""
    notes_by_sheet: dict[str, dict[tuple[int, int], str]] = {}
    fills: dict[tuple[str, int, int], Mark] = {}
    opened: dict[str, _Sheet] = {}
    for mark in marks:
        part = sheet_parts.get(mark.sheet)
        if part is None or part not in pkg.parts:
            continue
        target = opened.get(mark.sheet) or opened.setdefault(mark.sheet, _Sheet(pkg, part))
        if not target.has_cells:  # a chart sheet
            continue
        row, col = target.anchor(mark.row, mark.col)
        key = (mark.sheet, row, col)
        if key not in fills or mark.priority > fills[key].priority:
            fills[key] = mark
        notes = notes_by_sheet.setdefault(mark.sheet, {})
        notes[(row, col)] = f"{notes[(row, col)]}\n{mark.note}" if (row, col) in notes else mark.note
    for (name, row, col), mark in fills.items():
        opened[name].fill(row, col, mark.fill, styles)
    for k, (name, notes) in enumerate(sorted(notes_by_sheet.items())):
        opened[name].add_comments(notes, author, 90 + k)
    return opened


def _insert_first(pkg: _Package, sheet: NewSheet, styles: _Styles, drop: set[str]) -> None:
    """Add ``sheet`` as the first, active sheet, replacing a sheet of the same name."""
    book = pkg.tree("xl/workbook.xml")
    sheets_el = book.find(f"{{{MAIN}}}sheets")
    rels = pkg.rels("xl/workbook.xml")
    old_names = [s.get("name") for s in sheets_el]
    if sheet.name in old_names:
        old = sheets_el[old_names.index(sheet.name)]
        rel = next((r for r in rels if r.get("Id") == old.get(f"{{{REL}}}id")), None)
        if rel is not None:
            part = pkg.target("xl/workbook.xml", rel)
            drop.update({part, pkg.rels_name(part)})
            rels.remove(rel)
            types = pkg.tree("[Content_Types].xml")
            for node in list(types):
                if node.get("PartName") == "/" + part:
                    types.remove(node)
        sheets_el.remove(old)
    kept = [s.get("name") for s in sheets_el]
    part = pkg.free_name("xl/worksheets/sheet_selfeval{}.xml")
    pkg.parts[part] = _sheet_xml(sheet, styles)
    pkg.override(part, CT_SHEET)
    rid = pkg.add_rel("xl/workbook.xml", T_SHEET, "/" + part)
    ids = [int(s.get("sheetId", 0)) for s in sheets_el]
    new = etree.Element(f"{{{MAIN}}}sheet", name=sheet.name, sheetId=str(max(ids + [0]) + 1))
    new.set(f"{{{REL}}}id", rid)
    sheets_el.insert(0, new)
    _renumber_local_names(book, old_names, [sheet.name] + kept)
    for view in book.iterfind(f"{{{MAIN}}}bookViews/{{{MAIN}}}workbookView"):
        view.set("activeTab", "0")
        view.attrib.pop("firstSheet", None)


def _renumber_local_names(book: etree._Element, before: list[str], after: list[str]) -> None:
    """Defined names scoped to a sheet (print titles, filters) refer to it by position."""
    for defined in list(book.iterfind(f"{{{MAIN}}}definedNames/{{{MAIN}}}definedName")):
        local = defined.get("localSheetId")
        if local is None:
            continue
        index = int(local)
        name = before[index] if index < len(before) else None
        if name in after and name != after[0]:
            defined.set("localSheetId", str(after.index(name)))
        else:
            defined.getparent().remove(defined)
