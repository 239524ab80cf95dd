"""`MaskingFilter`: a `logging.Filter` that masks every log record before any handler writes it.

It masks the arguments (dicts through `mask_record`, strings scrubbed), then formats and scrubs
the message, masks `extra=` attributes (a sensitive key name gets its class's `logs`
treatment), and pre-formats and scrubs the traceback text. Attach it to handlers:
`install_log_masking()` adds it to every handler of the root logger (a filter on a logger does
not see records propagated from its children; one on a handler sees them all).
"""

from __future__ import annotations

import logging

from q2c.masking.policy import EMPTY_PATTERNS, MaskContext, MaskingPolicy, default_policy
from q2c.masking.records import _Walker, mask_record
from q2c.masking.scrub import scrub_text
from q2c.masking.treatments import DROP, apply

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
_LOGS = MaskContext("logs")


class MaskingFilter(logging.Filter):
    """Mask PII in log records as the contract's `logs` channel says. Never drops a record."""

    def __init__(self, policy: MaskingPolicy | None = None) -> None:
        super().__init__()
        self._policy = policy

    @property
    def policy(self) -> MaskingPolicy:
        return self._policy or default_policy()

    def filter(self, record: logging.LogRecord) -> bool:
        policy = self.policy
        kinds = policy.scrub_kinds("logs")
        # sensitive values of structured arguments, so the formatted message loses them too
        walker = _Walker(policy, _LOGS)
        known = walker.known
        if record.args:
            args = record.args
            if isinstance(args, dict):
                walker.collect(args, (), EMPTY_PATTERNS)
                record.args = mask_record(args, _LOGS, policy)
            else:
                masked = []
                for arg in args:
                    if isinstance(arg, dict | list):
                        walker.collect(arg, (), EMPTY_PATTERNS)
                        masked.append(mask_record(arg, _LOGS, policy))
                    else:
                        masked.append(arg)
                record.args = tuple(masked)
        for key, value in list(vars(record).items()):
            if key in _STANDARD:
                continue
            cls = policy.keys.get(key.lower())
            if cls is not None:
                treated = apply(
                    policy.treatment(cls, "logs"), value, policy.salt, policy.digest_chars
                )
                if treated is DROP:
                    delattr(record, key)
                else:
                    setattr(record, key, treated)
            elif isinstance(value, dict | list):
                walker.collect(value, (), EMPTY_PATTERNS)
                setattr(record, key, mask_record(value, _LOGS, policy))
            elif isinstance(value, str):
                setattr(record, key, scrub_text(value, kinds, known))
        record.msg = scrub_text(record.getMessage(), kinds, known)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text, kinds, known)
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info, kinds, known)
        return True


def install_log_masking(
    logger: logging.Logger | None = None, policy: MaskingPolicy | None = None
) -> MaskingFilter:
    """Add one `MaskingFilter` to every handler of `logger` (default: root) that lacks one."""
    logger = logger or logging.getLogger()
    flt = MaskingFilter(policy)
    for handler in logger.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
