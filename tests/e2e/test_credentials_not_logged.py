"""Credentials come from the environment and are never logged (issue 15).

Every extract (billing, Salesforce, ERP) runs through Dagster against the stand-ins over the S
world, logging at DEBUG; then the captured Python logs, stdout/stderr, every Dagster event of
the run (messages and metadata) and every byte of the Dagster instance's storage are scanned
for the sandbox's secrets: the billing API key, the Salesforce client secret and password, the
ERP token, and the access tokens the stand-ins issued.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from orchestration.commands.run import run_assets
from tests.support.pipeline import pipeline_against

pytestmark = pytest.mark.e2e

SECRET_VARS = (
    "Q2C_BILLING_API_KEY",
    "Q2C_SALESFORCE_CLIENT_SECRET",
    "Q2C_SALESFORCE_PASSWORD",
    "Q2C_ERP_TOKEN",
)


def test_extracts_log_no_credentials(
    world_s: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    with pipeline_against(world_s, tmp_path) as p:
        secrets = {name: p.env[name] for name in SECRET_VARS}
        assert all(len(v) >= 8 for v in secrets.values()), secrets.keys()
        summary = run_assets(
            p.defs, p.instance, select=["raw/billing", "raw/salesforce", "raw/erp"]
        )
        assert summary.success, summary
        events = p.instance.all_logs(summary.run_id)
    assert len(events) > 50, "the run recorded too few events to prove anything"
    event_text = "\n".join(repr(e) for e in events)
    out, err = capfd.readouterr()
    captured = {
        "python logs": "\n".join(
            r.getMessage() + repr(r.args) + repr(r.__dict__) for r in caplog.records
        ),
        "stdout/stderr": out + err,
        "dagster events": event_text,
        "dagster storage": "\n".join(
            f.read_bytes().decode("latin-1")
            for f in (tmp_path / "dagster").rglob("*")
            if f.is_file()
        ),
    }
    assert caplog.records, "nothing was logged: the scan would prove nothing"
    for where, text in captured.items():
        for name, value in secrets.items():
            assert value not in text, f"{name} appears in the {where}"
        assert "Bearer " not in text, f"an Authorization header appears in the {where}"
