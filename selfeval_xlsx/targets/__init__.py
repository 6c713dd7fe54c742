"""The approved (批复) 绩效目标 that submissions are compared with (``--targets FILE|DIR``).

The budget system or the bureau keeps them in one of two layouts, recognised by content:
a standard sheet ``绩效目标`` with one row per indicator (:mod:`.standard`), or the national
项目支出绩效目标表 / 绩效目标申报表, one sheet per project (:mod:`.national`). A folder is read
whole. :func:`load_targets` gives one :class:`Targets`, which finds the approved project of a
submitted one (:meth:`Targets.find`): by 项目编号, else by 主管部门 + 项目名称 (normalised).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable

from .. import guard
from ..errors import TargetsError, UnreadableInput
from ..intake import WORKBOOK_SUFFIXES
from ..issues import Code, Issue, issue
from ..models import ApprovedProject, Project, ProjectResult
from ..vocab import normalize_name

BY_ID, BY_NAME = "项目编号", "主管部门+项目名称"
# A department written with its code: "[101]某区教育局", "101-某区教育局", "某区教育局(101)".
_DEPARTMENT_CODE = re.compile(r"^[\[(]?\d+[\])]?[-_.、]*|[\[(]\d+[\])]$")


def department_key(text: object) -> str:
    """主管部门 for matching: :func:`normalize_name` without a budget code around it."""
    return _DEPARTMENT_CODE.sub("", normalize_name(text))


@dataclass(frozen=True)
class Targets:
    """Every approved project read from the targets file(s), the problems met reading them
    (warnings naming the targets file's cells) and a digest of the files' bytes (a change
    of targets redoes a batch)."""

    projects: tuple[ApprovedProject, ...] = ()
    issues: tuple[Issue, ...] = ()
    digest: str = ""
    source: str = ""
    files: tuple[str, ...] = field(default=(), repr=False)

    @cached_property
    def _by_id(self) -> dict[str, list[ApprovedProject]]:
        index: dict[str, list[ApprovedProject]] = {}
        for p in self.projects:
            if p.project_id:
                index.setdefault(normalize_name(p.project_id), []).append(p)
        return index

    @cached_property
    def _by_name(self) -> dict[tuple[str, str], ApprovedProject]:
        index: dict[tuple[str, str], ApprovedProject] = {}
        for p in self.projects:
            index.setdefault((department_key(p.department), normalize_name(p.name)), p)
        return index

    def find(self, project: Project) -> tuple[ApprovedProject | None, str]:
        """The approved project of a submitted one and how it was matched (:data:`BY_ID`,
        :data:`BY_NAME`), or ``(None, "")``. Two departments may use the same local 项目编号:
        then the one of the same 主管部门 is taken."""
        department = department_key(project.department)
        same_id = self._by_id.get(normalize_name(project.project_id), [])
        if len(same_id) > 1:
            same_id = [p for p in same_id if department_key(p.department) == department]
        if len(same_id) == 1:
            return same_id[0], BY_ID
        name = normalize_name(project.name)
        hit = self._by_name.get((department, name)) or self._by_name.get(("", name))
        return (hit, BY_NAME) if hit is not None else (None, "")


    def notes(self, results: Iterable[ProjectResult]) -> list[Issue]:
        """What a run lists about the targets themselves: the problems met reading them and
        every approved project that no submitted project of ``results`` matched."""
        matched = {r.approval.key for r in results if r.approval is not None}
        missing = [issue(Code.APPROVED_NOT_SUBMITTED, f"批复绩效目标中的项目「{' '.join(filter(None, (p.project_id, p.name)))}」"
                         f"（{p.department or '未写主管部门'}）本批次没有提交自评。", file=p.file, sheet=p.sheet, row=p.row, project_id=p.project_id,
                         value=p.key) for p in self.projects if p.key not in matched]
        return [*self.issues, *missing]


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in WORKBOOK_SUFFIXES
                  and not p.name.startswith("~$"))


def read_targets_workbook(data: bytes, name: str, suffix: str = ".xlsx",
                          limits: guard.Limits = guard.Limits()) -> tuple[list[ApprovedProject], list[Issue]]:
    """The approved projects of one workbook, from every sheet in either layout (other
    sheets, such as instructions, are passed over), and the problems met. Raises
    :class:`~selfeval_xlsx.errors.UnreadableInput` when the file cannot be read at all."""
    from .. import reader  # pandas: only the work that reads the targets needs it
    from . import national, standard

    fmt = guard.inspect(data, suffix, limits)
    every = lambda sheet: True  # noqa: E731 - the targets' sheets have no fixed names
    meta = reader._safe_meta(data, limits.max_cells, wanted_sheet=every) if fmt == "xlsx" else {}
    oversized = reader._oversized(name, meta, limits)
    if oversized:
        raise UnreadableInput(oversized[0].message, oversized[0].code)
    grids, merges = reader._load_grids(data, wanted_sheet=every, meta=meta)
    projects: list[ApprovedProject] = []
    problems: list[Issue] = []
    for sheet, grid in grids.items():
        if grid is None or grid.empty:
            continue
        found = national.read_sheet(name, sheet, grid, merges.get(sheet, []), meta.get(sheet))
        if found is None:
            found = standard.read_sheet(name, sheet, grid, merges.get(sheet, []), meta.get(sheet))
        if found is not None:
            projects.extend(found[0])
            problems.extend(found[1])
    return projects, problems


def load_targets(path: str | Path) -> Targets:
    """Read the approved targets from a workbook or from every workbook in a folder.
    Raises :class:`~selfeval_xlsx.errors.TargetsError` (a Chinese message naming the file)
    when the path is missing, a file cannot be read, or no approved target is found."""
    path = Path(path)
    if not path.exists():
        raise TargetsError(f"批复绩效目标文件不存在：{path}")
    files = _files(path)
    if not files:
        raise TargetsError(f"文件夹 {path} 中没有工作簿（.xlsx/.xlsm/.xls），无法读取批复绩效目标。")
    digest = hashlib.sha256()
    projects: list[ApprovedProject] = []
    problems: list[Issue] = []
    for file in files:
        data = file.read_bytes()
        name = file.name if file == path else file.relative_to(path).as_posix()
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        try:
            found, issues = read_targets_workbook(data, name, file.suffix)
        except UnreadableInput as exc:
            raise TargetsError(f"批复绩效目标文件「{name}」无法读取：{exc}") from None
        projects.extend(found)
        problems.extend(issues)
    if not projects:
        raise TargetsError(
            f"{path} 中没有找到批复绩效目标。可接受两种格式：含「绩效目标」工作表的工作簿（列：项目编号、项目名称、主管部门、"
            "全年预算数、一级指标、二级指标、三级指标、年度指标值、分值），或每个项目一张的「项目支出绩效目标表」"
            "（绩效目标申报表）。")
    kept, repeated = _unique(projects)
    return Targets(tuple(kept), tuple(problems + repeated), digest.hexdigest(), str(path),
                   tuple(str(f) for f in files))


def _unique(projects: list[ApprovedProject]) -> tuple[list[ApprovedProject], list[Issue]]:
    """The first approval of each project (same 项目编号, or same 主管部门 + 项目名称 when
    neither has one); later ones are reported and left out."""
    kept: dict[object, ApprovedProject] = {}
    problems = []
    for p in projects:
        key = normalize_name(p.project_id) or (department_key(p.department), normalize_name(p.name))
        first = kept.setdefault(key, p)
        if first is not p:
            problems.append(issue(Code.BAD_APPROVED_ROW, f"批复绩效目标中项目「{p.project_id or p.name}」出现两次"
                                  f"（{first.where} 和 {p.where}），只采用第一处。", file=p.file, sheet=p.sheet,
                                  row=p.row, value=p.project_id or p.name))
    return list(kept.values()), problems
