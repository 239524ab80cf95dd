"""The report's charts: Vega-Lite specs built with altair, rendered to SVG by vl-convert (no
browser, no network), inlined in the HTML page.

A chart is a picture of numbers the sections already show exactly: its data are the same
rows, with amounts handed to Vega-Lite as JSON numbers (Vega-Lite has no decimal type); the
tables and the workbook carry the exact Decimals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import altair as alt
import vl_convert

from q2c.reports.model import Chart, Section
from q2c.reports.open_items import AGE_BUCKETS

WIDTH = 520
BUCKETS = [b[0] for b in AGE_BUCKETS]


def _number(value: Decimal | int | None) -> float:
    # Vega-Lite reads JSON numbers; the exact amount is in the section's table
    return float(value or 0)


def _svg(chart: alt.TopLevelMixin) -> str:
    svg = vl_convert.vegalite_to_svg(chart.to_json())
    # the page's own text is selectable and searchable; drop the XML prolog for inlining
    return svg.split("?>", 1)[1].strip() if svg.startswith("<?xml") else svg


def breaks_by_kind_and_age(open_items: Section) -> Chart | None:
    counts: dict[tuple[str, str], int] = {}
    for r in open_items.rows:
        key = (r["break_kind"], r["age_bucket"])
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return None
    data = [{"kind": k, "age": a, "breaks": n} for (k, a), n in sorted(counts.items())]
    chart = (
        alt.Chart(alt.Data(values=data))
        .mark_bar()
        .encode(
            y=alt.Y("kind:N", title="break kind", sort="-x"),
            x=alt.X("sum(breaks):Q", title="open breaks"),
            color=alt.Color("age:N", title="age (days)", sort=BUCKETS),
            order=alt.Order("age:N"),
            tooltip=["kind:N", "age:N", "breaks:Q"],
        )
        .properties(width=WIDTH, title="Open breaks by kind and age")
    )
    return Chart("breaks_by_kind_and_age", "Open breaks by kind and age", _svg(chart))


def breaks_over_time(trend: Section) -> Chart | None:
    if not trend.rows:
        return None
    data = [
        {"month": str(r["period_month"])[:7], "kind": r["break_kind"], "breaks": r["breaks"]}
        for r in trend.rows
    ]
    chart = (
        alt.Chart(alt.Data(values=data))
        .mark_bar()
        .encode(
            x=alt.X("month:O", title="month the break originated"),
            y=alt.Y("sum(breaks):Q", title="open breaks"),
            color=alt.Color("kind:N", title="break kind"),
            tooltip=["month:O", "kind:N", "breaks:Q"],
        )
        .properties(width=WIDTH, title="Open breaks by month of origin and kind")
    )
    return Chart("breaks_over_time", "Open breaks by month of origin and kind", _svg(chart))


def matched_vs_unmatched(matching: Section) -> Chart | None:
    data: list[dict[str, Any]] = []
    for r in matching.rows:
        for state, key in (("matched", "matched_amount"), ("unmatched", "unmatched_amount")):
            data.append(
                {
                    "reconciliation": r["reconciliation"],
                    "currency": r["currency"].upper(),
                    "state": state,
                    "amount": _number(r[key]),
                }
            )
    if not data:
        return None
    chart = (
        alt.Chart(alt.Data(values=data))
        .mark_bar()
        .encode(
            y=alt.Y("reconciliation:N", title=None),
            x=alt.X("amount:Q", title="amount (own currency)", stack="normalize"),
            color=alt.Color("state:N", title=None, sort=["matched", "unmatched"]),
            row=alt.Row("currency:N", title=None),
            tooltip=["reconciliation:N", "currency:N", "state:N", "amount:Q"],
        )
        .properties(width=WIDTH - 80, title="Matched vs unmatched amounts (share per currency)")
    )
    return Chart("matched_vs_unmatched", "Matched vs unmatched amounts", _svg(chart))


def aging(open_items: Section) -> Chart | None:
    sums: dict[tuple[str, str], Decimal] = {}
    for r in open_items.rows:
        if r["currency"] and r["difference"] is not None:
            key = (r["currency"].upper(), r["age_bucket"])
            sums[key] = sums.get(key, Decimal(0)) + abs(r["difference"])
    if not sums:
        return None
    data = [{"currency": c, "age": a, "amount": _number(v)} for (c, a), v in sorted(sums.items())]
    chart = (
        alt.Chart(alt.Data(values=data))
        .mark_bar()
        .encode(
            x=alt.X("age:N", title="age (days)", sort=BUCKETS),
            y=alt.Y("amount:Q", title="|difference|"),
            column=alt.Column("currency:N", title=None),
            tooltip=["currency:N", "age:N", "amount:Q"],
        )
        .properties(width=140, title="Aging of open differences")
    )
    return Chart("aging", "Aging of open differences", _svg(chart))


def build_charts(sections: dict[str, Section]) -> list[Chart]:
    made = [
        breaks_by_kind_and_age(sections["open_items"]),
        breaks_over_time(sections["break_trend"]),
        matched_vs_unmatched(sections["matching"]),
        aging(sections["open_items"]),
    ]
    return [c for c in made if c is not None]
