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

`masked_metadata(values)` is the one way an asset or check hands Dagster metadata that may
carry customer data (reasons, error texts, summaries): every text and JSON value masked for the
contract's `dagster_metadata` channel (a sensitive key gets its class's treatment, free text is
scrubbed); numbers, booleans, paths and URLs stay as they are, and so do the string values of
the keys named in `keep` (cursors, hashes, ids that are no one's data).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

import dagster as dg

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
    _INSTALLED["filter"] = flt
    return flt


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
