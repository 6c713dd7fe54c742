"""Reading a department workbook into records, tolerantly, with every problem named by cell.

calamine gives the raw grid of each sheet as an object array: the grid pandas ``read_excel``
would give (header=None, so grid row i is Excel row i + 1), without building a DataFrame. The
form (schema.py) says which headers to look for; the header row is found below any title
rows, merged ranges are filled, blank rows skipped, and each value is converted by its
column's kind. Nothing here raises for bad data: it becomes an Issue.

A workbook with any of the standard form's sheets is read as the standard form, and only
those sheets are parsed. Any other workbook is searched for the national 项目支出绩效自评表
(:mod:`selfeval_xlsx.national`, which converts its cells with the same sheet reader); one with
neither gets one ``unknown-layout`` problem.
"""
from __future__ import annotations

import datetime as dt
import difflib
import io
import re
import zipfile
from dataclasses import replace
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
from python_calamine import SheetTypeEnum, SheetVisibleEnum, load_workbook

from . import guard, national, schema
from .errors import UnreadableInput
from .intake import read_file
from .grid import fill_merges, is_blank as _is_blank
from .issues import Code, Issue, issue, unreadable_file
from .models import FundingRow, Indicator, Project, SpendingRow, Submission
from .parsing import parse_number, parse_quantity
from .vocab import Layout, normalize_level, normalize_nature, normalize_source, strip_format_chars
from .xlsx.meta import SheetMeta, read_meta, read_ods_meta
from .xlsx.parts import a1 as _a1, column_letter, sheet_names

ENGINE = "calamine"  # pandas engine; the benchmark's naive baseline swaps in "openpyxl"
HEADER_SEARCH_ROWS = 30  # non-blank rows looked at for the header (title rows come first)
_WAN = Decimal(10000)
_TOO_LARGE = Decimal(10) ** 12  # 万元 (a trillion): no budget line, weight or score comes near it
_RECORD = {"funding": FundingRow, "spending": SpendingRow, "indicators": Indicator}
_YEAR = re.compile(r"^\s*((?:19|20)\d\d)\s*年?度?\s*$")
# What clerks type in an optional number cell (年初预算数, 自评得分, 扣分) to mean "nothing".
_NONE_MARKS = frozenset({"-", "--", "—", "——", "－", "/", "／", "\\", "无", "空"})
_MONEY_UNITS = {"元": Decimal("0.0001"), "千元": Decimal("0.1"), "万元": Decimal(1), "万": Decimal(1),
                "亿元": _WAN, "亿": _WAN}  # in 万元


def read_workbook(path: str | Path, data: bytes | None = None, *, name: str | None = None,
                  limits: guard.Limits = guard.Limits()) -> Submission:
    """Read one workbook (``.xlsx``, ``.xlsm``, ``.xls``, ``.et`` or ``.ods``) into a :class:`Submission`.

    ``data`` may carry the file's bytes (e.g. an e-mail attachment) and ``name`` the name to
    show in problems (defaults to ``path``). An unreadable file yields a submission with no
    projects and one file-level error; this function does not raise for bad input.
    """
    file = name or str(path)
    try:
        if data is None:
            data = read_file(path, limits.max_file_bytes)  # a regular file within the size limit only
        fmt = guard.inspect(data, Path(path).suffix or ".xlsx", limits)
        parts = _open_parts(data) if fmt == "xlsx" else None  # opened once for the names and the metadata
        names = _xlsx_sheet_names(parts) if parts is not None else None
        # Read before calamine: the metadata says how much calamine would allocate (for the
        # sheets it will parse: the form's, or every candidate of a national workbook).
        pick = national.is_candidate if names is not None and not _is_standard(names) else None
        meta = _safe_meta(parts or data, limits.max_cells, pick) if fmt == "xlsx" else \
            _ods_meta(data) if fmt == "ods" else {}
        oversized = _oversized(file, meta, limits)
        if oversized:
            return Submission(file, issues=oversized)
        ambiguous: list[Issue] = []
        grids, merges = _load_arrays(data, ambiguous, meta)
        ambiguous = [replace(i, file=file) for i in ambiguous]
    except UnreadableInput as exc:
        return Submission(file, issues=[issue(exc.code, str(exc), file=file, value=exc.detail)])
    except OSError as exc:
        return Submission(file, issues=[unreadable_file(exc, file)])
    if not _is_standard(grids):
        submission = national.read_forms(file, (_SheetReader(file, None, n, g, merges.get(n, []), meta.get(n))
                                                for n, g in grids.items() if g is not None))
        if submission.projects or not any(_is_form_sheet(n) for n in grids):
            submission.issues = [*ambiguous, *submission.issues]  # hidden sheets left unread
            submission.sheet_order = tuple(grids)
            return submission
        # else: a standard workbook missing sheets, which the standard reader names
    submission = _build(file, grids, merges, meta)
    if ambiguous:  # a sheet left unread for being ambiguous is not also "missing"
        unread = {i.sheet for i in ambiguous if i.is_error}
        submission.issues = [*ambiguous, *(i for i in submission.issues
                                           if not (i.code is Code.MISSING_SHEET and i.sheet in unread))]
    return submission


def _is_standard(names) -> bool:
    """Two or more of the standard form's sheets: the standard layout. One alone may be a
    national form on a sheet that happens to be called 项目 or 项目资金, so its content decides."""
    return len({schema.SHEET_NAMES[schema.normalize_header(n)[0]] for n in names if _is_form_sheet(n)}) >= 2


def _open_parts(data: bytes) -> zipfile.ZipFile | None:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - calamine then decides (and reports a broken file)
        return None


def _xlsx_sheet_names(archive: zipfile.ZipFile) -> tuple[str, ...] | None:
    try:
        return _sheet_names_of(archive.read("xl/workbook.xml"))
    except Exception:  # noqa: BLE001 - calamine then decides (and reports a broken file)
        return None


# Copies of one template share workbook.xml byte for byte: each distinct one is parsed once.
@lru_cache(maxsize=32)
def _sheet_names_of(workbook_xml: bytes) -> tuple[str, ...]:
    return tuple(sheet_names(workbook_xml))


def _load_arrays(data: bytes, ambiguous: list[Issue],
                 meta: dict[str, SheetMeta]) -> tuple[dict[str, np.ndarray | None], dict[str, list]]:
    """The form's sheets (one per form sheet, see :func:`_choose_sheets`, whose problems go
    to ``ambiguous``) as raw object grids, the others mapped to None, plus their merged
    ranges; calamine failures become ``UnreadableInput``. The grids are what
    :func:`_load_grids` gives, straight from calamine: pandas would build a DataFrame of
    each sheet (a third of the reading time) only for the reader to take its array back."""
    if ENGINE != "calamine":  # the benchmark's naive baseline reads through pandas
        frames, merges = _load_grids(data, ambiguous=ambiguous, meta=meta)
        return {n: None if g is None else g.to_numpy(dtype=object, copy=True) for n, g in frames.items()}, merges
    try:
        with load_workbook(io.BytesIO(data)) as book:
            sheets = book.sheets_metadata
            names = [s.name for s in sheets if s.typ == SheetTypeEnum.WorkSheet]  # as pandas lists them
            hidden = {s.name for s in sheets if s.visible != SheetVisibleEnum.Visible}
            wanted, problems = _choose_sheets("", names, hidden)
            ambiguous.extend(problems)
            grids: dict[str, np.ndarray | None] = {}
            merges: dict[str, list] = {}
            for name in wanted:
                sheet = book.get_sheet_by_name(name)
                grids[name] = _grid(sheet.to_python(skip_empty_area=False))
                merges[name] = _merges(meta.get(name), lambda: sheet)
            grids.update({n: None for n in names if n not in grids})
    except Exception as exc:  # noqa: BLE001 - any parser failure means "cannot read this file"
        raise _unreadable(exc) from None
    return grids, merges


def _merges(meta: SheetMeta | None, sheet) -> list:
    """A sheet's merged ranges: from its ``meta`` when read there, else from the parser's
    ``sheet()`` (called only then: calamine would parse the sheet a second time to give them)."""
    if meta is not None and meta.merges is not None:
        return meta.merges
    try:
        return sheet().merged_cell_ranges or []
    except Exception:  # noqa: BLE001 - merged ranges are a convenience; .xls/.ods may lack them
        return []


def _grid(rows: list[list]) -> np.ndarray:
    """A sheet's rows as the object array ``pd.read_excel(header=None, dtype=object,
    na_filter=False)`` gives (its calamine cell conversion: whole floats as int, dates as
    datetimes; a byte-order mark leading the first cell dropped, as its text parser does)."""
    if not rows or not rows[0]:
        return np.empty((0, 0), dtype=object)
    out = np.empty((len(rows), len(rows[0])), dtype=object)
    for r, row in enumerate(rows):
        out[r] = [v if type(v) is str else _cell(v) for v in row]  # text (and blank "") the most
    first = out[0, 0]
    if isinstance(first, str) and first.startswith(_BOM):
        out[0, 0] = _without_bom(first)
    return out


def _cell(value):
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is dt.date:
        return dt.datetime(value.year, value.month, value.day)
    return value


_BOM = "\ufeff"


def _without_bom(text: str) -> str:
    """pandas' ``PythonParser._check_for_bom`` on the first cell: the mark dropped, and a
    quoted text right after it unquoted."""
    if len(text) > 1 and text[1] == '"':
        end = text[2:].index('"') + 2
        return text[2:end] + text[end + 1:]
    return text[1:]


def _unreadable(exc: Exception) -> UnreadableInput:
    text = f"{type(exc).__name__}: {exc}"[:300]  # for support, never in the message
    if "password" in text.lower() or "encrypt" in text.lower():
        return UnreadableInput("工作簿设置了密码保护，无法读取。请取消密码保护后重新提交。", Code.ENCRYPTED, text)
    return UnreadableInput("文件已损坏，无法按 Excel 工作簿读取。请确认该文件能用 Excel 正常打开，另存为 .xlsx 后重新提交。",
                           Code.CORRUPT_FILE, text)


def _load_grids(data: bytes, wanted_sheet=None, ambiguous: list[Issue] | None = None,
                meta: dict[str, SheetMeta] | None = None) -> tuple[dict, dict[str, list]]:
    """Every sheet as a raw object grid plus its merged ranges; calamine failures become
    ``UnreadableInput`` (calamine raises its own exception types, and occasionally others).
    ``wanted_sheet(name)`` picks the sheets to parse (default: one per form sheet, see
    :func:`_choose_sheets`, whose problems go to ``ambiguous``); others map to None. A
    sheet's merged ranges come from its ``meta`` when read there (calamine would parse the
    sheet a second time to give them)."""
    import pandas as pd  # only the targets and the benchmark's baseline read through pandas

    try:
        with pd.ExcelFile(io.BytesIO(data), engine=ENGINE) as book:
            # Only the form's sheets are read (not 填表说明 or list sheets); the others are named.
            if wanted_sheet is None:
                wanted, problems = _choose_sheets("", book.sheet_names, _hidden_sheets(book))
                (ambiguous if ambiguous is not None else []).extend(problems)
            else:
                wanted = [n for n in book.sheet_names if wanted_sheet(n)]
            # Text is text: pandas would turn "NA", "None", "NULL" or "NaN" typed in a cell into a
            # blank (an id NA would vanish); blank cells come back as "".
            grids = pd.read_excel(book, sheet_name=wanted, header=None, dtype=object, na_filter=False) if wanted else {}
            grids.update({n: None for n in book.sheet_names if n not in grids})
            merges = {name: _merges((meta or {}).get(name), lambda: book.book.get_sheet_by_name(name))
                      for name in wanted}
    except Exception as exc:  # noqa: BLE001 - any parser failure means "cannot read this file"
        raise _unreadable(exc) from None
    return grids, merges


def _hidden_sheets(book) -> set[str]:
    """Names of the hidden (and very hidden) sheets, where the parser can tell."""
    try:
        return {m.name for m in book.book.sheets_metadata if m.visible != SheetVisibleEnum.Visible}
    except Exception:  # noqa: BLE001 - visibility only helps choose between look-alike sheets
        return set()


def _choose_sheets(file: str, names: list[str], hidden: set[str]) -> tuple[list[str], list[Issue]]:
    """The sheets to read: one per form sheet. Several sheets may match one (a hidden stale
    「绩效指标」 beside its copy 「绩效指标 (2)」): the only visible one is read, with a warning
    naming the others; when that does not decide, none is read and the file is refused."""
    if not _is_standard(names):  # no standard workbook: any sheet may hold national forms
        return national.candidates(file, names, hidden)
    by_key: dict[str, list[str]] = {}
    for name in names:
        key = schema.SHEET_NAMES.get(schema.normalize_header(name)[0])
        if key:
            by_key.setdefault(key, []).append(name)
    wanted, problems = [], []
    for key, found in by_key.items():
        visible = [n for n in found if n not in hidden]
        listed = "、".join(f"「{n}」{'（隐藏）' if n in hidden else ''}" for n in found)
        title = next(s.name for s in schema.SHEETS if s.key == key)
        if len(found) == 1:
            wanted.append(found[0])
        elif len(visible) == 1:
            wanted.append(visible[0])
            problems.append(issue(Code.DUPLICATE_SHEET,
                f"工作簿中有 {len(found)} 张工作表都对应「{title}」：{listed}。已读取唯一可见的「{visible[0]}」，"
                "隐藏的未读取。请删除不用的工作表，以免混淆。", file=file, sheet=visible[0]))
        else:
            problems.append(issue(Code.AMBIGUOUS_SHEET,
                f"工作簿中有 {len(found)} 张工作表都对应「{title}」：{listed}，无法判断应读取哪一张，均未读取。"
                f"请只保留一张「{title}」后重新提交。", file=file, sheet=title))
    return [n for n in names if n in wanted], problems


def _oversized(file: str, meta: dict[str, SheetMeta], limits: guard.Limits) -> list[Issue]:
    """Refusals for sheets whose used range, or whose repeated shared text, would make the
    parser allocate far more than the file's size suggests (a value in cell XFD1048576 asks
    for a 17-billion-cell grid; one long string referenced by many cells is copied each time)."""
    issues = []
    for sheet, m in meta.items():
        if m.rows * m.cols > limits.max_cells:
            issues.append(issue(Code.SHEET_TOO_LARGE,
                f"工作表「{sheet}」的数据区域延伸到 {_a1(m.rows - 1, m.cols - 1)}（{m.rows} 行 × {m.cols} 列），"
                f"超过上限 {limits.max_cells:,} 个单元格，已拒收。请删除表格以外远处的零散内容后重新提交。",
                file=file, sheet=sheet, row=m.rows - 1, col=m.cols - 1))
    text = sum(m.shared_text for m in meta.values())
    if text > limits.max_text_bytes:
        issues.append(issue(Code.TEXT_TOO_LARGE,
            f"工作簿中被单元格重复引用的文字展开后约 {text / 2**20:.0f} MB，超过上限 "
            f"{limits.max_text_bytes / 2**20:.0f} MB，疑似恶意文件，已拒收。", file=file))
    return issues


def _is_form_sheet(name: str) -> bool:
    return schema.normalize_header(name)[0] in schema.SHEET_NAMES


def _safe_meta(data: bytes | zipfile.ZipFile, max_cells: int, wanted_sheet=None) -> dict[str, SheetMeta]:
    """Metadata of the sheets that will be parsed (``wanted_sheet`` picks them; by default the
    form's): 填表说明 and list sheets of the standard form are never parsed."""
    try:
        return read_meta(data, wanted_sheet or _is_form_sheet, max_cells)
    except Exception:  # noqa: BLE001 - metadata only refines values; calamine already read them
        return {}


def _ods_meta(data: bytes) -> dict[str, SheetMeta]:
    """Percent cells of an OpenDocument spreadsheet (calamine gives 95 % as 0.95)."""
    try:
        return read_ods_meta(data)
    except Exception:  # noqa: BLE001 - metadata only refines values; calamine already read them
        return {}


def _number_text(value: float | int) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _date_text(value: dt.datetime | dt.date) -> str:
    if isinstance(value, dt.datetime) and value.time() != dt.time():
        return value.isoformat(sep=" ")
    return value.strftime("%Y-%m-%d")


def as_text(value) -> str:
    """A cell value as the text a user sees (18.0 -> ``"18"``, dates as ``2023-12-31``)."""
    if _is_blank(value):
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return _number_text(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return _date_text(value)
    if isinstance(value, dt.time):
        return value.isoformat()
    return _text(str(value))


def _text(text: str) -> str:
    """What the user sees of a text: no invisible characters, no surrounding spaces."""
    return strip_format_chars(text).strip()


def _percent_text(value: float | int) -> str:
    pct = Decimal(repr(float(value))) * 100
    text = format(pct.normalize(), "f")
    return f"{text}%"


class _SheetReader:
    """Reads one sheet of the form: header detection, column mapping, value conversion.
    Without a ``spec`` it only converts cells (:meth:`convert`), for a layout found by content."""

    def __init__(self, file: str, spec: schema.SheetSpec | None, sheet: str, grid,
                 merges: list, meta: SheetMeta | None):
        self.file, self.spec, self.sheet = file, spec, sheet
        self.meta = meta or SheetMeta()
        self.merges = merges
        self.issues: list[Issue] = []
        # A grid from :func:`_load_arrays` or a DataFrame from :func:`_load_grids`.
        self.values = grid.copy() if isinstance(grid, np.ndarray) else grid.to_numpy(dtype=object, copy=True)
        self._marked = bool(self.meta.errors or self.meta.formula_without_value)  # cells to look up first
        self._fill_merges(merges)

    @cached_property
    def grid(self) -> list[list]:
        """:attr:`values` as lists of rows, which index faster cell by cell (read only)."""
        return self.values.tolist()

    def _fill_merges(self, merges: list) -> None:
        """A merged range carries its top-left value to every cell it covers."""
        fill_merges(self.values, merges)

    def where(self, row: int | None, col: int | None = None) -> dict:
        return {"file": self.file, "sheet": self.sheet, "row": row, "col": col}

    def find_header(self) -> tuple[int, dict[str, int], dict[str, str]] | None:
        """(header row, field -> column, field -> unit) of the best-matching row among the
        first non-blank rows; None when no row names any column of the form."""
        names = schema.HEADER_NAMES[self.spec.key]
        every = len(set(names.values()))
        best = None
        looked = 0
        for r, row in enumerate(self.grid):
            if all(_is_blank(v) for v in row):
                continue
            cols: dict[str, int] = {}
            units: dict[str, str] = {}
            for c, value in enumerate(row):
                if _is_blank(value) or not isinstance(value, str):
                    continue
                name, unit = schema.normalize_header(value)
                field = names.get(name)
                if field and field not in cols:
                    cols[field], units[field] = c, unit
            if cols and (best is None or len(cols) > len(best[1])):
                best = (r, cols, units)
                if len(cols) == every:
                    break  # every column named: no row below can match more
            looked += 1
            if looked >= HEADER_SEARCH_ROWS:
                break
        return best

    def rows(self) -> tuple[list[tuple[int, dict]], dict[str, int]]:
        """Converted data rows as (0-based sheet row, field -> value) and the column map.
        Rows labelled 合计/小计/总计/总分 are the department's own totals, not records: they
        are skipped (and checked against the rows above, see :class:`_Totals`)."""
        header = self.find_header()
        required = "、".join(c.header for c in self.spec.required)
        if header is None:
            self.issues.append(issue(Code.MISSING_HEADER, f"工作表「{self.sheet}」中找不到表头行，应包含列：{required}。请使用标准模板的表头。",
                **self.where(None)))
            return [], {}
        header_row, cols, units = header
        missing = [c for c in self.spec.required if c.field not in cols]
        for k, column in enumerate(missing):
            self.issues.append(self._missing_column(column, header_row, cols, k))
        self._duplicate_columns(header_row, cols)
        fields = [(f, c, self.spec.column(f), units.get(f, "")) for f, c in cols.items()]
        return self._records(header_row, fields), cols

    def _records(self, header_row: int, fields: list[tuple]) -> list[tuple[int, dict]]:
        """The data rows below ``header_row``, each cell converted by its field's column."""
        records = []
        totals = _Totals(self, [(f, c, column, unit) for f, c, column, unit in fields if column.kind == schema.AMOUNT])
        # A text cell of a sheet without error values is only cleaned (see _convert), and the
        # same texts come back down a sheet (ids, 一级/二级 names): each is cleaned once.
        plain = not self._marked
        steps = [(f, c, column, unit, plain and column.kind in (schema.TEXT, schema.VALUE),
                  plain and column.kind in (schema.AMOUNT, schema.NUMBER)) for f, c, column, unit in fields]
        columns = [c for _, c, _, _ in fields]
        convert, number, grid, cleaned = self._convert, self._number, self.grid, {}
        for r in range(header_row + 1, len(grid)):
            row = grid[r]
            for c in columns:
                if not _is_blank(row[c]):
                    break
            else:
                continue  # a blank row
            label = _totals_label(row)
            if label:
                totals.check(r, row, label)
                continue
            values = {}
            for f, c, column, unit, text, numeric in steps:
                value = row[c]
                kind = type(value)
                if text and kind is str:
                    clean = cleaned.get(value)
                    values[f] = clean if clean is not None else cleaned.setdefault(value, _text(value))
                elif numeric and (kind is int or kind is float and value == value):
                    values[f] = number(r, c, column, unit, value)  # what _convert does with a number (NaN is blank)
                else:
                    values[f] = convert(r, c, column, unit, value)
            totals.add(values)
            records.append((r, values))
        return records

    def convert(self, row: int, col: int, column: schema.Column, unit: str = ""):
        """The cell at (row, col) read as ``column`` says (its kind; its header names it in
        problems), a conversion problem added to :attr:`issues`."""
        return self._convert(row, col, column, unit, self.values[row, col])

    def _duplicate_columns(self, header_row: int, cols: dict[str, int]) -> None:
        """A header that appears twice: the first column is read, the other named (a warning
        on its header), and every row where the other holds something else is an error,
        since which one the department meant cannot be told."""
        names = schema.HEADER_NAMES[self.spec.key]
        for c, value in enumerate(self.values[header_row]):
            if not isinstance(value, str):
                continue
            field = names.get(schema.normalize_header(value)[0])
            first = cols.get(field)
            if field is None or first is None or first == c:
                continue
            header = self.spec.column(field).header
            self.issues.append(issue(Code.DUPLICATE_HEADER,
                f"{self.sheet}!{_a1(header_row, c)} 与 {_a1(header_row, first)} 都是「{header}」列，已读取第一列"
                f"（{column_letter(first)} 列）。请删除或改名多余的一列。",
                **self.where(header_row, c), value=as_text(value)))
            for r in range(header_row + 1, self.values.shape[0]):
                a, b = self.values[r, first], self.values[r, c]
                if not _is_blank(b) and as_text(a) != as_text(b):  # the read column says otherwise, or nothing
                    self.issues.append(issue(Code.CONFLICTING_COLUMNS,
                        f"{self.sheet}!{_a1(r, first)} 与 {_a1(r, c)} 同为「{header}」列，但内容不同（「{as_text(a)}」与"
                        f"「{as_text(b)}」），无法判断以哪个为准。请删除多余的一列。", **self.where(r, c), value=as_text(b)))

    def _missing_column(self, column: schema.Column, header_row: int, cols: dict[str, int], k: int) -> Issue:
        """A required column the header lacks, pointing at the header cell that comes closest
        (a typo, a traditional character, an extra word) or, when none does, at the free
        cell after the header where the column could go (the ``k``-th missing one)."""
        where = f"工作表「{self.sheet}」第 {header_row + 1} 行表头缺少必填列「{column.header}」"
        near = self._near_miss(column, header_row, set(cols.values()))
        if near is not None:
            col, text = near
            return issue(Code.MISSING_COLUMN, f"{where}；{_a1(header_row, col)} 的「{text}」最接近，如就是该列，"
                         f"请把表头改为「{column.header}」。", **self.where(header_row, col), value=text)
        row = self.values[header_row]
        col = 1 + max((c for c in range(len(row)) if not _is_blank(row[c])), default=-1) + k
        return issue(Code.MISSING_COLUMN, f"{where}（没有相近的列名），请按标准模板补上该列（如在 {_a1(header_row, col)}）。",
                     **self.where(header_row, col), value=column.header)

    def _near_miss(self, column: schema.Column, header_row: int, used: set[int]) -> tuple[int, str] | None:
        """(column, text) of the unmatched header cell most like one of ``column``'s names."""
        names = [schema.normalize_header(n)[0] for n in (column.header, *column.aliases)]
        best, best_ratio = None, _NEAR_MISS
        for c, value in enumerate(self.values[header_row]):
            if c in used or _is_blank(value) or not isinstance(value, str):
                continue
            name = schema.normalize_header(value)[0]
            ratio = max(difflib.SequenceMatcher(None, name, n).ratio() for n in names)
            if ratio >= best_ratio:
                best, best_ratio = (c, as_text(value)), ratio
        return best

    def _convert(self, row: int, col: int, column: schema.Column, unit: str, value):
        kind = column.kind
        if type(value) is str and (kind == schema.TEXT or kind == schema.VALUE) and not self._marked:
            return _text(value)  # most cells: what as_text makes of a text
        if self._marked:
            return self._convert_marked(row, col, column, unit, value)
        return self._convert_value(row, col, column, unit, value)

    def _convert_marked(self, row: int, col: int, column: schema.Column, unit: str, value):
        """A cell of a sheet with error values or formulas without a value somewhere."""
        error = self.meta.errors.get((row, col))
        if error:
            self.issues.append(issue(Code.EXCEL_ERROR,
                f"{self.sheet}!{_a1(row, col)}「{column.header}」公式计算结果为 {error}，请在 Excel 中修正公式后重新提交。",
                **self.where(row, col), value=error))
            return None if column.kind in (schema.AMOUNT, schema.NUMBER) else error
        if (row, col) in self.meta.formula_without_value:
            self.issues.append(issue(Code.FORMULA_NO_VALUE,
                f"{self.sheet}!{_a1(row, col)}「{column.header}」是公式，但文件中没有保存计算结果。"
                "请在 Excel 中打开该工作簿、保存后重新提交。", **self.where(row, col)))
            return None
        return self._convert_value(row, col, column, unit, value)

    def _convert_value(self, row: int, col: int, column: schema.Column, unit: str, value):
        if _is_blank(value) or (not column.required and column.kind in (schema.AMOUNT, schema.NUMBER)
                                and isinstance(value, str) and value.strip() in _NONE_MARKS):
            return None if column.kind in (schema.AMOUNT, schema.NUMBER) else ""
        if column.kind in (schema.AMOUNT, schema.NUMBER):
            return self._number(row, col, column, unit, value)
        if column.kind == schema.VALUE and isinstance(value, (int, float)) and not isinstance(value, bool):
            return _percent_text(value) if (row, col) in self.meta.percent else _number_text(value)
        if column.kind == schema.YEAR:
            return self._year(row, col, column, value)
        return as_text(value)

    def _number(self, row, col, column, unit, value) -> Decimal | None:
        number = None if isinstance(value, (bool, dt.date, dt.datetime, dt.time)) else parse_number(value)
        written = parse_quantity(value)[1] if number is not None and isinstance(value, str) else ""
        if written and column.kind == schema.AMOUNT:
            return self._amount_with_unit(row, col, column, unit, value, number, written)
        if number is None:
            hint = "日期" if isinstance(value, (dt.date, dt.datetime)) else "文字"
            self.issues.append(issue(Code.BAD_NUMBER,
                f"{self.sheet}!{_a1(row, col)}「{column.header}」应填数字，读到的是{hint}「{as_text(value)}」。"
                "请改为阿拉伯数字（如 100 或 100.50）。", **self.where(row, col), value=as_text(value)))
            return None
        if number < 0:
            self.issues.append(issue(Code.NEGATIVE_NUMBER, f"{self.sheet}!{_a1(row, col)}「{column.header}」不能为负数（读到 {number}）。",
                **self.where(row, col), value=as_text(value)))
            return None
        if number >= _TOO_LARGE or not number.is_finite():
            # Beyond any budget; the scorer's 28-digit decimal context would also overflow on it.
            self.issues.append(issue(Code.NUMBER_TOO_LARGE, f"{self.sheet}!{_a1(row, col)}「{column.header}」数值过大（读到 {as_text(value)}），"
                "请核对数值和单位。", **self.where(row, col), value=as_text(value)))
            return None
        if unit == "元" and column.kind == schema.AMOUNT:
            number = number / _WAN  # the form is in 万元; a (元) header is converted on read
        return number

    def _amount_with_unit(self, row, col, column, unit, value, number: Decimal, written: str) -> Decimal | None:
        """An amount typed with its unit (``950000元``): a money unit other than the column's
        is converted to it, with a warning; any other unit (``95次``) is an error."""
        factor = _MONEY_UNITS.get(written)
        text = as_text(value)
        if factor is None:
            self.issues.append(issue(Code.BAD_AMOUNT_UNIT,
                f"{self.sheet}!{_a1(row, col)}「{column.header}」应填金额，读到「{text}」，单位「{written}」不是货币单位。"
                "请填写以万元为单位的数字。", **self.where(row, col), value=text))
            return None
        column_factor = _MONEY_UNITS["元"] if unit == "元" else 1
        converted = number * factor  # in 万元
        if factor != column_factor:
            self.issues.append(issue(Code.UNIT_IN_AMOUNT,
                f"{self.sheet}!{_a1(row, col)}「{column.header}」写的是「{text}」，本列单位为{unit or '万元'}，已换算为 "
                f"{format(converted.normalize(), 'f')} 万元。请核对，并只填数字。", **self.where(row, col), value=text))
        checked = self._number(row, col, column, "", converted)  # sign and size checks, in 万元 already
        return checked

    def _year(self, row, col, column, value) -> str:
        text = as_text(value)
        match = _YEAR.match(text)
        if text and not match:
            self.issues.append(issue(Code.BAD_YEAR, f"{self.sheet}!{_a1(row, col)}「{column.header}」应为四位年份（如 2023），读到「{text}」。",
                **self.where(row, col), value=text))
            return text
        return match.group(1) if match else ""


_TOTALS_LABELS = frozenset({"合计", "小计", "总计", "总分"})
_NEAR_MISS = 0.6  # difflib ratio from which a header cell is named as the likely intended column
_TOTALS_TOLERANCE = Decimal("0.01")  # 万元, as the national reconciliation tolerance


def _totals_label(row) -> str:
    """合计/小计/总计/总分 when a cell of ``row`` says only that (``合 计：`` too), else ""."""
    for value in row:
        if isinstance(value, str) and len(value) <= 12 and ("计" in value or "总分" in value):
            name = schema.normalize_header(value)[0].rstrip(":：")
            if name in _TOTALS_LABELS:
                return name
    return ""


class _Totals:
    """The amounts of the data rows since the last totals row, to check a 合计/总计/总分 row
    (all rows since the previous such row) or a 小计 row (rows since the previous totals
    row of any kind) against them. A figure that disagrees is a warning on its cell: the
    row itself never counts, but one of the two is wrong."""

    def __init__(self, reader: "_SheetReader", amounts: list[tuple]):
        self.reader, self.amounts = reader, amounts
        self.since = {"小计": {}, "合计": {}}

    def add(self, values: dict) -> None:
        for f, *_ in self.amounts:
            if isinstance(values.get(f), Decimal):
                for sums in self.since.values():
                    sums[f] = sums.get(f, Decimal(0)) + values[f]

    def check(self, r: int, row, label: str) -> None:
        key = "小计" if label == "小计" else "合计"
        sums = self.since[key]
        reader = self.reader
        for f, c, column, unit in self.amounts:
            value = row[c]
            given = None if isinstance(value, (bool, dt.date, dt.time)) else parse_number(value)
            if given is None:
                continue
            given = given / _WAN if unit == "元" else given
            expected = sums.get(f, Decimal(0))
            if abs(given - expected) > _TOTALS_TOLERANCE:
                shown = lambda x: format(x.normalize(), "f")  # noqa: E731
                reader.issues.append(issue(Code.TOTALS_MISMATCH,
                    f"{reader.sheet}!{_a1(r, c)}「{label}」行的{column.header} {shown(given)} 万元与上方各行之和 "
                    f"{shown(expected)} 万元不一致。{label}行不参与评分，请核对明细或{label}。",
                    **reader.where(r, c), value=as_text(value)))
        self.since["小计"] = {}
        if key == "合计":
            self.since["合计"] = {}


def _match_sheets(file: str, grids: dict) -> tuple[dict[str, str], list[Issue]]:
    """Form sheet key -> actual sheet name, and issues for missing sheets."""
    found: dict[str, str] = {}
    for actual, grid in grids.items():
        key = schema.SHEET_NAMES.get(schema.normalize_header(actual)[0])
        if key and key not in found and grid is not None:  # a look-alike left unread is not the sheet
            found[key] = actual
    issues = []
    for spec in schema.SHEETS:
        if spec.key not in found:
            # 支出 only feeds the reconciliation check; every other sheet is needed to score.
            code = Code.MISSING_SPENDING_SHEET if spec.key == "spending" else Code.MISSING_SHEET
            issues.append(issue(code, f"工作簿缺少工作表「{spec.name}」，请使用标准模板并保留该工作表。",
                                file=file, sheet=spec.name))
    return found, issues


def _build(file: str, grids: dict, merges: dict, meta: dict) -> Submission:
    found, issues = _match_sheets(file, grids)
    tables: dict[str, list] = {}
    for key, sheet in found.items():
        spec = next(s for s in schema.SHEETS if s.key == key)
        reader = _SheetReader(file, spec, sheet, grids[sheet], merges.get(sheet, []), meta.get(sheet))
        records, cols = reader.rows()
        tables[key] = [(sheet, r, cols, values) for r, values in records]
        issues.extend(reader.issues)
    submission = Submission(file, has_funding_sheet="funding" in found, sheet_order=tuple(grids),
                            layouts={sheet: Layout.STANDARD.value for sheet in found.values()})
    by_id: dict[str, Project] = {}
    for sheet, r, cols, values in tables.get("projects", []):
        project = Project(sheet=sheet, row=r, cols=cols, source_file=file, **_fields(values))
        if project.project_id in by_id:
            submission.duplicates.append(project)
        elif project.project_id:
            by_id[project.project_id] = project
            submission.projects.append(project)
        else:
            submission.orphans.append(project)  # no id: the checks report the empty cell
    for key in ("funding", "spending", "indicators"):
        for sheet, r, cols, values in tables.get(key, []):
            record = _normalized(_RECORD[key](sheet=sheet, row=r, cols=cols, **_fields(values)))
            project = by_id.get(record.project_id)
            if project is None:
                submission.orphans.append(record)
            else:
                getattr(project, key).append(record)
    owners = {(sheet, r): values.get("project_id") for rows in tables.values() for sheet, r, _, values in rows}
    submission.issues = [_with_project(i, owners) for i in issues]
    return submission


def _normalized(record):
    """Vocabulary cells as the domain writes them (``产出`` -> ``产出指标``, ``反向指标`` ->
    ``反向``); what matches nothing stays as typed, for the checks to report."""
    if isinstance(record, Indicator):
        record.level1 = normalize_level(record.level1, schema.LEVEL1)
        record.level2 = normalize_level(record.level2, schema.LEVEL2)
        record.nature = normalize_nature(record.nature)
    elif isinstance(record, FundingRow):
        record.source = normalize_source(record.source)
    return record


def _with_project(issue: Issue, owners: dict) -> Issue:
    """Give a cell problem the 项目编号 of its row, so its error blocks only that project."""
    pid = owners.get((issue.sheet, issue.row))
    return replace(issue, project_id=pid) if pid and not issue.project_id else issue


def _fields(values: dict) -> dict:
    """Converted cell values -> record keyword arguments (text fields default to "")."""
    out = {}
    for field, value in values.items():
        out[field] = "" if value is None and field not in _NUMERIC_FIELDS else value
    return out


_NUMERIC_FIELDS = {c.field for s in schema.SHEETS for c in s.columns if c.kind in (schema.AMOUNT, schema.NUMBER)}
