"""Lag expectations read from the contract."""

from __future__ import annotations

from datetime import timedelta

import pytest

from q2c.policy import load_contract
from q2c.policy.lag import lag_limits, lag_status

pytestmark = pytest.mark.unit

CONTRACT = load_contract()


def test_entity_limits_come_from_the_contract() -> None:
    assert lag_limits(CONTRACT, "account") == (timedelta(minutes=15), timedelta(hours=2))
    assert lag_limits(CONTRACT, "payout") == (timedelta(days=1), timedelta(days=2))


def test_a_field_overrides_its_entity() -> None:
    assert lag_limits(CONTRACT, "account", "billing_status") == (
        timedelta(minutes=5),
        timedelta(minutes=30),
    )
    assert lag_limits(CONTRACT, "account", "name") == lag_limits(CONTRACT, "account")


@pytest.mark.parametrize(
    ("lag", "status"),
    [
        (timedelta(minutes=5), "on_time"),
        (timedelta(minutes=6), "late"),
        (timedelta(minutes=30), "late"),
        (timedelta(minutes=31), "incident"),
    ],
)
def test_lag_status_boundaries(lag: timedelta, status: str) -> None:
    assert lag_status(CONTRACT, "account", lag, "billing_status") == status


def test_unknown_entity_or_field_is_an_error() -> None:
    with pytest.raises(KeyError):
        lag_status(CONTRACT, "lead", timedelta(0))
    with pytest.raises(KeyError):
        lag_limits(CONTRACT, "account", "nickname")
