"""Log masking installed on the process: records of any logger (q2c's, Dagster's, a library's)
reach their handlers masked; run ids (UUIDs) stay readable; extras Dagster attaches are kept."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import dagster as dg
import pytest
from dagster import serialize_value

from extractors.errors import SystematicError
from orchestration.instance import open_instance
from orchestration.log_masking import install, masked_metadata, masked_stdout
from orchestration.policies import no_retry
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


def test_a_q2c_log_inside_a_run_reaches_the_event_log_masked(tmp_path: Path) -> None:
    """q2c's instance config sends q2c's loggers to the run's event log (`python_logs`); what
    an asset logs there about a customer is masked in the stored events."""
    install()

    @dg.asset
    def talks_about_a_customer() -> None:
        logging.getLogger("q2c.test_log_masking").info(
            "customer ana@example.com pays from %s", "DE89370400440532013000"
        )

    with open_instance(tmp_path / "dagster") as instance:
        result = dg.materialize([talks_about_a_customer], instance=instance)
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
    mine = [m for m in messages if "pays from" in m]
    assert len(mine) == 1, messages  # without `python_logs` the record never reaches the run
    assert "ana@example.com" not in mine[0] and "0532013000" not in mine[0], mine


def test_a_failing_steps_exception_text_reaches_the_event_log_masked(tmp_path: Path) -> None:
    """A step's exception (and the one it was raised from) becomes the failure event's error
    info without passing through logging: its message lands masked, the rest readable."""
    install()

    @dg.asset
    def fails_about_a_customer() -> None:
        try:
            raise KeyError("ana@example.com")
        except KeyError as exc:
            raise ValueError("no account for ana@example.com, IBAN DE89370400440532013000") from exc

    with open_instance(tmp_path / "dagster") as instance:
        result = dg.materialize([fails_about_a_customer], instance=instance, raise_on_error=False)
        records = instance.all_logs(result.run_id)
    assert not result.success
    (failure,) = [r.dagster_event for r in records if r.is_dagster_event
                  and r.dagster_event.is_step_failure]  # fmt: skip
    error = failure.step_failure_data.error
    text = error.to_string()
    assert "no account for [email], IBAN [iban]" in text, text  # the user's error, masked
    assert "KeyError: '[email]'" in text  # and the one it came from
    stored = "".join(serialize_value(r) for r in records)
    assert "ana@example.com" not in stored and "0532013000" not in stored


def test_a_no_retry_failures_description_is_masked() -> None:
    """`dg.Failure(description=...)` is the failure event's user data (not an error info)."""
    exc = SystematicError("bad credentials for ana@example.com", source="crm", hint="rotate")
    assert no_retry(exc).description == "[crm] bad credentials for [email]. What to do: rotate"


def test_metadata_through_the_helper_is_masked_and_keeps_its_types() -> None:
    meta = masked_metadata(
        {
            "reasons": dg.MetadataValue.json(
                ["customer ana@example.com: IBAN DE89370400440532013000"]
            ),
            "summary": {"email": "ana@example.com", "written": 3},
            "error": "Ana Roe <ana@example.com> rejected",
            "rows": 12,
            "report": dg.MetadataValue.path("/tmp/report.html"),
            "cursor_after": "1793491200",
        },
        keep={"cursor_after"},
    )
    text = str(meta)
    assert "ana@example.com" not in text and "0532013000" not in text, text
    assert meta["rows"] == 12 and meta["cursor_after"] == "1793491200"
    assert meta["report"] == dg.MetadataValue.path("/tmp/report.html")
    assert isinstance(meta["reasons"], dg.JsonMetadataValue)
    assert meta["summary"].value["written"] == 3
    assert isinstance(meta["error"], dg.TextMetadataValue)


def test_stdout_within_masked_stdout_is_scrubbed_line_by_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """dagster-dbt prints dbt's lines to stdout; a line quoting a value is scrubbed whole, even
    when it arrives in pieces."""
    with masked_stdout():
        print("12:01:02  Conversion Error: could not convert 'ana@", end="")
        print("example.com' to INT")
        print("1 of 632 OK created sql table model marts.fct_invoices [OK in 0.21s]")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "12:01:02  Conversion Error: could not convert '[email]' to INT"
    assert out[1] == "1 of 632 OK created sql table model marts.fct_invoices [OK in 0.21s]"
