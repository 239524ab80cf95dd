"""List and retrieve: Stripe's list semantics over `billing.sqlite`.

`limit` 1..100 (default 10); `starting_after` / `ending_before` cursors (one at a time);
`created` as an integer or `created[gt|gte|lt|lte]`; newest first (`created` desc, `id`
desc); the envelope `{"object": "list", "data", "has_more", "url"}`; `expand[]` of id fields
(`data.customer` on lists, `customer` on retrieve, nested up to four levels). Subscriptions
exclude `canceled` unless `status` says otherwise (`all`, `ended`, or one status); events
cover the last 30 days of the world's clock and filter by `type` (with a `*` wildcard),
`types[]` and `delivery_success`. Deleted objects are not listed; retrieving one answers
`{id, object, deleted: true}`.

The hot path concatenates the stored JSON bodies; only expansion and page faults parse them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from sandbox.billing.errors import invalid_request, resource_missing, unknown_parameter
from sandbox.billing.faults import PAGE_FAULTS, Faults, apply_page_faults
from sandbox.billing.resources import (
    COMMON_LIST_PARAMS,
    EVENT_RETENTION_SECONDS,
    SUBSCRIPTION_STATUSES,
    Kind,
    Resource,
)
from sandbox.billing.store import BillingStore, Row

_RANGE_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_INVOICE_STATUSES = frozenset({"draft", "open", "paid", "uncollectible", "void"})
_MAX_EXPAND_DEPTH = 4
_MAX_TYPES = 20
#: Indexed columns whose equality filter is selective enough to drive the query.
_NARROW_COLUMNS = frozenset({"parent", "customer", "payout"})

#: The pseudo-resource of `GET /v1/invoices/{invoice}/lines`.
INVOICE_LINES = Resource("invoices/{invoice}/lines", "line_item", "invoice line item")


def parse_int(value: Any, param: str) -> int:
    """An integer parameter, or Stripe's 400."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    raise invalid_request(f"Invalid integer: {value}", param=param)


def parse_bool(value: Any, param: str) -> bool:
    """A boolean parameter (`true` / `false`), or Stripe's 400."""
    if value in ("true", "false"):
        return value == "true"
    raise invalid_request(f"Invalid boolean: {value}", param=param)


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise invalid_request(f"Invalid string: {param} must be a string.", param=param)
    return value


def _limit(params: dict[str, Any]) -> int:
    if "limit" not in params:
        return 10
    limit = parse_int(params["limit"], "limit")
    if not 1 <= limit <= 100:
        raise invalid_request(
            f"Invalid limit: must be between 1 and 100, got {limit}.", param="limit"
        )
    return limit


def _created(value: Any) -> list[tuple[str, list[Any]]]:
    if isinstance(value, str):
        return [("created = ?", [parse_int(value, "created")])]
    if not isinstance(value, dict) or not value:
        raise invalid_request(
            "Invalid created: an integer or a hash of gt/gte/lt/lte.", param="created"
        )
    out = []
    for op, bound in value.items():
        if op not in _RANGE_OPS:
            raise unknown_parameter(f"created[{op}]")
        out.append((f"created {_RANGE_OPS[op]} ?", [parse_int(bound, f"created[{op}]")]))
    return out


def expand_paths(params: dict[str, Any], *, is_list: bool) -> list[list[str]]:
    """The `expand[]` paths split on dots (`data.` stripped on lists).

    Raises:
        StripeError: 400 for a list path without `data.`, or one deeper than four levels.
    """
    raw = params.get("expand")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise invalid_request("Invalid array: expand must be an array of strings.", param="expand")
    paths = []
    for path in raw:
        parts = path.split(".")
        if is_list:
            if parts[0] != "data" or len(parts) < 2:
                raise invalid_request(
                    f"This property cannot be expanded ({path}). You may want to try "
                    f"expanding 'data.{path}' instead.",
                    param="expand",
                )
            parts = parts[1:]
        if len(parts) > _MAX_EXPAND_DEPTH or not all(parts):
            raise invalid_request(f"Invalid expand path ({path}).", param="expand")
        paths.append(parts)
    return paths


def _deleted_stub(row: Row) -> dict[str, Any]:
    return {"id": row.id, "object": row.object, "deleted": True}


def expand_object(
    obj: dict[str, Any], parts: list[str], lookup: Callable[[str], Row | None], path: str
) -> None:
    """Replace the id at `parts` in `obj` by the object it names, in place.

    Raises:
        StripeError: 400 when the path does not name an id field of the object.
    """
    head, rest = parts[0], parts[1:]
    if head not in obj:
        raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
    value = obj[head]
    if isinstance(value, str):
        row = lookup(value)
        if row is None:
            raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
        value = _deleted_stub(row) if row.deleted else orjson.loads(row.body)
        obj[head] = value
    elif value is not None and not isinstance(value, dict):
        raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
    if not rest or value is None:
        return
    if rest[0] == "data" and isinstance(value.get("data"), list) and len(rest) > 1:
        for item in value["data"]:
            expand_object(item, rest[1:], lookup, path)
    else:
        expand_object(value, rest, lookup, path)


class Lister:
    """Lists and retrieves over one store.

    Args:
        store: the world's billing store.
        faults: the live fault config (page faults apply to lists).
    """

    def __init__(self, store: BillingStore, faults: Faults) -> None:
        self.store = store
        self.faults = faults

    def _lookup(self) -> Callable[[str], Row | None]:
        cache: dict[str, Row | None] = {}

        def lookup(object_id: str) -> Row | None:
            if object_id not in cache:
                cache[object_id] = self.store.get(object_id)
            return cache[object_id]

        return lookup

    def _expand_bodies(self, bodies: list[str], paths: list[list[str]]) -> list[str]:
        lookup = self._lookup()
        out = []
        for body in bodies:
            obj = orjson.loads(body)
            for parts in paths:
                expand_object(obj, parts, lookup, ".".join(parts))
            out.append(orjson.dumps(obj).decode())
        return out

    def _filters(self, resource: Resource, params: dict[str, Any]) -> list[tuple[str, list[Any]]]:
        where: list[tuple[str, list[Any]]] = []
        special = {"status"} if resource.object in ("subscription",) else set()
        if resource.object == "event":
            special |= {"type", "types"}
        allowed = COMMON_LIST_PARAMS | set(resource.filters) | resource.ignored | special
        for name in params:
            if name not in allowed:
                raise unknown_parameter(name)
        if "created" in params:
            where.extend(_created(params["created"]))
        for name, flt in resource.filters.items():
            if name not in params:
                continue
            value = params[name]
            if flt.kind is Kind.BOOL:
                where.append((f"{flt.sql()} = ?", [1 if parse_bool(value, name) else 0]))
            elif flt.kind is Kind.TEXT_LIST:
                values = value if isinstance(value, list) else [value]
                values = [_text(v, name) for v in values]
                where.append((f"{flt.sql()} IN ({','.join('?' * len(values))})", values))
            else:
                text = _text(value, name)
                if (
                    name == "status"
                    and resource.object == "invoice"
                    and text not in _INVOICE_STATUSES
                ):
                    raise invalid_request(f"Invalid status: {text}", param="status")
                where.append((f"{flt.sql()} = ?", [text]))
        if resource.object == "subscription":
            where.extend(_subscription_status(params.get("status")))
        if resource.object == "event":
            where.extend(self._event_filters(params))
        return where

    def _event_filters(self, params: dict[str, Any]) -> list[tuple[str, list[Any]]]:
        where: list[tuple[str, list[Any]]] = [
            ("created >= ?", [self.store.now() - EVENT_RETENTION_SECONDS])
        ]
        if "type" in params and "types" in params:
            raise invalid_request(
                "You may only specify one of these parameters: type, types.", param="types"
            )
        if "type" in params:
            event_type = _text(params["type"], "type")
            if "*" in event_type:
                pattern = event_type.replace("%", r"\%").replace("_", r"\_").replace("*", "%")
                where.append(("type LIKE ? ESCAPE '\\'", [pattern]))
            else:
                where.append(("type = ?", [event_type]))
        if "types" in params:
            types = params["types"]
            if not isinstance(types, list) or not types or len(types) > _MAX_TYPES:
                raise invalid_request(
                    f"Invalid array: types takes 1 to {_MAX_TYPES} event types.", param="types"
                )
            types = [_text(t, "types") for t in types]
            where.append((f"type IN ({','.join('?' * len(types))})", types))
        return where

    def _cursor(self, resource: Resource, object_id: Any, param: str) -> tuple[int, str]:
        object_id = _text(object_id, param)
        row = self.store.get(object_id)
        if row is None or row.object != resource.object:
            err = resource_missing(resource.kind, object_id, param=param)
            err.status = 400
            raise err
        return (row.created, row.id)

    def list(
        self,
        resource: Resource,
        params: dict[str, Any],
        url: str,
        *,
        parent: str | None = None,
    ) -> bytes:
        """One page of `resource` as the JSON list envelope.

        Args:
            resource: the endpoint.
            params: the parsed request parameters.
            url: the envelope's `url` (the request path).
            parent: for nested lists (invoice lines), the parent id.

        Raises:
            StripeError: 400 for bad parameters, 404 for an unknown parent.
        """
        where = self._filters(resource, params)
        if parent is not None:
            where.append(("parent = ?", [parent]))
        if resource.object == "subscription_item" and "subscription" not in params:
            raise invalid_request(
                "Missing required param: subscription.",
                param="subscription",
                code="parameter_missing",
            )
        limit = _limit(params)
        paths = expand_paths(params, is_list=True)
        if "starting_after" in params and "ending_before" in params:
            raise invalid_request(
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
            )
        after = before = None
        if "starting_after" in params:
            after = self._cursor(resource, params["starting_after"], "starting_after")
        elif "ending_before" in params:
            before = self._cursor(resource, params["ending_before"], "ending_before")
        narrow_on = "parent" if parent is not None else None
        for name, flt in resource.filters.items():
            if name in params and flt.column in _NARROW_COLUMNS and flt.kind is Kind.TEXT:
                narrow_on = narrow_on or flt.column
        page = self.store.page(
            resource.object,
            where,
            limit=limit,
            starting_after=after,
            ending_before=before,
            narrow_on=narrow_on,
        )
        bodies = page.bodies
        if any(self.faults.config.get(name) for name in PAGE_FAULTS):
            bodies = apply_page_faults(self.faults, resource.object, bodies)
        if paths:
            bodies = self._expand_bodies(bodies, paths)
        return b"".join(
            (
                b'{"object":"list","data":[',
                ",".join(bodies).encode(),
                b'],"has_more":',
                b"true" if page.has_more else b"false",
                b',"url":',
                orjson.dumps(url),
                b"}",
            )
        )

    def retrieve(self, resource: Resource, object_id: str, params: dict[str, Any]) -> bytes:
        """One object by id (`{id, object, deleted: true}` once deleted).

        Raises:
            StripeError: 404 `resource_missing` for an unknown id, another type's id, or an
                event older than 30 days.
        """
        for name in params:
            if name != "expand":
                raise unknown_parameter(name)
        paths = expand_paths(params, is_list=False)
        row = self.store.get(object_id)
        if (
            row is None
            or row.object != resource.object
            or (
                resource.object == "event"
                and row.created < self.store.now() - EVENT_RETENTION_SECONDS
            )
        ):
            raise resource_missing(resource.kind, object_id)
        if row.deleted:
            return orjson.dumps(_deleted_stub(row))
        if not paths:
            return row.body.encode()
        return self._expand_bodies([row.body], paths)[0].encode()


def _subscription_status(status: Any) -> list[tuple[str, list[Any]]]:
    if status is None:
        # Stripe: "If no value is supplied, all subscriptions that have not been canceled"
        return [("status IS NOT 'canceled'", [])]
    status = _text(status, "status")
    if status == "all":
        return []
    if status == "ended":
        return [("status IN ('canceled', 'incomplete_expired')", [])]
    if status not in SUBSCRIPTION_STATUSES:
        allowed = ", ".join(sorted(SUBSCRIPTION_STATUSES | {"all", "ended"}))
        raise invalid_request(f"Invalid status: must be one of {allowed}", param="status")
    return [("status = ?", [status])]


__all__ = ["INVOICE_LINES", "Lister", "expand_object", "expand_paths"]
