"""Salesforce stand-in: REST + Bulk API 2.0 over a world's `salesforce.sqlite`, served over TLS.

`sandbox.salesforce.app.create_app(world_dir, faults)` builds the app; `faults` lists the
fault names (`request_limit`, `server_error`, `slow`, `drop_connection`, `session_expired`,
`late_update`, `malformed_record`, `bulk_job_failed`, `bulk_in_progress`,
`ingest_row_invalid`, `unable_to_lock_row`; settings `daily_api_limit`, `api_usage`,
`session_lifetime_seconds`, `seed`). Modules: `soql` (parser), `query_plan` (SOQL -> SQLite),
`writes` (validation and writes), `store` (the file, clock, journal), `rest`, `bulk`,
`describe`, `context` (sessions, usage, cursors), `app` (routes, auth, budget, faults).
"""
