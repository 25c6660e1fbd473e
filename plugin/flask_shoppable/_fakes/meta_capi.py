"""The Conversions API part of the fake Graph API (:class:`~.meta.FakeGraph`).

``POST /vXX.X/<pixel_id>/events`` with ``data`` (a JSON array of server events: a form
field holding the JSON, or a JSON body ``{"data": [...]}``) and an access token (the
``access_token`` parameter or ``Authorization: Bearer``). As Meta does, one bad event
rejects the whole batch (``400``, Graph's error shape, ``code`` 100 with an
``error_subcode`` and ``error_user_msg`` naming the event); the checks:

* ``event_name`` (a string), ``event_time`` (unix seconds: not more than 7 days in the past,
  not in the future beyond a minute), ``action_source`` (one of Meta's values);
* ``action_source`` ``website``: ``event_source_url`` and ``user_data.client_user_agent``;
  ``business_messaging``: ``messaging_channel`` (``whatsapp``, ``messenger``, ``instagram``)
  and the channel's ids in ``user_data`` (``page_id`` + ``page_scoped_user_id`` for
  Messenger, ``ig_account_id`` + ``ig_sid`` for Instagram, ``whatsapp_business_account_id``
  + ``ctwa_clid`` for WhatsApp);
* ``user_data``: at least one customer parameter; ``em``/``ph``/``external_id`` hashed
  (64 lower-case hex, a string or a list of them); ``fbc`` as ``fb.<n>.<ms>.<fbclid>``;
  ``client_ip_address`` an IPv4 or IPv6 address;
* ``custom_data``: ``value`` a number and ``currency`` ISO 4217, both required for Purchase.

An accepted batch answers ``{"events_received": n, "messages": [], "fbtrace_id"}`` and its
events are kept in ``graph.capi_events[pixel_id]``; an event whose ``(event_name,
event_id)`` was seen before counts in ``graph.capi_deduplicated`` instead (Meta's
deduplication). Pixels must be registered with ``graph.add_pixel(pixel_id)``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from .meta import FakeGraph

MAX_AGE_SECONDS = 7 * 24 * 3600
ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
MESSAGING_IDS = {
    "messenger": ("page_id", "page_scoped_user_id"),
    "instagram": ("ig_account_id", "ig_sid"),
    "whatsapp": ("whatsapp_business_account_id", "ctwa_clid"),
}
CUSTOMER_PARAMS = frozenset(
    {
        "em",
        "ph",
        "fn",
        "ln",
        "external_id",
        "client_ip_address",
        "client_user_agent",
        "fbc",
        "fbp",
        "page_scoped_user_id",
        "ig_sid",
        "ctwa_clid",
    }
)
HASHED_PARAMS = ("em", "ph", "fn", "ln", "external_id")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_FBC = re.compile(r"^fb\.\d\.\d{13}\.\S+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class EventError(ValueError):
    def __init__(self, index: int, message: str, subcode: int = 2804019) -> None:
        super().__init__(f"events[{index}]: {message}")
        self.subcode = subcode


def check_event(index: int, event: Any, now: float) -> None:
    """Raise :class:`EventError` where Meta would refuse ``event``."""
    if not isinstance(event, dict):
        raise EventError(index, "an event is a JSON object")
    if not isinstance(event.get("event_name"), str) or not event["event_name"]:
        raise EventError(index, f"The parameter $['data'][{index}]['event_name'] is required.")
    event_time = event.get("event_time")
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        raise EventError(index, f"The parameter $['data'][{index}]['event_time'] is required.")
    if event_time < now - MAX_AGE_SECONDS:
        raise EventError(
            index,
            "event_time is more than 7 days in the past: events must be sent within 7 days "
            "of when they happened",
            subcode=2804003,
        )
    if event_time > now + 60:
        raise EventError(index, "event_time is in the future", subcode=2804004)
    source = event.get("action_source")
    if source not in ACTION_SOURCES:
        raise EventError(index, f"action_source must be one of {sorted(ACTION_SOURCES)}")
    user = event.get("user_data")
    if not isinstance(user, dict) or not CUSTOMER_PARAMS & set(user):
        raise EventError(index, "user_data needs at least one customer information parameter")
    if source == "website":
        if not event.get("event_source_url"):
            raise EventError(index, "event_source_url is required for website events")
        if not user.get("client_user_agent"):
            raise EventError(index, "client_user_agent is required for website events")
    if source == "business_messaging":
        channel = event.get("messaging_channel")
        if channel not in MESSAGING_IDS:
            raise EventError(
                index,
                f"messaging_channel must be one of {sorted(MESSAGING_IDS)} for "
                "business_messaging events",
            )
        for name in MESSAGING_IDS[channel]:
            if not user.get(name):
                raise EventError(index, f"user_data.{name} is required for {channel} events")
    for name in HASHED_PARAMS:
        if name in user:
            values = user[name] if isinstance(user[name], list) else [user[name]]
            if not values or not all(isinstance(v, str) and _HASH.match(v) for v in values):
                raise EventError(index, f"user_data.{name} must be SHA-256 hashed (64 hex)")
    if "fbc" in user and not (isinstance(user["fbc"], str) and _FBC.match(user["fbc"])):
        raise EventError(index, "user_data.fbc must be fb.<subdomain>.<ms>.<fbclid>")
    if "client_ip_address" in user:
        try:
            ipaddress.ip_address(str(user["client_ip_address"]))
        except ValueError:
            raise EventError(index, "user_data.client_ip_address is not an IP address") from None
    custom = event.get("custom_data", {})
    if not isinstance(custom, dict):
        raise EventError(index, "custom_data must be an object")
    if "value" in custom and (
        isinstance(custom["value"], bool) or not isinstance(custom["value"], int | float)
    ):
        raise EventError(index, "custom_data.value must be a number")
    if "currency" in custom and not _CURRENCY.match(str(custom["currency"]).upper()):
        raise EventError(index, "custom_data.currency must be ISO 4217")
    if event["event_name"] == "Purchase" and ("value" not in custom or "currency" not in custom):
        raise EventError(index, "Purchase events need custom_data.value and currency")


def install(graph: FakeGraph) -> None:
    """Add the Conversions API route and its state to ``graph``."""
    from .meta import graph_error

    graph.pixels = set()
    graph.capi_events = {}
    graph.capi_deduplicated = 0
    graph.capi_seen = set()

    def events(request: Request, match: re.Match[str]) -> Response:
        pixel_id = match["pixel_id"]
        with graph.lock:
            known = pixel_id in graph.pixels
        if not known:
            return graph_error(
                f"Unsupported post request. Object with ID '{pixel_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this "
                "operation.",
                code=100,
                error_subcode=33,
            )
        if request.is_json:
            body = request.get_json(silent=True) or {}
            data = body.get("data") if isinstance(body, dict) else None
        else:
            raw = request.form.get("data", "")
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
        if not isinstance(data, list) or not data:
            return graph_error("The parameter data is required and must be a JSON array.")
        if len(data) > 1000:
            return graph_error("At most 1000 events per request.")
        now = time.time()
        try:
            for index, event in enumerate(data):
                check_event(index, event, now)
        except EventError as exc:
            return graph_error(
                "Invalid parameter",
                code=100,
                error_subcode=exc.subcode,
                is_transient=False,
                error_user_title="Server-side API parameter error",
                error_user_msg=str(exc),
            )
        with graph.lock:
            kept = graph.capi_events.setdefault(pixel_id, [])
            for event in data:
                key = (pixel_id, event["event_name"], str(event.get("event_id", "")))
                if event.get("event_id") and key in graph.capi_seen:
                    graph.capi_deduplicated += 1
                    continue
                graph.capi_seen.add(key)
                kept.append(event)
        return graph.json_response(
            {"events_received": len(data), "messages": [], "fbtrace_id": secrets.token_hex(8)}
        )

    graph.route("POST", r"/(?P<pixel_id>\d+)/events", events)
