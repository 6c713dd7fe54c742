"""Exceptions for the few situations where work cannot continue.

Bad data in a workbook is never an exception: it is an :class:`~selfeval_xlsx.issues.Issue`.
"""


class SelfevalError(Exception):
    """Base class of every error this package raises on purpose."""


class UnreadableInput(SelfevalError):
    """An input file cannot be opened as a workbook at all (not a spreadsheet, corrupt,
    encrypted, too large or a compression bomb). ``code`` is its
    :class:`~selfeval_xlsx.issues.Code`; ``detail`` what the parser said, for support (never
    part of the message users read)."""

    def __init__(self, message: str, code, detail: str = ""):
        super().__init__(message)
        self.code = code
        self.detail = detail


class RulesError(SelfevalError):
    """A rules file (TOML) is missing, malformed, or has an unknown key or a bad value."""


class TemplateError(SelfevalError):
    """A report template is missing, is not a .docx, or fails to render."""


class TargetsError(SelfevalError):
    """The approved targets (``--targets``) are missing, unreadable, or hold no 绩效目标."""


class OutputError(SelfevalError):
    """The output folder cannot be written (disk full, no permission, read-only file
    system): the run stops, everything already written stays whole, and a rerun continues."""


class ClusterError(SelfevalError):
    """The dask cluster cannot be used: not installed, unreachable, no workers, a worker that
    does not see the files or runs another version, or the connection lost mid-run."""
