"""The period reconciliation report finance reads and signs (`q2c report --period 2026-10`).

`build_report(warehouse, contract, period, run_id=...)` reads a built warehouse into a
`Report` (header, sections, charts); `write_report(report, out_dir)` writes the HTML page, the
XLSX workbook and the JSON data. Sections: balance summary, identities, tie-outs to the GL
control accounts, matched/unmatched per reconciliation, breaks, match methods, verdict, open
items, break trend, data-quality findings, compliance holds, ERP export batches, gate
decisions. A section whose table the warehouse lacks says so; none invents a number.
"""

from q2c.reports.build import build_report, closed_period
from q2c.reports.model import NONE_RECORDED, NOT_AVAILABLE, Column, Report, Section
from q2c.reports.period import Period
from q2c.reports.render import render_html, write_report, write_xlsx

__all__ = [
    "NONE_RECORDED",
    "NOT_AVAILABLE",
    "Column",
    "Period",
    "Report",
    "Section",
    "build_report",
    "closed_period",
    "render_html",
    "write_report",
    "write_xlsx",
]
