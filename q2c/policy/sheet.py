"""`q2c policy sheet`: the ownership sheet for people (Markdown and HTML), the evidence pack's
object map.

It shows one sentence per object (who owns the truth, who only reads it), the field table, the
sync modes and lag expectations, the sensitivity table, the compliance gates, and the current
rollout phase of each flow with its kill-switch state. Rendered with jinja2 from
`q2c/policy/templates/`; HTML is autoescaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from q2c.policy.model import CHANNELS, Contract

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class SheetRow:
    entity: str
    field: str
    owner: str
    sources: str
    direction: str
    mode: str
    expected_lag: str
    incident_after: str
    winner: str
    keep_losing_value: str
    written_to: str


def sheet_context(contract: Contract, paused: dict[str, dict[str, str]] | None = None) -> dict:
    """The values both templates render (plain data, so tests can check them too)."""
    paused = paused or {}
    written = {}
    for t, api_name in contract.write_set():
        found = contract.find_field(t.system, f"{t.object}.{api_name}")
        if found:
            written[found] = f"{t.system}: {t.object}.{api_name}"
    rows = []
    for ename, e in contract.entities.items():
        for fname, f in e.fields.items():
            sync = contract.field_sync(ename, fname)
            res = contract.field_resolution(ename, fname)
            rows.append(
                SheetRow(
                    entity=ename,
                    field=fname,
                    owner=contract.field_owner(ename, fname) or "MISSING",
                    sources="; ".join(f"{s}: {r}" for s, r in f.sources.items()),
                    direction=sync.direction or "",
                    mode=sync.mode or "",
                    expected_lag=sync.expected_lag or "",
                    incident_after=sync.incident_after or "",
                    winner=res.winner if res else "MISSING",
                    keep_losing_value=("yes" if res.keep_losing_value else "no") if res else "",
                    written_to=written.get((ename, fname), ""),
                )
            )
    sensitivity = []
    for cname, c in contract.sensitivity.classes.items():
        default = c.treatment.get("default", "")
        sensitivity.append(
            {
                "name": cname,
                "category": c.category,
                "description": c.description,
                "where": ", ".join([*c.fields, *(f"any '{k}'" for k in c.keys)]),
                "treatments": [c.treatment.get(ch, default) for ch in CHANNELS],
                "status_metadata": ", ".join(c.status_metadata),
            }
        )
    return {
        "contract": contract,
        "entities": [
            {
                "name": k,
                "sor": contract.sor(k),
                "sor_product": contract.systems[contract.sor(k)].product,
                "statement": " ".join(e.statement.split()),
                "readers": ", ".join(e.readers) or "none",
                "objects": "; ".join(
                    f"{s}: {o if isinstance(o, str) else ', '.join(o)}"
                    for s, o in e.objects.items()
                ),
                "sync": e.sync,
            }
            for k, e in contract.entities.items()
        ],
        "rows": rows,
        "channels": CHANNELS,
        "sensitivity": sensitivity,
        "flows": [
            {
                "name": k,
                "kind": f.kind,
                "phase": f.phase,
                "writes_to": f.writes_to or "",
                "max_writes_per_run": f.max_writes_per_run or "",
                "paused": k in paused,
                "pause_reason": paused.get(k, {}).get("reason", ""),
                "description": f.description,
            }
            for k, f in contract.rollout.items()
        ],
    }


def _env(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_markdown(contract: Contract, paused: dict[str, dict[str, str]] | None = None) -> str:
    """The sheet as Markdown."""
    return _env(False).get_template("sheet.md.j2").render(**sheet_context(contract, paused))


def render_html(contract: Contract, paused: dict[str, dict[str, str]] | None = None) -> str:
    """The sheet as a self-contained HTML page."""
    return _env(True).get_template("sheet.html.j2").render(**sheet_context(contract, paused))


def write_sheet(
    contract: Contract, out_dir: Path, paused: dict[str, dict[str, str]] | None = None
) -> tuple[Path, Path]:
    """Write `ownership_sheet.md` and `ownership_sheet.html` into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "ownership_sheet.md"
    html = out_dir / "ownership_sheet.html"
    md.write_text(render_markdown(contract, paused), encoding="utf-8")
    html.write_text(render_html(contract, paused), encoding="utf-8")
    return md, html
