"""A plainly written worksheet edited as text: cells filled, a ``<legacyDrawing>`` added, its
tab unselected, without parsing the department's sheet into a tree and writing it back (that
cost more than the rest of a copy). :meth:`TextSheet.open` takes only what it can edit
safely — a ``<worksheet>`` in the default main namespace whose rows and cells all carry
their references, rows in order, no comments, CDATA or processing instructions, UTF-8 — and answers
None for anything else, which :mod:`.edit` then edits as a tree. Both give the same workbook.
"""
from __future__ import annotations

import re
from functools import cached_property
from typing import Callable

from .parts import MAIN, REL, column_index, column_letter

# A start tag's attributes (with the "/" of an empty element): quoted values may hold anything
# but their own quote.
_ATTRS = rb"""([^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*)"""  # unrolled: no backtracking blow-up
_ROOT = re.compile(rb"<worksheet(?=[\s>])" + _ATTRS + rb">")
_ROW = re.compile(rb"<row(?=[\s/>])" + _ATTRS + rb">")
_CELL = re.compile(rb"<c(?=[\s/>])" + _ATTRS + rb">")
_PLAIN_ROW = re.compile(rb'<row r="([^"]*)"' + _ATTRS + rb">")
_MARKUP = re.compile(rb"<[!?]")  # comments, CDATA, a DOCTYPE, processing instructions
_PLAIN_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]+)"' + _ATTRS + rb">")
# A row or cell start tag none of whose attributes is r.
_WITHOUT_R = re.compile(rb"""<(?:row|c)(?:\s+(?!r\s*=)[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*/?>""")
_R = re.compile(rb"""\sr\s*=\s*["']([^"']*)["']""")
_S = re.compile(rb"""\ss\s*=\s*["']([^"']*)["']""")
_CELL_REF = re.compile(rb"([A-Za-z]+)([0-9]+)")  # as parts.parse_ref reads them for the tree edit
_MERGED = re.compile(rb"""<mergeCell(?=[\s/>])(?:[^>"']|"[^"]*"|'[^']*')*?\sref\s*=\s*["']([^"':]*):([^"']*)["']""")
_SHEET_VIEW = re.compile(rb"<sheetView(?=[\s/>])" + _ATTRS + rb">")
_TAB_SELECTED = re.compile(rb"""\s+tabSelected\s*=\s*(?:"[^"]*"|'[^']*')""")
_ENCODING = re.compile(rb"""<\?xml[^>]*?encoding\s*=\s*["']([^"']*)""")
_TAG = re.compile(rb"<(/?)([\w:.-]+)" + _ATTRS + rb">")
# Worksheet children that come after <legacyDrawing> (ECMA-376 order); the tree edit uses them too.
AFTER_LEGACY_DRAWING = ("legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems",
                        "tableParts", "extLst")
_AFTER_LEGACY = {name.encode() for name in AFTER_LEGACY_DRAWING}


class TextSheet:
    """The worksheet's bytes and the edits asked for, applied by :meth:`data`."""

    def __init__(self, data: bytes, rows: dict[int, tuple[int, int, int, bool]], body: tuple[int, int]):
        self._data = data
        self._rows = rows  # row number -> (tag start, tag end, element end, self-closing)
        self._body = body  # (start, end) of the <sheetData> content
        self._edits: list[tuple[int, int, tuple, bytes]] = []  # (start, end, sort key, new bytes)
        self._row_cells: dict[int, list] = {}
        self._new_rows: dict[int, dict[int, int]] = {}  # row number -> col -> style, rows not in the sheet

    @cached_property
    def merged(self) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """The merged ranges as ((row, col), (row, col)), read only for a sheet with marks."""
        return [(_ref(a), _ref(b)) for a, b in _MERGED.findall(self._data, self._body[1])]

    @classmethod
    def open(cls, data: bytes) -> TextSheet | None:
        """The sheet, or None when it is not one this class edits (see the module)."""
        root = _ROOT.search(data)
        declared = data.startswith(b"<?xml")  # no BOM, no other encoding: plain UTF-8
        if (root is None or f'xmlns="{MAIN}"'.encode() not in root.group(0)
                or _encoding(data) not in (b"utf-8", None)
                or _MARKUP.search(data, data.find(b"?>") + 2 if declared else 0)):
            return None
        start, end = data.find(b"<sheetData>"), data.rfind(b"</sheetData>")
        if start < 0 or end < start or data.find(b"<sheetData", start + 1) >= 0 \
                or data.find(b"</sheetData>", start, end) >= 0:
            return None
        start += len(b"<sheetData>")
        # Every row and cell written as <row r="… / <c r="… (counting is cheap), or else
        # none without its reference (which the tree works out).
        plain = (data.count(b"<row", start, end) == data.count(b'<row r="', start, end)
                 and data.count(b"<c", start, end) == data.count(b'<c r="', start, end))
        if not plain and _WITHOUT_R.search(data, start, end):
            return None
        rows: dict[int, tuple[int, int, int, bool]] = {}
        last = 0
        for m in (_PLAIN_ROW if plain else _ROW).finditer(data, start, end):
            if plain:
                r = m[1]
            else:
                found = _R.search(m[1])
                r = found[1] if found else b""
            if not r.isdigit() or int(r) <= last:
                return None  # out of order
            last = int(r)
            tag_start, tag_end = m.span()
            closing = data[tag_end - 2] == 0x2F  # "/>"
            stop = tag_end if closing else data.find(b"</row>", tag_end, end) + len(b"</row>")
            if stop < tag_end:
                return None
            rows[last] = (tag_start, tag_end, stop, closing)
        return cls(data, rows, (start, end))

    def fill(self, row: int, col: int, style: Callable[[int], int]) -> None:
        """Give the cell at 0-based (row, col) the format ``style(its format now)``, adding the
        cell (and its row) when the sheet has none there."""
        number = row + 1
        if number not in self._rows or self._rows[number][3]:  # no row, or an empty <row .../>
            cells = self._new_rows.setdefault(number, {})
            cells[col] = style(cells.get(col, 0))
            return
        ref = f"{column_letter(col)}{number}".encode()
        m = self._find(number, ref)
        if m is not None:
            s = _S.search(m.group(1))
            new_style = style(int(s.group(1)) if s else 0)
            if s:
                self._edits.append((m.start(1) + s.start(1), m.start(1) + s.end(1), (0,), str(new_style).encode()))
            else:
                self._edits.append((m.start(1), m.start(1), (0,), f' s="{new_style}"'.encode()))
            return
        # A new cell, after the last cell left of it (from the end, as the tree does).
        _, tag_end, stop, _ = self._rows[number]
        tag = self._previous(number, col)
        at = tag_end
        if tag is not None:
            at = tag.end() if tag.group(0).endswith(b"/>") else self._data.find(b"</c>", tag.end(), stop) + 4
        self._edits.append((at, at, (1, col), f'<c r="{ref.decode()}" s="{style(0)}"/>'.encode()))

    def _find(self, number: int, ref: bytes) -> re.Match | None:
        """The start tag of the cell ``ref`` in row ``number``: looked for by its usual
        spelling first, every cell of the row read only when that fails."""
        _, tag_end, stop, _ = self._rows[number]
        at = self._data.find(b' r="' + ref + b'"', tag_end, stop)
        if at >= 0:
            start = self._data.rfind(b"<c", tag_end, at)
            m = _CELL.match(self._data, start) if start >= 0 else None
            if m is not None and m.end() > at and _R.search(m.group(1)).group(1) == ref:
                return m
        if at < 0 and self._refs_first(number):
            return None  # every cell starts <c r="…", so this one would have been found
        found = next((m for _, cell_ref, m in self._cells(number) if cell_ref == ref), None)
        return _CELL.match(self._data, found.start()) if found is not None else None

    def _refs_first(self, number: int) -> bool:
        """Whether every cell of row ``number`` is written ``<c r="…`` (counting is cheap)."""
        _, tag_end, stop, _ = self._rows[number]
        return self._data.count(b"<c", tag_end, stop) == self._data.count(b'<c r="', tag_end, stop)

    def _previous(self, number: int, col: int) -> re.Match | None:
        """The start tag of the last cell of row ``number`` left of ``col``. Read cell by cell
        from the row's end (marks are mostly in its last columns): matching every cell of a
        row, as :meth:`_cells` does, cost more than the rest of a mark."""
        _, tag_end, stop, _ = self._rows[number]
        if number not in self._row_cells and self._refs_first(number):
            at = stop
            while (at := self._data.rfind(b'<c r="', tag_end, at)) >= 0:
                m = _PLAIN_CELL.match(self._data, at, stop)
                if m is None:
                    break  # not the usual spelling: every cell read below
                if _COLUMNS[m[1]] < col:
                    return m
            else:
                return None
        return next((m for c, _, m in reversed(self._cells(number)) if c is not None and c < col), None)

    def _cells(self, number: int) -> list[tuple[int | None, bytes, re.Match]]:
        """(col, reference, start tag) of each cell of row ``number``; cells written the
        usual way (``<c r="E7"`` first) read with one pattern, any other one by one."""
        if number not in self._row_cells:
            _, tag_end, stop, _ = self._rows[number]
            plain = list(_PLAIN_CELL.finditer(self._data, tag_end, stop))
            if len(plain) == self._data.count(b"<c", tag_end, stop):
                cells = [(_COLUMNS[m[1]], m[1] + m[2], m) for m in plain]
            else:
                cells = []
                for m in _CELL.finditer(self._data, tag_end, stop):
                    ref = _R.search(m.group(1)).group(1)
                    parsed = _CELL_REF.fullmatch(ref.replace(b"$", b""))
                    cells.append((column_index(parsed.group(1)) if parsed else None, ref, m))
            self._row_cells[number] = cells
        return self._row_cells[number]

    def unselect(self) -> None:
        """No ``tabSelected`` on the sheet's views."""
        for m in _SHEET_VIEW.finditer(self._data, 0, self._body[0]):
            tag = m.group(0)
            edited = _TAB_SELECTED.sub(b"", tag)
            if edited != tag:
                self._edits.append((m.start(), m.end(), (0,), edited))

    def add_legacy_drawing(self, rid: str) -> None:
        """A ``<legacyDrawing>`` (the comments' shapes) in its place among the sheet's children."""
        at = self._data.rindex(b"</worksheet>")
        depth = 0
        for m in _TAG.finditer(self._data, self._body[1] + len(b"</sheetData>"), at):
            closing, name, empty = m.group(1), m.group(2), m.group(3).endswith(b"/")
            if closing:
                depth -= 1
                if depth < 0:
                    break
                continue
            if depth == 0 and name in _AFTER_LEGACY:
                at = m.start()
                break
            if not empty:
                depth += 1
        self._edits.append((at, at, (0,), f'<legacyDrawing xmlns:r="{REL}" r:id="{rid}"/>'.encode()))

    def data(self) -> bytes | None:
        """The edited sheet, or None when nothing was edited."""
        edits = list(self._edits)
        if self._new_rows:
            edits.extend(self._row_edits())
        if not edits:
            return None
        out, pos = [], 0
        for start, end, _, new in sorted(edits, key=lambda e: (e[0], e[2])):
            out.append(self._data[pos:start])
            out.append(new)
            pos = max(pos, end)
        out.append(self._data[pos:])
        return b"".join(out)

    def _row_edits(self):
        """The rows the sheet lacked, each before the first later row (else at the end), and
        the empty ``<row .../>`` that got cells."""
        numbers = sorted(self._rows)
        for number, cells in self._new_rows.items():
            body = "".join(f'<c r="{column_letter(col)}{number}" s="{s}"/>' for col, s in sorted(cells.items()))
            if number in self._rows:  # <row .../> -> <row ...>cells</row>
                tag_start, tag_end, _, _ = self._rows[number]
                yield tag_end - 2, tag_end, (0,), b">" + body.encode() + b"</row>"
                continue
            later = next((n for n in numbers if n > number), None)
            at = self._rows[later][0] if later is not None else self._body[1]
            yield at, at, (1, number), f'<row r="{number}">{body}</row>'.encode()


class _Columns(dict):
    """Column letters -> 0-based index, each worked out once (a marked row's every cell is
    looked up; at most 18,278 keys)."""

    def __missing__(self, letters: bytes) -> int:
        self[letters] = col = column_index(letters)
        return col


_COLUMNS = _Columns()


def _ref(ref: bytes) -> tuple[int, int]:
    m = _CELL_REF.fullmatch(ref.replace(b"$", b""))
    if m is None:
        return -1, -1
    return int(m.group(2)) - 1, _COLUMNS[m.group(1).upper()]


def _encoding(data: bytes) -> bytes | None:
    """The encoding the XML declaration names (lower case), None when it names none."""
    m = _ENCODING.match(data)
    return m.group(1).lower() if m else None
