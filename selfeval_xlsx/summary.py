"""Write the analyst's batch workbook ``summary.xlsx`` (DOMAIN.md §6) with xlsxwriter.

Sheets, in order: 汇总 (one row per project), 指标明细 (one row per indicator), 问题清单 (one
row per issue) and 统计 (small tables with native Excel charts). Numbers are written as numbers
(``Decimal`` -> float, ``None`` -> blank cell), user text always with ``write_string`` so a
project called ``=HYPERLINK(...)`` stays text. The workbook runs in xlsxwriter's
``constant_memory`` mode: rows go out in order and are flushed to disk, which keeps 10,000
projects fast and small in memory; widths, filters and conditional formats are written at close.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import xlsxwriter

from ._io import atomic_path
from .issues import Issue
from .models import ProjectResult
from .present import (AUTHOR, MAX_TEXT, MAX_WIDTH, MONEY_FORMAT, RATE_FORMAT, SCORE_FORMAT, STATUS_COLOURS,
                      SEVERITY_COLOURS, Colour, grade_colours, issue_sort_key, level1_columns, text_width)
from .vocab import Kind

UNGRADED = "未评分"

# Cell kinds of a table column: how a value is written and formatted.
TEXT, MONEY, RATE, SCORE, COUNT, YEAR = "text", "money", "rate", "score", "count", "year"
_NUMBER_FORMATS = {MONEY: MONEY_FORMAT, RATE: RATE_FORMAT, SCORE: SCORE_FORMAT, COUNT: "0", YEAR: "0"}

def year_value(year: str) -> int | str:
    """年度 as a number when it is one (``"2022"`` -> 2022), else the text as written."""
    text = str(year or "").strip()
    return int(text) if text.isdigit() else text


def _project_row(r: ProjectResult, level1: Sequence[str], approved: bool = False) -> tuple:
    """The 汇总 values of one project, in :func:`_project_columns` order."""
    p = r.project
    row = (p.source_file, p.department, p.project_id, p.name, year_value(p.year),
           r.budget, r.executed, r.rate, r.budget_score,
           *(r.subtotals.get(k) for k in level1),
           r.total, r.grade, r.self_total, r.status, len(r.issues))
    if approved:  # 与批复差异: blank when no approved targets were found for the project
        row += (r.approval.differences if r.approval and r.approval.key else None,)
    return row


def _project_columns(level1: Sequence[str], approved: bool = False) -> list[tuple[str, str]]:
    """(header, kind) of every 汇总 column (与批复差异 when compared with approved targets)."""
    return [("来源文件", TEXT), ("主管部门", TEXT), ("项目编号", TEXT), ("项目名称", TEXT), ("年度", YEAR),
            ("全年预算数", MONEY), ("全年执行数", MONEY), ("执行率", RATE), ("预算执行得分", SCORE),
            *((f"{k}得分", SCORE) for k in level1),
            ("总分", SCORE), ("等级", TEXT), ("自评总分", SCORE), ("状态", TEXT), ("问题数", COUNT),
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


def _indicator_columns(approved: bool = False) -> list[tuple[str, str]]:
    """(header, kind) of every 指标明细 column (批复指标值 after 年度指标值 when compared)."""
    at = [h for h, _ in _INDICATOR_COLUMNS].index("年度指标值") + 1
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
            row = row[:8] + (targets[n] if n < len(targets) else "",) + row[8:]
        yield row


def _issue_rows(issues: Iterable[Issue]):
    """Yield the 问题清单 values of every issue, sorted by file, sheet and cell."""
    for i in sorted(issues, key=issue_sort_key):
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
        colour = lambda c: wb.add_format({"bg_color": f"#{c.fill}", "font_color": f"#{c.font}"})  # noqa: E731
        self.grade = {g: colour(c) for g, c in grade_colours(grades).items()}
        self.severity = {s.label: colour(c) for s, c in SEVERITY_COLOURS.items()}
        self.status = {s: colour(c) for s, c in STATUS_COLOURS.items()}


class _Table:
    """A header row at (first_row, first_col), then data rows one at a time (so a batch can
    stream projects through it); column widths follow the content. ``close`` sets widths,
    the frozen header and the autofilter, and returns the number of data rows."""

    def __init__(self, ws, styles: _Styles, columns: Sequence[tuple[str, str]], first_row: int = 0,
                 first_col: int = 0, widths: list[int] | None = None, filter_and_freeze: bool = True):
        self.ws, self.columns, self.first_row, self.first_col = ws, columns, first_row, first_col
        self.filter_and_freeze = filter_and_freeze
        self.kinds = [k for _, k in columns]
        self.formats = [styles.kinds[k] for k in self.kinds]
        # Header widths leave room for the autofilter arrow.
        self.widths = widths if widths is not None else [0] * len(columns)
        for c, (header, _) in enumerate(columns):
            ws.write_string(first_row, first_col + c, header, styles.header)
            self.widths[c] = max(self.widths[c], text_width(header) + 4)
        self.row = first_row

    def add(self, values: Sequence) -> None:
        self.row += 1
        row, widths, kinds = self.row, self.widths, self.kinds
        for c, value in enumerate(values):
            if value is None or value == "":
                continue  # a blank cell needs no record at all
            col, fmt = self.first_col + c, self.formats[c]
            if kinds[c] == TEXT or isinstance(value, str):
                text = str(value)
                if len(text) > MAX_TEXT:
                    text = text[:MAX_TEXT]
                self.ws.write_string(row, col, text, fmt)
                # Cheap bound first: no text is wider than twice its length.
                if 2 * len(text) > widths[c] and widths[c] < MAX_WIDTH:
                    widths[c] = max(widths[c], text_width(text) + 2)
            else:
                value = float(value)
                self.ws.write_number(row, col, value, fmt)
                if widths[c] < 16:
                    shown = f"{value:,.2f}" if kinds[c] != RATE else f"{value:.2%}"
                    widths[c] = max(widths[c], len(shown) + 2)

    def close(self) -> int:
        for c, w in enumerate(self.widths):
            self.ws.set_column(self.first_col + c, self.first_col + c, min(w, MAX_WIDTH))
        n = self.row - self.first_row
        if self.filter_and_freeze:
            self.ws.freeze_panes(self.first_row + 1, 0)
            self.ws.autofilter(self.first_row, self.first_col, self.first_row + n,
                               self.first_col + len(self.columns) - 1)
        return n


def _write_table(ws, styles: _Styles, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence],
                 **placement) -> int:
    """Write a whole table (see :class:`_Table`); returns the number of data rows."""
    table = _Table(ws, styles, columns, **placement)
    for values in rows:
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
    """Grade counts and, per 主管部门, project count and the sums behind mean 执行率 and mean
    总分 (over the projects that have one), gathered one project at a time."""

    def __init__(self, grades: Sequence[str]):
        self.grades = {g: 0 for g in (*grades, UNGRADED)}
        self.departments: dict[str, list] = {}

    def add(self, r: ProjectResult) -> None:
        self.grades[r.grade if r.grade in self.grades and r.total is not None else UNGRADED] += 1
        d = self.departments.setdefault(r.project.department or "（未填写）", [0, 0.0, 0, 0.0, 0])
        d[0] += 1
        if r.rate is not None:
            d[1], d[2] = d[1] + float(r.rate), d[2] + 1
        if r.total is not None:
            d[3], d[4] = d[3] + float(r.total), d[4] + 1

    def department_rows(self) -> list[tuple[str, int, float | None, float | None]]:
        return [(dept, n, rates / n_rates if n_rates else None, totals / n_totals if n_totals else None)
                for dept, (n, rates, n_rates, totals, n_totals) in sorted(self.departments.items())]


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


def _write_stats(wb, ws, styles: _Styles, stats: _Stats) -> None:
    """统计: grade distribution and per-department figures, each a small table plus a chart."""
    sheet = ws.get_name()
    counts = stats.grades
    widths = [0] * 4
    ws.write_string(0, 0, "等级分布", styles.title)
    n = _write_table(ws, styles, [("等级", TEXT), ("项目数", COUNT)], counts.items(),
                     first_row=1, widths=widths, filter_and_freeze=False)
    _highlight(ws, 0, 2, 1 + n, styles.grade)
    grade_chart = _column_chart(wb, "等级分布", "等级", "项目数", sheet, (2, 1 + n, 0), (2, 1 + n, 1),
                                "0", "#4472C4", n)

    depts = stats.department_rows()
    top = 3 + n  # one blank row below the grade table
    ws.write_string(top, 0, "各主管部门情况", styles.title)
    m = _write_table(ws, styles, [("主管部门", TEXT), ("项目数", COUNT), ("平均执行率", RATE), ("平均总分", SCORE)],
                     depts, first_row=top + 1, widths=widths, filter_and_freeze=False)
    ws.insert_chart(0, 5, grade_chart, {"x_offset": 10, "y_offset": 5})
    if m:
        first, last = top + 2, top + 1 + m
        score_chart = _column_chart(wb, "各主管部门平均总分", "主管部门", "平均总分（分）", sheet,
                                    (first, last, 0), (first, last, 3), "0.00", "#70AD47", m)
        rate_chart = _column_chart(wb, "各主管部门平均执行率", "主管部门", "平均执行率", sheet,
                                   (first, last, 0), (first, last, 2), "0.0%", "#ED7D31", m)
        score_chart.set_y_axis({"name": "平均总分（分）", "num_format": "0", "min": 0, "max": 100,
                                "major_gridlines": {"visible": True}})
        ws.insert_chart(17, 5, score_chart, {"x_offset": 10, "y_offset": 5})
        ws.insert_chart(35, 5, rate_chart, {"x_offset": 10, "y_offset": 5})
    # Two charts fit a landscape page; the third starts the next one instead of being cut.
    ws.set_h_pagebreaks([34])
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)


def write_summary(path: str | os.PathLike, results: Iterable[ProjectResult], issues: Sequence[Issue], *,
                  grades: Sequence[str], level1: Sequence[str] | None = None,
                  title: str = "项目支出绩效自评汇总", approved: bool = False) -> Path:
    """Write the batch summary workbook to ``path`` atomically and return the path.

    ``results`` are the scored projects of the run, read once in one pass (a generator is
    fine, with ``level1`` the 一级指标 columns to show, see :func:`level1_columns`: the batch
    streams results from its cache so memory stays flat). ``issues`` is the complete list of
    the run's problems (file-level ones included) and fills 问题清单 as given. ``grades``:
    the rules' grade names, best first (they colour 等级 and count in 统计). Sheets: 汇总,
    指标明细, 问题清单, 统计 (DOMAIN.md §6). ``approved``: the run compared the projects
    with approved targets, so 汇总 gets 与批复差异 and 指标明细 批复指标值."""
    if level1 is None:
        results = list(results)
        level1 = level1_columns(k for r in results for k in r.subtotals)
    with atomic_path(path) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": True,
        })
        wb.set_properties({"title": title, "author": AUTHOR, "subject": "项目支出绩效自评",
                           "keywords": "绩效自评, 汇总", "comments": "由 selfeval-xlsx 生成"})
        styles = _Styles(wb, grades)
        # constant_memory writes each sheet's rows in order, so both tables fill side by side.
        columns = _project_columns(level1, approved)
        overview = _Table(wb.add_worksheet("汇总"), styles, columns)
        details = _Table(wb.add_worksheet("指标明细"), styles, _indicator_columns(approved))
        stats = _Stats(grades)
        for r in results:
            overview.add(_project_row(r, level1, approved))
            for row in _indicator_rows(r, approved):
                details.add(row)
            stats.add(r)
        n = overview.close()
        headers = [h for h, _ in columns]
        _highlight(overview.ws, headers.index("等级"), 1, n, styles.grade)
        _highlight(overview.ws, headers.index("状态"), 1, n, styles.status)
        _page_setup(overview.ws)
        details.close()
        _page_setup(details.ws)

        ws = wb.add_worksheet("问题清单")
        n = _write_table(ws, styles, _ISSUE_COLUMNS, _issue_rows(issues))
        _highlight(ws, 3, 1, n, styles.severity)
        _page_setup(ws)

        _write_stats(wb, wb.add_worksheet("统计"), styles, stats)
        wb.close()
    return Path(path)
