"""What calamine does not tell: which cells are percent-formatted and which hold a formula
with no cached value. Read straight from the .xlsx parts (defusedxml for the small XML parts,
one regular-expression pass over each sheet's XML)."""
from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

from defusedxml import ElementTree

_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
       "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
       "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
_PERCENT_BUILTIN = {9, 10}
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ATTR_R = re.compile(rb'\br="([A-Z]+)(\d+)"')
_ATTR_S = re.compile(rb'\bs="(\d+)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f\b")
_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]|<(?:\w+:)?is\b")  # openpyxl writes an empty <v></v>


@dataclass
class SheetMeta:
    """0-based (row, col) sets for one sheet."""

    percent: set[tuple[int, int]] = field(default_factory=set)
    formula_without_value: set[tuple[int, int]] = field(default_factory=set)


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


def _percent_styles(archive: zipfile.ZipFile) -> set[int]:
    try:
        root = ElementTree.fromstring(archive.read("xl/styles.xml"))
    except KeyError:
        return set()
    percent_ids = set(_PERCENT_BUILTIN)
    for fmt in root.iterfind("m:numFmts/m:numFmt", _NS):
        code = fmt.get("formatCode", "")
        if "%" in code.replace('"%"', "").replace("\\%", ""):
            percent_ids.add(int(fmt.get("numFmtId", -1)))
    return {i for i, xf in enumerate(root.iterfind("m:cellXfs/m:xf", _NS))
            if int(xf.get("numFmtId", 0)) in percent_ids}


def _sheet_paths(archive: zipfile.ZipFile) -> dict[str, str]:
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iterfind("p:Relationship", _NS)}
    paths = {}
    for sheet in book.iterfind("m:sheets/m:sheet", _NS):
        target = targets.get(sheet.get(f"{{{_NS['r']}}}id"), "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        paths[sheet.get("name")] = path
    return paths


def read_meta(data: bytes, sheets: list[str] | None = None) -> dict[str, SheetMeta]:
    """Sheet name -> :class:`SheetMeta` for an .xlsx/.xlsm given as bytes. Sheets whose parts
    cannot be found are left out (the caller then has no extra knowledge, which is safe)."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    percent_styles = _percent_styles(archive)
    result = {}
    for name, path in _sheet_paths(archive).items():
        if sheets is not None and name not in sheets:
            continue
        try:
            xml = archive.read(path)
        except KeyError:
            continue
        meta = SheetMeta()
        for match in _CELL.finditer(xml):
            attrs, body = match.group(1), match.group(2) or b""
            ref = _ATTR_R.search(attrs)
            if not ref:
                continue
            pos = (int(ref.group(2)) - 1, _col_index(ref.group(1)))
            style = _ATTR_S.search(attrs)
            if style and int(style.group(1)) in percent_styles:
                meta.percent.add(pos)
            if _FORMULA.search(body) and not _VALUE.search(body):
                meta.formula_without_value.add(pos)
        result[name] = meta
    return result
