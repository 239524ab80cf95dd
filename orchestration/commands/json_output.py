"""`--json` means one JSON document on stdout and nothing else.

Contract:
- `logs_to_stderr()`: inside the block, everything written to stdout goes to stderr: Python's
  `sys.stdout` (rich consoles, `print`, Dagster's and dbt's log handlers) and file descriptor 1
  (subprocesses and C libraries). A command with `--json` does its work inside it, then prints
  its one document with `emit_json` after the block.
- `emit_json(document)`: the document, indented, keys in the order given, on stdout (the real
  one also inside a `logs_to_stderr()` block: an error document may be printed from there).
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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated, Any, NoReturn

import typer

#: the `--json` option of every command: `as_json: JsonFlag = False`
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]

# inside `logs_to_stderr()` blocks (innermost last): how to write to the stdout they replaced
_REAL_STDOUT: list[Callable[[str], None]] = []


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Send stdout (Python and fd 1) to stderr for the block; restore it after."""
    sys.stdout.flush()
    sys.stderr.flush()
    # fd 1, and the descriptor under `sys.stdout` when it is another one (a handler created
    # before the block keeps writing to that object)
    fds = {1}
    original, original_fd = sys.stdout, None
    with contextlib.suppress(AttributeError, OSError, ValueError):
        original_fd = original.fileno()
        fds.add(original_fd)
    saved = {fd: os.dup(fd) for fd in fds}

    def write_real_stdout(text: str) -> None:
        if original_fd is None:  # an in-memory stdout (a test runner's): it is not redirected
            original.write(text)
            original.flush()
        else:
            os.write(saved[original_fd], text.encode("utf-8"))

    _REAL_STDOUT.append(write_real_stdout)
    try:
        for fd in fds:
            os.dup2(sys.stderr.fileno() if fd != 1 else 2, fd)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _REAL_STDOUT.pop()
        sys.stdout.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def emit_json(document: Any) -> None:
    """Print `document` as the command's one JSON document on stdout."""
    text = json.dumps(document, indent=2, default=str) + "\n"
    if _REAL_STDOUT:
        _REAL_STDOUT[-1](text)
        return
    sys.stdout.write(text)
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
