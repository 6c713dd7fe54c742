"""Problems found in the data, as values (never exceptions).

Rows and columns are 0-based inside the program; :attr:`Issue.cell` turns them into the A1
reference an Excel user sees, once, at the edge.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict

ERROR = "error"
WARNING = "warning"
SEVERITY_ZH = {ERROR: "错误", WARNING: "警告"}


def column_letter(col: int) -> str:
    """0-based column index -> Excel letters (0 -> A, 26 -> AA)."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def a1(row: int | None, col: int | None) -> str:
    """0-based (row, col) -> ``"E7"``; only the column or row when the other is unknown."""
    if row is None and col is None:
        return ""
    letters = column_letter(col) if col is not None else ""
    return f"{letters}{row + 1 if row is not None else ''}"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: stable ``code``, ``severity`` (error | warning), where it is, the value
    read and a Chinese message telling the department what to do."""

    code: str
    severity: str
    message: str
    file: str = ""
    sheet: str = ""
    row: int | None = None
    col: int | None = None
    value: str = ""
    project_id: str = ""

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
        return self.severity == ERROR

    def to_dict(self) -> dict:
        """Plain dict for JSON output, with the A1 cell instead of row/col."""
        d = asdict(self)
        d.pop("row"), d.pop("col")
        d["cell"] = self.cell
        return d


def error(code: str, message: str, **where) -> Issue:
    """Shorthand for an error-level :class:`Issue`."""
    return Issue(code, ERROR, message, **where)


def warning(code: str, message: str, **where) -> Issue:
    """Shorthand for a warning-level :class:`Issue`."""
    return Issue(code, WARNING, message, **where)
