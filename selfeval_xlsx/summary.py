"""Write the analyst's batch workbook ``summary.xlsx`` (DOMAIN.md §6).

Sheets, in order: 汇总 (one row per project), 指标明细 (one row per indicator), 问题清单 (one
row per issue) and 统计 (small tables with native Excel charts). Numbers are written as numbers
(``Decimal`` -> float, ``None`` -> blank cell), user text always as text, so a project called
``=HYPERLINK(...)`` stays text. xlsxwriter writes the workbook: formats, headers, widths,
filters, conditional formats, 统计 and its charts; the data rows of the three big sheets are
streamed as XML to temporary files and spliced in (:mod:`.xlsx.rows`, four times faster than
xlsxwriter's per-cell calls). Rows go out one at a time, so memory stays flat for 10,000
projects; widths, filters and conditional formats are written at the end.
"""
from __future__ import annotations

import math
import os
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import xlsxwriter

from . import clock
from ._io import TEMP_PREFIX, atomic_path, token
from .issues import Issue
from .models import ProjectResult
from .present import (AUTHOR, MAX_TEXT, MAX_WIDTH, MONEY_FORMAT, RATE_FORMAT, SCORE_FORMAT, STATUS_COLOURS,
                      SEVERITY_COLOURS, TIME_FORMAT, Colour, grade_colours, issue_sort_key, level1_columns,
                      text_width)
from .vocab import Kind
from .xlsx.rows import RowFile, splice, xf_index

UNGRADED = "未评分"
TOTAL_LABEL = "合计"  # 来源文件 of the totals row that ends 汇总
_ZERO = Decimal(0)

# Cell kinds of a table column: how a value is written and formatted.
TEXT, MONEY, RATE, SCORE, COUNT, YEAR, TIME = "text", "money", "rate", "score", "count", "year", "time"
_NUMBER_FORMATS = {MONEY: MONEY_FORMAT, RATE: RATE_FORMAT, SCORE: SCORE_FORMAT, COUNT: "0", YEAR: "0",
                   TIME: TIME_FORMAT}
_ROW_KINDS = {TEXT: RowFile.TEXT, TIME: RowFile.TIME}  # every other kind is a number

# The big sheets' data rows are written as XML and spliced in (:mod:`.xlsx.rows`); False
# writes them cell by cell with xlsxwriter, the reference the tests and the benchmark compare with.
XML_ROWS = True

def year_value(year: str) -> int | str:
    """年度 as a number when it is one (``"2022"`` -> 2022), else the text as written."""
    text = str(year or "").strip()
    return int(text) if text.isdigit() else text


def _project_row(r: ProjectResult, level1: Sequence[str], approved: bool = False) -> tuple:
    """The 汇总 values of one project, in :func:`_project_columns` order."""
    p = r.project
    receipt = r.receipt
    # Excel has no time zones: the submission time is written as local time.
    submitted = clock.local(receipt.time).replace(tzinfo=None) if receipt and receipt.time else None
    row = (p.source_file, p.department, p.project_id, p.name, year_value(p.year),
            r.budget, r.executed, r.rate, r.budget_score,
            *(r.subtotals.get(k) for k in level1),
            r.total, r.grade, r.self_total, r.status, len(r.issues),
            submitted, receipt.basis if receipt else "", receipt.sender if receipt else "")
    if approved:  # 与批复差异: blank when no approved targets were found for the project
        row += (r.approval.differences if r.approval and r.approval.key else None,)
    return row


def _project_columns(level1: Sequence[str], approved: bool = False) -> list[tuple[str, str]]:
    """(header, kind) of every 汇总 column (与批复差异 when compared with approved targets)."""
    return [("来源文件", TEXT), ("主管部门", TEXT), ("项目编号", TEXT), ("项目名称", TEXT), ("年度", YEAR),
            ("全年预算数", MONEY), ("全年执行数", MONEY), ("执行率", RATE), ("预算执行得分", SCORE),
            *((f"{k}得分", SCORE) for k in level1),
            ("总分", SCORE), ("等级", TEXT), ("自评总分", SCORE), ("状态", TEXT), ("问题数", COUNT),
            ("提交时间", TIME), ("时间依据", TEXT), ("发件人", TEXT),
            *((("与批复差异", COUNT),) if approved else ())]


_INDICATOR_COLUMNS = [
    ("来源文件", TEXT), ("项目编号", TEXT), ("项目名称", TEXT), ("一级指标", TEXT), ("二级指标", TEXT),
    ("三级指标", TEXT), ("指标性质", TEXT), ("年度指标值", TEXT), ("实际完成值", TEXT), ("分值", SCORE),
    ("得分", SCORE), ("自评得分", SCORE), ("计分方法", TEXT), ("说明", TEXT), ("偏差原因分析及改进措施", TEXT),
]

_ISSUE_COLUMNS = [
    ("来源文件", TEXT), ("工作表", TEXT), ("单元格", TEXT), ("级别", TEXT), ("代码", TEXT), ("问题", TEXT),
    ("项目编号", TEXT), ("说明", TEXT), ("读取值", TEXT),
]


_APPROVED_AT = [h for h, _ in _INDICATOR_COLUMNS].index("年度指标值") + 1  # where 批复指标值 goes when compared


def _indicator_columns(approved: bool = False) -> list[tuple[str, str]]:
    """(header, kind) of every 指标明细 column (批复指标值 after 年度指标值 when compared)."""
    at = _APPROVED_AT
    return _INDICATOR_COLUMNS[:at] + [("批复指标值", TEXT)] + _INDICATOR_COLUMNS[at:] if approved else _INDICATOR_COLUMNS


def _indicator_rows(r: ProjectResult, approved: bool = False):
    """Yield the 指标明细 values of every indicator of one project."""
    p = r.project
    targets = r.approval.targets if r.approval else ()
    for n, s in enumerate(r.indicators):
        ind = s.indicator
        row = (p.source_file, p.project_id, p.name, ind.level1, ind.level2, ind.level3,
               Kind(s.kind).label if s.kind else "", ind.target, ind.actual, ind.weight, s.score,
               ind.self_score, s.method, s.why, ind.deviation)
        if approved:
            row = row[:_APPROVED_AT] + (targets[n] if n < len(targets) else "",) + row[_APPROVED_AT:]
        yield row


def _issue_rows(issues: Iterable[Issue], sheet_orders: Mapping[str, Sequence[str]]):
    """Yield the 问题清单 values of every issue, sorted by file, then sheet in the workbook's
    own order (``sheet_orders``: file -> sheet names), row and cell."""
    for i in sorted(issues, key=lambda i: issue_sort_key(i, sheet_orders.get(i.file, ()))):
        yield (i.file, i.sheet, i.cell, i.severity.label, str(i.code), i.title, i.project_id, i.message, i.value)


class _Styles:
    """The few xlsxwriter formats the workbook shares."""

    def __init__(self, wb: xlsxwriter.Workbook, grades: Sequence[str]):
        self.header = wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True,
                                     "align": "center", "valign": "vcenter"})
        self.title = wb.add_format({"bold": True, "font_size": 12})
        self.text = wb.add_format()
        self.kinds = {k: wb.add_format({"num_format": f}) for k, f in _NUMBER_FORMATS.items()}
        self.kinds[TEXT] = self.text
        # A totals row: bold under a rule, so nobody reads it as one more project.
        self.totals = {k: wb.add_format({"num_format": f, "bold": True, "top": 1}) for k, f in _NUMBER_FORMATS.items()}
        self.totals[TEXT] = wb.add_format({"bold": True, "top": 1})
        colour = lambda c: wb.add_format({"bg_color": f"#{c.fill}", "font_color": f"#{c.font}"})  # noqa: E731
        self.grade = {g: colour(c) for g, c in grade_colours(grades).items()}
        self.severity = {s.label: colour(c) for s, c in SEVERITY_COLOURS.items()}
        self.status = {s: colour(c) for s, c in STATUS_COLOURS.items()}


class _Table:
    """A header row at (first_row, first_col), then data rows one at a time (so a batch can
    stream projects through it); column widths follow the content. ``close`` sets widths,
    the frozen header and the autofilter, and returns the number of data rows.

    With ``rows`` the data rows go to that :class:`RowFile` (spliced in when the workbook is
    finished: fast, for the big sheets), else to xlsxwriter cell by cell."""

    def __init__(self, ws, styles: _Styles, columns: Sequence[tuple[str, str]], first_row: int = 0,
                 first_col: int = 0, widths: list[int] | None = None, filter_and_freeze: bool = True,
                 rows: RowFile | None = None):
        self.ws, self.columns, self.first_row, self.first_col = ws, columns, first_row, first_col
        self.filter_and_freeze = filter_and_freeze
        self.kinds = [k for _, k in columns]
        self.text_columns = [c for c, k in enumerate(self.kinds) if k == TEXT]
        self.other_columns = [c for c, k in enumerate(self.kinds) if k != TEXT]
        self.formats = [styles.kinds[k] for k in self.kinds]
        # Header widths leave room for the autofilter arrow.
        self.widths = widths if widths is not None else [0] * len(columns)
        for c, (header, _) in enumerate(columns):
            ws.write_string(first_row, first_col + c, header, styles.header)
            self.widths[c] = max(self.widths[c], text_width(header) + 4)
        self.row = first_row
        self.styles = styles
        self.low, self.high = [math.inf] * len(columns), [-math.inf] * len(columns)
        self.rows = rows
        if rows is not None:
            self.row_kinds = [_ROW_KINDS.get(k, RowFile.NUMBER) for k in self.kinds]
            self.xf = [xf_index(f) for f in self.formats]

    def add(self, values: Sequence, totals: bool = False) -> None:
        """One data row, or with ``totals`` the bold totals row that closes the table (every
        cell ruled, blank ones too)."""
        self.row += 1
        formats = [self.styles.totals[k] for k in self.kinds] if totals else self.formats
        if self.rows is not None:
            xf = [xf_index(f) for f in formats] if totals else self.xf
            self.rows.add(self.row, values, self.row_kinds, xf, blanks=totals)
        else:
            self._write_cells(values, formats, totals)
        self._widen(values)

    def _write_cells(self, values: Sequence, formats: Sequence, totals: bool) -> None:
        row, kinds = self.row, self.kinds
        for c, value in enumerate(values):
            col, fmt = self.first_col + c, formats[c]
            if value is None or value == "":
                if totals:
                    self.ws.write_blank(row, col, None, fmt)
                continue  # a blank cell needs no record at all
            if kinds[c] == TIME:
                self.ws.write_datetime(row, col, value, fmt)
            elif kinds[c] == TEXT or isinstance(value, str):
                self.ws.write_string(row, col, str(value)[:MAX_TEXT], fmt)
            else:
                self.ws.write_number(row, col, float(value), fmt)

    def _widen(self, values: Sequence) -> None:
        widths = self.widths
        # Text columns first, by index: most of a sheet's cells, and they need no type test.
        for c in self.text_columns:
            value = values[c]
            if value is not None and widths[c] < MAX_WIDTH:
                text = value if type(value) is str else str(value)
                if 2 * len(text) > widths[c]:  # as in _widen_text, inlined: a call per cell costs a tenth
                    widths[c] = max(widths[c], text_width(text[:MAX_TEXT]) + 2)
        kinds, low, high = self.kinds, self.low, self.high
        for c in self.other_columns:
            value = values[c]
            if isinstance(value, str):
                if widths[c] < MAX_WIDTH:
                    self._widen_text(c, value if type(value) is str else str(value))
            elif value is None:
                continue
            elif kinds[c] == TIME:
                widths[c] = max(widths[c], 18)
            elif widths[c] < 16:
                value = float(value)
                # A number between the column's smallest and largest so far is never wider
                # than both (the shown length grows with the size), so only those are shown.
                if not low[c] <= value <= high[c]:
                    low[c], high[c] = min(low[c], value), max(high[c], value)
                    shown = f"{value:,.2f}" if kinds[c] != RATE else f"{value:.2%}"
                    widths[c] = max(widths[c], len(shown) + 2)

    def _widen_text(self, c: int, text: str) -> None:
        # Cheap bound first: no text is wider than twice its length.
        if 2 * len(text) > self.widths[c]:
            self.widths[c] = max(self.widths[c], text_width(text[:MAX_TEXT]) + 2)

    def close(self, totals: int = 0) -> int:
        """Set widths, the frozen header and the autofilter (over the data rows, not the
        last ``totals`` rows); returns the number of data rows."""
        for c, w in enumerate(self.widths):
            self.ws.set_column(self.first_col + c, self.first_col + c, min(w, MAX_WIDTH))
        n = self.row - self.first_row - totals
        if self.filter_and_freeze:
            self.ws.freeze_panes(self.first_row + 1, 0)
            self.ws.autofilter(self.first_row, self.first_col, self.first_row + n,
                               self.first_col + len(self.columns) - 1)
        if self.rows is not None:
            self.rows.close()
        return n


def _write_table(ws, styles: _Styles, columns: Sequence[tuple[str, str]], data: Iterable[Sequence],
                 **placement) -> int:
    """Write a whole table (see :class:`_Table`); returns the number of data rows."""
    table = _Table(ws, styles, columns, **placement)
    for values in data:
        table.add(values)
    return table.close()


def _highlight(ws, col: int, first: int, last: int, formats_by_value: dict) -> None:
    """Colour the cells of column ``col`` (rows first..last) whose text equals a key of the dict."""
    if last < first:
        return
    for value, fmt in formats_by_value.items():
        ws.conditional_format(first, col, last, col, {"type": "cell", "criteria": "==",
                                                      "value": f'"{value}"', "format": fmt})


def _page_setup(ws) -> None:
    """Landscape A4, one page wide, header row repeated: readable when printed or as PDF."""
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)


class _Stats:
    """What 统计 and the totals row of 汇总 show, gathered one project at a time: grade
    counts, and per 主管部门 the project count, Σ预算 and Σ执行 (DOMAIN.md §8: a department's
    执行率 is Σ执行 / Σ预算, money-weighted) and the mean 总分 of its scored projects."""

    def __init__(self, grades: Sequence[str]):
        self.grades = {g: 0 for g in (*grades, UNGRADED)}
        self.departments: dict[str, list] = {}

    def add(self, r: ProjectResult) -> None:
        self.grades[r.grade if r.grade in self.grades and r.total is not None else UNGRADED] += 1
        d = self.departments.setdefault(r.project.department or "（未填写）", [0, _ZERO, _ZERO, 0, _ZERO])
        d[0] += 1
        d[1] += r.budget or _ZERO
        d[2] += r.executed or _ZERO
        if r.total is not None:
            d[3], d[4] = d[3] + 1, d[4] + r.total

    @staticmethod
    def _row(name: str, n: int, budget: Decimal, executed: Decimal, scored: int, totals: Decimal) -> tuple:
        return (name, n, budget, executed, executed / budget if budget > 0 else None, scored,
                totals / scored if scored else None)

    def department_rows(self) -> list[tuple]:
        """(主管部门, 项目数, Σ预算, Σ执行, 执行率, 已评分, 平均总分) per department."""
        return [self._row(dept, *d) for dept, d in sorted(self.departments.items())]

    def total_row(self) -> tuple:
        """The same figures over every project: the sums, never averages of department figures."""
        sums = [sum((d[k] for d in self.departments.values()), start) for k, start in
                ((0, 0), (1, _ZERO), (2, _ZERO), (3, 0), (4, _ZERO))]
        return self._row(TOTAL_LABEL, *sums)

    def grade_text(self) -> str:
        """``共 6 个项目：优 3 个，良 1 个，未评分 2 个`` (grades with no project left out)."""
        counts = "，".join(f"{g} {n} 个" for g, n in self.grades.items() if n)
        return f"共 {sum(self.grades.values())} 个项目" + (f"：{counts}" if counts else "")


def _column_chart(wb, title: str, x_title: str, y_title: str, sheet: str, cats: tuple[int, int, int],
                  vals: tuple[int, int, int], num_format: str, colour: str, n_points: int):
    """A column chart with title, axis titles and data labels over one table column."""
    chart = wb.add_chart({"type": "column"})
    r0, r1, c = cats
    v0, v1, vc = vals
    chart.add_series({
        "name": title,
        "categories": [sheet, r0, c, r1, c],
        "values": [sheet, v0, vc, v1, vc],
        "data_labels": {"value": True, "num_format": num_format},
        "fill": {"color": colour},
        "gap": 80,
    })
    chart.set_title({"name": title, "name_font": {"size": 12}})
    chart.set_x_axis({"name": x_title})
    chart.set_y_axis({"name": y_title, "num_format": num_format, "major_gridlines": {"visible": True}})
    chart.set_legend({"none": True})
    # Wider charts for many departments so the category labels stay legible.
    chart.set_size({"width": min(480 + max(0, n_points - 6) * 40, 1600), "height": 300})
    return chart


_DEPARTMENT_COLUMNS = [("主管部门", TEXT), ("项目数", COUNT), ("全年预算数", MONEY), ("全年执行数", MONEY),
                       ("执行率（Σ执行÷Σ预算）", RATE), ("已评分项目数", COUNT), ("平均总分（已评分项目的算术平均）", SCORE)]


def _write_stats(wb, ws, styles: _Styles, stats: _Stats) -> None:
    """统计: grade distribution and per-department figures, each a small table plus a chart.
    The department table ends with the totals over all projects (equal to 汇总's)."""
    sheet = ws.get_name()
    counts = stats.grades
    widths = [0] * len(_DEPARTMENT_COLUMNS)
    ws.write_string(0, 0, "等级分布", styles.title)
    n = _write_table(ws, styles, [("等级", TEXT), ("项目数", COUNT)], counts.items(),
                     first_row=1, widths=widths, filter_and_freeze=False)
    _highlight(ws, 0, 2, 1 + n, styles.grade)
    grade_chart = _column_chart(wb, "等级分布", "等级", "项目数", sheet, (2, 1 + n, 0), (2, 1 + n, 1),
                                "0", "#4472C4", n)

    depts = stats.department_rows()
    top = 3 + n  # one blank row below the grade table
    ws.write_string(top, 0, "各主管部门情况（执行率按金额加权：Σ全年执行数 ÷ Σ全年预算数）", styles.title)
    table = _Table(ws, styles, _DEPARTMENT_COLUMNS, first_row=top + 1, widths=widths, filter_and_freeze=False)
    for row in depts:
        table.add(row)
    table.add(stats.total_row(), totals=True)
    m = table.close(totals=1)
    chart_col = len(_DEPARTMENT_COLUMNS) + 1
    ws.insert_chart(0, chart_col, grade_chart, {"x_offset": 10, "y_offset": 5})
    if m:
        first, last = top + 2, top + 1 + m
        score_chart = _column_chart(wb, "各主管部门平均总分（算术平均）", "主管部门", "平均总分（分）", sheet,
                                    (first, last, 0), (first, last, 6), "0.00", "#70AD47", m)
        rate_chart = _column_chart(wb, "各主管部门执行率（Σ执行÷Σ预算）", "主管部门", "执行率", sheet,
                                   (first, last, 0), (first, last, 4), "0.0%", "#ED7D31", m)
        # Both axes start at 0: a cut axis makes 88 % look like half of 95 %.
        score_chart.set_y_axis({"name": "平均总分（分）", "num_format": "0", "min": 0, "max": 100,
                                "major_gridlines": {"visible": True}})
        rate_chart.set_y_axis({"name": "执行率", "num_format": "0%", "min": 0, "major_gridlines": {"visible": True}})
        ws.insert_chart(17, chart_col, score_chart, {"x_offset": 10, "y_offset": 5})
        ws.insert_chart(35, chart_col, rate_chart, {"x_offset": 10, "y_offset": 5})
    # Two charts fit a landscape page; the third starts the next one instead of being cut.
    ws.set_h_pagebreaks([34])
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)


def _totals_row(headers: list[str], stats: _Stats) -> list:
    """The 合计 row of 汇总, from the same sums as 统计's last row."""
    name, _, budget, executed, rate, _, _ = stats.total_row()
    values = {"来源文件": name, "项目名称": stats.grade_text(), "全年预算数": budget, "全年执行数": executed, "执行率": rate}
    return [values.get(h) for h in headers]


class _Scratch:
    """A temporary folder for one summary inside ``folder`` (the output folder, or the batch's
    private temporary folder; never the system's TMPDIR, where a killed run would leave it):
    xlsxwriter's files and the rows, removed at the end whatever happens."""

    def __init__(self, folder: Path):
        self.folder = folder / f"{TEMP_PREFIX}{token()}"  # unique across hosts sharing the folder
        self.files: list[RowFile] = []

    def rows(self, n_cols: int) -> RowFile:
        """A :class:`RowFile` for a sheet of ``n_cols`` columns."""
        self.files.append(RowFile(self.folder / f"rows{len(self.files)}.xml", n_cols))
        return self.files[-1]

    def __enter__(self) -> "_Scratch":
        self.folder.mkdir()
        return self

    def __exit__(self, *exc) -> None:
        for rows in self.files:
            rows.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def write_summary(path: str | os.PathLike, results: Iterable[ProjectResult], issues: Sequence[Issue], *,
                  grades: Sequence[str], level1: Sequence[str] | None = None,
                  title: str = "项目支出绩效自评汇总",
                  sheet_orders: Mapping[str, Sequence[str]] | None = None, approved: bool = False,
                  tmpdir: str | os.PathLike | None = None) -> Path:
    """Write the batch summary workbook to ``path`` atomically and return the path.

    ``results`` are the scored projects of the run, read once in one pass (a generator is
    fine, with ``level1`` the 一级指标 columns to show, see :func:`level1_columns`: the batch
    streams results from its cache so memory stays flat). ``issues`` is the complete list of
    the run's problems (file-level ones included) and fills 问题清单 as given. ``grades``:
    the rules' grade names, best first (they colour 等级 and count in 统计). Sheets: 汇总,
    指标明细, 问题清单, 统计 (DOMAIN.md §6). ``tmpdir``: where the rows wait to be spliced in,
    in a temporary folder of their own (default: beside ``path``, never the system's TMPDIR,
    where a killed run would leave them). ``sheet_orders`` (file -> its sheet names) lists
    each file's problems in the workbook's own sheet order. ``approved``: the run compared the
    projects with approved targets, so 汇总 gets 与批复差异 and 指标明细 批复指标值.

    Only the projects that count are rows of 汇总, 指标明细 and 统计: a project a newer
    submission replaced (``superseded_by``) is left out, so that every sum an analyst takes
    over a column is right; its one line in 问题清单 names the replacing file. 汇总 ends with
    a 合计 row (Σ预算, Σ执行, the overall 执行率, project counts by grade)."""
    if level1 is None:
        results = list(results)
        level1 = level1_columns(k for r in results for k in r.subtotals)
    with atomic_path(path) as tmp, _Scratch(Path(tmpdir or Path(path).parent)) as scratch:
        frame = scratch.folder / "frame.xlsx" if XML_ROWS else tmp
        wb = xlsxwriter.Workbook(str(frame), {
            "constant_memory": True,
            "tmpdir": str(scratch.folder),
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": True,
        })
        wb.set_properties({"title": title, "author": AUTHOR, "subject": "项目支出绩效自评",
                           "keywords": "绩效自评, 汇总", "comments": "由 selfeval-xlsx 生成"})
        styles = _Styles(wb, grades)
        tables = {"汇总": _project_columns(level1, approved), "指标明细": _indicator_columns(approved),
                  "问题清单": _ISSUE_COLUMNS}
        sheets = {name: wb.add_worksheet(name) for name in tables}
        rows = {name: scratch.rows(len(columns)) if XML_ROWS else None for name, columns in tables.items()}
        # Rows go out in order, so 汇总 and 指标明细 fill side by side.
        overview = _Table(sheets["汇总"], styles, tables["汇总"], rows=rows["汇总"])
        details = _Table(sheets["指标明细"], styles, tables["指标明细"], rows=rows["指标明细"])
        stats = _Stats(grades)
        for r in results:
            if r.superseded_by:
                continue
            overview.add(_project_row(r, level1, approved))
            for row in _indicator_rows(r, approved):
                details.add(row)
            stats.add(r)
        headers = [h for h, _ in tables["汇总"]]
        if stats.departments:
            overview.add(_totals_row(headers, stats), totals=True)
        n = overview.close(totals=1 if stats.departments else 0)
        _highlight(overview.ws, headers.index("等级"), 1, n, styles.grade)
        _highlight(overview.ws, headers.index("状态"), 1, n, styles.status)
        _page_setup(overview.ws)
        details.close()
        _page_setup(details.ws)

        ws = sheets["问题清单"]
        n = _write_table(ws, styles, _ISSUE_COLUMNS, _issue_rows(issues, sheet_orders or {}), rows=rows["问题清单"])
        _highlight(ws, 3, 1, n, styles.severity)
        _page_setup(ws)

        _write_stats(wb, wb.add_worksheet("统计"), styles, stats)
        wb.close()
        if XML_ROWS:
            splice(frame, tmp, rows)
    return Path(path)
