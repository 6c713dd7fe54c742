"""Problems found in the data, as values (never exceptions), and the registry of every code.

Each :class:`Code` says once how serious it is, what it concerns and what it is called in
Chinese; every module raises codes from here and nothing else lists them. An error whose scope
is ``file`` blocks every project of the file; ``project`` and ``cell`` errors block the project
they name (see :func:`selfeval_xlsx.checks.blocks`); a ``review`` error (a target made easier
than the approved one) counts as an error but leaves the score standing: the reviewer decides. ``unreadable`` codes mean the file itself
could not be opened, so no copy of it is made.

Rows and columns are 0-based inside the program; :attr:`Issue.cell` turns them into the A1
reference an Excel user sees, once, at the edge.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ._io import describe_os_error
from .vocab import Severity, StrEnum
from .xlsx.parts import a1

ERROR, WARNING = Severity.ERROR, Severity.WARNING


class Scope(StrEnum):
    FILE = "file"
    PROJECT = "project"
    CELL = "cell"
    REVIEW = "review"  # a cell the reviewer must look at: an error that leaves the score to them


FILE, PROJECT, CELL, REVIEW = Scope.FILE, Scope.PROJECT, Scope.CELL, Scope.REVIEW


class Code(StrEnum):
    """Every issue code: ``NAME = "code", severity, scope, "中文名称"`` (+ ``True`` when the
    file could not be opened at all)."""

    def __new__(cls, value: str, severity: Severity, scope: Scope, title: str, unreadable: bool = False):
        member = str.__new__(cls, value)
        member._value_ = value
        member.severity, member.scope, member.title, member.unreadable = severity, scope, title, unreadable
        return member

    # The file itself (guard, reader, the batch's limits).
    EMPTY_FILE = "empty-file", ERROR, FILE, "文件为空", True
    FILE_TOO_LARGE = "file-too-large", ERROR, FILE, "文件过大", True
    NOT_A_WORKBOOK = "not-a-workbook", ERROR, FILE, "不是 Excel 工作簿", True
    CORRUPT_FILE = "corrupt-file", ERROR, FILE, "文件已损坏", True
    ENCRYPTED = "encrypted", ERROR, FILE, "工作簿有密码保护", True
    ZIP_BOMB = "zip-bomb", ERROR, FILE, "疑似压缩炸弹", True
    XML_ENTITIES = "xml-entities", ERROR, FILE, "含 DTD/实体声明", True
    SHEET_TOO_LARGE = "sheet-too-large", ERROR, FILE, "工作表数据区域过大", True
    TEXT_TOO_LARGE = "text-too-large", ERROR, FILE, "重复引用的文字过多", True
    UNREADABLE_FILE = "unreadable-file", ERROR, FILE, "文件无法读取", True
    TIMEOUT = "timeout", ERROR, FILE, "处理超时", True
    MEMORY_LIMIT = "memory-limit", ERROR, FILE, "内存超限", True
    WORKER_CRASH = "worker-crash", ERROR, FILE, "工作进程异常退出", True
    INTERNAL_ERROR = "internal-error", ERROR, FILE, "内部错误", True
    # The form's structure.
    MISSING_SHEET = "missing-sheet", ERROR, FILE, "缺少工作表"
    MISSING_SPENDING_SHEET = "missing-spending-sheet", WARNING, FILE, "缺少支出工作表"
    MISSING_HEADER = "missing-header", ERROR, FILE, "找不到表头"
    MISSING_COLUMN = "missing-column", ERROR, FILE, "缺少必填列"
    UNKNOWN_LAYOUT = "unknown-layout", ERROR, FILE, "无法识别的表格格式"
    SHEET_NOT_READ = "sheet-not-read", WARNING, FILE, "工作表未能识别"
    AMBIGUOUS_SHEET = "ambiguous-sheet", ERROR, FILE, "多张工作表对应同一表单"
    DUPLICATE_SHEET = "duplicate-sheet", WARNING, FILE, "另有隐藏的同名工作表未读取"
    DUPLICATE_HEADER = "duplicate-header", WARNING, CELL, "表头重复"
    CONFLICTING_COLUMNS = "conflicting-columns", ERROR, CELL, "同名两列数值不同"
    # Cells the reader could not convert.
    FORMULA_NO_VALUE = "formula-no-value", ERROR, CELL, "公式没有计算结果"
    BAD_NUMBER = "bad-number", ERROR, CELL, "应填数字"
    NEGATIVE_NUMBER = "negative-number", ERROR, CELL, "数值为负"
    NUMBER_TOO_LARGE = "number-too-large", ERROR, CELL, "数值过大"
    BAD_YEAR = "bad-year", ERROR, CELL, "年度格式不对"
    EXCEL_ERROR = "excel-error", ERROR, CELL, "公式计算结果为错误值"
    UNIT_IN_AMOUNT = "unit-in-amount", WARNING, CELL, "金额带单位（已换算）"
    BAD_AMOUNT_UNIT = "bad-amount-unit", ERROR, CELL, "金额的单位不是货币单位"
    TOTALS_MISMATCH = "totals-mismatch", WARNING, CELL, "合计行与明细之和不一致"
    # Record rules (checks).
    EMPTY_REQUIRED = "empty-required", ERROR, CELL, "必填项为空"
    BAD_LEVEL1 = "bad-level1", ERROR, CELL, "一级指标名称不对"
    BAD_LEVEL2 = "bad-level2", WARNING, CELL, "二级指标不属于该一级指标"
    BAD_NATURE = "bad-nature", WARNING, CELL, "指标性质无法识别"
    BAD_SOURCE = "bad-source", WARNING, CELL, "资金来源名称不规范"
    UNKNOWN_PROJECT = "unknown-project", ERROR, CELL, "项目编号不在项目信息中"
    DUPLICATE_PROJECT_ID = "duplicate-project-id", ERROR, PROJECT, "项目编号重复"
    NO_FUNDING = "no-funding", ERROR, PROJECT, "没有资金行"
    NO_INDICATORS = "no-indicators", ERROR, PROJECT, "没有可计分的指标"
    MISSING_WEIGHT = "missing-weight", ERROR, CELL, "指标分值为空"
    BAD_WEIGHT = "bad-weight", ERROR, CELL, "指标分值为负数"
    WEIGHT_SUM = "weight-sum", ERROR, PROJECT, "分值合计不等于总分值"
    WEIGHT_SPLIT = "weight-split", WARNING, PROJECT, "一级指标分值与默认分配不同"
    SPENDING_MISMATCH = "spending-mismatch", WARNING, PROJECT, "支出明细与执行数不一致"
    MISSING_NARRATIVE = "missing-narrative", WARNING, CELL, "报告文字栏目未填写"
    NARRATIVE_REQUIRED = "narrative-required", ERROR, CELL, "报告文字栏目未填写（严格模式）"
    # Scoring.
    BAD_TARGET = "bad-target", ERROR, CELL, "年度指标值无法识别"
    BAD_ACTUAL = "bad-actual", ERROR, CELL, "实际完成值无法识别"
    UNIT_MISMATCH = "unit-mismatch", ERROR, CELL, "实际完成值单位不一致"
    NATURE_CONFLICT = "nature-conflict", WARNING, CELL, "指标性质与指标值写法不一致"
    SELF_SCORE_REQUIRED = "self-score-required", ERROR, CELL, "须填写自评得分"
    SELF_SCORE_OUT_OF_BAND = "self-score-out-of-band", ERROR, CELL, "自评得分不在档次区间内"
    SELF_SCORE_DIFFERS = "self-score-differs", WARNING, CELL, "自评得分与计算得分不一致"
    STATED_DIFFERS = "stated-differs", WARNING, CELL, "表中填写的合计或比率与计算不一致"
    MISSING_DEVIATION = "missing-deviation", WARNING, CELL, "未填写偏差原因"
    BAD_DEDUCTION = "bad-deduction", WARNING, CELL, "扣分为负数"
    BUDGET_ZERO = "budget-zero", WARNING, PROJECT, "全年预算数为 0"
    OVER_BUDGET = "over-budget", WARNING, CELL, "执行数超过预算数"
    PERCENT_AS_FRACTION = "percent-as-fraction", WARNING, CELL, "百分比填成了小数"
    OVER_ACHIEVED = "over-achieved", WARNING, CELL, "实际完成值远超年度指标值"
    # The batch.
    SUPERSEDED = "superseded", WARNING, PROJECT, "已被较新的提交取代"
    SUBMISSION_ORDER = "submission-order", WARNING, PROJECT, "新旧提交的先后须核实"
    DUPLICATE_PROJECT_ACROSS_FILES = "duplicate-project-across-files", ERROR, PROJECT, "不同部门使用同一项目编号"
    COPY_FAILED = "copy-failed", ERROR, FILE, "工作簿副本生成失败"
    REPORT_FAILED = "report-failed", ERROR, PROJECT, "报告生成失败"
    CACHE_MISSING = "cache-missing", ERROR, FILE, "中间结果缺失"
    # Approved targets (--targets): the submission compared with the approved 绩效目标.
    NO_APPROVED_TARGETS = "no-approved-targets", WARNING, PROJECT, "未找到批复绩效目标"
    TARGET_LOWERED = "target-lowered", ERROR, REVIEW, "年度指标值低于批复"
    TARGET_CHANGED = "target-changed", WARNING, CELL, "年度指标值与批复不一致"
    SCORED_ON_APPROVED = "scored-on-approved", WARNING, CELL, "已按批复指标计分"
    INDICATOR_DROPPED = "indicator-dropped", ERROR, REVIEW, "缺少批复的指标"
    INDICATOR_ADDED = "indicator-added", WARNING, CELL, "批复中没有的指标"
    INDICATOR_RENAMED = "indicator-renamed", WARNING, CELL, "指标名称与批复不一致"
    WEIGHT_CHANGED = "weight-changed", WARNING, CELL, "分值与批复不一致"
    BUDGET_DIFFERS = "budget-differs", WARNING, CELL, "全年预算数与批复不一致"
    APPROVED_NOT_SUBMITTED = "approved-not-submitted", WARNING, PROJECT, "批复项目未提交"
    BAD_APPROVED_ROW = "bad-approved-row", WARNING, CELL, "批复目标无法使用"
    # Inputs not processed (intake).
    MISSING_PATH = "missing-path", ERROR, FILE, "路径不存在"
    LOCK_FILE = "lock-file", WARNING, FILE, "Excel 临时锁文件"
    NOT_AN_INPUT = "not-an-input", WARNING, FILE, "不是工作簿或邮件"
    SPECIAL_FILE = "special-file", ERROR, FILE, "不是普通文件", True
    UNSUPPORTED_FORMAT = "unsupported-format", ERROR, FILE, "表格格式不支持", True
    DUPLICATE_FILE = "duplicate-file", WARNING, FILE, "重复的文件"
    BAD_EMAIL = "bad-email", ERROR, FILE, "邮件无法解析", True
    NO_ATTACHMENT = "no-attachment", WARNING, FILE, "邮件没有 Excel 附件"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: its ``code`` (which fixes severity, scope and title), where it is, the
    value read and a Chinese message telling the department what to do."""

    code: Code
    message: str
    file: str = ""
    sheet: str = ""
    row: int | None = None
    col: int | None = None
    value: str = ""
    project_id: str = ""

    @property
    def severity(self) -> Severity:
        return self.code.severity

    @property
    def title(self) -> str:
        """The code's short Chinese name (for filtering 问题清单 by words)."""
        return self.code.title

    @property
    def cell(self) -> str:
        """The A1 reference (``"E7"``), or ``""`` when the issue is about a whole sheet/file."""
        return a1(self.row, self.col)

    @property
    def where(self) -> str:
        """``资金!E7`` style location for messages."""
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.sheet or self.cell

    @property
    def is_error(self) -> bool:
        return self.code.severity is Severity.ERROR

    @property
    def blocks_file(self) -> bool:
        """An error about the whole file: no project of the file can be scored."""
        return self.is_error and self.code.scope is Scope.FILE

    def to_dict(self) -> dict:
        """Plain dict for JSON output, with severity, title and the A1 cell instead of row/col."""
        d = asdict(self)
        d.pop("row"), d.pop("col")
        d["code"] = str(self.code)
        d["severity"] = str(self.severity)
        d["title"] = self.title
        d["cell"] = self.cell
        return d


def issue(code: Code, message: str, **where) -> Issue:
    """An :class:`Issue` of ``code`` (its severity comes from the registry)."""
    return Issue(code, message, **where)


def unreadable_file(exc: OSError, file: str) -> Issue:
    """The problem of a ``file`` whose read failed with ``exc``: said in words, the system's
    own text kept for support."""
    return Issue(Code.UNREADABLE_FILE, describe_os_error(exc), file=file, value=exc.strerror or str(exc))
