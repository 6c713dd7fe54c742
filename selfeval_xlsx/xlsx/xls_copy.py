"""The department copy of an ``.xls``: openpyxl cannot open the old format, so a new
workbook is built from its values (python-calamine), marked, and given the 自评结果 sheet.
Only this path imports openpyxl; ``.xlsx`` copies are made at the zip level (:mod:`.edit`)."""
from __future__ import annotations

import io
from typing import Sequence

import openpyxl
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineWorkbook

from ..issues import Issue
from ..present import AUTHOR, MAX_TEXT, clean_text, text_width
from .edit import NewSheet

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def _text(value) -> str:
    return clean_text(value)[:MAX_TEXT]


def copy_xls(src: bytes) -> openpyxl.Workbook:
    """An openpyxl workbook holding the values (and merged ranges) of every sheet of an
    ``.xls``; cell positions are kept so issue coordinates still point at the right cells."""
    book = CalamineWorkbook.from_filelike(io.BytesIO(src))
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name in book.sheet_names:
        sheet = book.get_sheet_by_name(name)
        ws = wb.create_sheet(_text(name)[:31])
        # skip_empty_area=False keeps leading blank rows/columns, so row 0 is the sheet's row 1.
        for r, values in enumerate(sheet.to_python(skip_empty_area=False), start=1):
            for c, value in enumerate(values, start=1):
                if value == "" or value is None:
                    continue
                cell = ws.cell(r, c)
                if isinstance(value, str):
                    cell.value = _text(value)
                    cell.data_type = "s"  # openpyxl would take a leading "=" for a formula
                else:
                    cell.value = value
        for (r0, c0), (r1, c1) in sheet.merged_cell_ranges or ():
            if (r0, c0) != (r1, c1):
                ws.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r1 + 1, end_column=c1 + 1)
    return wb


def mark_cells(wb: openpyxl.Workbook, issues: Sequence[Issue], error_rgb: str, warning_rgb: str) -> None:
    """Fill each located problem cell red/yellow and append the message to its comment.
    An issue with a row but no column marks the first cell of that row; one with no row is
    listed in 自评结果 only."""
    error_fill, warning_fill = PatternFill("solid", fgColor=error_rgb), PatternFill("solid", fgColor=warning_rgb)
    for issue in issues:
        if issue.row is None or not issue.sheet or issue.sheet not in wb.sheetnames:
            continue
        ws = wb[issue.sheet]
        if not isinstance(ws, Worksheet):  # a chart sheet has no cells to mark
            continue
        cell = ws.cell(issue.row + 1, (issue.col or 0) + 1)
        if type(cell).__name__ == "MergedCell":  # only the top-left cell of a merge holds data
            for rng in ws.merged_cells.ranges:
                if cell.coordinate in rng:
                    cell = ws.cell(rng.min_row, rng.min_col)
                    break
        if issue.is_error or cell.fill != error_fill:  # a warning never hides an error
            cell.fill = error_fill if issue.is_error else warning_fill
        note = f"{issue.severity.label}：{_text(issue.message)}"
        text = f"{cell.comment.text}\n{note}" if cell.comment else note
        lines = sum(1 + text_width(line) // 40 for line in text.split("\n"))
        cell.comment = Comment(text, AUTHOR, width=260, height=min(400, 20 + 16 * lines))


def write_sheet(wb: openpyxl.Workbook, plan: NewSheet) -> None:
    """Render the 自评结果 plan as the workbook's first, active sheet."""
    if plan.name in wb.sheetnames:
        wb.remove(wb[plan.name])
    ws = wb.create_sheet(plan.name, 0)
    for other in wb.worksheets[1:]:
        other.sheet_view.tabSelected = False  # otherwise Excel opens with the sheets grouped
    wb.active = 0
    ws.sheet_view.tabSelected = True
    links = {(r, c): loc for r, c, loc in plan.links}
    for r, c, value, key in plan.cells:
        cell = ws.cell(r + 1, c + 1)
        if isinstance(value, str):
            cell.value = value
            cell.data_type = "s"
        elif value is not None:
            cell.value = value
        style = plan.styles[key]
        cell.font = Font(bold=style.bold, size=style.size, color=style.color or None,
                         underline="single" if style.underline else None)
        if style.fill:
            cell.fill = PatternFill("solid", fgColor=style.fill)
        if style.border:
            cell.border = _BORDER
        if style.num_format:
            cell.number_format = style.num_format
        if style.center or style.wrap:
            cell.alignment = Alignment(horizontal="center" if style.center else None, vertical="center",
                                       wrap_text=style.wrap)
        if (r, c) in links:
            cell.hyperlink = "#" + links[(r, c)]
    for col, width in plan.widths.items():
        ws.column_dimensions[get_column_letter(col + 1)].width = width
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
