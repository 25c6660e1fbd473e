"""The Meta Conversions API sink: one ``Purchase`` server event per paid order.

``POST <SHOPPABLE_META_GRAPH_URL>/<SHOPPABLE_META_GRAPH_VERSION>/<SHOPPABLE_META_PIXEL_ID>/events``
with ``{"data": [event]}`` and the token ``SHOPPABLE_META_CAPI_TOKEN`` (as a Bearer header,
never in the URL). The event:

* ``event_name`` ``Purchase``, ``event_id`` the order id (a browser pixel sending the same
  id for the same purchase is deduplicated by Meta), ``event_time`` when it was paid;
* ``action_source`` ``website`` with ``event_source_url`` (``SHOPPABLE_PUBLIC_URL`` + the
  checkout's success page); or, for a sale that started in an Instagram or Messenger
  conversation (``payload["social"]`` from the listening capability: the
  ``messaging_channel``, the person's scoped id and the business account's id),
  ``business_messaging`` with ``messaging_channel`` and those ids in ``user_data``
  (``ig_account_id``/``ig_sid`` or ``page_id``/``page_scoped_user_id``);
* ``user_data``: ``em`` the SHA-256 of the normalised email; ``fbc``
  ``fb.1.<click time in ms>.<fbclid>`` built from the click that carried the fbclid;
  ``client_user_agent`` and ``client_ip_address`` as the checkout saw them;
* ``custom_data``: ``value`` (the order total in major units, as Meta expects) and
  ``currency``, ``order_id``, ``content_ids``/``contents``/``num_items``.

Only ``order.paid`` is sent (the sink's ``events``: no message is written for refunds).
A purchase whose checkout kept no browser data (the shopper sent DNT or Sec-GPC, or gave no
consent) is not sent: the message is marked delivered with ``{"skipped": ...}``.
Meta refuses an event more than 7 days old, and the whole request with it, so such a
message (the outbox was stuck, or a replay came late) is dead-lettered with that reason
and never sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask

from ..config import ConfigError
from . import sinkutil
from .errors import DeliveryError, Rejected, RetryLater
from .http import call

NAME = "meta_capi"
MAX_AGE = timedelta(days=7)
#: Stop a little before Meta's limit: the request takes time to arrive.
SAFETY = timedelta(minutes=5)
MESSAGING_IDS = {
    "instagram": ("ig_account_id", "ig_sid"),
    "messenger": ("page_id", "page_scoped_user_id"),
    "whatsapp": ("whatsapp_business_account_id", "ctwa_clid"),
}


def sha256(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def messaging_ids(payload: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """(messaging_channel, the channel's user_data ids) for a sale from a conversation.

    The listening capability puts ``payload["social"]`` (``messaging_channel``, the
    ``social_identity``'s scoped ``user_id`` and the business ``account_id``) on orders that
    came from a comment answered in Instagram Direct or Messenger. Without both ids the
    event stays a website event (Meta refuses business_messaging without them).
    """
    social = payload.get("social")
    if not isinstance(social, dict):
        return None
    channel = social.get("messaging_channel")
    if channel not in MESSAGING_IDS:
        return None
    identity = social.get("social_identity") or {}
    account_key, user_key = MESSAGING_IDS[channel]
    account, user = social.get("account_id"), identity.get("user_id")
    if not account or not user:
        return None
    return channel, {account_key: str(account), user_key: str(user)}


def graph_rejection(exc: Rejected) -> DeliveryError:
    """Graph's 4xx as the outbox's terms: an expired token waits (RetryLater), else Rejected."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    reason = (
        f"Graph HTTP {exc.status} code {error.get('code')}/{error.get('error_subcode')}: "
        f"{error.get('error_user_msg') or error.get('message') or exc.reason}"
    )
    if error.get("code") == 190 or error.get("is_transient"):
        # An expired or revoked token: every message waits until the merchant renews it.
        return RetryLater(reason, status=exc.status, body=exc.body)
    return Rejected(reason, status=exc.status, body=exc.body)


@dataclass
class MetaCapiSink:
    name: str
    graph_url: str
    version: str
    pixel_id: str
    token: str = field(repr=False)
    event_source_url: str
    timeout: float
    http: Any = field(repr=False)
    supports_erasure: bool = False
    #: Purchases only: refunds and disputes are not Conversions API events.
    events: tuple[str, ...] = ("order.paid",)

    @classmethod
    def from_app(cls, app: Flask, http: Any, timeout: float) -> MetaCapiSink:
        config = app.config
        pixel = config.get("SHOPPABLE_META_PIXEL_ID")
        if not isinstance(pixel, str | int) or not str(pixel).isdigit():
            raise ConfigError(
                "SHOPPABLE_META_PIXEL_ID",
                f"is required when {NAME!r} is in SHOPPABLE_CRM_SINKS (digits), got {pixel!r}",
            )
        public = config.get("SHOPPABLE_PUBLIC_URL")
        if not public:
            raise ConfigError(
                "SHOPPABLE_PUBLIC_URL",
                f"is required when {NAME!r} is in SHOPPABLE_CRM_SINKS: website events carry "
                "the page's absolute URL",
            )
        return cls(
            name=NAME,
            graph_url=sinkutil.base_url(
                config, "SHOPPABLE_META_GRAPH_URL", NAME, path_allowed=False
            ),
            version=sinkutil.api_version(config, "SHOPPABLE_META_GRAPH_VERSION"),
            pixel_id=str(pixel),
            token=sinkutil.required_str(config, "SHOPPABLE_META_CAPI_TOKEN", NAME),
            event_source_url=f"{public}{config['SHOPPABLE_URL_PREFIX']}/checkout/success",
            timeout=timeout,
            http=http,
        )

    def server_event(self, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
        order = sinkutil.order_of(payload)
        customer = sinkutil.customer_of(payload)
        attribution = sinkutil.attribution_of(payload)
        browser: dict[str, Any] = payload.get("checkout") or {}
        touch = sinkutil.touch_of(attribution)
        paid_at = sinkutil.parse_time(order.get("paid_at") or order.get("created_at")) or now
        if now - paid_at > MAX_AGE - SAFETY:
            raise Rejected(
                f"the purchase was paid at {sinkutil.iso(paid_at)}, more than 7 days ago: the "
                "Conversions API refuses events older than 7 days (and the whole request "
                "with them), so it was not sent"
            )
        currency = str(order["currency"])
        user: dict[str, Any] = {}
        email = customer.get("email")
        if email:
            user["em"] = [sha256(str(email))]
        elif customer.get("email_hash"):
            user["em"] = [str(customer["email_hash"])]
        fbclid = (touch.get("click_ids") or {}).get("fbclid")
        clicked_at = sinkutil.parse_time(touch.get("occurred_at"))
        if fbclid and clicked_at:
            user["fbc"] = f"fb.1.{int(clicked_at.timestamp() * 1000)}.{fbclid}"
        if browser.get("user_agent"):
            user["client_user_agent"] = browser["user_agent"]
        if browser.get("client_ip"):
            user["client_ip_address"] = browser["client_ip"]
        lines = sinkutil.lines_of(payload)
        contents = [
            {
                "id": str(line.get("sku") or line.get("variant_id") or line.get("product_id")),
                "quantity": int(line.get("quantity") or 1),
                "item_price": sinkutil.major(int(line.get("unit_amount") or 0), currency),
            }
            for line in lines
        ]
        event: dict[str, Any] = {
            "event_name": "Purchase",
            "event_time": int(paid_at.timestamp()),
            "event_id": str(order["id"]),
            "action_source": "website",
            "event_source_url": self.event_source_url,
            "user_data": user,
            "custom_data": {
                "value": sinkutil.major(int(order.get("total_amount") or 0), currency),
                "currency": currency,
                "order_id": str(order["id"]),
                "content_type": "product",
                "content_ids": [c["id"] for c in contents],
                "contents": contents,
                "num_items": sum(c["quantity"] for c in contents),
            },
        }
        messaging = messaging_ids(payload)
        if messaging is not None:
            channel, ids = messaging
            event["action_source"] = "business_messaging"
            event["messaging_channel"] = channel
            del event["event_source_url"]
            user.update(ids)
        if not user:
            raise Rejected(
                "no customer information to match the purchase with (no email, "
                "no click id, no browser data)"
            )
        return event

    def deliver(self, message: Any) -> dict[str, Any] | None:
        if message.event != "order.paid":
            return {"skipped": f"the Conversions API takes purchases only, not {message.event}"}
        event = self.server_event(message.payload, datetime.now(UTC))
        if event["action_source"] == "website" and not event["user_data"].get("client_user_agent"):
            # The checkout kept no browser data: the shopper asked not to be tracked (DNT,
            # GPC, no consent). Meta needs it for a website event; and they said no.
            return {"skipped": "no browser data (the shopper opted out of tracking)"}
        try:
            response = call(
                self.http,
                "POST",
                f"{self.graph_url}/{self.version}/{self.pixel_id}/events",
                timeout=self.timeout,
                json={"data": [event]},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except Rejected as exc:
            raise graph_rejection(exc) from None
        body = response.json()
        return {
            "events_received": body.get("events_received"),
            "fbtrace_id": body.get("fbtrace_id"),
        }


def from_config(app: Flask) -> MetaCapiSink:
    """The sink for ``app`` (settings checked: ConfigError names a bad key)."""
    from .http import session

    return MetaCapiSink.from_app(
        app, session(app), float(app.config["SHOPPABLE_OUTBOX_HTTP_TIMEOUT"])
    )
