"""Order events into the outbox: one message per enabled CRM sink, in the order's transaction.

Idempotency keys are ``<order id>:<event>:<version>``: ``order.paid`` has version 1 (an
order is paid once), ``order.refunded`` the cumulative refunded amount (each refund
that changes the total is a new message; a duplicate webhook is not), ``order.disputed``
the dispute status. The receiver is given the same key on every attempt.
"""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy.orm import Session

from ..orders.models import Order
from .outbox import enqueue
from .payload import order_payload
from .sinks import crm_sinks

EVENTS = ("order.paid", "order.refunded", "order.disputed")


def enabled(app: Flask) -> bool:
    """Whether any CRM sink is configured (else nothing is written)."""
    return bool(app.config.get("SHOPPABLE_CRM_SINKS"))


def version_of(order: Order, event: str) -> str:
    if event == "order.paid":
        return "1"
    if event == "order.refunded":
        return str(order.refunded_amount)
    return str(order.dispute_status or "none")


def order_key(order_id: int, event: str, version: str) -> str:
    return f"{order_id}:{event}:{version}"


def enqueue_order_event(
    session: Session,
    order: Order,
    event: str,
    *,
    app: Flask | None = None,
    version: str | None = None,
) -> int:
    """Write ``event`` for ``order`` to every CRM sink that takes it; how many were new."""
    if event not in EVENTS:
        raise ValueError(f"unknown order event {event!r}: one of {', '.join(EVENTS)}")
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    sinks = [s for s in crm_sinks(app) if event in getattr(s, "events", EVENTS)]
    if not sinks:
        return 0
    key = order_key(order.id, event, version or version_of(order, event))
    payload = order_payload(session, order, event, app)
    return sum(
        enqueue(session, sink=s.name, event=event, key=key, payload=payload, order_id=order.id)
        for s in sinks
    )
