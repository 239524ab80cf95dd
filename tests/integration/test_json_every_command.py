"""`--json` on every `q2c` command: stdout carries exactly one JSON document and nothing else.

Each command runs in this process through the real CLI (`orchestration.cli.app`) against a
fresh DuckDB warehouse and `Q2C_HOME` under tmp; stdout and stderr are captured at the file
descriptor level (so a child process or a log handler writing to fd 1 would be caught), and the
whole of stdout must parse with `json.loads`, on success and on the command's error paths alike.
Commands needing a running sandbox, a CRM or a built warehouse are run on their cheapest real
path (an unknown id, an empty queue, a warehouse not built yet); `run` and `sandbox up` are
covered with their work by tests/e2e/test_billing_assets.py and
tests/integration/test_sandbox_runner.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer.main

from orchestration.cli import app
from q2c.landing import ensure_ops_tables, ensure_raw_table
from q2c.policy import load_contract
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.integration

#: commands without `--json`, and why
NO_JSON = {
    "demo": "the README's walk-through for people; scripts use run, export, report --json",
    "webhooks serve": "a long-running HTTP server, not a command with an outcome to print",
}


def leaf_commands(command: object = None, path: tuple[str, ...] = ()) -> dict[str, object]:
    """Every command of the `q2c` tree by its full name (`dlq list`)."""
    command = command or typer.main.get_command(app)
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return {" ".join(path): command}
    out: dict[str, object] = {}
    for name, sub in subcommands.items():
        out.update(leaf_commands(sub, (*path, name)))
    return out


def test_every_command_takes_json_or_says_why_not() -> None:
    commands = leaf_commands()
    assert len(commands) > 20
    missing = sorted(
        name
        for name, command in commands.items()
        if not any("--json" in p.opts for p in command.params)  # type: ignore[attr-defined]
    )
    assert missing == sorted(NO_JSON)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("Q2C_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("Q2C_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    # a warehouse as the first extract leaves it: the landing and ops tables, nothing modeled
    with Warehouse.from_url(f"duckdb:///{tmp_path / 'warehouse.duckdb'}") as wh:
        ensure_raw_table(wh, "billing", "customer")
        ensure_ops_tables(wh)
    return tmp_path


def q2c_json(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, object]:
    """Run `q2c ARGS --json`; (exit status, the one JSON document stdout carried)."""
    capfd.readouterr()
    try:
        app([*args, "--json"], prog_name="q2c")
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    out, err = capfd.readouterr()
    try:
        return status, json.loads(out)
    except ValueError as exc:
        raise AssertionError(f"q2c {' '.join(args)} --json: stdout is not one JSON document:\n"
                             f"{out[:2000]}\n--- stderr ---\n{err[-2000:]}") from exc  # fmt: skip


def write_flow() -> str:
    return next(n for n, f in load_contract().rollout.items() if f.kind == "write")


CASES: list[tuple[list[str], set[int], str]] = [
    # (arguments, allowed exit statuses, a key the document has)
    (["policy", "check"], {0, 1}, "ok"),
    (["policy", "switches"], {0}, ""),
    (["policy", "schema"], {0}, "properties"),
    (["policy", "dbt-vars"], {0}, "q2c_value_maps"),
    (["trace", "cus_nobody"], {1}, "query"),
    (["dlq", "list"], {0}, ""),
    (["dlq", "show", "no-such-key"], {1}, "error"),
    (["review", "list"], {0}, ""),
    (["review", "show", "no-such-item"], {1}, "error"),
    (["review", "resolve", "no-such-item", "--decision", "approve", "--by", "t"], {1}, "error"),
    (["report"], {1}, "error"),
    (["export", "erp", "--dry-run", "--date", "2026-10-31"], {1}, "error"),
    (["dlq", "redrive", "--dry-run"], {0}, "flows"),
    (["webhooks", "status"], {0}, "counts"),
    (["evidence"], {1}, "error"),
    (["forget", "--customer", "cus_nobody"], {1}, "error"),
    (["warehouse", "roles", "apply"], {1}, "error"),
    (["sandbox", "status"], {1}, "running"),
    (["sandbox", "down"], {0}, "stopped"),
    (["sandbox", "advance", "--days", "1"], {1}, "error"),
]


@pytest.mark.parametrize(("args", "statuses", "key"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_json_stdout_is_one_document(
    args: list[str], statuses: set[int], key: str, home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    status, document = q2c_json(args, capfd)
    assert status in statuses
    if key:
        assert isinstance(document, dict) and key in document
    else:
        assert isinstance(document, list)


def test_policy_commands_that_write_print_what_they_wrote(
    home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    status, sheet = q2c_json(["policy", "sheet", "--out", str(home / "sheet")], capfd)
    assert status == 0 and Path(sheet["html"]).exists()  # type: ignore[index]
    status, seeds = q2c_json(["policy", "compile", "--seeds", str(home / "seeds")], capfd)
    assert status == 0 and all(Path(p).exists() for p in seeds["written"])  # type: ignore[index]
    flow = write_flow()
    assert q2c_json(["policy", "pause", flow, "--reason", "test"], capfd) == (
        0,
        {"flow": flow, "paused": True},
    )
    assert q2c_json(["policy", "resume", flow], capfd) == (0, {"flow": flow, "resumed": True})
    assert q2c_json(["policy", "pause", "no_such_flow"], capfd)[0] == 2
