"""`RequestPacer`: billing requests spaced under the account's rate limit (on a fake clock)."""

from __future__ import annotations

import pytest

from extractors.billing.client import RequestPacer

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_requests_take_successive_slots_at_the_rate() -> None:
    clock = FakeClock()
    pacer = RequestPacer(100, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.wait()
    assert clock.slept == pytest.approx([0.01] * 4)
    assert clock.now == pytest.approx(1000.04)


def test_an_idle_client_does_not_bank_slots() -> None:
    clock = FakeClock()
    pacer = RequestPacer(10, clock=clock, sleep=clock.sleep)
    pacer.wait()
    clock.now += 5  # idle for five seconds: the next request goes at once, the one after waits
    pacer.wait()
    pacer.wait()
    assert clock.slept == pytest.approx([0.1])


@pytest.mark.parametrize("rate", [None, 0])
def test_no_rate_no_pacing(rate: float | None) -> None:
    clock = FakeClock()
    pacer = RequestPacer(rate, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        pacer.wait()
    assert clock.slept == []


def test_the_pipeline_paces_at_the_configured_rate() -> None:
    from orchestration.resources import BillingApiResource
    from q2c.settings import load_settings

    settings = load_settings({"Q2C_BILLING_MAX_RPS": "90", "Q2C_HOME": "/tmp/q2c-pacer"})
    assert settings.billing_max_requests_per_second == 90.0
    assert load_settings({"Q2C_HOME": "/tmp/q2c-pacer"}).billing_max_requests_per_second is None
    resource = BillingApiResource(
        api_key="sk_test_x", max_requests_per_second=settings.billing_max_requests_per_second
    )
    assert resource.client().pacer.per_second == 90.0
