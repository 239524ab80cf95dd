"""Masking at the orchestration's edges: every log record of the process (q2c's, the
extractors', Dagster's) and the metadata assets and checks hand to Dagster.

`install()` does two things, once per process (the code location and the `q2c` command call
it on import):
- it wraps the logging record factory, so every record any logger creates (q2c, extractors,
  Dagster's `context.log`, whose messages become the run's event log, libraries) has its message
  and arguments masked by `q2c.masking.MaskingFilter` before any handler, Dagster's event-log
  handler included, sees it. The factory runs before `extra=` attributes are attached, so
  Dagster's own structured metadata on the record is left as Dagster wrote it;
- it adds the filter to every handler of the root, `dagster` and `q2c` loggers, which also
  masks the `extra=` values q2c passes.
Compute logs (captured stdout/stderr) carry what those handlers print, so they are masked too.

`masked_stdout()` masks, for a block, what is written to `sys.stdout` line by line: dagster-dbt
re-emits dbt's output there (not through logging), which the run's compute logs capture.

`install()` also masks the errors Dagster records: a step's (or run's, sensor's) exception
becomes a `SerializableErrorInfo` (message, stack, cause, context) in the failure event of the
event log, built by `SerializableErrorInfo.from_traceback` without passing through logging.
That constructor is wrapped so each level's message and stack lines are scrubbed for the
`dagster_metadata` channel (an email in an exception text lands as its marker, the rest of the
text stays readable). Dagster's own `DAGSTER_REDACT_USER_CODE_ERRORS` would drop the whole
message instead (with an error id to look up in the logs).

`masked_metadata(values)` is the one way an asset or check hands Dagster metadata that may
carry customer data (reasons, error texts, summaries): every text and JSON value masked for the
contract's `dagster_metadata` channel (a sensitive key gets its class's treatment, free text is
scrubbed); numbers, booleans, paths and URLs stay as they are, and so do the string values of
the keys named in `keep` (cursors, hashes, ids that are no one's data).
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from q2c.masking import MaskContext, MaskingFilter, install_log_masking, mask_record, mask_text

_INSTALLED: dict[str, Any] = {}
LOGGERS = ("", "dagster", "q2c", "extractors", "orchestration")
_METADATA = MaskContext("dagster_metadata")


def install() -> MaskingFilter:
    """Mask every log record of this process (idempotent)."""
    if "filter" in _INSTALLED:
        flt: MaskingFilter = _INSTALLED["filter"]
        return flt
    flt = MaskingFilter()
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            flt.filter(record)
        except Exception:  # masking must never lose a log line: keep a marker instead
            record.msg, record.args = "[log message withheld: masking failed]", None
        return record

    logging.setLogRecordFactory(factory)
    for name in LOGGERS:
        install_log_masking(logging.getLogger(name or None))
    _mask_error_infos()
    _INSTALLED["filter"] = flt
    return flt


def _mask_error_infos() -> None:
    """Wrap `SerializableErrorInfo.from_traceback` (see the module): the cause and context it
    builds recursively go through the wrapper too."""
    unmasked = SerializableErrorInfo.from_traceback.__func__  # type: ignore[attr-defined]

    def from_traceback(cls: type[SerializableErrorInfo], tb: Any) -> SerializableErrorInfo:
        info = unmasked(cls, tb)
        return cls(
            message=masked_text(info.message),
            stack=[masked_text(line) for line in info.stack],
            cls_name=info.cls_name,
            cause=info.cause,
            context=info.context,
        )

    SerializableErrorInfo.from_traceback = classmethod(from_traceback)  # type: ignore[method-assign]


def masked_metadata(values: Mapping[str, Any], *, keep: Collection[str] = ()) -> dict[str, Any]:
    """Dagster metadata with what may carry customer data masked (see the module)."""
    raw: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    for key, value in values.items():
        if key in keep or isinstance(value, bool | int | float) or value is None:
            typed[key] = value
        elif isinstance(value, dg.JsonMetadataValue | dg.TextMetadataValue):
            raw[key] = value.value
        elif isinstance(value, dg.MetadataValue):
            typed[key] = value
        else:
            raw[key] = value
    out: dict[str, Any] = {}
    masked = mask_record(raw, _METADATA) if raw else {}
    for key in values:
        if key in typed:
            out[key] = typed[key]
        elif key in masked:
            value = masked[key]
            if isinstance(values[key], dg.JsonMetadataValue | dict | list):
                out[key] = dg.MetadataValue.json(value)
            else:
                out[key] = dg.MetadataValue.text(str(value))
    return out


def masked_text(text: str) -> str:
    """A description or message for Dagster (a check's, a failure's), masked like metadata."""
    return mask_text(text, _METADATA)


class MaskingStream(io.TextIOBase):
    """A text stream that scrubs each whole line (the `logs` channel) before passing it on."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self._inner = inner
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._inner.write(mask_text(line, "logs") + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._inner.write(mask_text(self._pending, "logs"))
            self._pending = ""
        self._inner.flush()


@contextmanager
def masked_stdout() -> Iterator[None]:
    """Within the block, `sys.stdout` is masked line by line (see the module)."""
    previous = sys.stdout
    stream = MaskingStream(previous)
    sys.stdout = stream  # type: ignore[assignment]
    try:
        yield
    finally:
        stream.flush()
        sys.stdout = previous
