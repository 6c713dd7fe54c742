"""What every OOXML reader and editor here shares: namespaces, cell references, and where each
sheet of a workbook lives in the zip."""
from __future__ import annotations

import posixpath
import re
from functools import lru_cache

from defusedxml import ElementTree

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
NS = {"m": MAIN, "r": REL, "p": PKG_REL}
# "Strict Open XML" (Excel's 严格 Open XML 电子表格): the same parts under other namespaces.
STRICT_MAIN = "http://purl.oclc.org/ooxml/spreadsheetml/main"
STRICT_REL = "http://purl.oclc.org/ooxml/officeDocument/relationships"
# Strict -> transitional, for every namespace a workbook's parts use (longest first where one
# is a prefix of another); relationship types follow the relationships namespace.
STRICT_TO_TRANSITIONAL = (
    (f"{STRICT_REL}/extendedProperties", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties"),
    (f"{STRICT_REL}/customProperties", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"),
    (STRICT_REL, REL),
    (STRICT_MAIN, MAIN),
    ("http://purl.oclc.org/ooxml/officeDocument/extendedProperties",
     "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"),
    ("http://purl.oclc.org/ooxml/officeDocument/customProperties",
     "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"),
    ("http://purl.oclc.org/ooxml/officeDocument/docPropsVTypes",
     "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"),
    ("http://purl.oclc.org/ooxml/drawingml/main", "http://schemas.openxmlformats.org/drawingml/2006/main"),
    ("http://purl.oclc.org/ooxml/drawingml/chart", "http://schemas.openxmlformats.org/drawingml/2006/chart"),
    ("http://purl.oclc.org/ooxml/drawingml/spreadsheetDrawing",
     "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"),
    ("http://purl.oclc.org/ooxml/drawingml/picture", "http://schemas.openxmlformats.org/drawingml/2006/picture"),
    ("http://purl.oclc.org/ooxml/drawingml/diagram", "http://schemas.openxmlformats.org/drawingml/2006/diagram"),
    ("http://purl.oclc.org/ooxml/officeDocument/math", "http://schemas.openxmlformats.org/officeDocument/2006/math"),
)


def namespaces(root) -> dict[str, str]:
    """The ``m``/``r``/``p`` prefixes for a part whose root element is ``root``: Strict
    workbooks use their own main and relationships namespaces."""
    return {"m": STRICT_MAIN, "r": STRICT_REL, "p": PKG_REL} if root.tag.startswith(f"{{{STRICT_MAIN}}}") else NS


def to_transitional(xml: bytes) -> bytes:
    """A Strict part's XML with every Strict namespace replaced by its transitional twin."""
    for strict, transitional in STRICT_TO_TRANSITIONAL:
        xml = xml.replace(strict.encode(), transitional.encode())
    return xml.replace(b' conformance="strict"', b"")

_CELL_REF = re.compile(r"([A-Za-z]+)(\d+)")


@lru_cache(maxsize=4096)
def column_letter(col: int) -> str:
    """0-based column index -> Excel letters (0 -> A, 26 -> AA)."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str | bytes) -> int:
    """Excel letters -> 0-based column index (``"A"`` -> 0, ``b"AA"`` -> 26)."""
    n = 0
    for ch in letters.upper() if isinstance(letters, str) else letters.upper():
        n = n * 26 + (ch if isinstance(ch, int) else ord(ch)) - 64
    return n - 1


def a1(row: int | None, col: int | None) -> str:
    """0-based (row, col) -> ``"E7"``; only the column or row when the other is unknown."""
    if row is None and col is None:
        return ""
    letters = column_letter(col) if col is not None else ""
    return f"{letters}{row + 1 if row is not None else ''}"


def parse_ref(ref: str) -> tuple[int, int]:
    """``"E7"`` (or ``"$E$7"``) -> 0-based (row, col)."""
    letters, digits = _CELL_REF.fullmatch(ref.replace("$", "")).groups()
    return int(digits) - 1, column_index(letters)


def escape(text: str, entities: dict[str, str] | None = None) -> str:
    """``&``, ``<`` and ``>`` escaped, then each key of ``entities`` replaced by its value:
    :func:`xml.sax.saxutils.escape`, without the ~10 ms of imports (urllib, http, ssl) that
    module brings into a batch's start-up."""
    text = text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    for key, value in (entities or {}).items():
        text = text.replace(key, value)
    return text


def resolve(source_part: str, target: str) -> str:
    """A relationship target as a zip path, relative to the part that holds the relationship."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def sheet_parts(workbook_xml: bytes, workbook_rels: bytes) -> dict[str, str]:
    """Sheet name -> zip path of its part, in the workbook's sheet order (sheets whose
    relationship is missing are left out)."""
    book = ElementTree.fromstring(workbook_xml)
    rels = ElementTree.fromstring(workbook_rels)
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iterfind("p:Relationship", NS)}
    ns = namespaces(book)
    parts = {}
    for sheet in book.iterfind("m:sheets/m:sheet", ns):
        target = targets.get(sheet.get(f"{{{ns['r']}}}id"))
        if target is not None:
            parts[sheet.get("name")] = resolve("xl/workbook.xml", target)
    return parts


def sheet_names(workbook_xml: bytes) -> list[str]:
    """The sheet names of workbook.xml, in order."""
    book = ElementTree.fromstring(workbook_xml)
    return [s.get("name") for s in book.iterfind("m:sheets/m:sheet", namespaces(book))]
