"""Big worksheets written as XML: the data rows streamed to a file, then spliced into a workbook
that xlsxwriter wrote with everything else (formats, headers, widths, filters, charts).

xlsxwriter spends ~10 µs on each cell; a summary of 10,000 projects has two million. Here a
row is one string built from per-column pieces, in the very form xlsxwriter's
``constant_memory`` mode writes (inline strings, ``<v>`` numbers, the cell's ``s`` style index),
so the finished workbook is the one xlsxwriter would have written, cell for cell, but for two
texts it gets wrong: one shaped like ``<r>…</r>`` (written unescaped, as rich text: a broken
file) and one holding a lone surrogate (it fails).
"""
from __future__ import annotations

import math
import re
import shutil
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Sequence

from ..present import MAX_TEXT
from .parts import column_index, column_letter, escape, sheet_parts

# Characters that need more than copying: XML's three, Excel's _xHHHH_ escape (control
# characters, U+FFFE/U+FFFF, and text that already looks like an escape), lone surrogates.
# One character class, then the "_xHHHH_" test only after a "_": three times faster than an
# alternation of the two for text without either (the regex engine scans for the class alone).
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff_](?:(?<=_)(?=x[0-9a-fA-F]{4}_)|(?<!_))")
_LOOKS_ESCAPED = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_EPOCH = datetime(1899, 12, 31)
TEXT, NUMBER, TIME = "text", "number", "time"  # column kinds of a RowFile
_HALF_MAX_TEXT = MAX_TEXT // 2


def cell_text(text: str) -> str:
    """``text`` as the content of an inline string's ``<t>``, the way Excel stores it: control
    characters as ``_xHHHH_`` (Excel shows them again), a literal ``_xHHHH_`` kept literal
    (``_x005F_xHHHH_``), ``& < >`` escaped, lone surrogates (which UTF-8 cannot hold) dropped."""
    if _SPECIAL.search(text) is None:
        return text
    text = _SURROGATE.sub("", _LOOKS_ESCAPED.sub(r"_x005F\1", text))
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return escape(text)


def excel_time(value: datetime) -> float:
    """Excel's serial number of a naive datetime, computed as xlsxwriter's ``write_datetime``
    does (days since 1899-12-31, plus Excel's phantom 1900-02-29), bit for bit."""
    delta = value - _EPOCH
    serial = delta.days + (float(delta.seconds) + float(delta.microseconds) / 1e6) / (60 * 60 * 24)
    return serial + 1 if serial > 59 else serial


def _cut(text: str) -> str:
    """``text`` cut to Excel's cell limit of 32,767 UTF-16 units (a character beyond U+FFFF
    takes two), never inside a character, as xlsxwriter cuts it."""
    units = 0
    for k, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > MAX_TEXT:
            return text[:k]
    return text


def _error_cell(ref: str, style: int, number: float) -> str:
    """What xlsxwriter's ``nan_inf_to_errors`` writes where Excel has no number."""
    error, formula = ("#NUM!", "#NUM!") if math.isnan(number) else ("#DIV/0!", "1/0" if number > 0 else "-1/0")
    return f'<c r="{ref}" s="{style}" t="e"><f>{formula}</f><v>{error}</v></c>'


class RowFile:
    """The ``<row>`` elements of one worksheet, streamed to ``path`` (memory stays flat however
    many rows). Each column has a kind (:attr:`TEXT`, :attr:`NUMBER`, :attr:`TIME`) and each
    cell an xlsxwriter style index (see :func:`xf_index`); a value is written as xlsxwriter's
    ``write_string``, ``write_number`` or ``write_datetime`` would store it."""

    TEXT, NUMBER, TIME = TEXT, NUMBER, TIME

    def __init__(self, path: Path, n_cols: int, first_col: int = 0):
        self.path = path
        # newline="": a line break inside a cell stays one "\n" on every platform.
        self.file = open(path, "w", encoding="utf-8", newline="")
        self.letters = [column_letter(first_col + c) for c in range(n_cols)]
        self.last_row = -1  # 0-based index of the last row that has a cell (the dimension)
        self._style_text: dict[tuple, list[str]] = {}

    def add(self, row: int, values: Sequence, kinds: Sequence[str], styles: Sequence[int],
            blanks: bool = False) -> None:
        """Row ``row`` (0-based). Blank values (None, "") get no cell, or with ``blanks`` an
        empty cell carrying its style; a str is text whatever its column; a row without cells
        is not written."""
        # The inner loop of the summary (two million cells at 10,000 projects): plain text
        # and finite numbers take the short paths, the row number and styles are text already.
        r = str(row + 1)
        parts = [f'<row r="{r}">']
        append = parts.append
        for letters, kind, style, value in zip(self.letters, kinds, self._styles(styles), values):
            if type(value) is str or (value is not None and (kind is TEXT or isinstance(value, str))):
                text = value if type(value) is str else str(value)
                if not text:
                    if blanks:
                        append(f'<c r="{letters}{r}" s="{style}"/>')
                    continue
                if len(text) > _HALF_MAX_TEXT:  # only then can it be over Excel's limit in UTF-16 units
                    text = _cut(text)
                if _SPECIAL.search(text) is not None:
                    text = cell_text(text)
                # Leading or trailing white space survives only with xml:space="preserve".
                space = ' xml:space="preserve"' if text.strip() != text else ""  # one call, not two
                append(f'<c r="{letters}{r}" s="{style}" t="inlineStr"><is><t{space}>{text}</t></is></c>')
            elif value is None:
                if blanks:
                    append(f'<c r="{letters}{r}" s="{style}"/>')
            else:
                number = excel_time(value) if kind is TIME else float(value)
                if number - number == 0:  # finite
                    append(f'<c r="{letters}{r}" s="{style}"><v>{number:.16G}</v></c>')
                else:
                    append(_error_cell(f"{letters}{r}", style, number))
        if len(parts) > 1:
            append("</row>")
            self.file.write("".join(parts))
            self.last_row = row

    def _styles(self, styles: Sequence[int]) -> list[str]:
        """``styles`` as text, remembered: a sheet's rows share one or two lists of styles."""
        key = tuple(styles)
        text = self._style_text.get(key)
        if text is None:
            text = self._style_text[key] = [str(s) for s in styles]
        return text

    def close(self) -> None:
        self.file.close()


def xf_index(cell_format) -> int:
    """The style index xlsxwriter gives ``cell_format`` in the workbook it writes (assigned on
    first use; xlsxwriter has no public call for it)."""
    return cell_format._get_xf_index()


# Measured on 1,000 projects: level 6 (xlsxwriter's) makes the file ~20 % smaller and costs
# 0.1 s more, a seventh of the whole summary; copies and reports use level 1 too.
COMPRESS_LEVEL = 1
_DIMENSION = re.compile(rb'<dimension ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"/>')


def _extend_dimension(head: bytes, rows: RowFile) -> bytes:
    """The sheet XML before ``</sheetData>`` with its ``<dimension>`` grown to take in ``rows``."""
    def grown(m: re.Match) -> bytes:
        first_col, first_row = m.group(1).decode(), int(m.group(2))
        last_col, last_row = (m.group(3) or m.group(1)).decode(), int(m.group(4) or m.group(2))
        last_row = max(last_row, rows.last_row + 1)
        last_col = column_letter(max(column_index(last_col), column_index(rows.letters[-1])))
        return f'<dimension ref="{first_col}{first_row}:{last_col}{last_row}"/>'.encode()

    return _DIMENSION.sub(grown, head, count=1)


def splice(frame: Path, out: Path, rows: dict[str, RowFile]) -> None:
    """Write ``out``: the workbook ``frame`` (as xlsxwriter wrote it) with ``rows`` (sheet name
    -> its rows) added after the rows each sheet already has, and the sheet's dimension grown
    to match. Every other part is copied as it is."""
    with zipfile.ZipFile(frame) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        parts = sheet_parts(src.read("xl/workbook.xml"), src.read("xl/_rels/workbook.xml.rels"))
        bodies = {parts[name]: body for name, body in rows.items()}
        for info in src.infolist():
            data = src.read(info)
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.compress_type, copy.external_attr, copy.create_system = \
                info.compress_type, info.external_attr, info.create_system
            # A ZipInfo carries its own level (public as compress_level from Python 3.13,
            # where _compresslevel stays as its alias); the ZipFile's applies to names only.
            copy._compresslevel = COMPRESS_LEVEL
            body = bodies.get(info.filename)
            if body is None:
                dst.writestr(copy, data)
                continue
            at = data.rindex(b"</sheetData>")
            head, tail = _extend_dimension(data[:at], body), data[at:]
            # The size is known before writing, so a huge sheet gets its zip64 header up front.
            copy.file_size = len(head) + body.path.stat().st_size + len(tail)
            with dst.open(copy, "w") as part, open(body.path, "rb") as stream:
                part.write(head)
                shutil.copyfileobj(stream, part, 1 << 20)
                part.write(tail)
