"""Kill switches: pause one write path without stopping ingestion.

The state lives in `$Q2C_HOME/kill_switches.json` (`{"flows": {flow: {"paused_at", "reason",
"by"}}}`), written atomically (temp file + rename) so a reader never sees half a file. The
write-back asks `is_paused(flow)` before each batch; only write flows declared in the contract's
`rollout` can be paused, so a typo cannot silently pause nothing, and ingestion never stops.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from q2c.policy.loader import default_contract
from q2c.policy.model import Contract
from q2c.settings import load_settings

STORE_NAME = "kill_switches.json"


def store_path(home: Path | None = None) -> Path:
    """The store file under `home` (default: `$Q2C_HOME`, else `.q2c`)."""
    return (home or load_settings().home) / STORE_NAME


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"flows": {}}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("flows"), dict):
        raise ValueError(f'{path} is not a kill-switch store; expected {{"flows": {{...}}}}')
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kill_switches.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _write_flow(flow: str, contract: Contract | None) -> None:
    contract = contract or default_contract()
    if flow not in contract.rollout:
        known = ", ".join(n for n, f in contract.rollout.items() if f.kind == "write")
        raise ValueError(f"unknown flow '{flow}'; write flows in the contract: {known}")
    if contract.rollout[flow].kind != "write":
        raise ValueError(
            f"'{flow}' is an ingestion flow; kill switches pause write paths only, so ingestion "
            "keeps running"
        )


def pause(
    flow: str,
    reason: str = "",
    *,
    by: str = "",
    home: Path | None = None,
    contract: Contract | None = None,
) -> None:
    """Pause the write flow `flow` (idempotent; the first pause's time is kept).

    Raises:
        ValueError: `flow` is not a write flow of the contract.
    """
    _write_flow(flow, contract)
    path = store_path(home)
    data = _read(path)
    entry = data["flows"].get(flow) or {"paused_at": datetime.now(UTC).isoformat()}
    entry.update({"reason": reason, "by": by})
    data["flows"][flow] = entry
    _write(path, data)


def resume(flow: str, *, home: Path | None = None, contract: Contract | None = None) -> bool:
    """Resume `flow`; returns whether it was paused.

    Raises:
        ValueError: `flow` is not a write flow of the contract.
    """
    _write_flow(flow, contract)
    path = store_path(home)
    data = _read(path)
    was = data["flows"].pop(flow, None) is not None
    _write(path, data)
    return was


def is_paused(flow: str, *, home: Path | None = None) -> bool:
    """Whether the write flow `flow` is paused now (read on every call: no caching)."""
    return flow in _read(store_path(home))["flows"]


def paused_flows(*, home: Path | None = None) -> dict[str, dict[str, str]]:
    """Every paused flow with when, why and by whom."""
    return dict(_read(store_path(home))["flows"])


def may_write(flow: str, *, home: Path | None = None, contract: Contract | None = None) -> bool:
    """A write flow may send writes: its phase allows writes and its kill switch is off."""
    contract = contract or default_contract()
    spec = contract.rollout.get(flow)
    if spec is None or spec.kind != "write":
        return False
    return spec.phase in ("controlled_writes", "automation") and not is_paused(flow, home=home)
