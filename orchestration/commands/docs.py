"""`q2c docs`: the dbt documentation as one self-contained page for analysts.

- `q2c docs [--out DIR] [--json]`: `dbt parse` then `dbt docs generate --static --no-compile`
  against the configured warehouse (`Q2C_WAREHOUSE_URL`: the catalog adds each built table's
  column types; an unbuilt warehouse gives the page without them), with the dbt vars and policy
  seeds of this process's contract; copies dbt's `static_index.html` to `DIR/index.html`
  (default `$Q2C_HOME/docs`): every model's, seed's, snapshot's and source's description,
  grain, columns, tests and lineage, with no server and no network.
- `orchestration.docs_links.docs_url(unique_id)` is one node's address in the page
  (`index.html#!/model/<unique id>`), which the Dagster asset catalog shows on every dbt asset.
- Prints the page's path, or with `--json` one JSON object (`path`, `nodes` per resource
  type). Exits 1 with dbt's last lines when dbt fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import typer
from rich.console import Console

from orchestration.commands.json_output import emit_json, fail, json_or_logs
from orchestration.docs_links import PAGE, docs_dir
from q2c.settings import child_environment, load_settings

console = Console()


def generate_docs(out: Path, warehouse_url: str) -> tuple[Path, dict[str, int]]:
    """Write the static docs page to `out/index.html`; return it and node counts per type.

    Raises:
        RuntimeError: dbt failed (its last output lines in the message).
    """
    from orchestration.assets.dbt import (
        DBT_PROJECT_DIR,
        contract_seed_environment,
        dbt_environment,
        dbt_executable,
    )
    from q2c.policy import load_contract
    from q2c.policy.dbt_seeds import dbt_vars

    env = child_environment(dbt_environment(warehouse_url) | contract_seed_environment())
    variables = json.dumps(dbt_vars(load_contract()), sort_keys=True)
    with tempfile.TemporaryDirectory(prefix="q2c-docs-") as tmp:
        common = ["--target-path", tmp, "--profiles-dir", str(DBT_PROJECT_DIR)]
        common += ["--vars", variables]
        for args in (["parse"], ["docs", "generate", "--static", "--no-compile"]):
            done = subprocess.run(
                [dbt_executable(), "--no-use-colors", *args, *common],
                cwd=DBT_PROJECT_DIR,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
                raise RuntimeError(f"dbt {' '.join(args)} failed:\n{tail}")
        manifest = json.loads((Path(tmp) / "manifest.json").read_text(encoding="utf-8"))
        out.mkdir(parents=True, exist_ok=True)
        page = out / PAGE
        shutil.copyfile(Path(tmp) / "static_index.html", page)
    counts: dict[str, int] = {}
    for node in [*manifest["nodes"].values(), *manifest["sources"].values()]:
        counts[node["resource_type"]] = counts.get(node["resource_type"], 0) + 1
    return page, dict(sorted(counts.items()))


def docs(
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output directory (default: $Q2C_HOME/docs)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Build the dbt documentation (descriptions, grain, columns, tests, lineage) as one page."""
    try:
        with json_or_logs(as_json):
            page, counts = generate_docs(out or docs_dir(), load_settings().warehouse_url)
    except RuntimeError as exc:
        fail(f"q2c docs: {exc}", as_json=as_json)
    if as_json:
        emit_json({"path": str(page), "nodes": counts})
        return
    summary = ", ".join(f"{n} {kind}s" for kind, n in counts.items())
    console.print(f"[bold]dbt docs[/bold]: {page} ({summary})", highlight=False)
