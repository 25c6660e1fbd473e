"""The Segment sink: ``Order Completed`` and ``Order Refunded`` track calls (e-commerce spec v2).

Calls go to ``<SHOPPABLE_SEGMENT_URL>/v1/track`` (``https://api.segment.io``; EU workspaces use
``https://eu1.api.segmentapis.com``) with HTTP Basic auth, the write key as user name and
an empty password. Any tool that speaks Segment's tracking API (RudderStack, Jitsu, ...) takes
them too. Each call:

* ``userId`` ``customer:<id>`` (the plugin's customer), ``context.traits.email``;
* ``messageId`` the outbox message's idempotency key, so Segment drops a resend;
* ``timestamp`` when the order was paid (or refunded);
* ``context.campaign`` ``{name, source, medium, term, content}`` from the originating touch's
  UTM fields (the channel when there is no utm_source);
* ``properties``: the spec's ``order_id``, ``total``, ``subtotal``, ``revenue`` (subtotal less
  discount, before shipping and tax), ``shipping``, ``tax``, ``discount``,
  ``currency`` and ``products`` [{product_id, sku, name, price, quantity}], amounts as
  numbers in major units; plus the attribution: ``channel``, ``post_id``, ``link_id``,
  ``partner``, ``interaction_kind``, ``campaign``. ``Order Refunded`` carries ``order_id``,
  ``total`` (the amount refunded so far) and ``currency``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from . import sinkutil
from .http import call

NAME = "segment"
EVENTS = {"order.paid": "Order Completed", "order.refunded": "Order Refunded"}


def order_properties(payload: dict[str, Any]) -> dict[str, Any]:
    order = sinkutil.order_of(payload)
    attribution = sinkutil.attribution_of(payload)
    currency = str(order["currency"])

    def money(key: str) -> float:
        return sinkutil.major(int(order.get(key) or 0), currency)

    subtotal, discount = (
        int(order.get("subtotal_amount") or 0),
        int(order.get("discount_amount") or 0),
    )
    props: dict[str, Any] = {
        "order_id": str(order["id"]),
        "total": money("total_amount"),
        "subtotal": money("subtotal_amount"),
        "revenue": sinkutil.major(max(subtotal - discount, 0), currency),
        "shipping": money("shipping_amount"),
        "tax": money("tax_amount"),
        "discount": money("discount_amount"),
        "currency": currency,
        "products": [
            {
                "product_id": str(
                    line.get("product_id") or line.get("variant_id") or line.get("sku")
                ),
                "sku": line.get("sku") or "",
                "name": line.get("title") or "",
                "variant": str(line.get("variant_id") or ""),
                "price": sinkutil.major(int(line.get("unit_amount") or 0), currency),
                "quantity": int(line.get("quantity") or 1),
            }
            for line in sinkutil.lines_of(payload)
        ],
    }
    extra = {
        "channel": attribution.get("channel"),
        "post_id": sinkutil.post_id_of(attribution),
        "link_id": sinkutil.link_id_of(attribution),
        "campaign": attribution.get("campaign"),
        "partner": attribution.get("partner"),
        "interaction_kind": attribution.get("interaction_kind"),
    }
    props.update({k: v for k, v in extra.items() if v not in (None, "")})
    return props


def track_call(event: str, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    order = sinkutil.order_of(payload)
    customer = sinkutil.customer_of(payload)
    attribution = sinkutil.attribution_of(payload)
    if event == "order.paid":
        properties = order_properties(payload)
        moment = sinkutil.parse_time(order.get("paid_at"))
    else:
        currency = str(order["currency"])
        properties = {
            "order_id": str(order["id"]),
            "total": sinkutil.major(int(order.get("refunded_amount") or 0), currency),
            "currency": currency,
        }
        moment = sinkutil.parse_time(payload.get("occurred_at") or order.get("updated_at"))
    context: dict[str, Any] = {"library": {"name": "flask-shoppable", "version": "1"}}
    campaign = sinkutil.campaign_of(attribution)
    if campaign:
        context["campaign"] = campaign
    call: dict[str, Any] = {
        "type": "track",
        "event": EVENTS[event],
        "messageId": key,
        "timestamp": sinkutil.iso(moment or datetime.now(UTC)),
        "properties": properties,
        "context": context,
    }
    if customer.get("id") is not None:
        call["userId"] = f"customer:{customer['id']}"
    else:
        call["anonymousId"] = f"order:{order['id']}"
    if customer.get("email"):
        context["traits"] = {"email": customer["email"]}
    return call


@dataclass
class SegmentSink:
    name: str
    url: str
    write_key: str = field(repr=False)
    timeout: float
    http: Any = field(repr=False)
    supports_erasure: bool = False
    events: tuple[str, ...] = tuple(EVENTS)

    @classmethod
    def from_app(cls, app: Flask, http: Any, timeout: float) -> SegmentSink:
        config = app.config
        return cls(
            name=NAME,
            url=sinkutil.base_url(config, "SHOPPABLE_SEGMENT_URL", NAME, path_allowed=False),
            write_key=sinkutil.required_str(config, "SHOPPABLE_SEGMENT_WRITE_KEY", NAME),
            timeout=timeout,
            http=http,
        )

    def deliver(self, message: Any) -> dict[str, Any] | None:
        if message.event not in EVENTS:
            # Disputes have no e-commerce spec event: nothing to send, nothing to retry.
            return {"skipped": f"{message.event} has no Segment spec event"}
        track = track_call(message.event, message.key, message.payload)
        call(
            self.http,
            "POST",
            f"{self.url}/v1/track",
            timeout=self.timeout,
            json=track,
            auth=(self.write_key, ""),
        )
        return {"event": track["event"], "messageId": track["messageId"]}


def from_config(app: Flask) -> SegmentSink:
    """The sink for ``app`` (settings checked: ConfigError names a bad key)."""
    from .http import session

    return SegmentSink.from_app(
        app, session(app), float(app.config["SHOPPABLE_OUTBOX_HTTP_TIMEOUT"])
    )
