"""The report's HTML page in a real browser: Debian's headless Chromium renders the S world's
2026-10 report, its four charts are drawn with marks, its tables show the report's numbers,
no cell's text overflows and the page does not scroll sideways; a full-page screenshot is
written to the test's directory (its path is printed: look at it).

Skipped only where the `chromium` binary is absent (`make test` installs it where it can).
"""

from __future__ import annotations

import json
import re
import struct
from datetime import datetime
from pathlib import Path

import pytest

from q2c.policy import load_contract
from q2c.reports import Period, Report, build_report, write_report
from q2c.reports.render import format_cell
from q2c.warehouse import Warehouse
from tests.support.browser import chromium, needs_chromium
from tests.support.reports import s_duckdb

pytestmark = [
    pytest.mark.integration,
    needs_chromium,
]

WIDTH = 1280
#: measured in the page after layout; written into the DOM Chromium dumps
LAYOUT_CHECK = """
<script>
(function () {
  const out = {charts: [], overflowing: [], tables: {}};
  for (const fig of document.querySelectorAll("figure.chart")) {
    const svg = fig.querySelector("svg");
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    out.charts.push({id: fig.id, width: box.width, height: box.height,
                     marks: svg ? svg.querySelectorAll("path, rect").length : 0});
  }
  for (const cell of document.querySelectorAll("th, td, h1, h2, p, span")) {
    if (cell.scrollWidth > cell.clientWidth + 1 && cell.clientWidth > 0) {
      out.overflowing.push(cell.tagName + ": " + cell.textContent.slice(0, 60));
    }
  }
  for (const table of document.querySelectorAll("table[data-section]")) {
    out.tables[table.dataset.section] = {height: table.offsetHeight,
                                         text: table.innerText};
  }
  out.pageWidth = document.documentElement.scrollWidth;
  out.viewport = window.innerWidth;
  const pre = document.createElement("pre");
  pre.id = "layout-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


@pytest.fixture(scope="module")
def report_and_html(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    db = s_duckdb(world_s, tmp_path_factory)
    with Warehouse.from_url(f"duckdb:///{db}") as wh:
        report = build_report(
            wh,
            load_contract(),
            Period(2026, 10),
            run_id="browser",
            generated_at=datetime(2026, 11, 2),
        )
    paths = write_report(report, tmp_path_factory.mktemp("report_browser"))
    return report, paths["html"]


@pytest.fixture(scope="module")
def layout(report_and_html: tuple[Report, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    _, html = report_and_html
    work = tmp_path_factory.mktemp("chromium_dom")
    checked = work / "checked.html"
    checked.write_text(
        html.read_text(encoding="utf-8").replace("</body>", LAYOUT_CHECK + "</body>"),
        encoding="utf-8",
    )
    dom = chromium(
        work,
        f"--window-size={WIDTH},1000",
        "--virtual-time-budget=5000",
        "--dump-dom",
        checked.as_uri(),
    ).stdout
    match = re.search(r'<pre id="layout-check">(.*?)</pre>', dom, re.S)
    assert match, dom[-2000:]
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_every_chart_is_drawn_with_marks(layout: dict) -> None:
    charts = {c["id"]: c for c in layout["charts"]}
    assert set(charts) == {
        "chart-breaks_by_kind_and_age",
        "chart-breaks_over_time",
        "chart-matched_vs_unmatched",
        "chart-aging",
    }
    for chart in charts.values():
        assert chart["width"] > 200 and chart["height"] > 100, chart
        assert chart["marks"] >= 10, chart


def test_tables_are_rendered_with_the_reports_numbers(
    report_and_html: tuple[Report, Path], layout: dict
) -> None:
    report, _ = report_and_html
    for section in report.sections:
        if section.status != "ok":
            assert section.key not in layout["tables"]
            continue
        shown = layout["tables"][section.key]
        assert shown["height"] > 20, section.key
        for row in section.rows[:25]:
            for column in section.columns:
                if column.kind in ("money", "int"):
                    text = format_cell(column, row.get(column.key), row)
                    assert text in shown["text"], (section.key, column.key, text)


def test_no_text_overflows_and_the_page_does_not_scroll_sideways(layout: dict) -> None:
    assert not layout["overflowing"], layout["overflowing"][:10]
    assert layout["pageWidth"] <= layout["viewport"], (layout["pageWidth"], layout["viewport"])


def test_a_full_page_screenshot_is_written(
    report_and_html: tuple[Report, Path], tmp_path: Path
) -> None:
    _, html = report_and_html
    shot = tmp_path / "report-2026-10.png"
    chromium(tmp_path, f"--window-size={WIDTH},6000", f"--screenshot={shot}", html.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (WIDTH, 6000)
    assert len(data) > 100_000, "a blank page compresses to a few KB"
    print(f"screenshot: {shot}")
