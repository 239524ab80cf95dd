"""The Dagster instance q2c uses: `DAGSTER_HOME` (`.q2c/dagster` by default) with its own
`dagster.yaml`.

Contract:
- `ensure_instance_config(home)` writes `home/dagster.yaml` when there is none (an operator's
  file is never overwritten): telemetry off (a finance pipeline sends nothing out by default),
  the concurrency pools at one slot each (DuckDB takes one writing process: every warehouse step
  runs in the `warehouse` pool, `orchestration/policies.py`), queued runs, retention of
  schedule and sensor ticks, and q2c's loggers in the runs' event logs (`python_logs`).
  `deploy/dagster.yaml` is the PostgreSQL-backed equivalent.
- `open_instance(home)` ensures that file and returns the instance of `home`, without touching
  the process environment.
- `python -m orchestration.instance DIR` ensures the file (the Makefile's `dev` target runs it
  before `dagster dev`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg

LOCAL_DAGSTER_YAML = """\
# Written by q2c (orchestration/instance.py) for the local instance; edit freely, q2c never
# overwrites it. deploy/dagster.yaml is the PostgreSQL-backed instance for a deployment.
telemetry:
  enabled: false

# DuckDB allows one writing process: every step that writes the warehouse runs in the
# `warehouse` pool, and a pool gets one slot unless set otherwise
# (`dagster instance concurrency set warehouse N` on PostgreSQL, where writers may overlap).
concurrency:
  pools:
    granularity: op
    default_limit: 1
  runs:
    max_concurrent_runs: 4

# q2c's own log records during a run go to the run's event log as well, masked like every
# record of the process (orchestration/log_masking.py)
python_logs:
  managed_python_loggers: [q2c, extractors, orchestration]
  python_log_level: INFO

# schedule and sensor ticks are kept for a while, not forever
retention:
  schedule:
    purge_after_days: 30
  sensor:
    purge_after_days:
      skipped: 7
      failure: 30
      success: 30
"""


def ensure_instance_config(home: Path) -> Path:
    """`home/dagster.yaml`, written with `LOCAL_DAGSTER_YAML` when absent."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if not path.exists():
        path.write_text(LOCAL_DAGSTER_YAML)
    return path


def open_instance(home: Path) -> dg.DagsterInstance:
    """The persistent Dagster instance in `home` (its `dagster.yaml` ensured first)."""
    ensure_instance_config(home)
    return dg.DagsterInstance.from_config(str(home))


if __name__ == "__main__":
    print(ensure_instance_config(Path(sys.argv[1])))
