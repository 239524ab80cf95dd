"""Masking applied to every log record of the process: q2c's, the extractors', Dagster's.

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
"""

from __future__ import annotations

import logging
from typing import Any

from q2c.masking import MaskingFilter, install_log_masking

_INSTALLED: dict[str, Any] = {}
LOGGERS = ("", "dagster", "q2c", "extractors", "orchestration")


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
