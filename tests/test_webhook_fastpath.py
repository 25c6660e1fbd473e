"""The new-order fast path (orders/fastpath.py) writes what the general path writes.

Two equal purchases (same lines, a click of their own, a second device linked to the
same customer by an earlier purchase with a click of its own, an amount that does not
match, a refund that came first and waits): one goes through the fast path, the other
through the general path (the fast path's checkout read answering "nothing here"); the
rows they leave must be the same. And the fast path's round trips are counted, so a
change that adds some shows up in a test, not only in a benchmark.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from flask_shoppable.checkout.models import Checkout
from flask_shoppable.db import utcnow
from flask_shoppable.orders import fastpath
from flask_shoppable.orders.models import (
    CustomerVisitor,
    Order,
    OrderCredit,
    OrderEvent,
    OrderLine,
    WebhookEvent,
)
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.tracking.models import Interaction, new_id

from .checkout_helpers import variant
from .order_helpers import charge_object, open_checkout, post_event, session_object


def _click(session: Session, visitor: str, hours_ago: float, channel: str) -> Any:
    click = new_id()
    session.add(
        Interaction(
            id=click,
            kind="click",
            visitor_id=visitor,
            channel=channel,
            occurred_at=utcnow() - timedelta(hours=hours_ago),
        )
    )
    session.commit()
    return click


def _purchase(
    client: FlaskClient, session: Session, emulator: StripeEmulator, tag: str
) -> tuple[Checkout, dict[str, Any]]:
    """A returning customer's purchase on a new device, with a mismatched amount and a
    refund delivered before the completion; the checkout and the clicks, by role."""
    email = f"{tag}@example.com"
    phone, laptop = secrets.token_hex(16), secrets.token_hex(16)
    earlier = open_checkout(
        session, [(variant(session, f"cap-{tag}", price=900, stock=5), 1)], visitor_id=phone
    )
    post_event(
        client,
        emulator,
        "checkout.session.completed",
        session_object(earlier, customer_details={"email": email, "name": "Ana"}),
    )
    clicks = {
        "phone": _click(session, phone, 3, "tiktok"),
        "laptop": _click(session, laptop, 1, "instagram"),
    }
    checkout = open_checkout(
        session,
        [
            (variant(session, f"tee-{tag}", price=2500, stock=5), 2),
            (variant(session, f"hat-{tag}", price=1200, stock=5), 1),
        ],
        visitor_id=laptop,
        origin_id=clicks["laptop"],
        channel="instagram",
    )
    obj = session_object(
        checkout,
        customer_details={"email": email.upper(), "name": "Ana B"},
        amount_subtotal=checkout.subtotal_amount + 1,
        amount_total=checkout.subtotal_amount + 501,
        total_details={"amount_discount": 0, "amount_shipping": 500, "amount_tax": 0},
    )
    refund = charge_object(obj["payment_intent"], obj["amount_total"], 300)
    assert post_event(client, emulator, "charge.refunded", refund).status_code == 202
    answer = post_event(client, emulator, "checkout.session.completed", obj)
    assert answer.status_code == 200, answer.get_json()
    return checkout, clicks


def _rows(session: Session, checkout: Checkout, clicks: dict[str, Any]) -> dict[str, Any]:
    session.expire_all()
    order = session.scalars(select(Order).where(Order.checkout_id == checkout.id)).one()
    role = {value: name for name, value in clicks.items()}
    skip = {"id", "checkout_id", "customer_id", "email", "provider_session_id"}
    skip |= {"provider_payment_id", "origin_interaction_id", "visitor_id", "post_id", "link_id"}
    skip |= {"created_at", "updated_at", "paid_at"}
    columns = {c.key: getattr(order, c.key) for c in Order.__table__.columns if c.key not in skip}
    lines = session.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
    ).all()
    history = session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
    ).all()
    credits = session.scalars(
        select(OrderCredit).where(OrderCredit.order_id == order.id).order_by(OrderCredit.id)
    ).all()
    links = session.scalars(
        select(CustomerVisitor.visitor_id).where(CustomerVisitor.customer_id == order.customer_id)
    ).all()
    return {
        "order": columns,
        "paid": order.paid_at is not None,
        "email": order.email.split("@")[1],
        "lines": [(ln.unit_amount, ln.quantity) for ln in lines],
        "history": [
            (h.kind, {k: v for k, v in h.detail.items() if k != "charge"}) for h in history
        ],
        "credits": [
            (c.model, role[c.interaction_id], c.amount, round(c.share, 3), c.channel)
            for c in credits
        ],
        "checkout": session.get(Checkout, checkout.id).status,  # type: ignore[union-attr]
        "devices": len(links),
    }


def test_fast_and_general_paths_write_the_same_rows(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast_checkout, fast_clicks = _purchase(client, session, emulator, "fast")
    monkeypatch.setattr(fastpath, "lock_checkout", lambda *args, **kwargs: None)
    general_checkout, general_clicks = _purchase(client, session, emulator, "general")
    fast = _rows(session, fast_checkout, fast_clicks)
    general = _rows(session, general_checkout, general_clicks)
    assert fast == general
    # And what both wrote is right: paid, flagged, refunded once the order existed,
    # credited to both devices' clicks, the checkout completed.
    assert fast["order"]["status"] == "paid"
    assert "amount_subtotal" in fast["order"]["flagged_reason"]
    assert fast["order"]["refunded_amount"] == 300
    assert [kind for kind, _detail in fast["history"]] == ["paid", "flagged", "refunded"]
    assert {(model, role, channel) for model, role, _a, _s, channel in fast["credits"]} >= {
        ("last_touch", "laptop", "instagram"),
        ("first_touch", "phone", "tiktok"),
    }
    assert fast["checkout"] == "completed"
    assert fast["devices"] == 2
    assert len(fast["lines"]) == 2
    statuses = {e.status for e in session.scalars(select(WebhookEvent))}
    assert statuses == {"processed"}


def test_a_new_paid_order_costs_few_round_trips(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, backend: str
) -> None:
    """Statements, BEGIN/COMMIT and the pool's pre-ping of one new paid order."""
    checkout = open_checkout(
        session,
        [(variant(session, "tee", price=2500, stock=5), 2)],
        visitor_id="b" * 32,
        origin_id=_click(session, "b" * 32, 1, "instagram"),
        channel="instagram",
    )
    obj = session_object(checkout)
    # A first delivery (a type not handled) makes the thread's connection, as a running
    # server's first request does.
    assert post_event(client, emulator, "customer.created", {"id": "cus_1"}).status_code == 200
    engine = app.extensions["shoppable"].engine
    trips: list[str] = []

    def statement(_conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        trips.append(text.split()[0])

    def transaction(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            trips.append("BEGIN/COMMIT")

    def checkout_ping(*_args: Any) -> None:
        trips.append("ping")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "begin", transaction)
    event.listen(engine, "commit", transaction)
    event.listen(engine.pool, "checkout", checkout_ping)
    try:
        answer = post_event(client, emulator, "checkout.session.completed", obj)
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "begin", transaction)
        event.remove(engine, "commit", transaction)
        event.remove(engine.pool, "checkout", checkout_ping)
    assert answer.status_code == 200
    # PostgreSQL: store, BEGIN, claim, checkout, customer + touches, everything else,
    # COMMIT (the thread's held connection: no pool checkout, no pre-ping). SQLite: a
    # pooled connection's pre-ping, and a statement per table.
    limit = 7 if backend == "postgresql" else 15
    assert len(trips) <= limit, trips
