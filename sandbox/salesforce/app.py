"""The Salesforce stand-in as a Starlette app: `create_app(world_dir, faults) -> Starlette`.

Serve it over TLS (simple-salesforce only builds `https://` URLs). Endpoints:

- `POST /services/oauth2/token`: OAuth 2.0 username-password (`grant_type=password`, any active
  User's `Username` with `SANDBOX_PASSWORD`) and client-credentials (runs as the integration
  user) flows; client id/secret `SANDBOX_CLIENT_ID` / `SANDBOX_CLIENT_SECRET` (form fields or
  HTTP Basic). Tokens expire after `session_lifetime_seconds` (default 7200).
- `GET /services/data/`: versions (v20.0 ... v66.0); everything under `/services/data/vXX.X/`
  needs `Authorization: Bearer <token>` (401 `INVALID_SESSION_ID`), counts against the daily
  API budget (403 `REQUEST_LIMIT_EXCEEDED` "TotalRequests Limit exceeded." once spent) and
  answers with `Sforce-Limit-Info: api-usage=N/M`. See `rest` and `bulk` for the resources.
- `GET|PUT /__sandbox/faults` (see `faults` for the names), `GET /__sandbox/faults/fired` (how
  often each fired, per record for record faults) and `GET /__sandbox/journal`
  (`?since_seq=&sobject=&record_id=&limit=`: the write journal, oldest first, with
  `before`/`after` bodies), `POST|GET /__sandbox/notifications` (the finance webhook: a
  delivery kept once per `Idempotency-Key`, a repeat counted in `duplicates`). These need no
  token and cost no API calls.
- URI plus headers above 16,384 bytes: 414 `URI_TOO_LONG` (split long `IN (...)` lists).

Every write is stamped from the world's clock and journaled (see `store`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.salesforce import bulk, rest
from sandbox.salesforce.context import Context
from sandbox.salesforce.describe import supported_version, versions
from sandbox.salesforce.faults import FaultError, Faults
from sandbox.salesforce.org import Org, org_of_world, serving
from sandbox.salesforce.store import Store
from sandbox.world.salesforce_schema import INTEGRATION_USER_USERNAME

SANDBOX_CLIENT_ID = "q2c-sandbox-client-id"
SANDBOX_CLIENT_SECRET = "q2c-sandbox-client-secret"
SANDBOX_PASSWORD = "q2c-sandbox-password"
# The names `sandbox.services` reads to print the pipeline's environment.
CLIENT_ID, CLIENT_SECRET = SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
USERNAME, PASSWORD = INTEGRATION_USER_USERNAME, SANDBOX_PASSWORD

MAX_URI_AND_HEADERS = 16_384  # Salesforce answers 414/431 above this

log = logging.getLogger(__name__)


def _error_bytes(code: str, message: str) -> bytes:
    return json.dumps([{"message": message, "errorCode": code}]).encode()


class _ServeOrg:
    """Every request of this app answers for its world's org (`sandbox.salesforce.org`)."""

    def __init__(self, app: ASGIApp, org: Org) -> None:
        self.app = app
        self.org = org

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with serving(self.org):
            await self.app(scope, receive, send)


class _Gate:
    """Authentication, API budget, request-level faults and `Sforce-Limit-Info`, in front of
    every `/services/` route (pure ASGI, so a dropped connection can really be dropped)."""

    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/services/"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        faults = self.ctx.faults
        state = scope.setdefault("state", {})
        state["request_id"] = "req-" + secrets.token_hex(8)
        extra: list[tuple[bytes, bytes]] = []
        size = len(scope.get("raw_path") or path) + len(scope.get("query_string") or b"")
        size += sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if size > MAX_URI_AND_HEADERS:
            await self._reply(send, 414, "URI_TOO_LONG", f"URI and headers exceed "
                              f"{MAX_URI_AND_HEADERS} bytes; split long IN lists")  # fmt: skip
            return
        spec = faults.fire("slow", path)
        if spec is not None:
            await asyncio.sleep(float(spec.get("seconds", 2)))
        if path.startswith("/services/data/v"):
            headers = dict(scope["headers"])
            auth = headers.get(b"authorization", b"").decode("latin-1")
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            session = self.ctx.session(token) if token else None
            if session is not None and faults.fire("session_expired", path):
                self.ctx.revoke(token)
                session = None
            if session is None:
                await self._reply(send, 401, "INVALID_SESSION_ID", "Session expired or invalid")
                return
            state["user_id"] = session.user_id
            used, limit, over = self.ctx.count_call()
            extra.append((b"sforce-limit-info", f"api-usage={used}/{limit}".encode()))
            if over:
                await self._reply(
                    send, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", extra
                )
                return
            if faults.fire("request_limit", path):
                await self._reply(
                    send,
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentPerOrgLongTxn Limit exceeded.",
                    extra,
                )
                return
            spec = faults.fire("server_error", path)
            if spec is not None:
                await self._reply(
                    send,
                    int(spec.get("status", 503)),
                    "SERVER_UNAVAILABLE",
                    "Server temporarily unavailable (injected fault)",
                    extra,
                )
                return
        else:
            used, limit = self.ctx.usage()
            extra.append((b"sforce-limit-info", f"api-usage={used}/{limit}".encode()))
        if faults.fire("drop_connection", path):
            # Headers promising a body, half a body, then the connection closes.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                        *extra,
                    ],  # fmt: skip
                }
            )
            await send({"type": "http.response.body", "body": b'{"totalSize":', "more_body": True})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _reply(
        send: Send, status: int, code: str, message: str, extra: list | None = None
    ) -> None:
        body = _error_bytes(code, message)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json;charset=UTF-8"),
                    (b"content-length", str(len(body)).encode()),
                    *(extra or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(world_dir: Path, faults: dict[str, Any] | None = None) -> Starlette:
    """The Salesforce stand-in over `world_dir/salesforce.sqlite`.

    Args:
        world_dir: a world written by `sandbox.world.generate`.
        faults: initial faults (see `sandbox.salesforce.faults`).

    Returns:
        A Starlette app; serve it with uvicorn over TLS.
    """
    org = org_of_world(Path(world_dir))
    with serving(org):  # the store indexes the external-id fields of this world's org
        ctx = Context(Store(Path(world_dir)), Faults(faults))

    async def token(request: Request) -> Response:
        # application/x-www-form-urlencoded, parsed by hand (no python-multipart here)
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
        form = {k: v[-1] for k, v in fields.items()}
        grant = form.get("grant_type")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (ValueError, binascii.Error):
                client_id = client_secret = None
        if grant not in ("password", "client_credentials"):
            return JSONResponse(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                status_code=400,
            )
        if client_id != SANDBOX_CLIENT_ID:
            return JSONResponse(
                {"error": "invalid_client_id", "error_description": "client identifier invalid"},
                status_code=400,
            )
        if client_secret != SANDBOX_CLIENT_SECRET:
            return JSONResponse(
                {"error": "invalid_client", "error_description": "invalid client credentials"},
                status_code=400,
            )
        username = (
            str(form.get("username") or "") if grant == "password" else INTEGRATION_USER_USERNAME
        )
        user = await run_in_threadpool(ctx.store.user_by_username, username)
        if (
            user is None
            or not user[1].get("IsActive", True)
            or (grant == "password" and form.get("password") != SANDBOX_PASSWORD)
        ):
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "authentication failure"},
                status_code=400,
            )
        access = ctx.new_session(user[0], username)
        instance = f"https://{request.headers.get('host', 'localhost')}"
        identity = f"{instance}/id/{ctx.org_id}/{user[0]}"
        issued = str(int(time.time() * 1000))
        signature = base64.b64encode(
            hmac.new(
                SANDBOX_CLIENT_SECRET.encode(), (identity + issued).encode(), hashlib.sha256
            ).digest()  # fmt: skip
        ).decode()
        return JSONResponse(
            {
                "access_token": access,
                "instance_url": instance,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": signature,
            }
        )

    async def version_list(request: Request) -> Response:
        return JSONResponse(versions())

    async def api(request: Request) -> Response:
        version = request.path_params["version"]
        if not supported_version(version):
            return Response(
                _error_bytes("NOT_FOUND", "The requested resource does not exist"),
                status_code=404,
                media_type="application/json",
            )
        parts = [p for p in request.path_params["rest"].split("/") if p]
        body = await request.body()
        module = bulk if parts and parts[0] == "jobs" else rest
        args = parts[1:] if module is bulk else parts
        try:
            return await run_in_threadpool(module.handle, ctx, request, version, args, body)
        except Exception:  # the client sees Salesforce's envelope, the log the traceback
            log.exception("salesforce stand-in failed on %s %s", request.method, request.url.path)
            return Response(
                _error_bytes("UNKNOWN_EXCEPTION", "An unexpected error occurred."),
                status_code=500,
                media_type="application/json",
            )

    async def sandbox_faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                return JSONResponse(ctx.faults.update(json.loads(await request.body())))
            except (FaultError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(ctx.faults.snapshot())

    async def sandbox_faults_fired(request: Request) -> Response:
        return JSONResponse(ctx.faults.fired())

    async def sandbox_journal(request: Request) -> Response:
        q = request.query_params
        try:
            since, limit = int(q.get("since_seq", 0)), int(q.get("limit", 10000))
        except ValueError:
            return JSONResponse({"error": "since_seq and limit must be integers"}, 400)
        rows = await run_in_threadpool(
            ctx.store.journal, since, q.get("sobject"), limit, q.get("record_id")
        )
        return JSONResponse(rows)

    # the finance webhook q2c's notifications automation posts to (Q2C_NOTIFY_WEBHOOK_URL):
    # each delivery is kept once per Idempotency-Key, a repeated key is counted as a duplicate
    received: dict[str, dict[str, Any]] = {}
    duplicates: list[str] = []

    async def sandbox_notifications(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"received": list(received.values()), "duplicates": duplicates})
        key = request.headers.get("Idempotency-Key")
        if not key:
            return JSONResponse({"error": "Idempotency-Key header required"}, 400)
        if key in received:
            duplicates.append(key)
        else:
            received[key] = {"key": key, "body": json.loads(await request.body())}
        return JSONResponse({"received": True}, status_code=202)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    app = Starlette(
        routes=[
            Route("/services/oauth2/token", token, methods=["POST"]),
            Route("/services/data", version_list, methods=["GET"]),
            Route("/services/data/", version_list, methods=["GET"]),
            Route("/services/data/v{version}/{rest:path}", api, methods=methods),
            Route("/services/data/v{version}", api, methods=methods),
            Route("/__sandbox/faults", sandbox_faults, methods=["GET", "PUT"]),
            Route("/__sandbox/faults/fired", sandbox_faults_fired, methods=["GET"]),
            Route("/__sandbox/journal", sandbox_journal, methods=["GET"]),
            Route("/__sandbox/notifications", sandbox_notifications, methods=["GET", "POST"]),
        ]
    )
    app.state.ctx = ctx
    app.add_middleware(_Gate, ctx=ctx)
    app.add_middleware(_ServeOrg, org=org)
    return app
