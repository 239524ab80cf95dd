"""Fault injection for the billing stand-in: what each fault does and when it fires.

Faults are a JSON object, given to `create_app(faults=...)` and merged at run time with
`PUT /__sandbox/faults` (a key set to `null` switches that fault off; `GET` reads the
config back, `GET /__sandbox/stats` says how often each fault fired). Names:

Request faults (decided per API request, before routing; never on `/__sandbox/*`):
- `drop_connection`: close the TCP connection without answering (the SDK sees an
  `APIConnectionError` and retries it). With `"after": true` the request is carried out
  first and only its response is lost: the case idempotency keys exist for.
- `rate_limit`: 429 `rate_limit_error`. `{"per_second": N}` allows N requests per rolling
  second and refuses the rest; otherwise the trigger below decides. `should_retry`
  (default true) sets `Stripe-Should-Retry`, which is what makes the official SDK retry a 429.
- `server_errors`: 5xx `api_error` (`status`, default 500): bursts with `every`/`burst`.
- `timeout`: hold the request `seconds` (default 30) before answering, longer than the
  client's timeout; the wait ends early when the client hangs up.
- `slow`: add `delay_ms` (default 250) before answering normally.

Every request fault takes a trigger: `probability` (0..1, drawn from a generator seeded with
`seed` and the fault name, so the same request sequence gives the same faults), or `every`
N matching requests with `burst` (default 1) consecutive ones failing (the first request of
each period fails), or `count`: the next N matching requests. No trigger means every
request. `paths` (prefixes such as `/v1/charges`) and `methods` narrow what matches.

Page faults (decided per object id by a hash of `seed`, so a given object is affected on
every read, on any page size):
- `duplicate_events`: `{"rate": r}`: in `GET /v1/events`, that share of events appears
  twice in a row (same id, same body).
- `out_of_order_events`: `{"rate": r}`: an affected event swaps places with its older
  neighbour in the page (never the last object of a page, so the cursor stays correct).
- `malformed_records`: `{"rate": r, "objects": [...], "fields": [...]}`: affected objects of
  those types (default all) are served without `fields` (default `created`, `amount`,
  `currency` where present): required fields missing, as a broken upstream page would be.

`seed` (int, default 0) seeds all of the above.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

REQUEST_FAULTS = ("drop_connection", "rate_limit", "server_errors", "timeout", "slow")
PAGE_FAULTS = ("duplicate_events", "out_of_order_events", "malformed_records")
DEFAULT_MALFORMED_FIELDS = ("created", "amount", "currency")

_TRIGGER_KEYS = {"probability", "every", "burst", "count", "paths", "methods"}
_EXTRA_KEYS: dict[str, set[str]] = {
    "drop_connection": {"after"},
    "rate_limit": {"per_second", "should_retry"},
    "server_errors": {"status"},
    "timeout": {"seconds"},
    "slow": {"delay_ms"},
    "duplicate_events": {"rate"},
    "out_of_order_events": {"rate"},
    "malformed_records": {"rate", "objects", "fields"},
}


class FaultConfigError(ValueError):
    """A fault config that names an unknown fault or carries a bad value."""


@dataclass
class Decision:
    """What to do with one request."""

    kind: str  #: one of REQUEST_FAULTS
    status: int = 0
    after: bool = False  #: drop_connection: carry the request out, then drop
    seconds: float = 0.0
    should_retry: bool = True


@dataclass
class _State:
    matched: int = 0
    remaining: int | None = None
    rng: random.Random = field(default_factory=random.Random)
    window: deque[float] = field(default_factory=deque)


def unit_hash(seed: int, name: str, key: str) -> float:
    """A number in [0, 1) fixed by `(seed, name, key)`: the per-object coin of page faults."""
    digest = hashlib.blake2b(f"{seed}:{name}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _check_number(name: str, key: str, value: Any, lo: float, hi: float | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultConfigError(f"{name}.{key} must be a number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        raise FaultConfigError(f"{name}.{key} must be within [{lo}, {hi}], got {value!r}")


def validate(config: dict[str, Any]) -> None:
    """Refuse unknown fault names, unknown options and out-of-range values.

    Raises:
        FaultConfigError: with the offending name.
    """
    if not isinstance(config, dict):
        raise FaultConfigError("faults must be a JSON object")
    for name, spec in config.items():
        if name == "seed":
            if isinstance(spec, bool) or not isinstance(spec, int):
                raise FaultConfigError(f"seed must be an integer, got {spec!r}")
            continue
        if name not in _EXTRA_KEYS:
            known = ", ".join(sorted([*_EXTRA_KEYS, "seed"]))
            raise FaultConfigError(f"unknown fault {name!r}; known: {known}")
        if spec is None:
            continue
        if not isinstance(spec, dict):
            raise FaultConfigError(f"{name} must be an object or null")
        allowed = _EXTRA_KEYS[name] | (_TRIGGER_KEYS if name in REQUEST_FAULTS else set())
        unknown = set(spec) - allowed
        if unknown:
            raise FaultConfigError(f"{name}: unknown options {sorted(unknown)}")
        checks = {
            "probability": (0, 1),
            "rate": (0, 1),
            "every": (1, None),
            "burst": (1, None),
            "count": (0, None),
            "per_second": (1, None),
            "status": (500, 599),
            "seconds": (0, 3600),
            "delay_ms": (0, 600_000),
        }
        for key, (lo, hi) in checks.items():
            if key in spec:
                _check_number(name, key, spec[key], lo, hi)
        for key in ("after", "should_retry"):
            if key in spec and not isinstance(spec[key], bool):
                raise FaultConfigError(f"{name}.{key} must be true or false")
        for key in ("paths", "methods", "objects", "fields"):
            if key in spec and (
                not isinstance(spec[key], list) or not all(isinstance(v, str) for v in spec[key])
            ):
                raise FaultConfigError(f"{name}.{key} must be a list of strings")


class Faults:
    """The live fault config and the state that makes its decisions deterministic.

    Args:
        config: the initial config (validated), or None for no faults.
    """

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = {}
        self.fired: dict[str, int] = {}
        self._state: dict[str, _State] = {}
        self.update(config or {})

    @property
    def seed(self) -> int:
        """The seed of every probabilistic decision."""
        return int(self.config.get("seed", 0))

    def update(self, patch: dict[str, Any]) -> None:
        """Merge `patch` into the config; `null` removes a fault. Resets the state of every
        fault the patch names (and of all faults when the seed changes)."""
        validate(patch)
        for name, spec in patch.items():
            if spec is None:
                self.config.pop(name, None)
            else:
                self.config[name] = spec
        names = set(self.config) if "seed" in patch else set(patch)
        for name in names:
            if name in REQUEST_FAULTS and name in self.config:
                spec = self.config[name]
                self._state[name] = _State(
                    remaining=spec.get("count"),
                    rng=random.Random(f"{self.seed}:{name}"),
                )
            else:
                self._state.pop(name, None)

    def _matches(self, spec: dict[str, Any], method: str, path: str) -> bool:
        paths = spec.get("paths")
        if paths and not any(path.startswith(p) for p in paths):
            return False
        methods = spec.get("methods")
        return not methods or method.upper() in {m.upper() for m in methods}

    def _fires(self, name: str, spec: dict[str, Any]) -> bool:
        state = self._state[name]
        index = state.matched
        state.matched += 1
        if state.remaining is not None:
            if state.remaining <= 0:
                return False
            state.remaining -= 1
            return True
        if "every" in spec:
            return index % int(spec["every"]) < int(spec.get("burst", 1))
        if "probability" in spec:
            return state.rng.random() < float(spec["probability"])
        return True

    def _over_rate(self, name: str, per_second: int, now: float) -> bool:
        window = self._state[name].window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= per_second:
            return True
        window.append(now)
        return False

    def decide(self, method: str, path: str, now: float | None = None) -> list[Decision]:
        """The request faults that apply to this request, in the order they act.

        At most one terminating fault (drop, 429, 5xx, timeout) is returned, preceded by
        `slow` when that fires too.
        """
        now = time.monotonic() if now is None else now
        out: list[Decision] = []
        for name in ("slow", "drop_connection", "rate_limit", "server_errors", "timeout"):
            spec = self.config.get(name)
            if spec is None or not self._matches(spec, method, path):
                continue
            if name == "rate_limit" and "per_second" in spec:
                fired = self._over_rate(name, int(spec["per_second"]), now)
            else:
                fired = self._fires(name, spec)
            if not fired:
                continue
            self.fired[name] = self.fired.get(name, 0) + 1
            if name == "slow":
                out.append(Decision("slow", seconds=float(spec.get("delay_ms", 250)) / 1000))
                continue
            out.append(
                Decision(
                    name,
                    status={"rate_limit": 429, "server_errors": int(spec.get("status", 500))}.get(
                        name, 0
                    ),
                    seconds=float(spec.get("seconds", 30)),
                    should_retry=bool(spec.get("should_retry", True)),
                    after=bool(spec.get("after", False)),
                )
            )
            break
        return out

    def page_fault(self, name: str) -> dict[str, Any] | None:
        """The spec of a page fault if it is on."""
        spec = self.config.get(name)
        return spec if spec is not None and float(spec.get("rate", 0)) > 0 else None

    def count(self, name: str, n: int = 1) -> None:
        """Record that a page fault fired `n` times."""
        if n:
            self.fired[name] = self.fired.get(name, 0) + n


def apply_page_faults(faults: Faults, object_type: str, bodies: list[str]) -> list[str]:
    """Apply the page faults that are on to one page of bodies (newest first).

    Pure given `(seed, bodies)`: an object is affected by the hash of its id, so a re-read
    shows the same fault. Only affected bodies are parsed and re-serialized.
    """
    import orjson  # local: only paid when a page fault is on

    seed = faults.seed
    malformed = faults.page_fault("malformed_records")
    if malformed is not None and (
        not malformed.get("objects") or object_type in malformed["objects"]
    ):
        rate = float(malformed["rate"])
        fields = malformed.get("fields") or list(DEFAULT_MALFORMED_FIELDS)
        out = []
        for body in bodies:
            obj = orjson.loads(body)
            if unit_hash(seed, "malformed_records", str(obj.get("id"))) < rate:
                for name in fields:
                    obj.pop(name, None)
                body = orjson.dumps(obj).decode()
                faults.count("malformed_records")
            out.append(body)
        bodies = out
    if object_type != "event":
        return bodies
    ooo = faults.page_fault("out_of_order_events")
    dup = faults.page_fault("duplicate_events")
    if ooo is None and dup is None:
        return bodies
    ids = [str(orjson.loads(b).get("id")) for b in bodies]
    if ooo is not None:
        rate = float(ooo["rate"])
        i = 0
        # the last object stays last: clients page on its id
        while i < len(bodies) - 2:
            if unit_hash(seed, "out_of_order_events", ids[i]) < rate:
                bodies[i], bodies[i + 1] = bodies[i + 1], bodies[i]
                ids[i], ids[i + 1] = ids[i + 1], ids[i]
                faults.count("out_of_order_events")
                i += 2
            else:
                i += 1
    if dup is not None:
        rate = float(dup["rate"])
        out = []
        for body, event_id in zip(bodies, ids, strict=True):
            out.append(body)
            if unit_hash(seed, "duplicate_events", event_id) < rate:
                out.append(body)
                faults.count("duplicate_events")
        bodies = out
    return bodies
