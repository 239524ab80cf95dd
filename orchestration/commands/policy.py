"""`q2c policy` commands: the go/no-go check, the ownership sheet, the dbt seeds, kill switches.

- `q2c policy check [--file F] [--json]`: exit 0 only when the contract loads and every mapped
  field has a named owner and a resolution rule; otherwise print each problem (file:line, what,
  how to fix) and exit 1.
- `q2c policy sheet --out DIR`: write `ownership_sheet.md` and `ownership_sheet.html`.
- `q2c policy compile [--seeds DIR] [--check]`: write the contract as dbt seeds
  (`dbt_project/seeds/policy__*.csv`); `--check` exits 1 when the committed seeds are stale.
- `q2c policy pause FLOW` / `resume FLOW` / `switches`: the kill switches of write flows.
- `q2c policy dbt-vars`: the `q2c_*` dbt vars the contract decides, as JSON for `dbt --vars`.
- `q2c policy schema`: the contract's JSON Schema (for editors that validate YAML as you type).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from orchestration.commands.json_output import JsonFlag, emit_json, fail
from q2c.policy import Contract, ContractError, kill_switch, load_contract
from q2c.policy.dbt_seeds import compile_seeds, dbt_vars, render_csv, write_seeds
from q2c.policy.go_no_go import check_contract
from q2c.policy.loader import contract_path
from q2c.policy.sheet import write_sheet

app = typer.Typer(no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

SEEDS_DIR = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"

FileOpt = typer.Option(
    None,
    "--file",
    "-f",
    help="Contract file (default: $Q2C_POLICY_FILE " "or policy/ownership.yml).",
)


def _load(file: Path | None) -> Contract:
    try:
        return load_contract(file or contract_path())
    except ContractError as exc:
        for issue in exc.issues:
            err_console.print(issue.render(), markup=False, highlight=False)
        raise typer.Exit(1) from None


@app.command("check")
def check(
    file: Path | None = FileOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Go/no-go: every mapped field has a named owner and a resolution rule."""
    report = check_contract(file)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        raise typer.Exit(0 if report.ok else 1)
    if report.ok:
        console.print(
            f"[green]GO[/green] {report.file}: {report.entities} objects, {report.fields} "
            f"mapped fields each with an owner and a resolution rule, {report.write_set} "
            f"write-set fields, {report.gates} compliance gates."
        )
        raise typer.Exit(0)
    table = Table(title=f"NO-GO: {len(report.issues)} problem(s) in {report.file}")
    for col in ("line", "where", "what is wrong", "how to fix"):
        table.add_column(col, overflow="fold")
    for i in report.issues:
        table.add_row(str(i.line or ""), i.where, i.problem, i.fix)
    console.print(table)
    raise typer.Exit(1)


@app.command("sheet")
def sheet(
    out: Path = typer.Option(Path(".q2c/evidence"), "--out", "-o", help="Output directory."),
    file: Path | None = FileOpt,
    as_json: JsonFlag = False,
) -> None:
    """Write the ownership sheet (Markdown and HTML) for people."""
    contract = _load(file)
    md, html = write_sheet(contract, out, kill_switch.paused_flows())
    if as_json:
        emit_json({"markdown": str(md), "html": str(html)})
        return
    console.print(f"wrote {md}\nwrote {html}")


@app.command("compile")
def compile_(
    seeds: Path = typer.Option(SEEDS_DIR, "--seeds", help="dbt seeds directory."),
    check_only: bool = typer.Option(
        False, "--check", help="Do not write; exit 1 if the seeds differ from the contract."
    ),
    file: Path | None = FileOpt,
    as_json: JsonFlag = False,
) -> None:
    """Compile the contract into dbt seeds (policy__*.csv)."""
    contract = _load(file)
    if check_only:
        stale = [
            name
            for name, table in compile_seeds(contract).items()
            if not (seeds / f"{name}.csv").exists()
            or (seeds / f"{name}.csv").read_text(encoding="utf-8") != render_csv(table)
        ]
        if as_json:
            emit_json({"seeds": str(seeds), "stale": stale, "match": not stale})
        if stale:
            err_console.print(f"stale seeds: {', '.join(stale)}; run `q2c policy compile`")
            raise typer.Exit(1)
        if not as_json:
            console.print("seeds match the contract")
        return
    written = write_seeds(contract, seeds)
    if as_json:
        emit_json({"written": [str(path) for path in written]})
        return
    for path in written:
        console.print(f"wrote {path}")


@app.command("pause")
def pause(
    flow: str = typer.Argument(..., help="A write flow of the contract's rollout section."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (shown on the sheet)."),
    by: str = typer.Option("", "--by", help="Who pauses it."),
    as_json: JsonFlag = False,
) -> None:
    """Pause one write path (ingestion keeps running)."""
    try:
        kill_switch.pause(flow, reason, by=by)
    except ValueError as exc:
        fail(str(exc), as_json=as_json, code=2)
    if as_json:
        emit_json({"flow": flow, "paused": True})
        return
    console.print(f"paused {flow}")


@app.command("resume")
def resume(
    flow: str = typer.Argument(..., help="A paused write flow."),
    as_json: JsonFlag = False,
) -> None:
    """Resume a paused write path."""
    try:
        was = kill_switch.resume(flow)
    except ValueError as exc:
        fail(str(exc), as_json=as_json, code=2)
    if as_json:
        emit_json({"flow": flow, "resumed": was})
        return
    console.print(f"resumed {flow}" if was else f"{flow} was not paused")


@app.command("switches")
def switches(as_json: bool = typer.Option(False, "--json")) -> None:
    """List the write flows, their phase and whether their kill switch is on."""
    contract = _load(None)
    paused = kill_switch.paused_flows()
    rows = [
        {"flow": n, "phase": f.phase, "paused": n in paused, **paused.get(n, {})}
        for n, f in contract.rollout.items()
        if f.kind == "write"
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("flow", "phase", "kill switch", "reason")
    for r in rows:
        table.add_row(
            r["flow"], r["phase"], "PAUSED" if r["paused"] else "off", r.get("reason", "")
        )
    console.print(table)


@app.command("schema")
def schema(
    as_json: JsonFlag = False,
) -> None:
    """Print the contract's JSON Schema (point your editor's YAML plugin at it)."""
    emit_json(Contract.model_json_schema())


@app.command("dbt-vars")
def dbt_vars_(
    file: Path | None = FileOpt,
    as_json: JsonFlag = False,
) -> None:
    """Print the dbt vars the contract decides (JSON), for `dbt build --vars '...'`."""
    typer.echo(json.dumps(dbt_vars(_load(file)), separators=(",", ":")))
