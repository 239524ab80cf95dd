"""Log masking installed on the process: records of any logger (q2c's, Dagster's, a library's)
reach their handlers masked; run ids (UUIDs) stay readable; extras Dagster attaches are kept."""

from __future__ import annotations

import io
import logging

import pytest

from orchestration.log_masking import install
from q2c.masking import scrub_text

pytestmark = pytest.mark.unit

RUN_ID = "eeb69e93-123c-436d-99d2-123456789012"


@pytest.fixture()
def captured() -> tuple[logging.Logger, io.StringIO]:
    install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("dagster.test_log_masking")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_a_dagster_loggers_record_is_masked_before_its_handler_sees_it(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info(
        "run %s: wrote %s for %s", RUN_ID, {"email": "ana@example.com"}, "DE89370400440532013000"
    )
    out = stream.getvalue()
    assert "ana@example.com" not in out and "DE89370400440532013000" not in out
    assert RUN_ID in out


def test_extras_a_framework_attaches_are_left_as_they_are(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, _ = captured
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logger.addHandler(keep)
    try:
        logger.info("step done", extra={"dagster_meta": {"run_id": RUN_ID, "step": "x"}})
    finally:
        logger.removeHandler(keep)
    assert seen[0].dagster_meta == {"run_id": RUN_ID, "step": "x"}  # type: ignore[attr-defined]


def test_uuids_survive_scrubbing_and_account_numbers_beside_them_do_not() -> None:
    assert scrub_text(f"{RUN_ID} 12345678901") == f"{RUN_ID} [account_number]"
