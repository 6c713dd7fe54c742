"""What calamine does not tell: which cells are percent-formatted and which hold a formula
with no cached value, and, before calamine runs, how much it would have to allocate (the used
range of each sheet and the shared-string text its cells repeat). Read straight from the .xlsx
parts (defusedxml for the small XML parts, one regular-expression pass over each sheet's XML)."""
from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from defusedxml import ElementTree

from .parts import NS as _NS, column_index as _col_index, namespaces, resolve, sheet_parts
_PERCENT_BUILTIN = {9, 10}
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ATTR_R = re.compile(rb'\br="([A-Z]+)(\d+)"')  # how every writer puts it; the rest goes to _scan_exact
_ATTR_S = re.compile(rb'\bs="(\d+)"')
_ATTR_ERROR = re.compile(rb"""\bt\s*=\s*["']e["']""")  # a cached error (#DIV/0!, #N/A …)
_ERROR_TYPE = re.compile(rb"""t\s*=\s*["']e["']""")  # the same led by a literal (fast); \b checked after
_ERROR_TEXT = re.compile(rb"<(?:\w+:)?v\b[^>]*>([^<]{1,32})<")
_ANY_R = re.compile(rb"""\br\s*=\s*["']([A-Za-z]+)(\d+)["']""")
_FORMULA = re.compile(rb"<(?:\w+:)?f\b")
_VALUE = re.compile(rb"<(?:\w+:)?v\b[^>]*>[^<]|<(?:\w+:)?is\b")  # openpyxl writes an empty <v></v>
_ROW = re.compile(rb"<(?:\w+:)?row\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?row>)", re.S)
_ATTR_ROW = re.compile(rb"""\br\s*=\s*["'](\d+)["']""")
# no leading \b: a literal first byte makes the scan ~3x faster; a stray match only overcounts
_SHARED_REF = re.compile(rb"""t\s*=\s*["']s["'][^>]*>\s*<(?:\w+:)?v\b[^>]*>\s*(\d+)""")
_SHARED_ITEM = re.compile(rb"<(?:\w+:)?si\b.*?</(?:\w+:)?si>|<(?:\w+:)?si\s*/>", re.S)


@dataclass
class SheetMeta:
    """0-based (row, col) sets for one sheet."""

    percent: set[tuple[int, int]] = field(default_factory=set)
    formula_without_value: set[tuple[int, int]] = field(default_factory=set)
    errors: dict[tuple[int, int], str] = field(default_factory=dict)  # cached error values, which calamine reads as blank
    # calamine holds a sheet as one dense rows x cols grid spanning every cell with a value,
    # and copies a shared string into each cell that refers to it: what it will allocate.
    rows: int = 0
    cols: int = 0
    shared_text: int = 0  # bytes of shared-string XML repeated into this sheet's cells
    # Merged ranges as calamine gives them, ((r0, c0), (r1, c1)) inclusive, read from the
    # .xlsx sheet XML already in hand (calamine would parse the sheet again); None: not read.
    merges: list[tuple[tuple[int, int], tuple[int, int]]] | None = None


def _read_part(archive: zipfile.ZipFile, name: str) -> bytes:
    """A part's bytes, read in pieces: ``ZipFile.read`` inflates the whole stream in one call
    even past the size the entry declares (a lying entry costs seconds and gigabytes), while
    piecewise reads stop at the declared size and raise ``BadZipFile`` on the CRC."""
    pieces = []
    with archive.open(name) as part:
        while piece := part.read(2**20):
            pieces.append(piece)
    return b"".join(pieces)


def _shared_strings(archive: zipfile.ZipFile, rels_xml: bytes) -> bytes:
    """The shared-strings part's XML (b"" when the workbook has none)."""
    for rel in _parse(rels_xml).iterfind("p:Relationship", _NS):
        if rel.get("Type", "").endswith("/sharedStrings"):
            try:
                return _read_part(archive, resolve("xl/workbook.xml", rel.get("Target", "")))
            except KeyError:
                return b""
    return b""


class _SharedSizes:
    """Byte size of each shared-string item (its XML), in index order, measured only when a
    sheet needs the exact figure. ``bound`` is the longest item, measured at C speed as the
    longest stretch from one item's start to the next one's end (the same figure unless the
    XML puts white space between items), or the whole part when items are spelt otherwise."""

    def __init__(self, xml: bytes):
        self.xml = xml
        first = xml.find(b"<si")
        self.bound = max(map(len, xml[first:].split(b"</si>"))) + len(b"</si>") if first >= 0 else len(xml)
        self._sizes: list[int] | None = None

    @property
    def sizes(self) -> list[int]:
        if self._sizes is None:
            self._sizes = [m.end() - m.start() for m in _SHARED_ITEM.finditer(self.xml)]
        return self._sizes


def _shared_text(xml: bytes, cells: int, shared: _SharedSizes) -> int:
    """Bytes of shared strings this sheet repeats into its cells; a cheap upper bound
    (cells x longest item) is returned instead when it is at most 4 MB, which saves a pass."""
    if cells * shared.bound <= 4 * 2**20:
        return cells * shared.bound
    sizes = shared.sizes
    if cells * max(sizes, default=0) <= 4 * 2**20:
        return cells * max(sizes, default=0)
    counts = Counter(_SHARED_REF.findall(xml))
    return sum(n * sizes[int(i)] for i, n in counts.items() if int(i) < len(sizes))


def _percent_styles(archive: zipfile.ZipFile) -> frozenset[int]:
    try:
        return _percent_styles_of(_read_part(archive, "xl/styles.xml"))
    except KeyError:
        return frozenset()


# Departments fill copies of one template: most workbooks of a batch share their styles and
# workbook parts byte for byte, so each distinct part is parsed once per process.
@lru_cache(maxsize=32)
def _percent_styles_of(xml: bytes) -> frozenset[int]:
    """Indexes of the cell formats (``cellXfs``) that show a number as a percent."""
    root = ElementTree.fromstring(xml)
    ns = namespaces(root)  # Strict workbooks: percent formats must not go unseen (95 % is not 0.95 %)
    percent_ids = set(_PERCENT_BUILTIN)
    for fmt in root.iterfind("m:numFmts/m:numFmt", ns):
        code = fmt.get("formatCode", "")
        if "%" in code.replace('"%"', "").replace("\\%", ""):
            percent_ids.add(int(fmt.get("numFmtId", -1)))
    return frozenset(i for i, xf in enumerate(root.iterfind("m:cellXfs/m:xf", ns))
                     if int(xf.get("numFmtId", 0)) in percent_ids)


@lru_cache(maxsize=32)
def _parse(xml: bytes):
    """A small part's root element (parsed once per distinct part; never modified)."""
    return ElementTree.fromstring(xml)


@lru_cache(maxsize=32)
def _sheet_paths(workbook_xml: bytes, rels_xml: bytes) -> tuple[tuple[str, str], ...]:
    return tuple(sheet_parts(workbook_xml, rels_xml).items())


_CELL_OPEN = re.compile(rb"<(?:\w+:)?c\b")
_CELL_REF = re.compile(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]+)(\d+)"')
# The same two scans for the way every writer puts a cell (``<c r="A1" …``), each led by a
# literal, which the regular-expression engine finds many times faster; any other spelling
# of a cell tag (``<x:c``, ``<c>``, ``<c\n``) sends the sheet to the general patterns.
_PLAIN_REF = re.compile(rb'<c r="([A-Z]+)(\d+)"')
_PREFIXED_TAG = re.compile(rb":c\b")
_ODD_CELL_TAG = re.compile(rb"<c(?![\w ])")
_PLAIN_F, _PREFIXED_F = re.compile(rb"<f\b"), re.compile(rb":f\b")  # what any _FORMULA match holds
_MERGE_CELL = re.compile(rb"""<(?:\w+:)?mergeCell\b[^>]*?\bref\s*=\s*["']\s*([A-Za-z]+)(\d+)(?::([A-Za-z]+)(\d+))?\s*["']""")


def _tag_start(xml: bytes, pos: int) -> int:
    """Offset of the last ``<c `` (or the ``:`` of ``<x:c ``) before ``pos``, or -1. Steps
    back one ``c `` at a time: searching for each form separately from ``pos`` scanned back to
    the start of the sheet whenever one form never occurs, once per styled cell (quadratic)."""
    end = pos
    while True:
        i = xml.rfind(b"c ", 0, end)
        if i <= 0:
            return -1
        if xml[i - 1:i] in (b"<", b":"):
            return i - 1
        end = i


def _enclosing_cell(xml: bytes, pos: int) -> tuple[tuple[int, int], bytes] | None:
    """((row, col), body) of the cell whose tag or body holds byte offset ``pos``; None when
    it cannot be told (e.g. a tag written ``<c\n``), which only costs precision."""
    start = _tag_start(xml, pos)
    if start < 0:
        return None
    tag_end = xml.find(b">", start)
    ref = _ATTR_R.search(xml, start, tag_end)
    if not ref:
        return None
    if xml[tag_end - 1:tag_end] == b"/":
        end = tag_end
    else:
        end = xml.find(b"c>", tag_end)
        end = len(xml) if end < 0 else end
    if not start < pos < end:
        return None
    return (int(ref.group(2)) - 1, _col_index(ref.group(1))), xml[tag_end + 1:end]


def _cell_refs(xml: bytes) -> tuple[list[tuple[bytes, bytes]], int] | None:
    """(column letters, row digits) of every cell and the number of cells, or None when some
    cell has no ``r`` (calamine then places it, and only the exact pass can follow)."""
    if not _PREFIXED_TAG.search(xml) and not _ODD_CELL_TAG.search(xml):
        refs, cells = _PLAIN_REF.findall(xml), xml.count(b"<c ")
        if len(refs) == cells:
            return refs, cells
    refs, cells = _CELL_REF.findall(xml), len(_CELL_OPEN.findall(xml))
    return (refs, cells) if len(refs) == cells else None


def _after_word(xml: bytes, pos: int) -> bool:
    """Whether the byte before ``pos`` is a word character (where ``\\b`` would not match)."""
    return pos > 0 and (xml[pos - 1:pos].isalnum() or xml[pos - 1:pos] == b"_")


def _scan_fast(xml: bytes, percent_styles: frozenset[int], max_cells: int) -> tuple[SheetMeta, int] | None:
    """The common case in C-speed scans: every cell has its ``r`` and the used range, counted
    generously (empty styled cells too), is within ``max_cells``. Python then looks only at
    the percent-styled, formula and error cells. Returns the metadata and the number of
    cells; None: take the exact, cell-by-cell pass."""
    found = _cell_refs(xml)
    if found is None:
        return None
    refs, cells = found
    meta = SheetMeta()
    if refs:
        letters, digits = zip(*refs)
        meta.rows = max(map(int, set(digits)))  # each row's number once, not once per cell
        meta.cols = _col_index(max(set(letters), key=lambda c: (len(c), c))) + 1
    if meta.rows * meta.cols > max_cells:
        return None  # an upper bound only; the exact pass decides
    if percent_styles:
        styled = re.compile(rb's="(?:%s)"' % b"|".join(str(i).encode() for i in sorted(percent_styles)))
        for match in styled.finditer(xml):
            cell = None if _after_word(xml, match.start()) else _enclosing_cell(xml, match.start())
            if cell:
                meta.percent.add(cell[0])
    # A formula's tag, or none here (most sheets). Not ``b"<f" in xml``: every data validation's
    # <formula1> has that, and the full scan, led by the ubiquitous "<", costs ~10x these two.
    if _PLAIN_F.search(xml) or _PREFIXED_F.search(xml):
        for match in _FORMULA.finditer(xml):
            cell = _enclosing_cell(xml, match.start())
            if cell and not _VALUE.search(cell[1]):
                meta.formula_without_value.add(cell[0])
    for match in _ERROR_TYPE.finditer(xml):
        cell = None if _after_word(xml, match.start()) else _enclosing_cell(xml, match.start())
        error = _ERROR_TEXT.search(cell[1]) if cell else None
        if error:
            meta.errors[cell[0]] = error.group(1).decode("utf-8", "replace")
    return meta, cells


def _scan_exact(xml: bytes, percent_styles: set[int]) -> tuple[SheetMeta, int]:
    """Cell by cell, placing cells without an ``r`` attribute the way calamine does (next
    column of the row; a row without ``r`` after the previous one). Returns the metadata and
    the number of cells."""
    meta = SheetMeta()
    cells = 0
    row = -1
    for row_match in _ROW.finditer(xml):
        ref = _ATTR_ROW.search(row_match.group(1))
        row = int(ref.group(1)) - 1 if ref else row + 1
        col = -1
        for match in _CELL.finditer(row_match.group(2) or b""):
            cells += 1
            attrs, body = match.group(1), match.group(2) or b""
            ref = _ANY_R.search(attrs)
            col = _col_index(ref.group(1).upper()) if ref else col + 1
            pos = (int(ref.group(2)) - 1 if ref else row, col)
            style = _ATTR_S.search(attrs)
            if style and int(style.group(1)) in percent_styles:
                meta.percent.add(pos)
            if _FORMULA.search(body) and not _VALUE.search(body):
                meta.formula_without_value.add(pos)
            elif _VALUE.search(body):
                meta.rows, meta.cols = max(meta.rows, pos[0] + 1), max(meta.cols, pos[1] + 1)
            error = _ERROR_TEXT.search(body) if _ATTR_ERROR.search(attrs) else None
            if error:
                meta.errors[pos] = error.group(1).decode("utf-8", "replace")
    return meta, cells


def read_meta(data: bytes | zipfile.ZipFile, wanted: Callable[[str], bool] | None = None,
              max_cells: int = 0) -> dict[str, SheetMeta]:
    """Sheet name -> :class:`SheetMeta` for an .xlsx/.xlsm given as bytes (or opened), for the sheets
    ``wanted(name)`` accepts (all when None). Sheets whose parts cannot be found are left out
    (the caller then has no extra knowledge, which is safe). With ``max_cells``, a sheet
    whose generous used range stays within it gets the fast scan, where ``rows``/``cols``
    are upper bounds rather than exact."""
    archive = data if isinstance(data, zipfile.ZipFile) else zipfile.ZipFile(io.BytesIO(data))
    percent_styles = _percent_styles(archive)
    rels = _read_part(archive, "xl/_rels/workbook.xml.rels")
    shared = _SharedSizes(_shared_strings(archive, rels))
    result = {}
    for name, path in _sheet_paths(_read_part(archive, "xl/workbook.xml"), rels):
        if wanted is not None and not wanted(name):
            continue
        try:
            xml = _read_part(archive, path)
        except KeyError:
            continue
        scanned = _scan_fast(xml, percent_styles, max_cells) if max_cells else None
        meta, cells = scanned or _scan_exact(xml, percent_styles)
        meta.shared_text = _shared_text(xml, cells, shared)
        meta.merges = _merges(xml)
        result[name] = meta
    return result


def _merges(xml: bytes) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The sheet's merged ranges (``<mergeCell ref="A2:A5"/>``), 0-based and inclusive."""
    start = xml.find(b"mergeCell")
    if start < 0:
        return []
    merges = []
    for match in _MERGE_CELL.finditer(xml, max(xml.rfind(b"<", 0, start), 0)):
        c0, r0, c1, r1 = match.groups()
        first = (int(r0) - 1, _col_index(c0.upper()))
        merges.append((first, (int(r1) - 1, _col_index(c1.upper())) if c1 else first))
    return merges


_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_ODS_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_ODS_CELLS = (f"{_ODS_TABLE}table-cell", f"{_ODS_TABLE}covered-table-cell")
_ODS_REPEAT_CAP = 10_000  # a percent cell repeated further than that is styling, not data


def read_ods_meta(data: bytes) -> dict[str, SheetMeta]:
    """Sheet name -> :class:`SheetMeta` (percent cells only) of an OpenDocument spreadsheet,
    from ``content.xml``: calamine gives a 95 % cell as 0.95. Repeated rows and columns
    (``number-rows-repeated``) are counted so positions match calamine's grid."""
    result: dict[str, SheetMeta] = {}
    meta, row, col = None, 0, 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open("content.xml") as part:
        for event, element in ElementTree.iterparse(part, events=("start", "end")):
            tag = element.tag
            if event == "start":
                if tag == f"{_ODS_TABLE}table":
                    meta, row = result.setdefault(element.get(f"{_ODS_TABLE}name", ""), SheetMeta()), 0
                elif tag == f"{_ODS_TABLE}table-row":
                    col = 0
                continue
            if tag in _ODS_CELLS:
                repeat = int(element.get(f"{_ODS_TABLE}number-columns-repeated", "1") or 1)
                if meta is not None and element.get(f"{_ODS_OFFICE}value-type") == "percentage":
                    meta.percent.update((row, col + k) for k in range(min(repeat, _ODS_REPEAT_CAP)))
                col += repeat
                element.clear()
            elif tag == f"{_ODS_TABLE}table-row":
                row += int(element.get(f"{_ODS_TABLE}number-rows-repeated", "1") or 1)
                element.clear()
    return result


_MODIFIED = re.compile(rb"<(?:\w+:)?modified\b[^>]*>\s*([^<]{1,64}?)\s*<")


def saved_time(data: bytes) -> dt.datetime | None:
    """When the workbook was last saved, from docProps/core.xml ``dcterms:modified`` (Excel
    writes it in UTC), as an aware datetime; None for an .xls or when the part does not say."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open("docProps/core.xml") as part:
            match = _MODIFIED.search(part.read(64 * 1024))  # the part is a few hundred bytes
        if match is None:
            return None
        saved = dt.datetime.fromisoformat(match.group(1).decode("ascii").replace("Z", "+00:00"))
    except (KeyError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError):
        return None
    return saved if saved.tzinfo is not None else saved.replace(tzinfo=dt.timezone.utc)
