"""The billing stand-in: a Stripe-compatible HTTP API over a world's `billing.sqlite`.

`create_app(world_dir, faults)` returns a Starlette app that the official `stripe` SDK can be
pointed at (`stripe.StripeClient(key, base_addresses={"api": base_url})`). Routes:

- `GET /v1/<resource>` and `GET /v1/<resource>/{id}` for customers, products, prices,
  coupons, tax_rates, subscriptions, subscription_items, invoices, invoiceitems, credit_notes,
  payment_intents, charges, refunds, disputes, balance_transactions, payouts, accounts,
  transfers and events; `GET /v1/invoices/{id}/lines` (list semantics: `listing.py`);
- `POST /v1/customers`, `POST /v1/customers/{id}`, `DELETE /v1/customers/{id}`, the same for
  `invoiceitems`, and `POST /v1/refunds`, `POST /v1/refunds/{id}` (`writes.py`), honouring
  `Idempotency-Key` (`idempotency.py`);
- `GET|PUT /__sandbox/faults` (fault names and meaning: `faults.py`) and
  `GET /__sandbox/stats` (how often each fault fired, requests served). No API key needed.

Every `/v1` request needs an API key (`Authorization: Bearer <key>`, or HTTP Basic with the
key as user name): by default any key starting `sk_test_`, or exactly the keys given as
`api_keys`. Errors come in Stripe's envelope (`errors.py`). Parameters are Stripe's form
encoding (`params.py`), in the query string or a form body.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from sandbox.billing import idempotency, payouts, writes
from sandbox.billing.errors import StripeError, invalid_request
from sandbox.billing.faults import Decision, FaultConfigError, Faults
from sandbox.billing.listing import INVOICE_LINES, Lister, expand_object, expand_paths
from sandbox.billing.params import parse_form
from sandbox.billing.resources import RESOURCES
from sandbox.billing.store import BillingStore

log = logging.getLogger(__name__)

API_KEY_PREFIX = "sk_test_"
_JSON = "application/json"


def _mask(key: str) -> str:
    return f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else "****"


class BillingApp(Starlette):
    """The Starlette app, plus the request-level fault layer in front of the routes.

    Faults that act below HTTP (dropping the connection) need the server's transport,
    which only the outermost ASGI callable sees; so they are decided here, before
    Starlette's middleware wraps `send`.
    """

    faults: Faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__sandbox"):
            await super().__call__(scope, receive, send)
            return
        self.state.requests += 1
        for decision in self.faults.decide(scope["method"], scope["path"]):
            if decision.kind == "slow":
                await asyncio.sleep(decision.seconds)
            elif decision.kind == "drop_connection":
                if decision.after:
                    await super().__call__(scope, receive, _swallow)
                await _drop_connection(send, receive)
                return
            elif decision.kind == "timeout":
                receive, hung_up = await _hold(receive, decision.seconds)
                if hung_up:
                    return
            else:
                await _send_fault_error(send, decision)
                return
        await super().__call__(scope, receive, send)


async def _swallow(message: Message) -> None:
    """A `send` that loses the response (the request itself is carried out)."""


async def _drop_connection(send: Send, receive: Receive) -> None:
    # uvicorn's `send` is a bound method of its request cycle, which holds the transport
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("drop_connection needs uvicorn (no transport reachable)")
    transport.close()
    # wait for the server to notice, so it does not try to answer on a closed socket
    try:
        async with asyncio.timeout(2):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        log.warning("drop_connection: no disconnect notice within 2 s")


async def _hold(receive: Receive, seconds: float) -> tuple[Receive, bool]:
    """Wait `seconds` or until the client hangs up; returns a receive that replays the body."""
    messages: list[Message] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return receive, True
        messages.append(message)
        if not message.get("more_body"):
            break

    async def wait_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(wait_disconnect(), seconds)
        return receive, True
    except TimeoutError:
        pass
    replay = iter(messages)

    async def replay_receive() -> Message:
        message = next(replay, None)
        return message if message is not None else await receive()

    return replay_receive, False


async def _send_fault_error(send: Send, decision: Decision) -> None:
    if decision.kind == "rate_limit":
        err = StripeError(
            429,
            "rate_limit_error",
            "Too many requests hit the API too quickly. We recommend an exponential backoff "
            "of your requests.",
            code="rate_limit",
            headers={"stripe-should-retry": "true" if decision.should_retry else "false"},
        )
    else:
        err = StripeError(
            decision.status,
            "api_error",
            "An unknown error occurred on our side (injected by the sandbox).",
        )
    response = _error_response(err, "req_fault")
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - responses never read
    return {"type": "http.disconnect"}


def _error_response(err: StripeError, request_id: str) -> Response:
    headers = {"request-id": request_id, **err.headers}
    return Response(err.body(), status_code=err.status, media_type=_JSON, headers=headers)


Handler = Callable[[Request, dict[str, Any], str], Awaitable[Response]]


def create_app(
    world_dir: Path,
    faults: dict[str, Any] | None = None,
    *,
    api_keys: Collection[str] | None = None,
) -> Starlette:
    """Build the billing stand-in over `world_dir/billing.sqlite`.

    Args:
        world_dir: a world written by `sandbox.world.generate`.
        faults: the initial fault config (see `faults.py`), or None.
        api_keys: the only API keys accepted; by default any key starting `sk_test_`.

    Returns:
        The ASGI app (a `Starlette` subclass).

    Raises:
        FileNotFoundError: when the world has no `billing.sqlite`.
        FaultConfigError: when `faults` names an unknown fault or a bad value.
    """
    store = BillingStore(Path(world_dir) / "billing.sqlite")
    idempotency.ensure_table(store.conn())
    payouts.ensure_tables(store.conn())
    fault_state = Faults(faults)
    lister = Lister(store, fault_state)
    accepted = frozenset(api_keys) if api_keys is not None else None
    request_ids = itertools.count(1)

    def authenticate(request: Request) -> str:
        header = request.headers.get("authorization", "")
        key = ""
        if header.lower().startswith("bearer "):
            key = header[7:].strip()
        elif header.lower().startswith("basic "):
            try:
                key = base64.b64decode(header[6:].strip()).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(
                401,
                "authentication_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        valid = key in accepted if accepted is not None else key.startswith(API_KEY_PREFIX)
        if not valid:
            raise StripeError(
                401, "authentication_error", f"Invalid API Key provided: {_mask(key)}"
            )
        return key

    async def read_params(request: Request) -> dict[str, Any]:
        pairs = list(request.query_params.multi_items())
        if request.method in ("POST", "DELETE"):
            body = await request.body()
            if body:
                ctype = request.headers.get("content-type", "")
                if not ctype.startswith("application/x-www-form-urlencoded"):
                    raise invalid_request(
                        "Invalid request: send parameters form-encoded "
                        "(application/x-www-form-urlencoded)."
                    )
                pairs.extend(parse_qsl(body.decode(), keep_blank_values=True))
        return parse_form(pairs)

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            request_id = f"req_{next(request_ids):014d}"
            try:
                api_key = authenticate(request)
                params = await read_params(request)
                response = await handler(request, params, api_key)
            except StripeError as err:
                return _error_response(err, request_id)
            except Exception:
                log.exception("billing stand-in: unhandled error on %s", request.url.path)
                return _error_response(
                    StripeError(500, "api_error", "An unknown error occurred."), request_id
                )
            response.headers["request-id"] = request_id
            version = request.headers.get("stripe-version")
            if version:
                response.headers["stripe-version"] = version
            return response

        return run

    def resource_for(request: Request) -> Any:
        name = request.path_params["resource"]
        resource = RESOURCES.get(name)
        if resource is None:
            raise _unrecognized(request)
        return resource

    async def list_objects(request: Request, params: dict[str, Any], _key: str) -> Response:
        resource = resource_for(request)
        body = lister.list(resource, params, f"/v1/{resource.path}")
        return Response(body, media_type=_JSON)

    async def list_lines(request: Request, params: dict[str, Any], _key: str) -> Response:
        invoice_id = request.path_params["id"]
        row = store.get(invoice_id)
        if row is None or row.object != "invoice":
            raise StripeError(
                404,
                "invalid_request_error",
                f"No such invoice: '{invoice_id}'",
                code="resource_missing",
                param="invoice",
            )
        body = lister.list(
            INVOICE_LINES, params, f"/v1/invoices/{invoice_id}/lines", parent=invoice_id
        )
        return Response(body, media_type=_JSON)

    async def retrieve(request: Request, params: dict[str, Any], _key: str) -> Response:
        resource = resource_for(request)
        body = lister.retrieve(resource, request.path_params["id"], params)
        return Response(body, media_type=_JSON)

    def write(fn: Callable[..., dict[str, Any]], *, with_id: bool) -> Handler:
        async def handler(request: Request, params: dict[str, Any], api_key: str) -> Response:
            key = request.headers.get("idempotency-key")
            if key is not None:
                idempotency.check_key(key)
            account = request.headers.get("stripe-account")
            # keys are scoped per account: the platform's and each connected account's
            scope = api_key if account is None else f"{api_key}|{account}"
            conn = store.conn()
            req_hash = idempotency.request_hash(request.method, request.url.path, params)
            conn.execute("BEGIN IMMEDIATE")
            try:
                if key is not None:
                    stored = idempotency.lookup(conn, scope, key, req_hash)
                    if stored is not None:
                        _journal(conn, request, account, key, stored.body, replayed=True)
                        conn.execute("COMMIT")
                        return Response(
                            stored.body,
                            status_code=stored.status,
                            media_type=_JSON,
                            headers={"idempotent-replayed": "true", "idempotency-key": key},
                        )
                ctx = writes.WriteContext(
                    conn=conn,
                    now=store.now(),
                    request_id=f"req_{next(request_ids):014d}",
                    idempotency_key=key,
                    # events carry the account's API version, as Stripe's do
                    api_version=store.meta("api_version"),
                    stripe_account=account,
                )
                write_params = {k: v for k, v in params.items() if k != "expand"}
                if with_id:
                    obj = fn(ctx, request.path_params["id"], write_params)
                else:
                    obj = fn(ctx, write_params)
                body = _expanded(obj, params)
                if key is not None:
                    idempotency.store(conn, scope, key, req_hash, 200, body, ctx.now)
                _journal(conn, request, account, key, body, replayed=False)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            headers = {"idempotency-key": key} if key is not None else {}
            return Response(body, media_type=_JSON, headers=headers)

        return handler

    def _expanded(obj: dict[str, Any], params: dict[str, Any]) -> bytes:
        paths = params.get("expand")
        if not paths:
            return orjson.dumps(obj)
        for parts in expand_paths(params, is_list=False):
            expand_object(obj, parts, store.get, ".".join(parts))
        return orjson.dumps(obj)

    def _journal(
        conn: Any,
        request: Request,
        account: str | None,
        key: str | None,
        body: bytes,
        *,
        replayed: bool,
    ) -> None:
        payouts.journal(
            conn,
            at=store.now(),
            method=request.method,
            path=request.url.path,
            stripe_account=account,
            idempotency_key=key,
            object_id=orjson.loads(body).get("id"),
            replayed=replayed,
        )

    async def get_balance(request: Request, params: dict[str, Any], _key: str) -> Response:
        body = payouts.balance(store.conn(), request.headers.get("stripe-account"))
        return Response(orjson.dumps(body), media_type=_JSON)

    async def get_writes(request: Request) -> Response:
        return Response(orjson.dumps(payouts.journal_rows(store.conn())), media_type=_JSON)

    async def unrecognized(request: Request, params: dict[str, Any], _key: str) -> Response:
        raise _unrecognized(request)

    async def get_faults(request: Request) -> Response:
        return Response(orjson.dumps(fault_state.config), media_type=_JSON)

    async def put_faults(request: Request) -> Response:
        try:
            patch = orjson.loads(await request.body() or b"{}")
            fault_state.update(patch)
        except (orjson.JSONDecodeError, FaultConfigError) as err:
            return Response(
                orjson.dumps({"error": {"type": "invalid_request_error", "message": str(err)}}),
                status_code=400,
                media_type=_JSON,
            )
        return Response(orjson.dumps(fault_state.config), media_type=_JSON)

    async def stats(request: Request) -> Response:
        return Response(
            orjson.dumps({"requests": app.state.requests, "fired": fault_state.fired}),
            media_type=_JSON,
        )

    writable = {
        "customers": (writes.create_customer, writes.update_customer, writes.delete_customer),
        "invoiceitems": (
            writes.create_invoiceitem,
            writes.update_invoiceitem,
            writes.delete_invoiceitem,
        ),
        "refunds": (writes.create_refund, writes.update_refund, None),
        "payouts": (payouts.create_payout, None, None),
    }
    routes = [
        Route("/__sandbox/faults", get_faults, methods=["GET"]),
        Route("/__sandbox/faults", put_faults, methods=["PUT"]),
        Route("/__sandbox/stats", stats, methods=["GET"]),
        Route("/__sandbox/writes", get_writes, methods=["GET"]),
        Route("/v1/balance", endpoint(get_balance), methods=["GET"]),
    ]
    for name, (create, update, delete) in writable.items():
        routes.append(
            Route(f"/v1/{name}", endpoint(write(create, with_id=False)), methods=["POST"])
        )
        if update is not None:
            routes.append(
                Route(f"/v1/{name}/{{id}}", endpoint(write(update, with_id=True)), methods=["POST"])
            )
        if delete is not None:
            routes.append(
                Route(
                    f"/v1/{name}/{{id}}", endpoint(write(delete, with_id=True)), methods=["DELETE"]
                )
            )
    routes += [
        Route("/v1/invoices/{id}/lines", endpoint(list_lines), methods=["GET"]),
        Route("/v1/{resource}", endpoint(list_objects), methods=["GET"]),
        Route("/v1/{resource}/{id}", endpoint(retrieve), methods=["GET"]),
        Route(
            "/{path:path}",
            endpoint(unrecognized),
            methods=["GET", "POST", "DELETE", "PUT", "PATCH"],
        ),
    ]
    app = BillingApp(routes=routes)
    app.faults = fault_state
    app.state.requests = 0
    app.state.store = store
    return app


def _unrecognized(request: Request) -> StripeError:
    return StripeError(
        404,
        "invalid_request_error",
        f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
    )


__all__ = ["API_KEY_PREFIX", "BillingApp", "create_app"]
