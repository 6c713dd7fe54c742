"""One Word report (绩效自评报告) per scored project, shaped like the seed report.

- :mod:`.context`: the report's content as plain strings (pure);
- :mod:`.render`: filling the docxtpl template and writing the .docx;
- :mod:`.template`: building the bundled template with python-docx;
- :mod:`.pdf`: converting reports with LibreOffice.
"""
from .context import build_context, report_filename
from .render import ReportRenderer
from .pdf import to_pdf

__all__ = ["ReportRenderer", "build_context", "report_filename", "to_pdf"]
