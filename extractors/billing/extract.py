"""Incremental billing extraction: list pages and events stream into the landing, cursor last.

Contract:
- `BillingExtractor.extract_object(name)` lists one object (`/v1/<object>s`):
  - `incremental` (default): `created[gte] = cursor - overlap` (re-reading the overlap is free:
    the landing stores a version only when it differs from the latest one landed); the first
    run (no cursor) lists all.
    Objects that change without an event (a balance transaction turning from `pending` to
    `available`) are re-read from the oldest one landed in that state.
    Objects whose list has no `created` filter (credit notes) are listed in full every time.
  - `full`: lists everything, and tombstones landed objects the API no longer lists (deletions
    older than the 30-day event window); `window=(gte, lt)`: one `created` window for a
    backfill partition, leaves the cursor alone.
  Pages stream into `land_page` in batches of `batch_size` records; the cursor (max `created`
  seen, as decimal epoch seconds) is written with the last batch, so a crash anywhere leaves the
  cursor at the data. Children land with their parent (invoice lines, subscription items, the
  balance transactions each payout settled).
- `BillingExtractor.extract_objects(names)` lists several objects at once, each exactly as
  `extract_object` would (it is the same code): `list_workers` threads page the endpoints, a
  long list is split after its first page into `created` windows read by other list threads,
  a child pool lists the children a page does not embed, all within the client's one pacer;
  pages wait in a bounded queue (`queue_pages`) for the one writer (the calling thread), which
  lands them: the warehouse sees one writer, and a list thread holds at most two pages.
- Fewer calls, by Stripe's documented semantics: an invoice's lines are paged only when the
  embedded `lines.has_more` is true; a listed payout's balance transactions are listed once it
  is final (`paid`, `failed`, `canceled`), only for automatic payouts, and not when landed
  already (its `payout.*` event re-read lists them again).
- `BillingExtractor.extract_events()` reads `/v1/events` from `cursor - event_overlap`. For each
  event not yet landed, the object it carries is re-read by id (`GET /v1/<object>s/{id}`) and
  landed with `provider_ref` = the event id; the API's current state is landed rather than the
  event's snapshot, so duplicate, out-of-order and late events cannot land an older state after
  a newer one. `*.deleted` events (except `customer.subscription.deleted`, which is a
  cancellation) land a tombstone. The re-reads of a page of events (with the children a body
  does not embed in full) run on up to `list_workers` threads within the client's one pacer,
  at most two each ahead of the writer (the calling thread), which lands them in the sorted
  (object, id) order a sequential pass would; a 404 is quarantined with its reason, any other
  error is raised where that object would have landed. Events land only after the objects they
  triggered, so an event found in `raw.billing__event` is fully processed; the event cursor
  (max `created`) is set last.
  Objects whose own first listing has not happened yet are not re-read: that listing will read
  their current state.
- Webhooks (`webhooks.py`): `apply_inbox()` processes the webhook inbox's events not yet in
  `raw.billing__event` the same way (targeted re-reads by id, then the events land), without
  moving the event cursor; `recover_events(reconcile=...)` lands in the inbox the events the
  endpoint never received (`delivery_success=false`, oldest first; or every listed event the
  inbox lacks).
- A record that fails validation is quarantined (`ops.quarantine`) with the reason and its JSON,
  counted, and the run goes on; a page that will not parse is quarantined, the listing of that
  object stops without moving its cursor (`complete=False`), and the run goes on. Auth and other
  systematic errors propagate.

The extractor imports nothing of Dagster; the orchestration wraps it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import stripe

from extractors.base import Extractor
from extractors.billing.client import PAGE_LIMIT, BillingClient, CallTally
from extractors.billing.normalize import SOURCE, normalize_record, tombstone
from extractors.billing.objects import NOT_A_DELETION, OBJECTS, PARENT_OF
from extractors.billing.webhooks import INBOX_OBJECT, inbox_table, pending_events, store_events
from extractors.errors import PageError, RecordError
from extractors.result import ExtractResult
from q2c.landing import (
    RawRecord,
    ensure_raw_table,
    get_cursor,
    land_page,
    latest_versions_sql,
    quarantine,
)
from q2c.warehouse import Warehouse

log = logging.getLogger(__name__)

Mode = Literal["incremental", "full"]

DEFAULT_OVERLAP_SECONDS = 3_600
DEFAULT_EVENT_OVERLAP_SECONDS = 3_600
DEFAULT_BATCH_SIZE = 2_000
DEFAULT_LIST_WORKERS = 8
DEFAULT_CHILD_WORKERS = 8
DEFAULT_QUEUE_PAGES = 16
#: A long list is split into `created` windows of about this many pages each (at most
#: MAX_WINDOWS), read by several list threads at once.
DEFAULT_SPLIT_PAGES = 20
MAX_WINDOWS = 8
PAYOUT_TXNS_PATH = "/v1/balance_transactions"
#: A payout's status once it no longer changes (Stripe: `pending` -> `in_transit` -> `paid`,
#: `failed` or `canceled`); what it settled is listed once it is one of these.
FINAL_PAYOUT_STATUSES = frozenset({"paid", "failed", "canceled"})


class _Stopped(Exception):
    """The writer stopped (it failed): the list threads end without another request."""


class _Pipe:
    """The bounded queue of pages between the list threads and the one writer."""

    def __init__(self, size: int) -> None:
        self._queue: queue.Queue[tuple[str, _Listing, Any]] = queue.Queue(maxsize=max(1, size))
        self.stop = threading.Event()

    def check(self) -> None:
        if self.stop.is_set():
            raise _Stopped

    def put(self, item: tuple[str, _Listing, Any]) -> None:
        while True:
            self.check()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def get(self) -> tuple[str, _Listing, Any]:
        return self._queue.get()


@dataclass
class _Listing:
    """One object being listed: its parameters, its landing buffers and counts."""

    name: str
    path: str
    params: dict[str, Any]
    result: ExtractResult
    lander: _Lander
    started: float
    window: tuple[int, int] | None
    max_created: int | None
    #: a full re-list: the ids listed (the others get tombstones)
    listed_ids: set[str] | None
    #: payouts: those whose balance transactions are landed already
    settled: frozenset[str]
    tally: CallTally = field(default_factory=CallTally)
    #: list threads paging this object (its `created` windows): the last one reports it done
    open_chains: int = 1
    _chains_lock: threading.Lock = field(default_factory=threading.Lock)

    def chain_started(self) -> None:
        with self._chains_lock:
            self.open_chains += 1

    def chain_ended(self) -> bool:
        """One chain ended; True for the last one."""
        with self._chains_lock:
            self.open_chains -= 1
            return self.open_chains == 0


#: `_fetch_children`'s answer for a payout whose balance transactions are not listed this time.
_NO_CHILD_LISTING = object()


def _child_listing(name: str, raw: dict[str, Any]) -> tuple[str, Any, str, dict[str, Any]] | None:
    """(child table, embedded list, list path, list params) of an object that has children."""
    if name == "invoice":
        return "line_item", raw.get("lines"), f"/v1/invoices/{raw['id']}/lines", {}
    if name == "subscription":
        params = {"subscription": raw["id"]}
        return "subscription_item", raw.get("items"), "/v1/subscription_items", params
    if name == "payout":
        return "payout_balance_transaction", None, PAYOUT_TXNS_PATH, {"payout": raw["id"]}
    return None


def _with_children(page: list[Any], children: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Wait for a page's child listings: their records, or the `PageError` that stopped one
    (any other error propagates: the list thread hands it to the writer)."""
    done: dict[str, Any] = {}
    for parent_id, fetched in children.items():
        if isinstance(fetched, Future):
            try:
                fetched = fetched.result()
            except PageError as err:
                fetched = err
        done[parent_id] = fetched
    return page, done


def _read_ahead(pages: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """`pages`, in order, the next one requested (one thread) while the caller works on this
    one; an error of the request is raised where that page would have come."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="billing-read-ahead") as pool:
        upcoming = pool.submit(next, pages, None)
        while (page := upcoming.result()) is not None:
            upcoming = pool.submit(next, pages, None)
            yield page


def _embedded_in_full(embedded: Any) -> bool:
    """A parent's embedded child list holds every child (`has_more` false)."""
    return (
        isinstance(embedded, dict)
        and isinstance(embedded.get("data"), list)
        and not embedded.get("has_more")
    )


def _payout_needs_listing(raw: dict[str, Any], settled: frozenset[str]) -> bool:
    """Whether a listed payout's `balance_transactions?payout=` is worth a request.

    Stripe lists a payout's balance transactions for automatic payouts only, and they no longer
    change once the payout is final: list a final, automatic payout unless it is landed already.
    Not final yet: its `payout.paid` / `payout.failed` event re-reads it and lists them then.
    """
    if raw.get("automatic") is False or raw.get("status") not in FINAL_PAYOUT_STATUSES:
        return False
    return raw["id"] not in settled


class _Lander:
    """Buffers records per table and lands them in batches; keeps the counts."""

    def __init__(self, wh: Warehouse, run_id: str, batch_size: int, result: ExtractResult):
        self.wh = wh
        self.run_id = run_id
        self.batch_size = batch_size
        self.result = result
        self.buffers: dict[str, list[RawRecord]] = {}

    def add(self, object_name: str, record: RawRecord) -> None:
        buf = self.buffers.setdefault(object_name, [])
        buf.append(record)
        if len(buf) >= self.batch_size:
            self.flush(object_name)

    def flush(self, object_name: str, cursor: str | None = None) -> None:
        records = self.buffers.pop(object_name, [])
        if not records and cursor is None:
            return
        res = land_page(self.wh, SOURCE, object_name, records, run_id=self.run_id, cursor=cursor)
        stats = self.result.table(object_name)
        stats.landed += res.landed
        stats.duplicates += res.duplicates
        if res.landed:
            # Tombstones among the stored rows (a duplicate tombstone was counted before).
            stats.tombstones += min(res.landed, sum(1 for r in records if r.is_deleted))

    def flush_all(self) -> None:
        for name in list(self.buffers):
            self.flush(name)

    def quarantine(self, object_name: str, err: RecordError) -> None:
        quarantine(self.wh, SOURCE, object_name, err.reason, err.raw, run_id=self.run_id)
        self.result.table(object_name).quarantined += 1
        log.warning("billing %s: quarantined a record: %s", object_name, err.reason)


class BillingExtractor(Extractor):
    """Extracts billing objects into `raw.billing__*`.

    Args:
        client: the billing API client.
        wh: the warehouse to land into.
        run_id: the Dagster run id (or `manual-...`).
        overlap_seconds: how far before the cursor a `created` window re-reads.
        event_overlap_seconds: the same for the events stream.
        batch_size: records per `land_page` call.
        list_workers: threads paging list endpoints at once (`extract_objects`), and
            re-reading by id the objects a page of events touched (`extract_events`,
            `apply_inbox`).
        child_workers: threads listing children (a payout's balance transactions, the further
            pages of an invoice's lines) at once.
        queue_pages: pages the list threads may hold before the writer lands them.
        split_pages: pages per `created` window when a long list is split (`_windows`).
    """

    def __init__(
        self,
        client: BillingClient,
        wh: Warehouse,
        *,
        run_id: str,
        overlap_seconds: int = DEFAULT_OVERLAP_SECONDS,
        event_overlap_seconds: int = DEFAULT_EVENT_OVERLAP_SECONDS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        list_workers: int = DEFAULT_LIST_WORKERS,
        child_workers: int = DEFAULT_CHILD_WORKERS,
        queue_pages: int = DEFAULT_QUEUE_PAGES,
        split_pages: int = DEFAULT_SPLIT_PAGES,
    ) -> None:
        self.client = client
        self.wh = wh
        self.run_id = run_id
        self.overlap_seconds = overlap_seconds
        self.event_overlap_seconds = event_overlap_seconds
        self.batch_size = batch_size
        self.list_workers = list_workers
        self.child_workers = child_workers
        self.queue_pages = queue_pages
        self.split_pages = split_pages
        self._list_pool: ThreadPoolExecutor | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- listing ------------------------------------------------------------------------------
    def extract_object(
        self,
        name: str,
        *,
        mode: Mode = "incremental",
        window: tuple[int, int] | None = None,
    ) -> ExtractResult:
        """List one object (and its children) into the landing; see the module docstring."""
        return self.extract_objects([name], mode=mode, window=window)[0]

    def extract_objects(
        self,
        names: Iterable[str],
        *,
        mode: Mode = "incremental",
        window: tuple[int, int] | None = None,
    ) -> list[ExtractResult]:
        """List several objects at once into the landing; one `ExtractResult` each, in order.

        Up to `list_workers` threads page the list endpoints (and a child pool the children's
        lists) within the client's pacer; pages reach this thread through a bounded queue and
        land here, one writer, each object exactly as a listing of it alone would land it.
        """
        listings = [self._begin_listing(name, mode, window) for name in names]
        if not listings:
            return []
        pipe = _Pipe(self.queue_pages)
        pending = len(listings)
        workers = max(1, min(self.list_workers, pending))
        # Objects with children first: each of their pages fans out into child listings (a
        # payout's balance transactions), the longest chains of requests.
        started = sorted(listings, key=lambda item: not OBJECTS[item.name].children)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="billing-lists") as pool:
            try:
                self._list_pool = pool
                for listing in started:
                    pool.submit(self._produce, listing, pipe, listing.params, split=True)
                while pending:
                    kind, listing, payload = pipe.get()
                    if kind == "page":
                        self._land_listed_page(listing, *payload)
                    elif kind == "page_error":
                        listing.lander.quarantine(listing.name, payload)
                        listing.result.complete = False
                        log.error(
                            "billing %s: listing stopped at a page that would not parse",
                            listing.name,
                        )
                    elif kind == "failed":
                        raise payload
                    else:
                        self._finish_listing(listing)
                        pending -= 1
            finally:
                pipe.stop.set()
        return [listing.result for listing in listings]

    def _begin_listing(self, name: str, mode: Mode, window: tuple[int, int] | None) -> _Listing:
        """Read the object's cursor and build its list parameters (this thread: the writer)."""
        obj = OBJECTS.get(name)
        if obj is None or obj.list_path is None or name == "event":
            raise ValueError(f"{name!r} is not a listed billing object")
        started = time.monotonic()
        result = ExtractResult(SOURCE, name, "window" if window else mode)
        cursor = get_cursor(self.wh, SOURCE, name)
        result.cursor_before = cursor
        params: dict[str, Any] = dict(obj.list_params)
        if window is not None:
            if obj.created_filter:
                params["created"] = {"gte": window[0], "lt": window[1]}
        elif mode == "incremental" and cursor is not None and obj.created_filter:
            since = int(cursor) - self.overlap_seconds
            oldest_mutable = self._oldest_still_mutable(name)
            if oldest_mutable is not None:
                since = min(since, oldest_mutable)
            params["created"] = {"gte": max(0, since)}
        return _Listing(
            name=name,
            path=obj.list_path,
            params=params,
            result=result,
            lander=_Lander(self.wh, self.run_id, self.batch_size, result),
            started=started,
            window=window,
            max_created=int(cursor) if cursor is not None else None,
            listed_ids=set() if mode == "full" and window is None else None,
            settled=self._settled_payouts() if name == "payout" else frozenset(),
        )

    def _produce(
        self, listing: _Listing, pipe: _Pipe, params: dict[str, Any], *, split: bool = False
    ) -> None:
        """Page one chain of a listing (a list thread): each page, with its children, to the
        pipe; the listing's last chain to end reports it done. The first chain (`split`) may
        hand the rest of a long list to `created` windows (`_windows`) read by other threads."""
        with self.client.counting(listing.tally):
            try:
                pipe.check()
                self._page_chain(listing, pipe, params, split)
            except _Stopped:
                return
            except PageError as err:
                pipe.put(("page_error", listing, err))
            except BaseException as exc:  # noqa: BLE001 - handed to the writer, which raises it
                pipe.put(("failed", listing, exc))
                return
            if listing.chain_ended():
                pipe.put(("done", listing, None))

    def _page_chain(
        self, listing: _Listing, pipe: _Pipe, params: dict[str, Any], split: bool
    ) -> None:
        # A page waits here for its children (the writer never waits on the network), while
        # the next page's children are already being listed.
        inflight: deque[tuple[list[Any], dict[str, Any]]] = deque()

        def emit(page: list[Any]) -> None:
            inflight.append((page, self._fetch_children(listing, page)))
            if len(inflight) > 1:
                pipe.put(("page", listing, _with_children(*inflight.popleft())))

        pages = self.client.list_pages(listing.path, params)
        first = next(pages, None)
        if first is not None:
            emit(first)
            plan = self._windows(listing, params, first) if split else None
            if plan is not None:
                pages.close()
                top, windows = plan
                for window in windows:
                    listing.chain_started()
                    self._list_pool.submit(self._produce, listing, pipe, window)
                pages = self.client.list_pages(listing.path, top)
            for page in pages:
                emit(page)
        while inflight:
            pipe.put(("page", listing, _with_children(*inflight.popleft())))

    def _windows(
        self, listing: _Listing, params: dict[str, Any], first: list[Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """Split what remains of a long list after its first page into `created` windows.

        Stripe lists newest first and filters on `created[gte]`/`created[lt]`; after a full
        first page ending at `created` = hi with id `last`, the rest is: `created[gte]=c1`
        after `starting_after=last` (this chain goes on with it), then `[c2, c1)`, ... and
        `[lower bound, c(k-1))` (read by other list threads). The windows are disjoint and
        cover the rest whatever the cut points, which only balance the work: equal spans of
        `created` between hi and the oldest object (the list's own `created[gte]`, else found
        with `limit=1` probes), about `split_pages` pages each by the first page's density;
        not split under three windows' worth.
        """
        obj = OBJECTS[listing.name]
        if not obj.created_filter or self.list_workers <= 1 or len(first) < PAGE_LIMIT:
            return None
        head, tail = first[0], first[-1]
        if not (isinstance(head, dict) and isinstance(tail, dict)):
            return None
        newest, hi, last_id = (
            head.get(obj.created_field),
            tail.get(obj.created_field),
            tail.get("id"),
        )
        if not (isinstance(newest, int) and isinstance(hi, int) and isinstance(last_id, str)):
            return None
        span = max(1, newest - hi)  # seconds of `created` one page covered
        created = dict(params.get("created") or {})
        lo = created.get("gte")
        if lo is None:
            lo = self._oldest_bound(listing.path, params, hi, span)
        if lo is None:
            return None
        k = min(MAX_WINDOWS, int((hi - lo) / span) // max(1, self.split_pages))
        if k < 3:  # the first probe listed nothing: too short to be worth splitting
            return None
        cuts = [hi - (hi - lo) * i // k for i in range(1, k)]  # newest first
        top = {**params, "created": {**created, "gte": cuts[0]}, "starting_after": last_id}
        windows = []
        for upper, lower in zip(cuts, [*cuts[1:], None], strict=True):
            window = {**created, "lt": upper}
            if lower is not None:
                window["gte"] = lower
            windows.append({**params, "created": window})
        return top, windows

    def _oldest_bound(self, path: str, params: dict[str, Any], hi: int, span: int) -> int | None:
        """A `created` no listed object is older than: `limit=1` probes at `created[lt]` = hi
        minus 2, 4, 8... times `split_pages` pages' spans, until one lists nothing (None after
        16 probes). A list shorter than two windows costs one probe."""
        step = 2 * max(1, self.split_pages) * span
        for _ in range(16):
            bound = max(0, hi - step)
            created = {**(params.get("created") or {}), "lt": bound}
            body = self.client.get(path, {**params, "limit": 1, "created": created})
            if not body.get("data"):
                return bound
            if bound == 0:
                return None
            step *= 2
        return None

    def _fetch_children(self, listing: _Listing, page: list[Any]) -> dict[str, Any]:
        """Start listing the children a page's parents do not embed in full (child pool).

        Per parent id: a future of the children's records (`_with_children` waits for it), or
        `_NO_CHILD_LISTING` for a payout whose balance transactions are not to be listed (see
        `_payout_needs_listing`).
        """
        out: dict[str, Any] = {}
        for raw in page:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                continue
            spec = _child_listing(listing.name, raw)
            if spec is None or raw.get("deleted"):
                continue
            _, embedded, path, params = spec
            if listing.name == "payout" and not _payout_needs_listing(raw, listing.settled):
                out[raw["id"]] = _NO_CHILD_LISTING
            elif not _embedded_in_full(embedded):
                out[raw["id"]] = self._child_pool().submit(
                    self._list_all_counted, listing.tally, path, params
                )
        return out

    def _land_listed_page(
        self, listing: _Listing, page: list[Any], children: dict[str, Any]
    ) -> None:
        obj = OBJECTS[listing.name]
        for raw in page:
            fetched = children.get(raw.get("id")) if isinstance(raw, dict) else None
            rec = self._land_one(
                listing.lander, listing.name, raw, provider_ref=None, fetched=fetched
            )
            if rec is None:
                continue
            created = raw.get(obj.created_field)
            if isinstance(created, int) and (
                listing.max_created is None or created > listing.max_created
            ):
                listing.max_created = created
            if listing.listed_ids is not None:
                listing.listed_ids.add(rec.object_id)

    def _finish_listing(self, listing: _Listing) -> None:
        """Tombstones of a full re-list, the last batches and the cursor (in that order)."""
        name, lander, result = listing.name, listing.lander, listing.result
        obj = OBJECTS[name]
        if listing.listed_ids is not None and result.complete:
            self._tombstone_unlisted(lander, name, listing.listed_ids)
        for child in obj.children:
            lander.flush(child)
        new_cursor = None
        if result.complete and listing.window is None and listing.max_created is not None:
            new_cursor = str(listing.max_created)
        lander.flush(name, cursor=new_cursor)
        lander.flush_all()
        for table in (name, *obj.children):
            # An object with no rows yet still gets its (empty) table: dbt sources read it.
            ensure_raw_table(self.wh, SOURCE, table)
        result.cursor_after = new_cursor if new_cursor is not None else result.cursor_before
        result.api_requests = listing.tally.calls
        result.retries = listing.tally.retries
        result.duration_s = time.monotonic() - listing.started

    def _settled_payouts(self) -> frozenset[str]:
        """Payouts whose balance transactions are landed already (by parent id)."""
        table = ensure_raw_table(self.wh, SOURCE, "payout_balance_transaction")
        return frozenset(
            r[0] for r in self.wh.fetchall(f"select distinct provider_ref from {table}") if r[0]
        )

    def _oldest_still_mutable(self, name: str) -> int | None:
        """The oldest `created` among landed objects that still change without events.

        For balance transactions: the oldest one still `pending`; the window reaches back to
        it so the run sees it turn `available`.
        """
        obj = OBJECTS[name]
        if obj.reread_while is None:
            return None
        field_name, value = obj.reread_while
        table = ensure_raw_table(self.wh, SOURCE, name)
        created = obj.created_field
        row = self.wh.fetchone(
            f"select min(cast(payload ->> '{created}' as bigint))"
            f" from ({latest_versions_sql(table)}) latest"
            f" where not is_deleted and payload ->> '{field_name}' = ?",
            [value],
        )
        return int(row[0]) if row and row[0] is not None else None

    def _land_one(
        self,
        lander: _Lander,
        name: str,
        raw: Any,
        *,
        provider_ref: str | None,
        reconcile_children: bool = False,
        fetched: Any = None,
    ) -> RawRecord | None:
        """Normalize and buffer one object and its children; quarantine it if invalid.

        `fetched`: the children listed already (`_with_children`): their records, the
        `PageError` that stopped their listing, or `_NO_CHILD_LISTING`.
        """
        try:
            rec = normalize_record(name, raw, provider_ref=provider_ref)
        except RecordError as err:
            lander.quarantine(name, err)
            return None
        lander.add(name, rec)
        if rec.is_deleted:
            for child in OBJECTS[name].children:
                self._tombstone_children(lander, child, rec.object_id, provider_ref)
            return rec
        spec = _child_listing(name, raw)
        if spec is None or fetched is _NO_CHILD_LISTING:
            return rec
        child, embedded, path, params = spec
        if isinstance(fetched, PageError):
            lander.quarantine(child, fetched)
            lander.result.complete = False
            return rec
        if fetched is not None:
            embedded = {"object": "list", "data": fetched, "has_more": False}
        self._land_children(lander, child, raw["id"], embedded, path, params, reconcile_children)
        return rec

    def _child_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=max(1, self.child_workers), thread_name_prefix="billing-children"
            )
        return self._pool

    def _list_all_counted(self, tally: CallTally, path: str, params: dict[str, Any]) -> list[Any]:
        with self.client.counting(tally):
            return [rec for page in self.client.list_pages(path, params) for rec in page]

    def close(self) -> None:
        """Stop the child-fetching threads, then release the client (see `Extractor`)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        super().close()

    def _land_children(
        self,
        lander: _Lander,
        child: str,
        parent_id: str,
        embedded: Any,
        path: str,
        params: dict[str, Any],
        reconcile: bool,
    ) -> None:
        """Land a parent's children: the embedded list, then further pages if `has_more`."""
        pages: Iterable[list[Any]]
        if _embedded_in_full(embedded):
            pages = [embedded["data"]]
        else:
            # Not embedded, or truncated: list them all from the start rather than continue
            # after the embedded ones (the embedded order need not be the list order).
            pages = self.client.list_pages(path, params)
        seen: set[str] = set()
        try:
            for page in pages:
                for raw in page:
                    try:
                        rec = normalize_record(
                            child,
                            raw,
                            provider_ref=parent_id,
                            parent_id=parent_id if child == "payout_balance_transaction" else None,
                        )
                    except RecordError as err:
                        lander.quarantine(child, err)
                        # An invalid child still exists upstream: never tombstone it.
                        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                            seen.add(raw["id"])
                        continue
                    seen.add(rec.object_id)
                    lander.add(child, rec)
        except PageError as err:
            lander.quarantine(child, err)
            lander.result.complete = False
            return
        if reconcile:
            for object_id in self._live_children(child, parent_id):
                if object_id not in seen:
                    lander.add(child, tombstone(_stripe_object(child), object_id, parent_id))

    def _live_children(self, child: str, parent_id: str) -> list[str]:
        """Ids of `child` rows landed under `parent_id` whose latest version is not deleted."""
        lander_table = ensure_raw_table(self.wh, SOURCE, child)
        rows = self.wh.fetchall(
            f"select object_id from ({latest_versions_sql(lander_table, 'provider_ref = ?')})"
            " latest where not is_deleted",
            [parent_id],
        )
        return [r[0] for r in rows]

    def _tombstone_children(
        self, lander: _Lander, child: str, parent_id: str, provider_ref: str | None
    ) -> None:
        lander.flush(child)
        for object_id in self._live_children(child, parent_id):
            lander.add(child, tombstone(_stripe_object(child), object_id, parent_id))

    def _tombstone_unlisted(self, lander: _Lander, name: str, listed: set[str]) -> None:
        """Full re-list: objects landed live that the API no longer lists are deleted."""
        lander.flush(name)
        table = ensure_raw_table(self.wh, SOURCE, name)
        rows = self.wh.fetchall(
            f"select object_id from ({latest_versions_sql(table)}) latest where not is_deleted"
        )
        ref = f"relist:{self.run_id}"
        for (object_id,) in rows:
            if object_id not in listed:
                lander.add(name, tombstone(name, object_id, ref))
                for child in OBJECTS[name].children:
                    self._tombstone_children(lander, child, object_id, ref)

    # -- events -------------------------------------------------------------------------------
    def extract_events(self) -> ExtractResult:
        """Read the events stream, re-read what changed, land tombstones; see module docstring."""
        started = time.monotonic()
        calls0, retries0 = self.client.api_calls, self.client.retries
        result = ExtractResult(SOURCE, "event", "incremental")
        lander = _Lander(self.wh, self.run_id, self.batch_size, result)
        cursor = get_cursor(self.wh, SOURCE, "event")
        result.cursor_before = cursor
        params: dict[str, Any] = {}
        if cursor is not None:
            params["created"] = {"gte": max(0, int(cursor) - self.event_overlap_seconds)}
        max_created = int(cursor) if cursor is not None else None
        first_listing_done: dict[str, bool] = {}

        try:
            # The next page is read while this one's re-reads and landing run.
            for page in _read_ahead(self.client.list_pages("/v1/events", params)):
                page_max = self._process_events(lander, page, first_listing_done, result)
                if page_max is not None and (max_created is None or page_max > max_created):
                    max_created = page_max
        except PageError as err:
            lander.quarantine("event", err)
            result.complete = False

        new_cursor = str(max_created) if result.complete and max_created is not None else None
        lander.flush_all()
        lander.flush("event", cursor=new_cursor)
        ensure_raw_table(self.wh, SOURCE, "event")
        result.cursor_after = new_cursor if new_cursor is not None else cursor
        result.api_requests = self.client.api_calls - calls0
        result.retries = self.client.retries - retries0
        result.duration_s = time.monotonic() - started
        return result

    def _process_events(
        self,
        lander: _Lander,
        raw_events: Iterable[Any],
        first_listing_done: dict[str, bool],
        result: ExtractResult,
    ) -> int | None:
        """Re-read what a batch of events changed, then land the events; return max `created`.

        The objects land first, then the events that caused them: a landed event is done.
        """
        events: dict[str, RawRecord] = {}
        max_created: int | None = None
        for raw in raw_events:
            try:
                rec = normalize_record(
                    "event",
                    raw,
                    provider_ref=raw.get("id") if isinstance(raw, dict) else None,
                )
            except RecordError as err:
                lander.quarantine("event", err)
                continue
            events.setdefault(rec.object_id, rec)  # a duplicated event counts once
            created = rec.payload["created"]
            if max_created is None or created > max_created:
                max_created = created
        new = self._unprocessed(list(events.values()))
        self._apply_events(lander, new, first_listing_done, result)
        for name in list(lander.buffers):
            if name != "event":
                lander.flush(name)
        for rec in events.values():
            lander.add("event", rec)
        lander.flush("event")
        result.events_processed += len(new)
        return max_created

    # -- webhooks -----------------------------------------------------------------------------
    def apply_inbox(self, limit: int | None = None) -> ExtractResult:
        """Targeted re-reads for the webhook inbox's unprocessed events (`webhooks.py`).

        Each object an inbox event names is re-read by id (`GET /v1/<object>s/{id}`) and landed
        with the event id as `provider_ref`, exactly as `extract_events` does; then the events
        land in `raw.billing__event`, so the poll skips them. The event cursor is left alone:
        the poll still reads the whole stream (polling stays the completeness guarantee).

        Args:
            limit: at most this many inbox events (oldest arrival first).
        """
        started = time.monotonic()
        calls0, retries0 = self.client.api_calls, self.client.retries
        result = ExtractResult(SOURCE, "event", "webhook")
        cursor = get_cursor(self.wh, SOURCE, "event")
        result.cursor_before = result.cursor_after = cursor
        lander = _Lander(self.wh, self.run_id, self.batch_size, result)
        pending = pending_events(self.wh, limit=limit)
        first_listing_done: dict[str, bool] = {}
        for start in range(0, len(pending), self.batch_size):
            chunk = pending[start : start + self.batch_size]
            self._process_events(lander, [e.payload for e in chunk], first_listing_done, result)
        lander.flush_all()
        result.rows_read = len(pending)
        result.api_requests = self.client.api_calls - calls0
        result.retries = self.client.retries - retries0
        result.duration_s = time.monotonic() - started
        return result

    def recover_events(self, *, reconcile: bool = False) -> ExtractResult:
        """Land in the webhook inbox the events the endpoint never received.

        - recovery (`reconcile=False`): `GET /v1/events?delivery_success=false` (the events
          whose webhook deliveries are pending or failed; the API keeps 30 days), landed oldest
          first with `provider_ref` `recovery:<run>`;
        - reconcile (`reconcile=True`): every event the API lists (30 days), compared with the
          inbox; those it lacks land with `provider_ref` `reconcile:<run>`.
        Events the inbox holds already store nothing. `apply_inbox` then re-reads their objects.
        """
        started = time.monotonic()
        calls0, retries0 = self.client.api_calls, self.client.retries
        kind = "reconcile" if reconcile else "recovery"
        result = ExtractResult(SOURCE, INBOX_OBJECT, kind)
        stats = result.table(INBOX_OBJECT)
        params: dict[str, Any] = {} if reconcile else {"delivery_success": "false"}
        ref = f"{kind}:{self.run_id}"
        try:
            pages: Iterable[list[Any]] = self.client.list_pages("/v1/events", params)
            if not reconcile:
                # Stripe lists newest first; undelivered events are processed oldest first.
                events = [e for page in pages for e in page]
                events.sort(key=_created_and_id)
                pages = [events]
            for page in pages:
                valid = []
                for raw in page:
                    try:
                        valid.append(normalize_record("event", raw, provider_ref=ref).payload)
                    except RecordError as err:
                        quarantine(
                            self.wh, SOURCE, INBOX_OBJECT, err.reason, err.raw, run_id=self.run_id
                        )
                        stats.quarantined += 1
                result.rows_read += len(page)
                landed = store_events(self.wh, valid, provider_ref=ref, run_id=self.run_id)
                stats.landed += landed
                stats.duplicates += len(valid) - landed
        except PageError as err:
            quarantine(self.wh, SOURCE, INBOX_OBJECT, err.reason, err.raw, run_id=self.run_id)
            stats.quarantined += 1
            result.complete = False
        inbox_table(self.wh)
        result.api_requests = self.client.api_calls - calls0
        result.retries = self.client.retries - retries0
        result.duration_s = time.monotonic() - started
        return result

    def _unprocessed(self, events: list[RawRecord]) -> list[RawRecord]:
        """The events of a page not yet in `raw.billing__event`."""
        if not events:
            return []
        table = ensure_raw_table(self.wh, SOURCE, "event")
        marks = ", ".join("?" for _ in events)
        done = {
            r[0]
            for r in self.wh.fetchall(
                f"select object_id from {table} where object_id in ({marks})",
                [e.object_id for e in events],
            )
        }
        return [e for e in events if e.object_id not in done]

    def _apply_events(
        self,
        lander: _Lander,
        events: list[RawRecord],
        first_listing_done: dict[str, bool],
        result: ExtractResult,
    ) -> None:
        """Re-read (or tombstone) each object the events touched, once per object."""
        # Per object: the newest event (by created, then id) and whether any event deleted it.
        touched: dict[tuple[str, str], tuple[int, str, bool]] = {}
        for ev in events:
            data = ev.payload.get("data")
            obj = data.get("object") if isinstance(data, dict) else None
            if not isinstance(obj, dict):
                continue
            kind, object_id = obj.get("object"), obj.get("id")
            if kind not in OBJECTS or not isinstance(object_id, str) or kind == "event":
                continue
            event_type = str(ev.payload.get("type", ""))
            deletion = event_type.endswith(".deleted") and event_type not in NOT_A_DELETION
            key = (kind, object_id)
            prev = touched.get(key)
            stamp = (int(ev.payload["created"]), ev.object_id)
            if prev is None or stamp > prev[:2]:
                touched[key] = (*stamp, deletion or bool(prev and prev[2]))
            elif deletion:
                touched[key] = (*prev[:2], True)

        plan: list[tuple[str, str, str, bool]] = []
        for (kind, object_id), (_, event_id, deleted) in sorted(touched.items()):
            owner = PARENT_OF.get(kind, kind)
            if owner not in first_listing_done:
                first_listing_done[owner] = get_cursor(self.wh, SOURCE, owner) is not None
            if not first_listing_done[owner]:
                result.reread_skipped += 1
                continue
            if deleted or OBJECTS[kind].retrieve_path is not None:
                # Children (line items, subscription items) come with their parent's re-read.
                plan.append((kind, object_id, event_id, deleted))
        self._land_rereads(lander, plan, result)

    def _land_rereads(
        self, lander: _Lander, plan: list[tuple[str, str, str, bool]], result: ExtractResult
    ) -> None:
        """Land `plan` in its order: tombstones, and the objects re-read by id.

        Up to `list_workers` threads (within the client's pacer) read ahead of this thread,
        the writer, at most two re-reads each; each re-read lands here, in the plan's order.
        """
        workers = max(1, self.list_workers)
        ahead: deque[tuple[tuple[str, str, str, bool], Future | None]] = deque()
        items = iter(plan)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="billing-rereads") as pool:
            try:
                while True:
                    while len(ahead) < 2 * workers and (item := next(items, None)) is not None:
                        kind, object_id, _, deleted = item
                        fut = None if deleted else pool.submit(self._fetch_reread, kind, object_id)
                        ahead.append((item, fut))
                    if not ahead:
                        break
                    (kind, object_id, event_id, _), fut = ahead.popleft()
                    if fut is None:
                        self._land_one(
                            lander,
                            kind,
                            tombstone(kind, object_id, event_id).payload,
                            provider_ref=event_id,
                        )
                    else:
                        self._land_reread(lander, kind, object_id, event_id, result, fut)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _fetch_reread(self, kind: str, object_id: str) -> tuple[Any, Any]:
        """(A re-read thread) `GET /v1/<object>s/{id}`, and the children its body does not embed
        in full: their records, or the `PageError` that stopped their listing (`_land_one`'s
        `fetched`; None when nothing was listed)."""
        body = self.client.get(OBJECTS[kind].retrieve_path.format(id=object_id))
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or body.get("deleted"):
            return body, None
        spec = _child_listing(kind, body)
        if spec is None or _embedded_in_full(spec[1]):
            return body, None
        _, _, path, params = spec
        try:
            return body, [rec for page in self.client.list_pages(path, params) for rec in page]
        except PageError as err:
            return body, err

    def _land_reread(
        self,
        lander: _Lander,
        kind: str,
        object_id: str,
        event_id: str,
        result: ExtractResult,
        fetched: Future,
    ) -> None:
        """Land one re-read (the writer); a 404 or a body that will not parse is quarantined."""
        try:
            body, children = fetched.result()
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                # Gone without a `.deleted` event we saw: keep the evidence, do not guess.
                lander.quarantine(
                    kind,
                    RecordError(
                        f"retrieve answered 404 for an object named by event {event_id}",
                        raw=json.dumps({"id": object_id, "object": kind, "event": event_id}),
                        source=SOURCE,
                        object_name=kind,
                    ),
                )
                return
            raise
        except PageError as err:
            lander.quarantine(kind, err)
            return
        result.objects_reread += 1
        self._land_one(
            lander, kind, body, provider_ref=event_id, reconcile_children=True, fetched=children
        )


def _created_and_id(event: Any) -> tuple[int, str]:
    """Sort key of a listed event: its `created`, then its id (anything malformed first)."""
    if not isinstance(event, dict):
        return (0, "")
    created = event.get("created")
    return (created if isinstance(created, int) else 0, str(event.get("id", "")))


def _stripe_object(table: str) -> str:
    return "balance_transaction" if table == "payout_balance_transaction" else table
