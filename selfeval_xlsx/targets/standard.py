"""Approved targets in the standard layout: a sheet (usually ``绩效目标``) with one row per
approved indicator and the columns of :data:`selfeval_xlsx.schema.TARGETS`. A project's own
columns (项目编号, 项目名称, 主管部门, 年度, 全年预算数) may be repeated on each row, merged
over its rows, or written on its first row only: a row naming no project belongs to the one
above. The sheet is recognised by its header row, whatever it is called."""
from __future__ import annotations

from dataclasses import replace

from .. import schema
from ..issues import Code, Issue, issue
from ..models import ApprovedIndicator, ApprovedProject
from ..reader import _SheetReader
from ..vocab import normalize_level, normalize_name, normalize_nature
from ..xlsx.parts import a1

_IDENTITY = ("project_id", "name", "department")


def read_sheet(file: str, sheet: str, grid, merges, meta) -> tuple[list[ApprovedProject], list[Issue]] | None:
    """The approved projects of one sheet and the problems met (as warnings about the
    targets file), or None when the sheet is not in this layout."""
    sheet_reader = _SheetReader(file, schema.TARGETS, sheet, grid, merges, meta)
    header = sheet_reader.find_header()
    if header is None or not {"level3", "target"} <= set(header[1]) or not {"project_id", "name"} & set(header[1]):
        return None
    records, cols = sheet_reader.rows()
    problems = [replace(i, code=Code.BAD_APPROVED_ROW) for i in sheet_reader.issues]
    projects: dict[object, dict] = {}
    current = None
    for r, values in records:
        if any(values.get(f) for f in _IDENTITY):
            key = values.get("project_id") or (normalize_name(values.get("department")), normalize_name(values.get("name")))
            current = projects.setdefault(key, {"row": r, "indicators": [], **{f: "" for f in _IDENTITY},
                                                 "year": "", "budget": None})
            for f in (*_IDENTITY, "year", "budget"):
                if values.get(f) not in ("", None) and current[f] in ("", None):
                    current[f] = values[f]
        elif current is None:
            problems.append(issue(Code.BAD_APPROVED_ROW, f"批复绩效目标「{sheet}」第 {r + 1} 行没有项目编号或项目名称，"
                                  "无法对应到项目，已忽略。", file=file, sheet=sheet, row=r, col=0))
            continue
        if values.get("level3") or values.get("target"):
            current["indicators"].append(_indicator(file, sheet, r, cols, values))
    return [_project(file, sheet, p) for p in projects.values()], problems


def _indicator(file: str, sheet: str, r: int, cols: dict, values: dict) -> ApprovedIndicator:
    return ApprovedIndicator(
        level1=normalize_level(values.get("level1"), schema.LEVEL1), level2=normalize_level(values.get("level2"), schema.LEVEL2),
        level3=str(values.get("level3") or ""), target=str(values.get("target") or ""), weight=values.get("weight"),
        nature=normalize_nature(values.get("nature")), where=f"{file} {sheet}!{a1(r, cols.get('target'))}")


def _project(file: str, sheet: str, p: dict) -> ApprovedProject:
    return ApprovedProject(project_id=str(p["project_id"]), name=str(p["name"]), department=str(p["department"]),
                           year=str(p["year"] or ""), budget=p["budget"], indicators=tuple(p["indicators"]),
                           file=file, sheet=sheet, row=p["row"])
