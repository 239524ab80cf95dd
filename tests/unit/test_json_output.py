"""`--json`: stdout carries exactly one JSON document; every log line goes to stderr."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from orchestration.commands.json_output import emit_json, logs_to_stderr

pytestmark = pytest.mark.unit


def test_python_logging_and_subprocess_output_inside_go_to_stderr(capfd) -> None:
    log = logging.getLogger("q2c.test.json_output")
    handler = logging.StreamHandler(sys.stdout)  # bound to stdout before the block, as dbt's is
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with logs_to_stderr():
            print("a progress line")
            log.info("a dbt log line")
            subprocess.run([sys.executable, "-c", "print('a child process line')"], check=True)
        emit_json({"success": True, "rows_landed": 3})
    finally:
        log.removeHandler(handler)
    out, err = capfd.readouterr()
    assert json.loads(out) == {"success": True, "rows_landed": 3}
    assert "a progress line" in err and "a child process line" in err and "a dbt log line" in err


def test_stdout_is_restored_after_an_error_inside(capfd) -> None:
    with pytest.raises(RuntimeError), logs_to_stderr():
        raise RuntimeError("boom")
    print("after")
    out, _ = capfd.readouterr()
    assert out == "after\n"


def test_a_document_printed_inside_the_block_still_reaches_stdout(capfd) -> None:
    with pytest.raises(RuntimeError), logs_to_stderr():
        print("a log line")
        emit_json({"error": "the warehouse was never built"})  # what `fail` does in the block
        raise RuntimeError("stop")
    out, err = capfd.readouterr()
    assert json.loads(out) == {"error": "the warehouse was never built"}
    assert "a log line" in err and "error" not in err
