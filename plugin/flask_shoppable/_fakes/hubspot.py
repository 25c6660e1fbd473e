"""A local fake of HubSpot's CRM objects API: contacts and deals, upserted and associated.

What it checks, as HubSpot does:

* ``Authorization: Bearer <token>``: missing or wrong, ``401`` with HubSpot's error body
  ``{"status": "error", "message", "correlationId", "category": "INVALID_AUTHENTICATION"}``;
* paths under the configured prefix (``/crm/v3`` by default): ``POST
  .../objects/{contacts|deals}/batch/upsert``, ``PUT
  .../objects/deals/{id}/associations/contacts/{id}/deal_to_contact``, ``POST
  .../objects/contacts/gdpr-delete``, ``GET .../objects/{contacts|deals}/{id}``; anything
  else ``404``;
* batch upsert bodies: ``{"inputs": [{"idProperty", "id", "properties"}]}`` (at most 100
  inputs), the ``idProperty`` a unique property of the object (``email`` for contacts,
  the configured order-id property for deals), property values strings or numbers, and
  property names that exist in the account (HubSpot's defaults plus custom ones: here
  every ``shoppable_*`` name); a contact's email must look like one. A bad input gets
  ``400`` with ``category: "VALIDATION_ERROR"``.

Records are kept by their unique property (:attr:`FakeHubSpot.contacts` by email,
:attr:`FakeHubSpot.deals` by order id), so a resend updates the record, never adds one;
:attr:`FakeHubSpot.writes` counts the upserts per record. Failures come from the base
class (``fail``, ``fail_for``); :meth:`FakeHubSpot.rate_limit` queues HubSpot's 429s.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from .server import FakeServer

CONTACT_PROPERTIES = frozenset({"email", "firstname", "lastname", "phone", "lifecyclestage"})
DEAL_PROPERTIES = frozenset(
    {"dealname", "amount", "deal_currency_code", "pipeline", "dealstage", "closedate"}
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UPSERT = re.compile(r"^/objects/(contacts|deals)/batch/upsert$")
_ASSOCIATE = re.compile(r"^/objects/deals/(\d+)/associations/contacts/(\d+)/deal_to_contact$")
_READ = re.compile(r"^/objects/(contacts|deals)/([^/]+)$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubSpotError(Exception):
    def __init__(self, status: int, message: str, category: str) -> None:
        super().__init__(message)
        self.status, self.message, self.category = status, message, category


class FakeHubSpot(FakeServer):
    """HubSpot's contacts, deals and associations (see the module's docstring)."""

    name = "hubspot"

    def __init__(
        self,
        token: str = "pat-na1-fake-token",  # noqa: S107 - a fake's token
        *,
        prefix: str = "/crm/v3",
        order_id_property: str = "shoppable_order_id",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.prefix = prefix.rstrip("/")
        self.order_id_property = order_id_property
        #: email -> {"id", "properties", "createdAt", "updatedAt"}
        self.contacts: dict[str, dict[str, Any]] = {}
        #: order id -> the same shape
        self.deals: dict[str, dict[str, Any]] = {}
        #: (deal id, contact id) pairs
        self.associations: set[tuple[str, str]] = set()
        #: ("contacts"|"deals", unique value) -> upserts received
        self.writes: dict[tuple[str, str], int] = {}
        #: emails of GDPR-deleted contacts
        self.erased: list[str] = []
        self._ids = itertools.count(1001)
        #: Seconds every request takes before it is answered (a CRM's own latency).
        self.latency = 0.0
        #: Called with ("contacts"|"deals", record) after each upsert (the demo prints them).
        self.on_upsert: Callable[[str, dict[str, Any]], None] | None = None

    # -- what tests use -------------------------------------------------------------------
    def rate_limit(
        self, times: int = 1, policy: str = "TEN_SECONDLY_ROLLING", retry_after: int | None = None
    ) -> None:
        """The next ``times`` requests get HubSpot's 429 (with Retry-After if given)."""
        body = {
            "status": "error",
            "message": "You have reached your secondly limit."
            if policy != "DAILY"
            else "You have reached your daily limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
        }
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.fail(times, status=429, body=body, headers=headers)

    def contact_of_deal(self, order_id: str) -> dict[str, Any] | None:
        """The contact associated to the deal of ``order_id``."""
        with self.lock:
            deal = self.deals.get(str(order_id))
            if deal is None:
                return None
            ids = {c for d, c in self.associations if d == deal["id"]}
            return next((c for c in self.contacts.values() if c["id"] in ids), None)

    # -- serving --------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if self.latency:
            time.sleep(self.latency)
        try:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                raise HubSpotError(
                    401,
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at "
                    "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                )
            if not request.path.startswith(self.prefix + "/"):
                raise HubSpotError(404, f"No route for {request.path}", "OBJECT_NOT_FOUND")
            return self.route(request, request.path[len(self.prefix) :])
        except HubSpotError as exc:
            return self.json_response(
                {
                    "status": "error",
                    "message": exc.message,
                    "correlationId": str(uuid.uuid4()),
                    "category": exc.category,
                },
                exc.status,
            )

    def route(self, request: Request, path: str) -> Response:
        if (match := _UPSERT.match(path)) and request.method == "POST":
            return self.json_response(self.upsert(match.group(1), self._json(request)))
        if (match := _ASSOCIATE.match(path)) and request.method == "PUT":
            return self.json_response(self.associate(match.group(1), match.group(2)))
        if path == "/objects/contacts/gdpr-delete" and request.method == "POST":
            body = self._json(request)
            if body.get("idProperty") != "email" or not isinstance(body.get("objectId"), str):
                raise HubSpotError(
                    400, "objectId and idProperty=email are required", "VALIDATION_ERROR"
                )
            with self.lock:
                self.contacts.pop(body["objectId"].lower(), None)
                self.erased.append(body["objectId"].lower())
            return Response(status=204)
        if (match := _READ.match(path)) and request.method == "GET":
            return self.json_response(self.read(match.group(1), match.group(2), request))
        raise HubSpotError(404, f"No route for {request.method} {path}", "OBJECT_NOT_FOUND")

    @staticmethod
    def _json(request: Request) -> dict[str, Any]:
        if request.mimetype != "application/json":
            raise HubSpotError(415, "Content-Type must be application/json", "VALIDATION_ERROR")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise HubSpotError(400, "Invalid input JSON on line 1", "VALIDATION_ERROR")
        return body

    def _check_properties(self, kind: str, props: Any) -> None:
        if not isinstance(props, dict):
            raise HubSpotError(400, "properties must be an object", "VALIDATION_ERROR")
        known = CONTACT_PROPERTIES if kind == "contacts" else DEAL_PROPERTIES
        for name, value in props.items():
            if not (
                name in known or name.startswith("shoppable_") or name == self.order_id_property
            ):
                raise HubSpotError(
                    400,
                    f'Property values were not valid: [{{"isValid":false,"message":"Property '
                    f'\\"{name}\\" does not exist","error":"PROPERTY_DOESNT_EXIST",'
                    f'"name":"{name}"}}]',
                    "VALIDATION_ERROR",
                )
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, str | int | float)
            ):
                raise HubSpotError(
                    400, f"Property {name} must be a string or a number", "VALIDATION_ERROR"
                )

    def upsert(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs or len(inputs) > 100:
            raise HubSpotError(400, "inputs must be a list of 1 to 100 objects", "VALIDATION_ERROR")
        unique = "email" if kind == "contacts" else self.order_id_property
        store = self.contacts if kind == "contacts" else self.deals
        started = _now()
        results = []
        for item in inputs:
            if not isinstance(item, dict) or set(item) - {
                "idProperty",
                "id",
                "properties",
                "objectWriteTraceId",
            }:
                raise HubSpotError(
                    400, "each input is {idProperty, id, properties}", "VALIDATION_ERROR"
                )
            if item.get("idProperty") != unique:
                raise HubSpotError(
                    400,
                    f"idProperty {item.get('idProperty')!r} is not a unique property of {kind}",
                    "VALIDATION_ERROR",
                )
            value = item.get("id")
            if not isinstance(value, str) or not value:
                raise HubSpotError(400, "id must be a non-empty string", "VALIDATION_ERROR")
            props = item.get("properties", {})
            self._check_properties(kind, props)
            if kind == "contacts":
                value = value.lower()
                if not _EMAIL.match(value):
                    raise HubSpotError(
                        400,
                        f'Property values were not valid: [{{"isValid":false,"message":"Email '
                        f'address {value} is invalid","error":"INVALID_EMAIL","name":"email"}}]',
                        "VALIDATION_ERROR",
                    )
            with self.lock:
                record = store.get(value)
                new = record is None
                if new:
                    record = {"id": str(next(self._ids)), "properties": {}, "createdAt": _now()}
                    store[value] = record
                record["properties"].update(
                    {k: "" if v is None else str(v) for k, v in props.items()}
                )
                record["properties"][unique] = value
                record["updatedAt"] = _now()
                self.writes[(kind, value)] = self.writes.get((kind, value), 0) + 1
                results.append(
                    {
                        "id": record["id"],
                        "properties": dict(record["properties"]),
                        "createdAt": record["createdAt"],
                        "updatedAt": record["updatedAt"],
                        "archived": False,
                        "new": new,
                    }
                )
        if self.on_upsert is not None:
            for result in results:
                self.on_upsert(kind, result)
        return {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _now(),
        }

    def associate(self, deal_id: str, contact_id: str) -> dict[str, Any]:
        with self.lock:
            if not any(d["id"] == deal_id for d in self.deals.values()):
                raise HubSpotError(
                    404,
                    f"Object not found. objectId are usually numeric. {deal_id}",
                    "OBJECT_NOT_FOUND",
                )
            if not any(c["id"] == contact_id for c in self.contacts.values()):
                raise HubSpotError(
                    404,
                    f"Object not found. objectId are usually numeric. {contact_id}",
                    "OBJECT_NOT_FOUND",
                )
            self.associations.add((deal_id, contact_id))
        return {
            "id": deal_id,
            "associations": {
                "contacts": {"results": [{"id": contact_id, "type": "deal_to_contact"}]}
            },
        }

    def read(self, kind: str, value: str, request: Request) -> dict[str, Any]:
        store = self.contacts if kind == "contacts" else self.deals
        id_property = request.args.get("idProperty")
        with self.lock:
            if id_property:
                record = store.get(value.lower() if kind == "contacts" else value)
            else:
                record = next((r for r in store.values() if r["id"] == value), None)
            if record is None:
                raise HubSpotError(
                    404,
                    f"Object not found. objectId are usually numeric. {value}",
                    "OBJECT_NOT_FOUND",
                )
            return {"id": record["id"], "properties": dict(record["properties"]), "archived": False}


def _show(kind: str, record: dict[str, Any]) -> None:
    props = record["properties"]
    if kind == "contacts":
        print(
            f"contact {record['id']} {props.get('email')}: latest source "
            f"{props.get('shoppable_latest_channel') or '-'} post "
            f"{props.get('shoppable_latest_post') or '-'}, first source "
            f"{props.get('shoppable_first_channel') or '-'}",
            flush=True,
        )
    else:
        print(
            f"deal {record['id']} {props.get('dealname')}: {props.get('amount')} "
            f"{props.get('deal_currency_code')}, stage {props.get('dealstage')}, channel "
            f"{props.get('shoppable_channel') or '-'}, post {props.get('shoppable_post') or '-'}, "
            f"campaign {props.get('shoppable_campaign') or '-'}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    """``python -m flask_shoppable._fakes.hubspot``: a fake HubSpot that prints what arrives."""
    import argparse
    import signal
    import threading

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8750)
    parser.add_argument("--token", default="demo-hubspot-token")
    parser.add_argument("--quiet", action="store_true", help="do not print each record")
    args = parser.parse_args(argv)
    fake = FakeHubSpot(args.token, port=args.port)
    if not args.quiet:
        fake.on_upsert = _show
    fake.start()
    print(f"Fake HubSpot on {fake.url} (token {args.token}); Ctrl+C stops it.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
