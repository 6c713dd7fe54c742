"""selfeval-xlsx: 项目支出绩效自评 from department workbooks.

Entry points: :func:`analyse` (one workbook read, checked and scored), :func:`read_workbook`
(one workbook -> records and problems), :func:`score_project` (pure scoring),
:func:`load_rules` (the rules file) and :func:`run` with :class:`RunOptions` (the batch over
an inbox, writing summary.xlsx, workbook copies and reports).
"""
import importlib

__version__ = "0.1.0"

_EXPORTS = {"analyse": "pipeline", "read_workbook": "reader", "score_project": "scoring", "load_rules": "rules",
            "Rules": "rules", "run": "batch", "RunOptions": "batch"}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    # Imported on first use: importing one stage (e.g. the pure scorer) stays cheap.
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
