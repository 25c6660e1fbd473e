"""An order event's payload: the order, its lines, customer and attribution, as JSON.

Built in the transaction that changes the order, so the message carries the order as
it was then. Money stays integer minor units with the currency code. Attribution:

* ``channel``, ``post``, ``link``, ``campaign``, ``partner``: where the order came from
  (its originating interaction, else the checkout's labels);
* ``interaction``: the originating interaction (kind, time, UTM, ad click ids);
* ``first_touch`` and ``last_touch``: the customer's first and latest credited touches
  (for a CRM's "original source" and "latest source" properties);
* ``credits``: every attribution model's credits ({model: [{interaction, channel, post_id,
  link_id, amount, share}]}) and ``model``, the shop's default one;
* ``messaging_channel`` ("instagram" or "messenger") and the top-level ``social`` (the
  commenter's social identity, the business account, the comment) for a sale that came
  through a comment's private reply (:mod:`flask_shoppable.listening.customers`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..checkout.models import Checkout
from ..orders.models import Customer, Order, OrderCredit
from ..social.models import Post, TrackedLink
from ..tracking.models import Interaction


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _interaction(row: Interaction | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": str(row.id),
        "kind": row.kind,
        "occurred_at": _iso(row.occurred_at),
        "channel": row.channel,
        "post_id": row.post_id,
        "link_id": row.link_id,
        "utm_source": row.utm_source,
        "utm_medium": row.utm_medium,
        "utm_campaign": row.utm_campaign,
        "utm_content": row.utm_content,
        "utm_term": row.utm_term,
        "partner": row.partner,
        "click_ids": dict(row.click_ids or {}),
    }


def _post(row: Post | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"id": row.id, "slug": row.slug, "campaign": row.campaign, "caption": row.caption[:200]}


def _link(row: TrackedLink | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": row.id,
        "code": row.code,
        "label": row.label,
        "channel": row.channel,
        "utm_source": row.utm_source,
        "utm_medium": row.utm_medium,
        "utm_campaign": row.utm_campaign,
        "partner": row.partner,
    }


def _credits(session: Session, order_id: int) -> dict[str, list[dict[str, Any]]]:
    rows = session.execute(
        select(OrderCredit, Interaction)
        .outerjoin(Interaction, Interaction.id == OrderCredit.interaction_id)
        .where(OrderCredit.order_id == order_id)
        .order_by(OrderCredit.model, OrderCredit.id)
    ).all()
    credits: dict[str, list[dict[str, Any]]] = {}
    for credit, interaction in rows:
        credits.setdefault(credit.model, []).append(
            {
                "interaction": str(credit.interaction_id),
                "kind": interaction.kind if interaction else None,
                "channel": interaction.channel if interaction else None,
                "post_id": interaction.post_id if interaction else None,
                "link_id": interaction.link_id if interaction else None,
                "campaign": interaction.utm_campaign if interaction else "",
                "amount": credit.amount,
                "share": credit.share,
            }
        )
    return credits


def _orders_before(session: Session, order: Order) -> int:
    if order.customer_id is None:
        return 0
    return (
        session.scalar(
            select(func.count())
            .select_from(Order)
            .where(
                Order.customer_id == order.customer_id,
                Order.id < order.id,
                Order.paid_at.is_not(None),
            )
        )
        or 0
    )


def _touch(credits: dict[str, list[dict[str, Any]]], model: str) -> dict[str, Any] | None:
    parts = credits.get(model) or []
    return dict(parts[0]) if parts else None


def _social(session: Session, order: Order, origin: Interaction | None) -> dict[str, Any] | None:
    """The commenter's social identity and messaging channel, for a sale from a comment."""
    if origin is None or origin.kind != "comment":
        return None
    from ..listening.customers import social_of_order

    return social_of_order(session, order)


def order_payload(
    session: Session, order: Order, event: str, app: Flask | None = None
) -> dict[str, Any]:
    """The JSON payload of ``event`` for ``order`` (read in ``session``'s transaction)."""
    customer = session.get(Customer, order.customer_id) if order.customer_id else None
    origin = (
        session.get(Interaction, order.origin_interaction_id)
        if order.origin_interaction_id
        else None
    )
    post = session.get(Post, order.post_id) if order.post_id else None
    link = session.get(TrackedLink, order.link_id) if order.link_id else None
    checkout = session.get(Checkout, order.checkout_id) if order.checkout_id else None
    credits = _credits(session, order.id)
    campaign = (
        (origin.utm_campaign if origin else "")
        or (link.utm_campaign if link else "")
        or (post.campaign if post else "")
    )
    partner = (origin.partner if origin else "") or (link.partner if link else "")
    model = app.config["SHOPPABLE_ATTRIBUTION_MODEL"] if app is not None else "last_touch"
    social = _social(session, order, origin)
    return {
        "event": event,
        "order": {
            "id": order.id,
            "status": order.status,
            "currency": order.currency,
            "subtotal_amount": order.subtotal_amount,
            "discount_amount": order.discount_amount or 0,
            "shipping_amount": order.shipping_amount or 0,
            "tax_amount": order.tax_amount or 0,
            "total_amount": order.total_amount,
            "refunded_amount": order.refunded_amount or 0,
            "net_amount": order.total_amount - (order.refunded_amount or 0),
            "dispute_status": order.dispute_status,
            "provider": order.provider,
            "provider_payment_id": order.provider_payment_id,
            "created_at": _iso(order.created_at),
            "paid_at": _iso(order.paid_at),
        },
        "lines": [
            {
                "product_id": line.product_id,
                "variant_id": line.variant_id,
                "sku": line.sku,
                "title": line.title,
                "unit_amount": line.unit_amount,
                "quantity": line.quantity,
                "total_amount": line.unit_amount * line.quantity,
            }
            for line in order.lines
        ],
        "customer": {
            "id": customer.id if customer else None,
            "email": (customer.email if customer else order.email) or "",
            "email_hash": customer.email_hash if customer else "",
            "name": (customer.name if customer else order.shipping_name) or "",
            "created_at": _iso(customer.created_at) if customer else None,
            #: The customer's paid orders before this one (0: their first order).
            "orders_before": _orders_before(session, order),
        },
        "checkout": {
            "id": checkout.id if checkout else None,
            "user_agent": checkout.user_agent if checkout else "",
            "client_ip": checkout.client_ip if checkout else "",
        },
        "attribution": {
            "channel": order.channel,
            "post": _post(post),
            "link": _link(link),
            "campaign": campaign,
            "partner": partner,
            "interaction_kind": origin.kind if origin else None,
            #: "instagram" or "messenger" when the sale came through a private reply.
            "messaging_channel": social["messaging_channel"] if social else None,
            "interaction": _interaction(origin),
            "first_touch": _touch(credits, "first_touch"),
            "last_touch": _touch(credits, "last_touch"),
            "model": model,
            "credits": credits,
        },
        #: listening: {social_identity: {platform, user_id, username}, messaging_channel,
        #: account_id, comment} for a sale from a comment, else None.
        "social": social,
    }
