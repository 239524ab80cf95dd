"""`--json` means one JSON document on stdout and nothing else.

Contract:
- `logs_to_stderr()`: inside the block, everything written to stdout goes to stderr: Python's
  `sys.stdout` (rich consoles, `print`, Dagster's and dbt's log handlers) and file descriptor 1
  (subprocesses and C libraries). A command with `--json` does its work inside it, then prints
  its one document with `emit_json` after the block.
- `emit_json(document)`: the document, indented, keys in the order given, on stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Send stdout (Python and fd 1) to stderr for the block; restore it after."""
    sys.stdout.flush()
    sys.stderr.flush()
    # fd 1, and the descriptor under `sys.stdout` when it is another one (a handler created
    # before the block keeps writing to that object)
    fds = {1}
    with contextlib.suppress(AttributeError, OSError, ValueError):
        fds.add(sys.stdout.fileno())
    saved = {fd: os.dup(fd) for fd in fds}
    try:
        for fd in fds:
            os.dup2(sys.stderr.fileno() if fd != 1 else 2, fd)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def emit_json(document: Any) -> None:
    """Print `document` as the command's one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()
