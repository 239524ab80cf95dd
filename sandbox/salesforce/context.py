"""State shared by the stand-in's handlers: the world file, faults, sessions, API usage, query
cursors and the faults that act on served query pages (`late_update`, `malformed_record`)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from sandbox.salesforce.faults import Faults
from sandbox.salesforce.org import SObjectDef, id18
from sandbox.salesforce.query_plan import Plan, sf_datetime
from sandbox.salesforce.store import Store, parse_sf_datetime
from sandbox.salesforce.writes import RowError
from sandbox.world.salesforce_schema import INTEGRATION_USER_USERNAME

DEFAULT_DAILY_API_LIMIT = 100_000
DEFAULT_SESSION_LIFETIME = 7200.0
MAX_CURSORS_PER_USER = 10  # Salesforce keeps 10 open query cursors per user, dropping the oldest
_LATE_EDIT_FIELDS = ("Subject", "Title", "BillingCity", "Name", "LastName")


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    """Salesforce's error envelope: `[{"message", "errorCode"(, "fields")}]`."""
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return JSONResponse([item], status_code=status)


def row_errors(status: int, errors: list[RowError]) -> Response:
    """Row errors as Salesforce's REST error list."""
    return JSONResponse([e.rest() for e in errors], status_code=status)


@dataclass
class Session:
    """One access token: who it is for and when it was issued."""

    user_id: str
    username: str
    issued: float  # time.monotonic()
    lifetime: float


@dataclass
class Cursor:
    """A REST query's result snapshot (rowids in order), paged by `nextRecordsUrl`."""

    plan: Plan
    rowids: array
    version: str
    batch: int
    user_id: str = ""
    select_sql: str = ""


class Context:
    """Everything one stand-in app keeps between requests."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store = store
        self.faults = faults
        self.lock = threading.Lock()
        self.sessions: dict[str, Session] = {}
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.jobs: dict[str, Any] = {}
        self.api_usage = 0
        self.usage_day = ""
        seed = store.meta("seed") or "0"
        self.org_id = id18("00D" + f"Q2C{int(seed) % 10**9:09d}"[:12].rjust(12, "0"))
        integration = store.user_by_username(INTEGRATION_USER_USERNAME)
        self.integration_user_id = integration[0] if integration else id18("005Q2C000000INT")

    # -- sessions ------------------------------------------------------------------------------
    def new_session(self, user_id: str, username: str) -> str:
        """Issue an access token for a user."""
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
        lifetime = self.faults.setting("session_lifetime_seconds", DEFAULT_SESSION_LIFETIME)
        with self.lock:
            self.sessions[token] = Session(user_id, username, time.monotonic(), lifetime)
        return token

    def session(self, token: str) -> Session | None:
        """The live session of a token, or None (unknown or expired)."""
        with self.lock:
            sess = self.sessions.get(token)
            if sess is None:
                return None
            if time.monotonic() - sess.issued > sess.lifetime:
                del self.sessions[token]
                return None
            return sess

    def revoke(self, token: str) -> None:
        """Invalidate a token (the `session_expired` fault)."""
        with self.lock:
            self.sessions.pop(token, None)

    # -- API usage -----------------------------------------------------------------------------
    def count_call(self) -> tuple[int, int, bool]:
        """Count one API call; (used, limit, over) for `Sforce-Limit-Info`."""
        limit = int(self.faults.setting("daily_api_limit", DEFAULT_DAILY_API_LIMIT))
        forced = self.faults.pop_setting("api_usage")
        day = self.store.now().date().isoformat()
        with self.lock:
            if day != self.usage_day:  # a new day on the world's clock: a new allocation
                self.usage_day, self.api_usage = day, 0
            if forced is not None:
                self.api_usage = int(forced)
            if self.api_usage >= limit:
                return self.api_usage, limit, True
            self.api_usage += 1
            return self.api_usage, limit, False

    def usage(self) -> tuple[int, int]:
        """(API calls counted today, the daily limit)."""
        limit = int(self.faults.setting("daily_api_limit", DEFAULT_DAILY_API_LIMIT))
        with self.lock:
            return self.api_usage, limit

    # -- cursors -------------------------------------------------------------------------------
    def add_cursor(self, cursor: Cursor) -> str:
        """Keep a cursor for `nextRecordsUrl`; returns its locator.

        A user's eleventh open cursor evicts their least recently used one, whose locator then
        answers `INVALID_QUERY_LOCATOR`, as in Salesforce.
        """
        locator = id18("01g" + secrets.token_hex(6).upper())
        with self.lock:
            self.cursors[locator] = cursor
            mine = [k for k, c in self.cursors.items() if c.user_id == cursor.user_id]
            for old in mine[: max(len(mine) - MAX_CURSORS_PER_USER, 0)]:
                del self.cursors[old]
        return locator

    def cursor(self, locator: str) -> Cursor | None:
        """The cursor of a locator, or None when unknown or evicted."""
        with self.lock:
            cur = self.cursors.get(locator)
            if cur is not None:
                self.cursors.move_to_end(locator)
            return cur

    # -- page faults ---------------------------------------------------------------------------
    def after_page(self, plan: Plan, rowids: list[int], path: str) -> None:
        """Fire `late_update` for a page just served."""
        spec = self.faults.fire("late_update", path)
        if spec is None or not rowids:
            return
        conn = self.store.conn()
        ids = json.dumps(rowids)
        high = conn.execute(
            "SELECT max(r.system_modstamp) FROM json_each(?) k JOIN records r "
            "ON r.rowid = k.value",
            (ids,),
        ).fetchone()[0]
        # The record served with the oldest stamp gets the late change: stamped after its own
        # last change (so it is a real update) but before the newest change already served.
        target = conn.execute(
            "SELECT r.id, r.system_modstamp FROM json_each(?) k JOIN records r "
            "ON r.rowid = k.value WHERE r.is_deleted = 0 ORDER BY r.system_modstamp LIMIT 1",
            (ids,),
        ).fetchone()
        if high is None or target is None:
            return
        lag = timedelta(seconds=float(spec.get("lag_seconds", 3600)))
        own = parse_sf_datetime(target[1]) + timedelta(milliseconds=1)
        stamp = max(own, parse_sf_datetime(high) - lag)
        if stamp >= parse_sf_datetime(high):
            return
        self.late_edit(plan.sobject, target[0], sf_datetime(stamp))

    def late_edit(self, obj: SObjectDef, record_id: str, stamp: str) -> None:
        """A person's edit committed late: stamped `stamp`, older than what was served."""
        person = (
            self.store.conn()
            .execute(
                "SELECT id FROM records WHERE sobject = 'User' AND id != ? AND is_deleted = 0 "
                "ORDER BY id LIMIT 1",
                (self.integration_user_id,),
            )
            .fetchone()
        )
        user_id = person[0] if person else self.integration_user_id
        with self.store.transaction() as conn:
            found = self.store.get(record_id)
            if found is None:
                return
            before = found[1]
            body = dict(before)
            for name in _LATE_EDIT_FIELDS:
                fld = obj.field(name)
                if fld is not None and fld.updateable:
                    suffix = " (late edit)"
                    body[fld.name] = ((body.get(fld.name) or "")[: fld.length - len(suffix)]
                                      + suffix)  # fmt: skip
                    break
            body["SystemModstamp"] = body["LastModifiedDate"] = stamp
            body["LastModifiedById"] = user_id
            Store.put(
                conn,
                obj,
                body,
                before,
                operation="update",
                user_id=user_id,
                request_id="fault:late_update",
            )


def corrupt_json_record(record: str, plan: Plan) -> str:
    """One REST record with a value of the wrong type (the `malformed_record` fault)."""
    data = json.loads(record)
    for col in plan.columns:
        if len(col.path) == 1 and col.field.type in ("datetime", "date"):
            data[col.path[0]] = "not-a-date"
            break
        if len(col.path) == 1 and col.field.type in ("currency", "double", "int", "percent"):
            data[col.path[0]] = "12,34.5"
            break
        if len(col.path) == 1 and col.field.type == "boolean":
            data[col.path[0]] = "maybe"
            break
    else:
        key = next((c.path[0] for c in plan.columns if c.path[0] != "Id"), "Id")
        data[key] = {"malformed": True}
    return json.dumps(data, separators=(",", ":"))


def corrupt_csv_row(row: tuple[Any, ...], plan: Plan) -> tuple[Any, ...]:
    """One Bulk CSV row with a value of the wrong type, or an extra column."""
    values = list(row)
    for i, col in enumerate(plan.columns):
        bad = {"datetime": "not-a-date", "date": "not-a-date", "currency": "12,34.5",
               "double": "12,34.5", "int": "x", "percent": "x", "boolean": "maybe"}  # fmt: skip
        if col.field.type in bad:
            values[i] = bad[col.field.type]
            return tuple(values)
    return (*values, "unexpected extra column")
