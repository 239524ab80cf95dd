"""The peer of `bench.compare`: dlt loading the billing list endpoints into DuckDB.

dlt's own REST client (`dlt.sources.helpers.rest_client.RESTClient`) pages every billing list
endpoint the floor and q2c read (the event stream included) with a paginator for the billing
platform's cursor (`has_more` + `starting_after=<last id>`), one dlt resource per endpoint,
`write_disposition="replace"`, into a fresh DuckDB file. `max_table_nesting` is dlt's setting:
its default unnests nested objects and lists into child tables; 0 keeps them as JSON (the shape
q2c lands). dlt is installed only for the benchmarks (`make bench`, requirements-bench.lock).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def _paginator() -> Any:
    from dlt.sources.helpers.rest_client.paginators import BasePaginator

    class BillingCursorPaginator(BasePaginator):  # type: ignore[misc]
        """`has_more` says whether another page exists; the next page starts after the last
        object's id (the billing platform's documented list pagination)."""

        def __init__(self) -> None:
            super().__init__()
            self._after: str | None = None

        def update_state(self, response: Any, data: list[Any] | None = None) -> None:
            body = response.json()
            if body.get("has_more") and body.get("data"):
                self._after = body["data"][-1]["id"]
            else:
                self._has_next_page = False

        def update_request(self, request: Any) -> None:
            request.params = {**(request.params or {}), "starting_after": self._after}

    return BillingCursorPaginator()


def load_billing(
    env: dict[str, str], work_dir: Path, *, max_table_nesting: int | None
) -> dict[str, Any]:
    """Load every billing list endpoint with dlt; returns seconds, rows (top-level objects
    loaded, per dlt's normalize counts), rows per table and API calls."""
    import dlt
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth

    from extractors.billing.objects import LISTED_OBJECTS, OBJECTS

    calls = 0  # one page is one call
    client = RESTClient(
        base_url=env["Q2C_BILLING_API_BASE"],
        auth=BearerTokenAuth(env["Q2C_BILLING_API_KEY"]),
        data_selector="data",
    )
    names = ("event", *LISTED_OBJECTS)

    def endpoint(name: str) -> Any:
        obj = OBJECTS[name]

        @dlt.resource(name=name, write_disposition="replace")
        def pages() -> Any:
            nonlocal calls
            params = {"limit": 100, **obj.list_params}
            for page in client.paginate(obj.list_path or "", params=params, paginator=_paginator()):
                calls += 1
                yield page

        return pages

    @dlt.source(name="billing", max_table_nesting=max_table_nesting)
    def billing() -> Any:
        return [endpoint(name) for name in names]

    pipeline = dlt.pipeline(
        pipeline_name="bench_billing",
        pipelines_dir=str(work_dir / "pipelines"),
        destination=dlt.destinations.duckdb(str(work_dir / "dlt.duckdb")),
        dataset_name="billing",
    )
    started = time.perf_counter()
    pipeline.run(billing())
    seconds = time.perf_counter() - started
    counts = pipeline.last_trace.last_normalize_info.row_counts
    top = {name: counts.get(name, 0) for name in names}
    return {
        "seconds": seconds,
        "rows": sum(top.values()),
        "rows_per_table": top,
        "child_tables": sorted(t for t in counts if t not in top and not t.startswith("_dlt")),
        "api_calls": calls,
    }
