"""Customers: the list (searched by email) and one customer's timeline.

A customer is known by email (an order made them); ``CustomerVisitor`` joins the visitor
ids (first-party cookies, one per browser or device) they bought from. The timeline
gathers, for one customer, across those visitors:

* every interaction of their visitors (impressions, clicks, comments, checkouts
  started), and the interactions their checkouts and orders name as their origin (a
  comment on Instagram has no cookie, yet brought the order);
* their checkouts (by visitor, by email, or as their orders' checkouts), each merged
  with its ``checkout_started`` interaction;
* their orders, the refunds the provider confirmed, disputes, and their shipments;

in time order (oldest first), each with its channel, post, link and device. The newest
:data:`DEFAULT_LIMIT` interactions are kept (``truncated`` says when older ones were
left out); checkouts and orders are always all there.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, cast, func, or_, select
from sqlalchemy.orm import Session

from ..checkout.models import Checkout
from ..social.models import Post, TrackedLink
from ..tracking.models import Interaction
from .models import Customer, CustomerVisitor, Order, OrderEvent
from .service import OrderError, normalize_email

DEFAULT_LIMIT = 1000
#: Bound values per IN list (SQLite's limit is far higher; this keeps statements small).
_CHUNK = 500
#: Order of entries that share a timestamp: what happens first in a purchase first.
_RANK = {
    "impression": 0,
    "comment": 1,
    "click": 2,
    "checkout_started": 3,
    "checkout": 3,
    "order": 4,
    "refund": 5,
    "dispute": 5,
    "fulfilled": 6,
}


@dataclass
class Entry:
    """One thing that happened, as the timeline shows it."""

    at: datetime
    kind: str
    visitor_id: str | None = None
    device: str = ""
    channel: str | None = None
    post_id: int | None = None
    post_slug: str | None = None
    link_id: int | None = None
    link_code: str | None = None
    #: The interaction's, checkout's, order's or refund's id.
    ref: Any = None
    status: str = ""
    amount: int | None = None
    currency: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timeline:
    customer: Customer
    visitors: list[str]
    entries: list[Entry]
    #: True when older interactions than the ones listed exist.
    truncated: bool
    orders: int
    net_amount_by_currency: dict[str, int]

    @property
    def channels(self) -> list[str]:
        return sorted({e.channel for e in self.entries if e.channel})

    @property
    def devices(self) -> list[str]:
        return sorted({e.device for e in self.entries if e.device})


# -- the list -----------------------------------------------------------------------


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def select_customers(search: str | None = None) -> Select[Any]:
    """Customers (newest first) with their paid order count, net spend and last order.

    ``search`` matches a part of the email, case-insensitively (emails are stored
    lower-cased). Erased customers are left out.
    """
    paid = (
        select(
            Order.customer_id.label("customer_id"),
            func.count(Order.id).label("orders"),
            cast(
                func.coalesce(func.sum(Order.total_amount - Order.refunded_amount), 0), BigInteger
            ).label("net"),
            func.max(Order.paid_at).label("last_order_at"),
            func.min(Order.currency).label("currency"),
        )
        .where(Order.status == "paid", Order.customer_id.is_not(None))
        .group_by(Order.customer_id)
        .subquery()
    )
    stmt = (
        select(
            Customer,
            func.coalesce(paid.c.orders, 0).label("orders"),
            func.coalesce(paid.c.net, 0).label("net"),
            paid.c.last_order_at,
            paid.c.currency,
        )
        .outerjoin(paid, paid.c.customer_id == Customer.id)
        .where(Customer.erased_at.is_(None))
    )
    text = normalize_email(search)
    if text:
        stmt = stmt.where(Customer.email.like(f"%{_like_escape(text)}%", escape="\\"))
    return stmt.order_by(Customer.created_at.desc(), Customer.id.desc())


# -- one customer's timeline ------------------------------------------------------------


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id) if 0 < customer_id < 2**31 else None
    if customer is None:
        raise OrderError(404, f"No customer {customer_id}.")
    return customer


def _interactions(
    session: Session, visitors: list[str], origin_ids: set[uuid.UUID], limit: int
) -> tuple[list[Interaction], bool]:
    """The visitors' newest ``limit`` interactions, plus every named origin."""
    found: dict[uuid.UUID, Interaction] = {}
    truncated = False
    if visitors:
        rows: list[Interaction] = []
        for chunk in _chunks(visitors):
            rows.extend(
                session.scalars(
                    select(Interaction)
                    .where(Interaction.visitor_id.in_(chunk))
                    .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
                    .limit(limit + 1)
                )
            )
        rows.sort(key=lambda r: (r.occurred_at, r.id), reverse=True)
        truncated = len(rows) > limit
        found.update((r.id, r) for r in rows[:limit])
    missing = sorted(origin_ids - found.keys())
    for chunk in _chunks(missing):
        found.update(
            (r.id, r) for r in session.scalars(select(Interaction).where(Interaction.id.in_(chunk)))
        )
    return list(found.values()), truncated


def _labels(session: Session, entries: list[Entry]) -> None:
    """Fill each entry's post slug and link code (two queries)."""
    post_ids = sorted({e.post_id for e in entries if e.post_id})
    link_ids = sorted({e.link_id for e in entries if e.link_id})
    slugs: dict[int, str] = {}
    codes: dict[int, str] = {}
    for chunk in _chunks(post_ids):
        rows = session.execute(select(Post.id, Post.slug).where(Post.id.in_(chunk)))
        slugs.update((row[0], row[1]) for row in rows)
    for chunk in _chunks(link_ids):
        rows = session.execute(
            select(TrackedLink.id, TrackedLink.code).where(TrackedLink.id.in_(chunk))
        )
        codes.update((row[0], row[1]) for row in rows)
    for entry in entries:
        entry.post_slug = slugs.get(entry.post_id) if entry.post_id else None
        entry.link_code = codes.get(entry.link_id) if entry.link_id else None


def _interaction_entry(row: Interaction) -> Entry:
    detail: dict[str, Any] = {}
    for name in ("utm_source", "utm_medium", "utm_campaign", "partner", "referrer"):
        value = getattr(row, name)
        if value:
            detail[name] = value
    if row.kind == "comment":
        text = (row.detail or {}).get("text")
        if isinstance(text, str) and text:
            detail["text"] = text[:280]
    return Entry(
        at=row.occurred_at,
        kind=row.kind,
        visitor_id=row.visitor_id,
        device=row.ua_class or "",
        channel=row.channel,
        post_id=row.post_id,
        link_id=row.link_id,
        ref=row.id,
        detail=detail,
    )


def timeline(session: Session, customer_id: int, *, limit: int = DEFAULT_LIMIT) -> Timeline:
    """Everything one customer did, across channels and devices, oldest first."""
    customer = get_customer(session, customer_id)
    visitors = set(
        session.scalars(
            select(CustomerVisitor.visitor_id).where(CustomerVisitor.customer_id == customer.id)
        )
    )
    orders = list(
        session.scalars(
            select(Order).where(Order.customer_id == customer.id).order_by(Order.created_at)
        )
    )
    visitors.update(o.visitor_id for o in orders if o.visitor_id)
    visitor_list = sorted(visitors)

    checkout_filters = []
    checkout_ids = [o.checkout_id for o in orders if o.checkout_id]
    if checkout_ids:
        checkout_filters.append(Checkout.id.in_(checkout_ids))
    if visitor_list:
        checkout_filters.append(Checkout.visitor_id.in_(visitor_list))
    if customer.email:
        checkout_filters.append(Checkout.email == customer.email)
    checkouts = (
        list(session.scalars(select(Checkout).where(or_(*checkout_filters))))
        if checkout_filters
        else []
    )

    origin_ids = {o.origin_interaction_id for o in orders if o.origin_interaction_id}
    origin_ids.update(c.origin_interaction_id for c in checkouts if c.origin_interaction_id)
    interactions, truncated = _interactions(session, visitor_list, origin_ids, limit)
    started = {c.interaction_id: c for c in checkouts if c.interaction_id}
    by_id = {i.id: i for i in interactions}

    entries = [_interaction_entry(i) for i in interactions if i.id not in started]
    for checkout in checkouts:
        own = by_id.get(checkout.interaction_id) if checkout.interaction_id else None
        entries.append(
            Entry(
                at=checkout.created_at,
                kind="checkout",
                visitor_id=checkout.visitor_id,
                device=own.ua_class if own is not None else "",
                channel=checkout.channel,
                post_id=checkout.post_id,
                link_id=checkout.link_id,
                ref=checkout.id,
                status=checkout.status,
                amount=checkout.subtotal_amount,
                currency=checkout.currency,
                detail={"lines": sum(line.quantity for line in checkout.lines)},
            )
        )
    net: dict[str, int] = {}
    paid = 0
    for order in orders:
        entries.append(
            Entry(
                at=order.paid_at or order.created_at,
                kind="order",
                visitor_id=order.visitor_id,
                channel=order.channel,
                post_id=order.post_id,
                link_id=order.link_id,
                ref=order.id,
                status=order.status,
                amount=order.total_amount,
                currency=order.currency,
                detail={
                    "items": [f"{line.quantity} \u00d7 {line.title}" for line in order.lines],
                    "refunded_amount": order.refunded_amount,
                },
            )
        )
        if order.status == "paid":
            paid += 1
            net[order.currency] = net.get(order.currency, 0) + order.net_amount
        if order.fulfilled_at is not None:
            entries.append(
                Entry(
                    at=order.fulfilled_at,
                    kind="fulfilled",
                    ref=order.id,
                    detail={"carrier": order.carrier, "tracking_number": order.tracking_number},
                )
            )
    currency = {o.id: o.currency for o in orders}
    for chunk in _chunks(list(currency)):
        for event in session.scalars(
            select(OrderEvent).where(
                OrderEvent.order_id.in_(chunk), OrderEvent.kind.in_(("refunded", "dispute"))
            )
        ):
            detail = event.detail or {}
            entries.append(
                Entry(
                    at=event.at,
                    kind="refund" if event.kind == "refunded" else "dispute",
                    ref=event.order_id,
                    status=str(detail.get("status") or ""),
                    amount=detail.get("amount"),
                    currency=currency[event.order_id],
                )
            )
    _labels(session, entries)
    entries.sort(key=lambda e: (e.at, _RANK.get(e.kind, 9), str(e.ref)))
    return Timeline(
        customer=customer,
        visitors=visitor_list,
        entries=entries,
        truncated=truncated,
        orders=paid,
        net_amount_by_currency=net,
    )
