"""The ERP export's schedule is read from the contract: the sync of the entity naming the ERP's
journals (mode, expected lag, incident after), never a time written in code."""

from __future__ import annotations

import pytest

from orchestration.assets.erp_export import (
    EXPORT_CRON,
    JOURNAL_OBJECT,
    erp_export_daily,
    export_schedule,
)
from q2c.policy import default_contract
from q2c.policy.model import Contract

pytestmark = pytest.mark.unit


def _with_sync(contract: Contract, **sync: str) -> Contract:
    name = next(n for n, e in contract.entities.items()
                if JOURNAL_OBJECT in (e.objects.get("erp") or []))  # fmt: skip
    entity = contract.entities[name]
    entities = {
        **contract.entities,
        name: entity.model_copy(update={"sync": entity.sync.model_copy(update=sync)}),
    }
    return contract.model_copy(update={"entities": entities})


def test_the_shipped_schedule_is_the_contracts_daily_batch_after_the_daily_extracts() -> None:
    cron, description = export_schedule(default_contract())
    assert erp_export_daily.cron_schedule == EXPORT_CRON == cron == "15 2 * * *"
    assert "journal_entry sync, batch, expected within 1d, an incident after 2d" in description
    assert erp_export_daily.description == description


def test_a_shorter_lag_still_runs_daily_and_says_so() -> None:
    cron, description = export_schedule(
        _with_sync(default_contract(), expected_lag="1h", incident_after="2d")
    )
    assert cron == "15 2 * * *"
    assert "the contract asks 1h; partitions are days, so daily" in description


@pytest.mark.parametrize(
    ("sync", "reason"),
    [
        ({"mode": "real_time"}, "sync.mode is real_time: the export is a batch"),
        ({"incident_after": "1d"}, "incident_after 1d is shorter than a daily export"),
    ],
)
def test_a_contract_the_daily_export_cannot_meet_is_refused(sync: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        export_schedule(_with_sync(default_contract(), **sync))
