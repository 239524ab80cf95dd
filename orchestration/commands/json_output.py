"""`--json` means one JSON document on stdout and nothing else.

Contract:
- `logs_to_stderr()`: inside the block, everything written to stdout goes to stderr: Python's
  `sys.stdout` (rich consoles, `print`, Dagster's and dbt's log handlers) and file descriptor 1
  (subprocesses and C libraries). A command with `--json` does its work inside it, then prints
  its one document with `emit_json` after the block.
- `emit_json(document)`: the document, indented, keys in the order given, on stdout.
- `JsonFlag`: the `--json` option (`as_json: JsonFlag = False`).
- `json_or_logs(as_json)`: `logs_to_stderr()` with `--json`, nothing without: the block around
  a command's work.
- `say(document, text, as_json=...)`: the outcome, as the document or as a line for people.
- `fail(message, as_json=...)`: end a command on an error: the message on stderr and, with
  `--json`, `{"error": message}` as the one document on stdout; exit 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Annotated, Any, NoReturn

import typer

#: the `--json` option of every command: `as_json: JsonFlag = False`
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


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


def json_or_logs(as_json: bool) -> AbstractContextManager[None]:
    """`logs_to_stderr()` when the command prints JSON, else a block that changes nothing."""
    return logs_to_stderr() if as_json else contextlib.nullcontext()


def fail(message: str, *, as_json: bool, code: int = 1) -> NoReturn:
    """End the command: `message` on stderr (and `{"error": message}` on stdout with `--json`,
    so a script still reads one document), exit status `code`."""
    typer.echo(message, err=True)
    if as_json:
        emit_json({"error": message})
    raise typer.Exit(code)


def say(document: Any, text: str, *, as_json: bool) -> None:
    """The command's outcome: `document` as JSON with `--json`, else `text` for people."""
    if as_json:
        emit_json(document)
    else:
        typer.echo(text)
