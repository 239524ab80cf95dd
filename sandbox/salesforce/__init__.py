"""Salesforce stand-in: REST + Bulk API 2.0 over a world's `salesforce.sqlite`, served over TLS.

`sandbox.salesforce.app.create_app(world_dir, faults)` builds the Starlette app (see `app` for
the endpoints, OAuth credentials and the `/__sandbox/faults` and `/__sandbox/journal` routes).
Fault names (documented in `faults`): `request_limit`, `server_error`, `slow`,
`drop_connection`, `session_expired`, `late_update`, `malformed_record`, `bulk_job_failed`,
`bulk_in_progress`, `ingest_row_invalid`, `unable_to_lock_row`; settings `daily_api_limit`,
`api_usage`, `session_lifetime_seconds`, `seed`.

Modules: `soql` (recursive-descent parser), `query_plan` (SOQL -> SQLite over JSON bodies),
`writes` (row validation and writes), `store` (the file, the world's clock, the write journal),
`rest` (query, sObjects, collections, replication, limits), `bulk` (Bulk API 2.0 jobs),
`describe`, `context` (sessions, API usage, cursors, page faults), `org` (schema lookups),
`serve` (TLS in a thread, for tests), `synthetic` (a hand-built world for tests and benches),
`__main__` (`python -m sandbox.salesforce --world DIR --port N --certfile C --keyfile K`).
"""
