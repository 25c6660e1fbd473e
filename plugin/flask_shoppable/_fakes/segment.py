"""A local fake of Segment's HTTP Tracking API, checking the e-commerce spec (v2) shapes.

``POST /v1/track`` (one call) and ``POST /v1/batch`` (``{"batch": [calls]}``, each with its
``type``), authenticated with HTTP Basic auth: the write key as user name, an empty
password (a missing or unknown key gets ``401``). Like Segment, a call is at most 32 KB
and a batch 500 KB (``400`` above). Each track call needs ``event`` and ``userId`` or
``anonymousId``, ``messageId`` (the plugin always sends one), a ``timestamp`` in ISO 8601,
and, for the spec's order events, the spec's properties:

* ``Order Completed``: ``order_id`` (string), ``total``/``revenue``/``subtotal``/
  ``shipping``/``tax``/``discount`` numbers in major units (a number, never a string),
  ``currency`` (ISO 4217), ``products`` a list of ``{product_id, sku, name, price,
  quantity}`` with ``price`` a number and ``quantity`` a positive integer;
* ``Order Refunded``: ``order_id``, and ``total``/``currency`` when given, like above.

``context.campaign``, when present, may only carry ``name``, ``source``, ``medium``,
``term`` and ``content`` (strings). A bad call gets ``400 {"success": false, "message"}``,
a good one ``200 {"success": true}``. (Segment's own collector answers 200 even to an
unknown write key or a call that breaks the spec, and drops it silently; the fake refuses
them, so a test sees what production would have lost.) Segment deduplicates by
``messageId``, so the fake keeps one record per id in :attr:`FakeSegment.events` and
counts the rest in :attr:`FakeSegment.duplicates`.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from .server import FakeServer

MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
CAMPAIGN_KEYS = frozenset({"name", "source", "medium", "term", "content"})
MONEY_PROPERTIES = ("total", "revenue", "subtotal", "shipping", "tax", "discount", "value")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class SpecError(ValueError):
    pass


def _number(props: dict[str, Any], name: str) -> None:
    if name in props and (
        isinstance(props[name], bool) or not isinstance(props[name], int | float)
    ):
        raise SpecError(f"properties.{name} must be a number, got {props[name]!r}")


def check_track(call: dict[str, Any]) -> None:
    """Raise :class:`SpecError` when ``call`` is not a track call Segment would take."""
    if not isinstance(call.get("event"), str) or not call["event"]:
        raise SpecError("event is required")
    if not call.get("userId") and not call.get("anonymousId"):
        raise SpecError("userId or anonymousId is required")
    if not isinstance(call.get("messageId"), str) or not call["messageId"]:
        raise SpecError("messageId is required")
    try:
        datetime.fromisoformat(str(call.get("timestamp")).replace("Z", "+00:00"))
    except ValueError:
        raise SpecError(f"timestamp must be ISO 8601, got {call.get('timestamp')!r}") from None
    context = call.get("context", {})
    if not isinstance(context, dict):
        raise SpecError("context must be an object")
    campaign = context.get("campaign")
    if campaign is not None:
        if not isinstance(campaign, dict) or set(campaign) - CAMPAIGN_KEYS:
            raise SpecError(f"context.campaign takes only {sorted(CAMPAIGN_KEYS)}")
        if not all(isinstance(v, str) for v in campaign.values()):
            raise SpecError("context.campaign values must be strings")
    props = call.get("properties", {})
    if not isinstance(props, dict):
        raise SpecError("properties must be an object")
    if call["event"] in ("Order Completed", "Order Refunded"):
        if not isinstance(props.get("order_id"), str) or not props["order_id"]:
            raise SpecError("properties.order_id (a string) is required")
        for name in MONEY_PROPERTIES:
            _number(props, name)
        if "currency" in props and not _CURRENCY.match(str(props["currency"])):
            raise SpecError(f"properties.currency must be ISO 4217, got {props['currency']!r}")
    if call["event"] == "Order Completed":
        if "total" not in props and "revenue" not in props:
            raise SpecError("Order Completed needs total or revenue")
        if "currency" not in props:
            raise SpecError("Order Completed needs currency")
    products = props.get("products")
    if products is not None:
        if not isinstance(products, list):
            raise SpecError("properties.products must be a list")
        for i, product in enumerate(products):
            if not isinstance(product, dict) or not product.get("product_id"):
                raise SpecError(f"products[{i}].product_id is required")
            _number(product, "price")
            quantity = product.get("quantity")
            if quantity is not None and (
                isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1
            ):
                raise SpecError(f"products[{i}].quantity must be a positive integer")


class FakeSegment(FakeServer):
    name = "segment"

    def __init__(
        self, write_key: str = "fakeSegmentWriteKey123", host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(host, port)
        self.write_key = write_key
        #: messageId -> the call, first time it came.
        self.events: dict[str, dict[str, Any]] = {}
        self.duplicates = 0

    def app_config(self) -> dict[str, str]:
        return {"SHOPPABLE_SEGMENT_WRITE_KEY": self.write_key, "SHOPPABLE_SEGMENT_URL": self.url}

    def tracks(self, event: str | None = None) -> list[dict[str, Any]]:
        """The track calls kept (one per messageId), oldest first."""
        with self.lock:
            return [c for c in self.events.values() if event is None or c["event"] == event]

    @staticmethod
    def _error(message: str, status: int = 400) -> Response:
        return FakeServer.json_response({"success": False, "message": message}, status=status)

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or request.path not in ("/v1/track", "/v1/batch"):
            return self._error(f"no route {request.method} {request.path}", 404)
        header = request.headers.get("Authorization", "")
        key = ""
        if header.startswith("Basic "):
            try:
                key = base64.b64decode(header[6:]).decode().partition(":")[0]
            except ValueError:
                key = ""
        if key != self.write_key:
            return self._error(
                "Invalid write key (send it as Basic auth user, empty password)", 401
            )
        body = request.get_data()
        limit = MAX_BATCH_BYTES if request.path == "/v1/batch" else MAX_CALL_BYTES
        if len(body) > limit:
            return self._error(f"request body over {limit} bytes")
        try:
            data = json.loads(body)
        except ValueError:
            return self._error("body is not JSON")
        if request.path == "/v1/track":
            calls = [{**data, "type": "track"}] if isinstance(data, dict) else None
        else:
            calls = data.get("batch") if isinstance(data, dict) else None
        if not isinstance(calls, list) or not calls:
            return self._error("expected a call object (or {'batch': [calls]})")
        try:
            for i, call in enumerate(calls):
                if not isinstance(call, dict) or call.get("type") != "track":
                    raise SpecError(f"batch[{i}]: only track calls are expected")
                if len(json.dumps(call)) > MAX_CALL_BYTES:
                    raise SpecError(f"batch[{i}]: call over {MAX_CALL_BYTES} bytes")
                check_track(call)
        except SpecError as exc:
            return self._error(str(exc))
        with self.lock:
            for call in calls:
                if call["messageId"] in self.events:
                    self.duplicates += 1
                else:
                    self.events[call["messageId"]] = call
        return self.json_response({"success": True})
