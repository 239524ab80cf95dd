"""Write the report: one self-contained HTML page (charts inline as SVG, no external file or
script) and an XLSX workbook with one sheet per section (money formats per currency, frozen
header row, filters), plus the report's data as JSON."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import jinja2
import xlsxwriter
from markupsafe import Markup, escape

from q2c.reports.model import Column, Report
from q2c.reports.money import currency_decimals, format_amount

TEMPLATES = Path(__file__).parent / "templates"


def format_cell(column: Column, value: Any, row: dict[str, Any]) -> str:
    """The text a cell shows: money with its currency's places, grouped integers, yes/no."""
    if value is None:
        return ""
    if column.kind == "money":
        currency = row.get(column.currency_key)
        if not currency or currency == "-":
            return str(value)
        return format_amount(Decimal(value), currency)
    if column.kind == "int" and isinstance(value, int):
        return f"{value:,}"
    if column.kind == "bool":
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _cell_class(column: Column, value: Any) -> Markup:
    classes = []
    if column.kind in ("int", "money", "decimal"):
        classes.append("num")
    if column.kind == "bool" and value is not None:
        classes.append("yes" if value else "no")
    return Markup(f' class="{" ".join(classes)}"') if classes else Markup("")


def render_html(report: Report) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("report.html.j2")
    return template.render(
        h=report.header,
        sections=report.sections,
        charts=report.charts,
        cell=lambda c, v, r: escape(format_cell(c, v, r)),
        cell_class=_cell_class,
    )


def _sheet_name(title: str, used: set[str]) -> str:
    name = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31]
    base, n = name, 2
    while name in used:
        name = f"{base[:28]} {n}"
        n += 1
    used.add(name)
    return name


def write_xlsx(report: Report, path: Path | BinaryIO) -> None:
    """One sheet per section (and the header first); money cells carry the number format of
    their row's currency (0, 2 or 3 places). Excel stores numbers as binary doubles: amounts
    of up to 15 significant digits (every amount here) read back exactly."""
    target = str(path) if isinstance(path, Path) else path
    book = xlsxwriter.Workbook(target, {"remove_timezone": True, "in_memory": True})
    try:
        bold = book.add_format({"bold": True, "bg_color": "#F2F4F8", "bottom": 1})
        dates = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        ints = book.add_format({"num_format": "#,##0"})
        money = {
            places: book.add_format({"num_format": "#,##0." + "0" * places if places else "#,##0"})
            for places in (0, 2, 3)
        }
        used: set[str] = set()
        sheet = book.add_worksheet(_sheet_name("Header", used))
        sheet.write_row(0, 0, ["Field", "Value"], bold)
        for i, (key, value) in enumerate(report.header.items(), start=1):
            sheet.write_string(i, 0, key)
            sheet.write_string(i, 1, "" if value is None else str(value))
        last = len(report.header)
        sheet.write_string(last + 2, 0, "Prepared by (signature, date)")
        sheet.write_string(last + 3, 0, "Reviewed by (signature, date)")
        sheet.set_column(0, 0, 32)
        sheet.set_column(1, 1, 90)
        sheet.freeze_panes(1, 0)
        for section in report.sections:
            sheet = book.add_worksheet(_sheet_name(section.title, used))
            if section.status != "ok":
                sheet.write_string(0, 0, section.title, bold)
                sheet.write_string(1, 0, section.message)
                sheet.set_column(0, 0, 80)
                continue
            sheet.write_row(0, 0, [c.label for c in section.columns], bold)
            for r, row in enumerate(section.rows, start=1):
                for c, column in enumerate(section.columns):
                    _write_cell(sheet, r, c, column, row, money, ints, dates)
            for c, column in enumerate(section.columns):
                width = max(
                    [len(column.label)]
                    + [len(format_cell(column, row.get(column.key), row)) for row in section.rows]
                )
                sheet.set_column(c, c, min(max(width + 2, 8), 60))
            sheet.freeze_panes(1, 0)
            sheet.autofilter(0, 0, len(section.rows), len(section.columns) - 1)
    finally:
        book.close()


def _write_cell(sheet, r, c, column, row, money, ints, dates) -> None:  # noqa: ANN001
    value = row.get(column.key)
    if value is None:
        sheet.write_blank(r, c, None)
    elif column.kind == "money" and row.get(column.currency_key) not in (None, "-"):
        places = currency_decimals(row[column.currency_key])
        sheet.write_number(r, c, float(value), money[places])
    elif column.kind in ("int", "decimal") and isinstance(value, int | Decimal):
        sheet.write_number(r, c, float(value), ints if column.kind == "int" else None)
    elif column.kind == "bool":
        sheet.write_boolean(r, c, bool(value))
    elif isinstance(value, datetime):
        sheet.write_datetime(r, c, value.replace(tzinfo=None), dates)
    else:
        sheet.write_string(r, c, str(value))


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """Write `report-<period>.html`, `.xlsx` and `.json` under `out_dir`; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"report-{report.header['period']}"
    paths = {
        "html": out_dir / f"{stem}.html",
        "xlsx": out_dir / f"{stem}.xlsx",
        "json": out_dir / f"{stem}.json",
    }
    paths["html"].write_text(render_html(report), encoding="utf-8")
    write_xlsx(report, paths["xlsx"])
    paths["json"].write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
    return paths
