"""Give each department its workbook back with the results in it (DOMAIN.md §6 ``workbooks/``).

The copy gets a first, active sheet 自评结果 (project scores, indicator scores, problem list)
and every problem cell of the department's own sheets is filled red (error) or yellow
(warning) with a comment holding the Chinese message. ``.xlsx``/``.xlsm`` are edited at the
zip level (``xlsx.edit``), which keeps everything of the department's file — values, styles,
dropdowns, merged cells, images, charts — except macros (the copy is always a plain
``.xlsx``); an ``.xls`` (or WPS ``.et``, or ``.ods``) is rebuilt with openpyxl from its values
(``xlsx.xls_copy``). The
source file is only ever read.
"""
from __future__ import annotations

import functools
import io
import os
import zipfile
from pathlib import Path
from typing import Sequence

from ._io import atomic_path, atomic_write_bytes
from .issues import Code, Issue
from .models import ProjectResult
from .present import (AUTHOR, MAX_TEXT, MAX_WIDTH, MONEY_FORMAT, RATE_FORMAT, SCORE_FORMAT, SEVERITY_COLOURS,
                      STATUS_COLOURS, clean_text, grade_colours, issue_sort_key, level1_columns, text_width)
from .schema import RESULT_SHEET
from .vocab import Kind, Severity
from .xlsx import edit
from .xlsx.edit import Style

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0"  # .xls (BIFF inside an OLE2 compound file)

ERROR_RGB, WARNING_RGB = SEVERITY_COLOURS[Severity.ERROR].fill, SEVERITY_COLOURS[Severity.WARNING].fill
_COLOURED = ("等级", "状态", "级别")

TEXT, MONEY, RATE, SCORE = "text", "money", "rate", "score"
_STYLES = {
    "title": Style(bold=True, size=14), "section": Style(bold=True, size=12), "note": Style(),
    "header": Style(bold=True, fill="D9E1F2", border=True, center=True, wrap=True),
    TEXT: Style(border=True), MONEY: Style(border=True, num_format=MONEY_FORMAT),
    RATE: Style(border=True, num_format=RATE_FORMAT), SCORE: Style(border=True, num_format=SCORE_FORMAT),
    "link": Style(border=True, color="0563C1", underline=True),
}


def annotate_workbook(src: str | os.PathLike | bytes, dst: str | os.PathLike,
                      results: Sequence[ProjectResult], issues: Sequence[Issue], *, grades: Sequence[str]) -> Path:
    """Write a copy of the department workbook ``src`` (a path or the file's bytes; ``.xlsx``,
    ``.xlsm`` or ``.xls``) to ``dst`` (``.xlsx``) with a 自评结果 sheet first and the problem
    cells marked, and return ``dst``.

    ``results`` and ``issues`` are this workbook's own projects and problems (the caller
    filters a batch by file); ``grades`` the rules' grade names, best first, which colour
    等级. An existing 自评结果 sheet is replaced. ``src`` is never written."""
    if not isinstance(src, (bytes, bytearray)):
        if Path(dst).resolve() == Path(src).resolve():
            raise ValueError("annotate_workbook: dst must differ from src (the source is never modified)")
        src = Path(src).read_bytes()
    book = _ooxml(bytes(src)) if bytes(src[:4]) != _OLE2_MAGIC else None
    if book is None:  # .xls, WPS .et, OpenDocument .ods
        from .xlsx.xls_copy import copy_xls, mark_cells, write_sheet

        wb = copy_xls(src)
        mark_cells(wb, issues, ERROR_RGB, WARNING_RGB)
        write_sheet(wb, _plan(results, issues, wb.sheetnames, grades))
        with atomic_path(dst) as tmp:
            wb.save(tmp)
        return Path(dst)
    # .xlsx/.xlsm: edit the zip parts directly, keeping everything openpyxl would drop.
    names = book.sheet_names
    plan = _plan(results, issues, [n for n in names if n != RESULT_SHEET], grades)
    marks = [edit.Mark(i.sheet, i.row, i.col or 0, SEVERITY_COLOURS[i.severity].fill,
                       f"{i.severity.label}：{i.message}", int(i.is_error))
             for i in issues if i.row is not None and i.sheet in names and i.sheet != RESULT_SHEET]
    return atomic_write_bytes(dst, book.annotate(plan, marks, AUTHOR))


def _ooxml(src: bytes) -> edit.Workbook | None:
    """An Excel 2007+ package (the zip-level editor's input), its zip read once for the whole
    copy; None for anything else (an .ods)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(src))
    except zipfile.BadZipFile:
        return None
    return edit.Workbook(src, zf) if "xl/workbook.xml" in zf.namelist() else None


def _text(value) -> str:
    """User text safe for a cell: no characters XML refuses, within Excel's limit."""
    return clean_text(value)[:MAX_TEXT]


# The same names, levels and kinds fill most of the indicator table's text cells.
_known_text = functools.lru_cache(maxsize=4096)(_text)


def _plan(results: Sequence[ProjectResult], issues: Sequence[Issue], sheet_names: Sequence[str],
          grades: Sequence[str]) -> edit.NewSheet:
    """The 自评结果 sheet as cells with style keys: title, project table, indicator table and
    the problem list (in the department's sheet order, each cell linked to the marked cell)."""
    fills = {**{g: c.fill for g, c in grade_colours(grades).items()}, **{s: c.fill for s, c in STATUS_COLOURS.items()}}
    sheet = edit.NewSheet(RESULT_SHEET, [], {**_STYLES, **{f"fill:{rgb}": Style(border=True, fill=rgb)
                                                          for rgb in sorted(set(fills.values()))}})
    sheet.cells.append((0, 0, "项目支出绩效自评结果", "title"))
    sheet.cells.append((1, 0, _headline(results, issues), "note"))
    level1 = level1_columns(k for r in results for k in r.subtotals)
    row = _table(sheet, 3, "一、项目得分",
                 [("项目编号", TEXT), ("项目名称", TEXT), ("全年预算数", MONEY), ("全年执行数", MONEY),
                  ("执行率", RATE), ("预算执行得分", SCORE), *((f"{k}得分", SCORE) for k in level1),
                  ("总分", SCORE), ("等级", TEXT), ("自评总分", SCORE), ("状态", TEXT)],
                 [(r.project.project_id, r.project.name, r.budget, r.executed, r.rate, r.budget_score,
                   *(r.subtotals.get(k) for k in level1), r.total, r.grade, r.self_total, r.status)
                  for r in results], fills)
    row = _table(sheet, row + 1, "二、指标得分",
                 [("项目编号", TEXT), ("一级指标", TEXT), ("二级指标", TEXT), ("三级指标", TEXT),
                  ("指标性质", TEXT), ("年度指标值", TEXT), ("实际完成值", TEXT), ("分值", SCORE), ("得分", SCORE),
                  ("自评得分", SCORE), ("计分方法", TEXT)],
                 [(r.project.project_id, s.indicator.level1, s.indicator.level2, s.indicator.level3,
                   s.kind.label if s.kind else "", s.indicator.target, s.indicator.actual, s.indicator.weight,
                   s.score, s.indicator.self_score, s.method)
                  for r in results for s in r.indicators], fills)
    # The department's own sheet order reads better than alphabetical; workbook-level first.
    position = set(sheet_names)
    ordered = sorted(issues, key=lambda i: issue_sort_key(i, sheet_names))
    first_issue_row, first_issue_cell = row + 3, len(sheet.cells)
    _table(sheet, row + 1, "三、问题清单", [("工作表", TEXT), ("单元格", TEXT), ("级别", TEXT), ("问题", TEXT), ("说明", TEXT)],
           [(i.sheet, i.cell, i.severity.label, i.title, i.message) for i in ordered], fills)
    for k, issue in enumerate(ordered):  # 单元格 links to the marked cell
        if issue.cell and issue.row is not None and issue.sheet in position:
            sheet.links.append((first_issue_row + k, 1, f"'{issue.sheet}'!{issue.cell}"))
    linked = {(r, c) for r, c, _ in sheet.links}
    sheet.cells[first_issue_cell:] = [(r, c, v, "link" if (r, c) in linked else key)
                                      for r, c, v, key in sheet.cells[first_issue_cell:]]
    if not ordered:
        sheet.cells.append((first_issue_row, 0, "未发现问题。", "note"))
    sheet.widths = {c: min(w, MAX_WIDTH) for c, w in sheet.widths.items()}
    return sheet


def _headline(results: Sequence[ProjectResult], issues: Sequence[Issue]) -> str:
    """The sentence under the title: how many projects and problems, and plainly when a newer
    submission replaced this one (its projects no longer count)."""
    replaced = [r for r in results if r.superseded_by]
    which = "；".join(f"项目「{r.project.project_id}」由「{r.superseded_by}」取代" for r in replaced)
    if replaced and len(replaced) == len(results):
        return f"本工作簿已由较新的提交取代，其中的项目不再计分（{which}）。以下内容仅供参考，请以较新的提交为准。"
    own = [i for i in issues if i.code != Code.SUPERSEDED]
    n_err = sum(1 for i in own if i.is_error)
    counts = f"共 {len(results)} 个项目；错误 {n_err} 条，警告 {len(own) - n_err} 条。"
    if replaced:
        counts = (f"共 {len(results)} 个项目，其中 {len(replaced)} 个已由较新的提交取代、不再计分（{which}）；"
                  f"其余项目错误 {n_err} 条，警告 {len(own) - n_err} 条。")
    return counts + "标红的单元格有错误，标黄的有警告，鼠标移到单元格上可看说明。"


def _table(sheet: edit.NewSheet, row: int, title: str, columns, rows, fills: dict[str, str]) -> int:
    """Add a section title, a header row and the data rows from 0-based ``row``; track column
    widths. Returns the next free row."""
    widths, cells = sheet.widths, sheet.cells
    cells.append((row, 0, title, "section"))
    row += 1
    for c, (header, _) in enumerate(columns):
        cells.append((row, c, header, "header"))
        widths[c] = max(widths.get(c, 0), text_width(header) + 2)
    coloured = [header in _COLOURED for header, _ in columns]
    kinds = [kind for _, kind in columns]
    number_widths: dict = {}  # the same few weights and scores fill most of a column
    for values in rows:
        row += 1
        for c, value in enumerate(values[:len(columns)]):
            kind = kinds[c]
            if value is None or (isinstance(value, str) and not value):
                cells.append((row, c, None, kind))
            elif kind != TEXT and not isinstance(value, str):
                cells.append((row, c, float(value), kind))
                width = number_widths.get((type(value), value)) if value else None  # 0 and -0: one key, two texts
                if width is None:
                    width = len(f"{value:,.2f}") + 3
                    if value:
                        number_widths[(type(value), value)] = width
                widths[c] = max(widths[c], width)
            else:
                text = _known_text(value) if type(value) is str else _text(value)
                fill = fills.get(text) if coloured[c] else None
                cells.append((row, c, text, TEXT if fill is None else f"fill:{fill}"))
                # Cheap bound first: no text is wider than twice its length.
                if 2 * len(text) + 2 > widths[c] and widths[c] < MAX_WIDTH:
                    widths[c] = max(widths[c], text_width(text) + 2)
    return row + 1
