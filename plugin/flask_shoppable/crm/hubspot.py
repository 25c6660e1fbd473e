"""The HubSpot sink: the customer as a contact, the order as a deal, associated.

Every call carries the private app's token as ``Authorization: Bearer``. Paths are
``<SHOPPABLE_HUBSPOT_BASE_URL><SHOPPABLE_HUBSPOT_PATH_PREFIX>/objects/...`` (``/crm/v3``
today; HubSpot's dated paths such as ``/crm/objects/2026-03`` by changing the prefix).
For each order event (paid, refunded, disputed):

1. ``POST .../objects/contacts/batch/upsert`` ``{"inputs": [{"idProperty": "email", "id":
   <email>, "properties": {...}}]}``: the contact by email, with its latest social source
   (``shoppable_latest_channel``, ``_post``, ``_campaign``, ``_link``) and, on the
   customer's first order only, the first-touch ones (``shoppable_first_*``), so a later
   order never overwrites where the customer first came from;
2. ``POST .../objects/deals/batch/upsert`` with ``idProperty`` the unique order-id property
   (SHOPPABLE_HUBSPOT_ORDER_ID_PROPERTY): the deal's name, amount (net of refunds, in major
   units), currency, pipeline and stage (paid stage; refunded stage once fully refunded),
   close date, channel, post, campaign, link, partner and interaction kind; a resend
   updates the same deal;
3. ``PUT .../objects/deals/<deal>/associations/contacts/<contact>/deal_to_contact``.

``customer.erase`` (``flask shoppable forget``) asks for the GDPR delete of the contact:
``POST .../objects/contacts/gdpr-delete`` ``{"objectId": <email>, "idProperty": "email"}``.

A 429 names its limit in ``policyName``: the delay is Retry-After when given, else 10 s
for TEN_SECONDLY_ROLLING, 1 s for SECONDLY, and the next full hour for DAILY (the daily
limit resets at midnight in the account's time zone, which the plugin does not know; an
hourly retry finds it, and 429s never count as attempts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from flask import Flask

from ..config import ConfigError
from ..money import to_decimal_string
from . import sinkutil
from .errors import Rejected, RetryLater
from .http import call, session, timeout_of

NAME = "hubspot"
EVENTS = ("order.paid", "order.refunded", "order.disputed")
ERASE_EVENT = "customer.erase"


def policy_delay(policy: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait after a 429 with this ``policyName`` (None: unknown policy)."""
    if policy in ("TEN_SECONDLY_ROLLING", "TEN_SECONDLY"):
        return 10.0
    if policy == "SECONDLY":
        return 1.0
    if policy == "DAILY":
        now = now or datetime.now(UTC)
        next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return (next_hour - now).total_seconds()
    return None


def _source(prefix: str, touch: dict[str, Any] | None, fallback: dict[str, Any]) -> dict:
    """Contact properties of one touch: channel, post, link, campaign, interaction kind."""
    touch = touch or fallback
    return {
        f"{prefix}_channel": touch.get("channel") or "",
        f"{prefix}_post": str(touch.get("post_id") or ""),
        f"{prefix}_link": str(touch.get("link_id") or ""),
        f"{prefix}_campaign": touch.get("campaign") or "",
        f"{prefix}_interaction": touch.get("kind") or "",
    }


def contact_properties(payload: dict[str, Any]) -> dict[str, str]:
    """The contact's name and social sources (first-touch ones on the first order only)."""
    customer = payload.get("customer") or {}
    attribution = payload.get("attribution") or {}
    # Without a credited touch (a buffered click not written yet): the order's own origin.
    origin = {
        "channel": attribution.get("channel"),
        "post_id": (attribution.get("post") or {}).get("id"),
        "link_id": (attribution.get("link") or {}).get("id"),
        "campaign": attribution.get("campaign"),
        "kind": attribution.get("interaction_kind"),
    }
    name = str(customer.get("name") or "").strip()
    first, _, last = name.partition(" ")
    props: dict[str, str] = {"email": customer["email"]}
    if first:
        props["firstname"] = first
    if last:
        props["lastname"] = last
    props.update(_source("shoppable_latest", attribution.get("last_touch"), origin))
    if not customer.get("orders_before"):
        props.update(_source("shoppable_first", attribution.get("first_touch"), origin))
    # A sale through a comment's private reply (listening): the commenter's handle, as
    # shoppable_instagram_username / shoppable_facebook_username (a Facebook name).
    identity = (payload.get("social") or {}).get("social_identity") or {}
    if identity.get("platform") in ("instagram", "facebook") and identity.get("username"):
        props[f"shoppable_{identity['platform']}_username"] = str(identity["username"])
    return props


@dataclass
class HubSpotSink:
    """Contacts and deals in one HubSpot account (see the module's docstring)."""

    base: str
    token: str = field(repr=False)
    order_id_property: str
    pipeline: str
    paid_stage: str
    refunded_stage: str
    timeout: float
    http: requests.Session = field(repr=False)
    name: str = NAME
    events: tuple[str, ...] = EVENTS
    supports_erasure: bool = True

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = call(
                self.http,
                method,
                f"{self.base}{path}",
                timeout=self.timeout,
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except RetryLater as exc:
            if exc.status == 429 and exc.after_seconds is None and isinstance(exc.body, dict):
                exc.after_seconds = policy_delay(exc.body.get("policyName"))
            raise
        return response.json() if response.content else None

    def _upsert(self, kind: str, id_property: str, value: str, props: dict[str, Any]) -> str:
        body = {"inputs": [{"idProperty": id_property, "id": value, "properties": props}]}
        answer = self._call("POST", f"/objects/{kind}/batch/upsert", body)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not results or not results[0].get("id"):
            errors = answer.get("errors") if isinstance(answer, dict) else None
            raise Rejected(f"HubSpot upserted no {kind[:-1]}: {errors or answer!r}"[:500])
        return str(results[0]["id"])

    def deal_properties(self, payload: dict[str, Any]) -> dict[str, str]:
        order = payload["order"]
        attribution = payload.get("attribution") or {}
        post = attribution.get("post") or {}
        link = attribution.get("link") or {}
        currency = str(order["currency"])
        net = int(order["total_amount"]) - int(order.get("refunded_amount") or 0)
        refunded = net <= 0 and int(order.get("refunded_amount") or 0) > 0
        return {
            self.order_id_property: str(order["id"]),
            "dealname": f"Order #{order['id']}",
            "amount": to_decimal_string(net, currency),
            "deal_currency_code": currency,
            "pipeline": self.pipeline,
            "dealstage": self.refunded_stage if refunded else self.paid_stage,
            "closedate": order.get("paid_at") or order.get("created_at") or "",
            "shoppable_refunded_amount": to_decimal_string(
                int(order.get("refunded_amount") or 0), currency
            ),
            "shoppable_dispute_status": order.get("dispute_status") or "",
            "shoppable_channel": attribution.get("channel") or "",
            "shoppable_post": post.get("slug") or "",
            "shoppable_post_id": str(post.get("id") or ""),
            "shoppable_link": link.get("code") or "",
            "shoppable_campaign": attribution.get("campaign") or "",
            "shoppable_partner": attribution.get("partner") or "",
            "shoppable_interaction_kind": attribution.get("interaction_kind") or "",
        }

    def deliver(self, message: Any) -> dict[str, Any] | None:
        if message.event == ERASE_EVENT:
            email = message.payload["email"]
            self._call(
                "POST", "/objects/contacts/gdpr-delete", {"objectId": email, "idProperty": "email"}
            )
            return {"erased": True}
        if message.event not in EVENTS:
            raise Rejected(f"the HubSpot sink does not handle {message.event!r}")
        payload = message.payload
        email = (payload.get("customer") or {}).get("email")
        contact_id = None
        if email:
            contact_id = self._upsert("contacts", "email", email, contact_properties(payload))
        deal_id = self._upsert(
            "deals",
            self.order_id_property,
            str(payload["order"]["id"]),
            self.deal_properties(payload),
        )
        if contact_id is not None:
            self._call(
                "PUT",
                f"/objects/deals/{deal_id}/associations/contacts/{contact_id}/deal_to_contact",
            )
        return {"contact_id": contact_id, "deal_id": deal_id}

    def on_delivered(self, session: Any, message: Any, result: Any) -> None:
        """A delivered GDPR delete keeps no copy of the email it carried."""
        if message.event == ERASE_EVENT:
            from .erasure import scrub_request

            scrub_request(session, message.id)


def from_config(app: Flask) -> HubSpotSink:
    """The sink for ``app``; a missing token or a bad URL raises ConfigError naming the key."""
    config = app.config
    token = sinkutil.required_str(config, "SHOPPABLE_HUBSPOT_ACCESS_TOKEN", NAME)
    base = sinkutil.base_url(config, "SHOPPABLE_HUBSPOT_BASE_URL", NAME, path_allowed=False)
    prefix = config["SHOPPABLE_HUBSPOT_PATH_PREFIX"]
    if not isinstance(prefix, str) or not prefix.startswith("/") or "?" in prefix:
        raise ConfigError(
            "SHOPPABLE_HUBSPOT_PATH_PREFIX", f"must be a path such as /crm/v3, got {prefix!r}"
        )
    for key in (
        "SHOPPABLE_HUBSPOT_ORDER_ID_PROPERTY",
        "SHOPPABLE_HUBSPOT_PIPELINE",
        "SHOPPABLE_HUBSPOT_PAID_STAGE",
        "SHOPPABLE_HUBSPOT_REFUNDED_STAGE",
    ):
        sinkutil.required_str(config, key, NAME)
    return HubSpotSink(
        base=base + prefix.rstrip("/"),
        token=token,
        order_id_property=config["SHOPPABLE_HUBSPOT_ORDER_ID_PROPERTY"].strip(),
        pipeline=config["SHOPPABLE_HUBSPOT_PIPELINE"].strip(),
        paid_stage=config["SHOPPABLE_HUBSPOT_PAID_STAGE"].strip(),
        refunded_stage=config["SHOPPABLE_HUBSPOT_REFUNDED_STAGE"].strip(),
        timeout=timeout_of(app),
        http=session(app),
    )
