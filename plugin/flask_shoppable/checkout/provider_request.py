"""The provider's session request for a checkout: lines, shipping, metadata, URLs.

Everything here comes from the checkout's rows and the app's settings, nothing from the
shopper's request except the prefilled email and promotion code (which the provider
checks). Shipping is asked for only when a line requires it: the address for
``SHOPPABLE_SHIPPING_COUNTRIES``, and the currency's ``SHOPPABLE_SHIPPING_RATES``, each
free once the subtotal reaches its ``free_over``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from ..payments.base import SessionLine, SessionRequest, ShippingOption
from .models import Checkout

#: The provider's bounds for a session's expiry, from its creation (Stripe's).
MIN_TTL = timedelta(minutes=30)
MAX_TTL = timedelta(hours=24)
#: Kept from the bounds, for the time the request takes to reach the provider.
MARGIN = timedelta(seconds=60)


def session_expiry(now: datetime, ttl_minutes: int) -> datetime:
    """``now + ttl``, kept inside the provider's bounds with a margin for transit."""
    wanted = now + timedelta(minutes=ttl_minutes)
    return min(max(wanted, now + MIN_TTL + MARGIN), now + MAX_TTL - MARGIN)


def shipping_options(
    rates: Mapping[str, list[dict[str, Any]]], currency: str, subtotal: int
) -> list[ShippingOption]:
    """The currency's configured rates, each free when the subtotal reaches free_over."""
    options = []
    for rate in rates.get(currency, []):
        free_over = rate.get("free_over")
        free = free_over is not None and subtotal >= free_over
        options.append(
            ShippingOption(
                display_name=rate["name"], amount=0 if free else rate["amount"], currency=currency
            )
        )
    return options


def metadata(checkout: Checkout) -> dict[str, str]:
    """What the session and its payment carry back to the webhook (all strings)."""
    return {
        "shoppable_checkout_id": str(checkout.id),
        "shoppable_interaction_id": str(checkout.origin_interaction_id or ""),
        "shoppable_visitor_id": checkout.visitor_id or "",
        "shoppable_post_id": str(checkout.post_id or ""),
        "shoppable_started_interaction_id": str(checkout.interaction_id or ""),
    }


def build(
    checkout: Checkout,
    config: Mapping[str, Any],
    *,
    success_url: str,
    cancel_url: str,
    expires_at: datetime,
    promotion_code: str | None,
    idempotency_key: str,
) -> SessionRequest:
    """The :class:`SessionRequest` for ``checkout`` under the app's ``config``."""
    ships = any(line.requires_shipping for line in checkout.lines)
    return SessionRequest(
        checkout_id=checkout.id,
        currency=checkout.currency,
        lines=[
            SessionLine(
                name=line.title,
                unit_amount=line.unit_amount,
                quantity=line.quantity,
                currency=checkout.currency,
            )
            for line in checkout.lines
        ],
        success_url=success_url,
        cancel_url=cancel_url,
        expires_at=expires_at,
        idempotency_key=idempotency_key,
        customer_email=checkout.email or None,
        promotion_code=promotion_code or None,
        allow_promotion_codes=bool(config["SHOPPABLE_ALLOW_PROMOTION_CODES"]),
        shipping_countries=tuple(config["SHOPPABLE_SHIPPING_COUNTRIES"]) if ships else (),
        shipping_options=tuple(
            shipping_options(
                config["SHOPPABLE_SHIPPING_RATES"], checkout.currency, checkout.subtotal_amount
            )
        )
        if ships
        else (),
        automatic_tax=bool(config["SHOPPABLE_AUTOMATIC_TAX"]),
        metadata=metadata(checkout),
    )


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` appended (empty values left out)."""
    kept = {k: v for k, v in params.items() if v}
    if not kept:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(kept)}"
