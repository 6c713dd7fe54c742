"""Plain records passed between the pipeline stages.

The reader produces :class:`Project` records (with their funding, spending and indicator
rows); the scorer turns one into a :class:`ProjectResult`. Amounts are ``Decimal`` in 万元.
Every row remembers its sheet and 0-based sheet row, and ``cols`` maps field -> 0-based
column, so any stage can name the exact cell of a problem. A record whose fields sit on
several rows (the national form's 项目名称, 主管部门 …, or a merged 一级指标 whose cell is the
first row of its run) names those rows in ``rows``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .vocab import Status


@dataclass(slots=True)
class Row:
    """Where a record came from: sheet name, 0-based sheet row, field -> 0-based column, and
    field -> 0-based row for the fields that are not on ``row``."""

    sheet: str = ""
    row: int | None = None
    cols: dict[str, int] = field(default_factory=dict, repr=False)
    rows: dict[str, int] = field(default_factory=dict, repr=False)

    def where(self, field_name: str | None = None) -> dict:
        """Keyword arguments locating this row (and one of its fields) for an Issue."""
        if not field_name:
            return {"sheet": self.sheet, "row": self.row, "col": None}
        return {"sheet": self.sheet, "row": self.rows.get(field_name, self.row), "col": self.cols.get(field_name)}


@dataclass(slots=True)
class FundingRow(Row):
    """One 资金 row: a funding source of a project."""

    project_id: str = ""
    source: str = ""
    initial_budget: Decimal | None = None
    budget: Decimal | None = None
    executed: Decimal | None = None


@dataclass(slots=True)
class SpendingRow(Row):
    """One 支出 row: what the money was spent on."""

    project_id: str = ""
    item: str = ""
    category: str = ""
    amount: Decimal | None = None
    note: str = ""


@dataclass(slots=True)
class Indicator(Row):
    """One 绩效指标 row. ``target``/``actual`` are kept as the text the department wrote
    (Excel numbers rendered as text, percent-formatted cells as ``"95%"``)."""

    project_id: str = ""
    level1: str = ""
    level2: str = ""
    level3: str = ""
    nature: str = ""
    target: str = ""
    actual: str = ""
    weight: Decimal | None = None
    self_score: Decimal | None = None
    deduction: Decimal | None = None
    deviation: str = ""


@dataclass(slots=True)
class Stated(Row):
    """The figures a national form states beside the rows they sum up: its 年度资金总额 row
    (amounts in 万元, the budget's 分值, 执行率 as a fraction, 得分) and its 总分 row
    (``total_weight``, ``total``; located through ``rows``). None where a cell is blank.
    The checks compare each with the computed figure."""

    initial_budget: Decimal | None = None
    budget: Decimal | None = None
    executed: Decimal | None = None
    weight: Decimal | None = None
    rate: Decimal | None = None
    score: Decimal | None = None
    total_weight: Decimal | None = None
    total: Decimal | None = None


NARRATIVE_FIELDS = ("goal", "achieved", "implementation", "management", "funds_usage",
                    "analysis", "problems", "improvements")


@dataclass(slots=True)
class Project(Row):
    """One 项目信息 row with every row of the other sheets that carries its 项目编号, or one
    national form (``layout``). A national form's sign-off goes to ``closing_unit`` (填报单位),
    ``leader`` (项目负责人), ``finance_officer`` (财务负责人), ``submitted`` and ``closing_date``
    (填报日期, ``YYYY-MM-DD`` when it reads as a date); ``stated`` holds the form's own totals."""

    project_id: str = ""
    name: str = ""
    year: str = ""
    department: str = ""
    implementer: str = ""
    leader: str = ""
    goal: str = ""
    achieved: str = ""
    implementation: str = ""
    management: str = ""
    funds_usage: str = ""
    analysis: str = ""
    problems: str = ""
    improvements: str = ""
    # Optional report sections and sign-off (rendered only when filled).
    objectives: str = ""
    evaluation_work: str = ""
    other_notes: str = ""
    finance_officer: str = ""
    closing_unit: str = ""
    closing_date: str = ""
    source_file: str = ""
    layout: str = "standard"  # a vocab.Layout value
    submitted: str = ""  # 填报日期 as the form writes it: the submission's own date (DOMAIN §8)
    stated: Stated | None = None
    funding: list[FundingRow] = field(default_factory=list)
    spending: list[SpendingRow] = field(default_factory=list)
    indicators: list[Indicator] = field(default_factory=list)


@dataclass(slots=True)
class Submission:
    """Everything read from one workbook: its projects (each with its rows) and the problems
    met converting cells. ``orphans`` are rows whose 项目编号 names no project and
    ``duplicates`` the 项目信息 rows that repeat an id already seen; the reader keeps them for
    the checks to report. Each issue carries its project_id when it belongs to one project.
    ``layouts`` names the layout (a vocab.Layout) recognised on each sheet that was read."""

    file: str
    projects: list[Project] = field(default_factory=list)
    issues: list = field(default_factory=list)
    orphans: list[Row] = field(default_factory=list)
    duplicates: list[Project] = field(default_factory=list)
    has_funding_sheet: bool = True
    layouts: dict[str, str] = field(default_factory=dict)
    sheet_order: tuple[str, ...] = ()  # the form's sheets in the workbook's order, then the others


@dataclass(frozen=True, slots=True)
class ApprovedIndicator:
    """One approved (批复) indicator: what the department must report on. ``where`` names
    its cell in the targets file (``批复.xlsx 绩效目标!F5``) for messages."""

    level1: str
    level2: str
    level3: str
    target: str
    weight: Decimal | None = None
    nature: str = ""
    where: str = ""


@dataclass(frozen=True, slots=True)
class ApprovedProject:
    """A project's approved 绩效目标: its identity, approved budget (万元, None when the
    targets file has none) and indicators, in the order the file lists them."""

    project_id: str
    name: str
    department: str
    year: str = ""
    budget: Decimal | None = None
    indicators: tuple[ApprovedIndicator, ...] = ()
    file: str = ""
    sheet: str = ""
    row: int | None = None  # 0-based, where the project starts in ``sheet``

    @property
    def where(self) -> str:
        """``批复.xlsx 绩效目标 第 5 行`` style location for messages."""
        return f"{self.file} {self.sheet}" + (f" 第 {self.row + 1} 行" if self.row is not None else "")

    @property
    def key(self) -> str:
        """How a run names this approved project: its 项目编号, else 主管部门/项目名称."""
        return self.project_id or f"{self.department}/{self.name}"


@dataclass(frozen=True, slots=True)
class Approval:
    """How one submitted project compares with its approved targets. ``key`` is the
    matched :attr:`ApprovedProject.key` (``""`` when none matched), ``matched_by`` says how
    (项目编号 or 主管部门+项目名称), ``targets`` the approved 年度指标值 of each submitted
    indicator in order (``""`` for one the approval lacks) and ``differences`` how many
    differences were found."""

    key: str = ""
    matched_by: str = ""
    targets: tuple[str, ...] = ()
    differences: int = 0


@dataclass(frozen=True, slots=True)
class IndicatorScore:
    """How one indicator was scored. ``kind``: a :class:`~selfeval_xlsx.vocab.Kind`, or ""
    when the target could not be read. ``score`` is None for 不适用 and for rows that could
    not be scored (an error issue says why). ``reached``: the target was met."""

    indicator: Indicator
    kind: str
    method: str
    target_value: Decimal | None = None
    actual_value: Decimal | None = None
    unit: str = ""
    band: str = ""
    score: Decimal | None = None
    reached: bool = False
    why: str = ""
    from_self: bool = False  # the score is the department's own (a qualitative band)
    actual_shown: str = ""  # the actual as scored when it differs from the text (0.92 -> "92%")

    @property
    def actual(self) -> str:
        """The 实际完成值 to show: as scored (``92%`` for a fraction typed ``0.92``), else as written."""
        return self.actual_shown or self.indicator.actual


@dataclass(frozen=True, slots=True)
class Receipt:
    """When and from whom the batch takes a submission to have come (DOMAIN.md §8): ``time``
    (aware, or naive local for a form's date), ``basis`` the Chinese name of the clock it was
    read from (填报日期, 邮件发送时间, 工作簿保存时间, 文件修改时间) and the e-mail's ``sender``."""

    time: dt.datetime | None = None
    basis: str = ""
    sender: str = ""


@dataclass(frozen=True, slots=True)
class ProjectResult:
    """The scored project: budget execution, every indicator, subtotals per 一级, total,
    grade and every issue that concerns this project. ``total`` is None when an error
    blocked scoring. ``budget_weight`` and ``total_weight`` are what the rules used, so no
    writer has to re-derive them."""

    project: Project
    budget_weight: Decimal = Decimal(0)
    total_weight: Decimal = Decimal(0)
    budget: Decimal = Decimal(0)
    executed: Decimal = Decimal(0)
    rate: Decimal | None = None
    budget_score: Decimal | None = None
    indicators: tuple[IndicatorScore, ...] = ()
    subtotals: dict[str, Decimal] = field(default_factory=dict)
    total: Decimal | None = None
    grade: str = ""
    self_total: Decimal | None = None
    issues: tuple = ()
    superseded_by: str = ""  # the input whose newer submission of this project counts instead
    receipt: Receipt | None = None  # set by the batch (see batch.decisions.apply)
    approval: Approval | None = None  # set when the run was given approved targets

    @property
    def has_errors(self) -> bool:
        return any(i.is_error for i in self.issues)

    @property
    def status(self) -> Status:
        """已取代 (a newer submission counts), 错误 (not scored), 警告 (scored with warnings)
        or 通过."""
        if self.superseded_by:
            return Status.SUPERSEDED
        if self.has_errors or self.total is None:
            return Status.ERROR
        return Status.WARNING if self.issues else Status.PASSED
