"""`mask_record`: the one function every output path calls before data leaves the pipeline.

Logs (through `MaskingFilter`), Dagster metadata, exports, write-back payloads, the dead-letter
queue and the audit trail all pass records through `mask_record(record, MaskContext(channel,
system, object))`. It works on any JSON-like tree (dicts, lists, scalars) and returns a new
tree; the input is not modified.

How a value is found sensitive, in order:
1. its path inside the record (or the tail of the path, for wrapped records) matches a field
   the contract lists for that system and object (`billing:customer.address`); nested Stripe
   objects (an expanded `customer` inside an invoice) switch to their own `object`, Salesforce
   REST records to their `attributes.type`;
2. its key is one the contract lists as sensitive anywhere (`email`, `iban`, ...).
A sensitive value gets its class's treatment for the channel, as a whole sub-tree. Every other
string is scrubbed: the exact sensitive values this record holds are removed wherever else they
appear (a name inside a description), then the pattern kinds (emails, phones, IBANs, account
numbers, VAT numbers, TINs) of the classes that are not allowed in this channel.
"""

from __future__ import annotations

from typing import Any

from q2c.masking.policy import (
    EMPTY_PATTERNS,
    MaskContext,
    MaskingPolicy,
    PatternSet,
    default_policy,
)
from q2c.masking.scrub import scrub_sorted, scrub_text
from q2c.masking.treatments import DROP, apply

#: sensitive values shorter than this are searched for in other strings only as whole words
#: (a three-letter name would otherwise blank parts of unrelated words); single characters never
MIN_KNOWN_VALUE = 2


def _context(context: MaskContext | str) -> MaskContext:
    return context if isinstance(context, MaskContext) else MaskContext(channel=context)


def _leaves(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _leaves(v, out)
    elif isinstance(value, list):
        for v in value:
            _leaves(v, out)
    elif isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
        if len(text) >= MIN_KNOWN_VALUE:
            out.add(text)


class _Walker:
    def __init__(self, policy: MaskingPolicy, ctx: MaskContext) -> None:
        self.policy = policy
        self.ctx = ctx
        self.known: set[str] = set()
        self.known_sorted: list[str] = []
        self.kinds = policy.scrub_kinds(ctx.channel)

    def classify(self, key: str, path: tuple[str, ...], patterns: PatternSet) -> str | None:
        return patterns.match(path) or self.policy.keys.get(key.lower())

    def patterns(
        self, node: dict[str, Any], current: PatternSet, path: tuple[str, ...]
    ) -> tuple[PatternSet, tuple[str, ...]]:
        # a nested Stripe object names itself in `object`; a Salesforce REST record in
        # `attributes.type`: from there on, that object's field paths apply
        obj = node.get("object")
        system = self.ctx.system or "billing"
        if not isinstance(obj, str):
            attributes = node.get("attributes")
            obj = attributes.get("type") if isinstance(attributes, dict) else None
            system = self.ctx.system or "salesforce"
        if isinstance(obj, str) and (path or self.ctx.object is None):
            return self.policy.patterns_for(system, obj), ()
        return current, path

    def collect(self, value: Any, path: tuple[str, ...], patterns: PatternSet) -> None:
        if isinstance(value, dict):
            patterns, path = self.patterns(value, patterns, path)
            for k, v in value.items():
                sub = (*path, str(k))
                cls = self.classify(str(k), sub, patterns)
                treatment = self.policy.treatment(cls, self.ctx.channel) if cls else None
                if cls is None or treatment == "scrub":
                    self.collect(v, sub, patterns)
                elif treatment != "allow":
                    _leaves(v, self.known)
        elif isinstance(value, list):
            for v in value:
                self.collect(v, path, patterns)

    def mask(self, value: Any, path: tuple[str, ...], patterns: PatternSet) -> Any:
        if isinstance(value, dict):
            patterns, path = self.patterns(value, patterns, path)
            out: dict[str, Any] = {}
            for k, v in value.items():
                sub = (*path, str(k))
                cls = self.classify(str(k), sub, patterns)
                treatment = self.policy.treatment(cls, self.ctx.channel) if cls else "scrub"
                if treatment == "scrub":  # free text kept: scrubbed like any other string
                    out[k] = self.mask(v, sub, patterns)
                    continue
                treated = apply(
                    treatment,
                    v,
                    self.policy.salt,
                    self.policy.digest_chars,
                )
                if treated is not DROP:
                    out[k] = treated
            return out
        if isinstance(value, list):
            return [self.mask(v, path, patterns) for v in value]
        if isinstance(value, str):
            return scrub_sorted(value, self.kinds, self.known_sorted)
        return value


def mask_record(
    record: Any, context: MaskContext | str, policy: MaskingPolicy | None = None
) -> Any:
    """Mask a record for one channel, as the contract's sensitivity policy says.

    Args:
        record: a dict (or any JSON-like value) such as a Stripe object, a Salesforce record, a
            write-back payload, a dead-letter row or log extras.
        context: a `MaskContext`, or just the channel name.
        policy: default: the process's contract.

    Returns:
        A new, masked value of the same shape (dropped keys are absent).
    """
    policy = policy or default_policy()
    ctx = _context(context)
    walker = _Walker(policy, ctx)
    patterns = policy.patterns_for(ctx.system, ctx.object) if ctx.object else EMPTY_PATTERNS
    walker.collect(record, (), patterns)
    walker.known_sorted = sorted(walker.known, key=len, reverse=True)
    return walker.mask(record, (), patterns)


def mask_value(value: Any, treatment: str, policy: MaskingPolicy | None = None) -> Any:
    """Apply one treatment (drop, hash, redact, mask, scrub, allow) to one value.

    `drop` returns `None` here, as there is no key to remove.
    """
    policy = policy or default_policy()
    treated = apply(treatment, value, policy.salt, policy.digest_chars)
    return None if treated is DROP else treated


def mask_text(
    text: str,
    context: MaskContext | str = "logs",
    known_values: tuple[str, ...] = (),
    policy: MaskingPolicy | None = None,
) -> str:
    """Scrub free text (a log message, an error string) for the channel's pattern kinds."""
    policy = policy or default_policy()
    return scrub_text(text, policy.scrub_kinds(_context(context).channel), known_values)
