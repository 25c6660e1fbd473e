"""POST /shop/webhooks/stripe at the HTTP level, on SQLite and PostgreSQL.

Events are signed as Stripe signs them (the emulator's ``signed_event``) and posted with
the Flask test client; the ones the emulator makes itself (a shopper paying on its
page) are posted byte for byte as it would deliver them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flask_shoppable import signals
from flask_shoppable.checkout.models import Checkout
from flask_shoppable.db import utcnow
from flask_shoppable.orders import processing
from flask_shoppable.orders.models import (
    Customer,
    CustomerVisitor,
    Dispute,
    Order,
    OrderCredit,
    OrderEvent,
    WebhookEvent,
    WebhookRejection,
)
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.tracking.models import Interaction, new_id
from flask_shoppable.worker import Worker

from .checkout_helpers import stock, variant
from .order_helpers import (
    WEBHOOK,
    charge_object,
    events,
    open_checkout,
    order_of,
    post_emulator_event,
    post_event,
    provider_session,
    session_object,
)

VISITOR = "a" * 32


@pytest.fixture
def received(app: Flask) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Signals the app sent: (name, keyword arguments)."""
    got: list[tuple[str, dict[str, Any]]] = []

    def on_paid(sender: Flask, **kwargs: Any) -> None:
        got.append(("order_paid", kwargs))

    def on_refunded(sender: Flask, **kwargs: Any) -> None:
        got.append(("order_refunded", kwargs))

    with (
        signals.order_paid.connected_to(on_paid, sender=app),
        signals.order_refunded.connected_to(on_refunded, sender=app),
    ):
        yield got


def _checkout(session: Session, quantity: int = 2, **kwargs: Any) -> Checkout:
    return open_checkout(
        session, [(variant(session, "tee", price=2500, stock=5), quantity)], **kwargs
    )


def _run_worker(app: Flask, hours: float = 24) -> dict[str, int]:
    """One worker pass with the clock moved on, so every scheduled retry is due."""
    return Worker(app).run_once(now=utcnow() + timedelta(hours=hours))


# -- checkout.session.* ------------------------------------------------------------------


def test_paid_session_makes_a_paid_order(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    received: list[tuple[str, dict[str, Any]]],
) -> None:
    click = new_id()
    session.add(
        Interaction(
            id=click,
            kind="click",
            visitor_id=VISITOR,
            channel="instagram",
            utm_source="instagram",
            utm_campaign="spring",
            occurred_at=utcnow() - timedelta(days=2),
        )
    )
    session.commit()
    origin = new_id()  # a buffered click, not written yet
    checkout = _checkout(session, visitor_id=VISITOR, origin_id=origin, channel="tiktok")
    obj = session_object(
        checkout,
        amount_total=5600,
        total_details={"amount_discount": 0, "amount_shipping": 500, "amount_tax": 100},
        collected_information={
            "shipping_details": {
                "name": "Sam Shopper",
                "address": {"line1": "1 Main St", "city": "Springfield", "country": "US"},
            }
        },
    )
    response = post_event(client, emulator, "checkout.session.completed", obj)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "processed"

    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"
    assert order.paid_at is not None
    assert (order.currency, order.subtotal_amount, order.total_amount) == ("USD", 5000, 5600)
    assert (order.shipping_amount, order.tax_amount, order.discount_amount) == (500, 100, 0)
    assert [(line.title, line.unit_amount, line.quantity) for line in order.lines] == [
        ("Tee", 2500, 2)
    ]
    assert order.email == "shopper@example.com"
    assert order.shipping_name == "Sam Shopper"
    assert order.shipping_address == {"line1": "1 Main St", "city": "Springfield", "country": "US"}
    assert order.provider_session_id == obj["id"]
    assert order.provider_payment_id == obj["payment_intent"]
    assert (order.origin_interaction_id, order.channel) == (origin, "tiktok")
    assert order.flagged_reason == ""

    customer = session.get(Customer, order.customer_id)
    assert customer is not None
    assert customer.email == "shopper@example.com"
    assert len(customer.email_hash) == 64
    link = session.get(CustomerVisitor, VISITOR)
    assert link is not None
    assert link.customer_id == customer.id

    credits = session.scalars(select(OrderCredit).where(OrderCredit.order_id == order.id)).all()
    by_model: dict[str, dict[Any, int]] = {}
    for row in credits:
        by_model.setdefault(row.model, {})[row.interaction_id] = row.amount
    assert by_model["last_touch"] == {origin: 5600}
    assert by_model["first_touch"] == {click: 5600}
    assert by_model["linear"] == {click: 2800, origin: 2800}
    assert set(by_model) == {"last_touch", "first_touch", "linear", "time_decay", "position_based"}
    assert all(sum(parts.values()) == 5600 for parts in by_model.values())
    # Each credit carries its touch's dimensions; the unwritten origin, the order's.
    dims = {
        (row.interaction_id, row.channel, row.post_id, row.link_id, row.campaign, row.partner)
        for row in credits
    }
    assert dims == {
        (click, "instagram", None, None, "spring", None),
        (origin, "tiktok", order.post_id, order.link_id, None, None),
    }

    assert session.get(Checkout, checkout.id).status == "completed"  # type: ignore[union-attr]
    history = session.scalars(select(OrderEvent.kind).where(OrderEvent.order_id == order.id)).all()
    assert history == ["paid"]
    assert [name for name, _ in received] == ["order_paid"]
    assert received[0][1]["order"].id == order.id


def test_emulator_payment_end_to_end_through_stripe_python(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    checkout = _checkout(session, visitor_id=VISITOR, email="buyer@example.com")
    session_id = provider_session(app, session, checkout)
    emulator.pay(session_id)
    event = emulator.last_event("checkout.session.completed")
    assert post_emulator_event(client, emulator, event).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"
    assert order.email == "buyer@example.com"
    assert order.total_amount == emulator.session(session_id)["amount_total"]
    assert order.provider_payment_id == emulator.session(session_id)["payment_intent"]


def test_no_payment_required_is_paid(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    checkout = _checkout(session)
    obj = session_object(checkout, payment_status="no_payment_required", payment_intent=None)
    assert post_event(client, emulator, "checkout.session.completed", obj).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"


def test_delayed_payment_pending_then_paid(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    received: list[tuple[str, dict[str, Any]]],
) -> None:
    checkout = _checkout(session)
    session_id = provider_session(app, session, checkout)
    emulator.pay(session_id, method="bank_transfer")
    completed = emulator.last_event("checkout.session.completed")
    assert post_emulator_event(client, emulator, completed).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "pending"
    assert order.paid_at is None
    assert session.scalar(select(func.count()).select_from(OrderCredit)) == 0
    assert received == []

    emulator.settle(session_id, succeeded=True)
    settled = emulator.last_event("checkout.session.async_payment_succeeded")
    assert post_emulator_event(client, emulator, settled).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"
    assert order.paid_at is not None
    assert [name for name, _ in received] == ["order_paid"]
    kinds = session.scalars(
        select(OrderEvent.kind).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
    ).all()
    assert kinds == ["pending", "paid"]


def test_delayed_payment_failure_releases_the_stock(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    checkout = _checkout(session, quantity=3)
    variant_id = checkout.lines[0].variant_id
    assert stock(session, variant_id) == 2
    session_id = provider_session(app, session, checkout)
    emulator.pay(session_id, method="bank_transfer")
    post_emulator_event(client, emulator, emulator.last_event("checkout.session.completed"))
    emulator.settle(session_id, succeeded=False)
    failed = emulator.last_event("checkout.session.async_payment_failed")
    assert post_emulator_event(client, emulator, failed).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "payment_failed"
    assert stock(session, variant_id) == 5
    # A duplicate of the failure gives nothing back twice.
    assert post_emulator_event(client, emulator, failed).get_json()["status"] == "duplicate"
    assert stock(session, variant_id) == 5


def test_expired_session_releases_the_stock_once(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    checkout = _checkout(session, quantity=4)
    variant_id = checkout.lines[0].variant_id
    session_id = provider_session(app, session, checkout)
    emulator.expire(session_id)
    expired = emulator.last_event("checkout.session.expired")
    assert post_emulator_event(client, emulator, expired).status_code == 200
    assert stock(session, variant_id) == 5
    session.expire_all()
    assert session.get(Checkout, checkout.id).status == "expired"  # type: ignore[union-attr]
    again = emulator.signed_event("checkout.session.expired", expired["data"]["object"])
    client.post(WEBHOOK, data=again[0], headers={"Stripe-Signature": again[1]})
    assert stock(session, variant_id) == 5
    assert order_of(session, checkout) is None


# -- charges -----------------------------------------------------------------------------


def _paid(client: FlaskClient, emulator: StripeEmulator, session: Session) -> Order:
    checkout = _checkout(session)
    obj = session_object(checkout)
    post_event(client, emulator, "checkout.session.completed", obj)
    order = order_of(session, checkout)
    assert order is not None
    return order


def test_partial_then_full_refund(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    received: list[tuple[str, dict[str, Any]]],
) -> None:
    order = _paid(client, emulator, session)
    pi = order.provider_payment_id
    assert pi is not None
    assert (
        post_event(client, emulator, "charge.refunded", charge_object(pi, 5000, 1500)).status_code
        == 200
    )
    session.refresh(order)
    assert order.refunded_amount == 1500
    assert order.net_amount == 3500
    post_event(client, emulator, "charge.refunded", charge_object(pi, 5000, 5000))
    session.refresh(order)
    assert order.refunded_amount == 5000
    assert order.net_amount == 0
    refunds = [kw["amount"] for name, kw in received if name == "order_refunded"]
    assert refunds == [1500, 3500]


def test_refund_duplicates_and_reordering_converge(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    order = _paid(client, emulator, session)
    pi = order.provider_payment_id
    assert pi is not None
    # The later, cumulative event arrives first; the earlier one and a duplicate after.
    post_event(client, emulator, "charge.refunded", charge_object(pi, 5000, 3000), event_id="evt_b")
    post_event(client, emulator, "charge.refunded", charge_object(pi, 5000, 1000), event_id="evt_a")
    dup = post_event(
        client, emulator, "charge.refunded", charge_object(pi, 5000, 3000), event_id="evt_b"
    )
    assert dup.get_json()["status"] == "duplicate"
    session.refresh(order)
    assert order.refunded_amount == 3000


def test_refund_beyond_the_total_is_capped_and_flagged(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    order = _paid(client, emulator, session)
    assert order.provider_payment_id is not None
    charge = charge_object(order.provider_payment_id, 9000, 9000)
    assert post_event(client, emulator, "charge.refunded", charge).status_code == 200
    session.refresh(order)
    assert order.refunded_amount == order.total_amount == 5000
    assert "exceeds the order total" in order.flagged_reason


def test_dispute_created_then_closed(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    checkout = _checkout(session)
    session_id = provider_session(app, session, checkout)
    emulator.pay(session_id)
    post_emulator_event(client, emulator, emulator.last_event("checkout.session.completed"))
    pi = emulator.session(session_id)["payment_intent"]
    dispute = emulator.dispute(pi)
    created = emulator.last_event("charge.dispute.created")
    assert post_emulator_event(client, emulator, created).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.dispute_status == "needs_response"
    emulator.close_dispute(dispute["id"], won=True)
    closed = emulator.last_event("charge.dispute.closed")
    assert post_emulator_event(client, emulator, closed).status_code == 200
    # A late duplicate of the creation (another id, as a retry after a resend) changes nothing.
    late = emulator.signed_event("charge.dispute.created", created["data"]["object"])
    client.post(WEBHOOK, data=late[0], headers={"Stripe-Signature": late[1]})
    order = order_of(session, checkout)
    assert order is not None
    assert order.dispute_status == "won"
    row = session.scalars(select(Dispute)).one()
    assert (row.status, row.amount, row.reason) == ("won", order.total_amount, "fraudulent")


# -- out of order --------------------------------------------------------------------------


def test_refund_before_the_completion_is_deferred_then_applied(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    received: list[tuple[str, dict[str, Any]]],
) -> None:
    checkout = _checkout(session)
    obj = session_object(checkout)
    pi = obj["payment_intent"]
    refund = charge_object(pi, 5000, 2000, metadata={"shoppable_checkout_id": str(checkout.id)})
    early = post_event(client, emulator, "charge.refunded", refund)
    assert early.status_code == 202
    assert early.get_json()["status"] == "deferred"
    (stored,) = events(session)
    assert (stored.status, stored.waiting_for) == ("deferred", pi)

    # The completion arrives: the waiting refund is applied in the same request.
    assert post_event(client, emulator, "checkout.session.completed", obj).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.refunded_amount == 2000
    assert [e.status for e in events(session)] == ["processed", "processed"]
    assert [name for name, _ in received] == ["order_paid", "order_refunded"]


def test_deferred_event_is_retried_by_the_worker(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    checkout = _checkout(session)
    obj = session_object(checkout)
    refund = charge_object(obj["payment_intent"], 5000, 5000)
    post_event(client, emulator, "charge.refunded", refund)
    # The completion is processed by another route (here: straight into the database,
    # as if the nudge had been skipped because the row was locked at that moment).
    with app.app_context():
        session.execute(WebhookEvent.__table__.update().values(waiting_for="something-else"))
        session.commit()
    post_event(client, emulator, "checkout.session.completed", obj)
    order = order_of(session, checkout)
    assert order is not None
    assert order.refunded_amount == 0
    assert _run_worker(app)["webhooks"] == 1
    session.refresh(order)
    assert order.refunded_amount == 5000


def test_async_success_before_the_completion(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    checkout = _checkout(session)
    unpaid = session_object(checkout, payment_status="unpaid")
    paid = dict(unpaid, payment_status="paid")
    post_event(client, emulator, "checkout.session.async_payment_succeeded", paid)
    post_event(client, emulator, "checkout.session.completed", unpaid)
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"
    session.expire_all()
    assert session.get(Checkout, checkout.id).status == "completed"  # type: ignore[union-attr]


def test_async_failure_before_the_completion_keeps_the_stock_released(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    checkout = _checkout(session, quantity=3)
    variant_id = checkout.lines[0].variant_id
    unpaid = session_object(checkout, payment_status="unpaid")
    post_event(client, emulator, "checkout.session.async_payment_failed", unpaid)
    post_event(client, emulator, "checkout.session.completed", unpaid)
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "payment_failed"
    assert stock(session, variant_id) == 5


# -- what is not ours, or not right ------------------------------------------------------


def test_amount_mismatch_is_flagged_not_ignored(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    checkout = _checkout(session)
    obj = session_object(checkout, amount_subtotal=100, amount_total=100)
    with caplog.at_level(logging.WARNING, logger="flask_shoppable.orders"):
        response = post_event(client, emulator, "checkout.session.completed", obj)
    assert response.status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"
    assert order.total_amount == 100
    assert "amount_subtotal 100 in the event, 5000 in the checkout" in order.flagged_reason
    kinds = session.scalars(select(OrderEvent.kind).where(OrderEvent.order_id == order.id)).all()
    assert "flagged" in kinds
    assert any("flagged" in r.getMessage() for r in caplog.records)


def test_currency_mismatch_is_flagged(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    checkout = _checkout(session)
    obj = session_object(checkout, currency="eur")
    post_event(client, emulator, "checkout.session.completed", obj)
    order = order_of(session, checkout)
    assert order is not None
    assert order.currency == "EUR"
    assert "currency EUR in the event, USD in checkout" in order.flagged_reason


@pytest.mark.parametrize(
    "metadata",
    [{}, {"shoppable_checkout_id": "999999"}, {"shoppable_checkout_id": "nope"}],
    ids=["no-metadata", "unknown-checkout", "not-an-id"],
)
def test_sessions_that_are_not_ours_are_ignored(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    caplog: pytest.LogCaptureFixture,
    metadata: dict[str, str],
) -> None:
    checkout = _checkout(session)
    obj = session_object(checkout, metadata=metadata)
    with caplog.at_level(logging.INFO, logger="flask_shoppable.webhooks"):
        response = post_event(client, emulator, "checkout.session.completed", obj)
    assert response.status_code == 200
    assert response.get_json()["status"] == "ignored"
    assert order_of(session, checkout) is None
    (stored,) = events(session)
    assert stored.status == "ignored"
    assert stored.reason
    assert any("ignored" in r.getMessage() for r in caplog.records)


def test_charge_of_another_integration_is_ignored(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    charge = charge_object("pi_elsewhere", 1000, 1000, metadata={})
    response = post_event(client, emulator, "charge.refunded", charge)
    assert (response.status_code, response.get_json()["status"]) == (200, "ignored")


def test_unknown_event_types_are_stored_and_acknowledged(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    response = post_event(
        client, emulator, "customer.created", {"id": "cus_1", "object": "customer"}
    )
    assert response.status_code == 200
    (stored,) = events(session)
    assert (stored.type, stored.status) == ("customer.created", "ignored")
    assert json.loads(stored.payload)["data"]["object"]["id"] == "cus_1"


def test_duplicate_delivery_is_a_no_op(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    received: list[tuple[str, dict[str, Any]]],
) -> None:
    checkout = _checkout(session)
    obj = session_object(checkout)
    first = post_event(client, emulator, "checkout.session.completed", obj, event_id="evt_same")
    second = post_event(client, emulator, "checkout.session.completed", obj, event_id="evt_same")
    assert first.get_json()["status"] == "processed"
    assert (second.status_code, second.get_json()["status"]) == (200, "duplicate")
    assert session.scalar(select(func.count()).select_from(Order)) == 1
    assert len(received) == 1
    (stored,) = events(session)
    assert stored.attempts == 1


# -- refused deliveries ------------------------------------------------------------------


def _rejections(session: Session) -> dict[str, int]:
    session.expire_all()
    return {r.reason: r.count for r in session.scalars(select(WebhookRejection))}


def test_forged_signature(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload, header = emulator.signed_event(
        "checkout.session.completed", {"id": "cs_x"}, secret="whsec_not_the_right_one"
    )
    with caplog.at_level(logging.WARNING, logger="flask_shoppable.webhooks"):
        response = client.post(WEBHOOK, data=payload, headers={"Stripe-Signature": header})
    assert response.status_code == 400
    body = response.get_json()
    assert body["reason"] == "signature mismatch"
    assert "SHOPPABLE_STRIPE_WEBHOOK_SECRET" in body["message"]
    assert events(session) == []
    assert _rejections(session) == {"signature mismatch": 1}
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "signature mismatch" in logged
    assert emulator.webhook_secret not in logged
    assert "cs_x" not in logged


def test_stale_timestamp(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    stale = int(utcnow().timestamp()) - 301
    payload, header = emulator.signed_event("charge.refunded", {"id": "ch_1"}, timestamp=stale)
    response = client.post(WEBHOOK, data=payload, headers={"Stripe-Signature": header})
    assert (response.status_code, response.get_json()["reason"]) == (
        400,
        "timestamp outside tolerance",
    )
    assert _rejections(session) == {"timestamp outside tolerance": 1}


def test_missing_and_malformed_headers(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    payload, _header = emulator.signed_event("charge.refunded", {"id": "ch_1"})
    missing = client.post(WEBHOOK, data=payload)
    assert (missing.status_code, missing.get_json()["reason"]) == (400, "missing header")
    garbled = client.post(WEBHOOK, data=payload, headers={"Stripe-Signature": "nonsense"})
    assert (garbled.status_code, garbled.get_json()["reason"]) == (400, "malformed header")
    assert _rejections(session) == {"missing header": 1, "malformed header": 1}
    assert events(session) == []


def test_malformed_json_with_a_valid_signature(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    from flask_shoppable.payments.signature import sign_header

    for body in (b"{not json", b"[1, 2]", b'{"id": "evt_1", "type": "x"}'):
        header = sign_header(emulator.webhook_secret, body)
        response = client.post(WEBHOOK, data=body, headers={"Stripe-Signature": header})
        assert response.status_code == 400
        assert response.get_json()["reason"] == "malformed event"
    assert _rejections(session) == {"malformed event": 3}
    assert events(session) == []


def test_two_megabyte_body(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    payload, header = emulator.signed_event(
        "checkout.session.completed", {"id": "cs_big", "padding": "x" * (2 * 1024 * 1024)}
    )
    response = client.post(WEBHOOK, data=payload, headers={"Stripe-Signature": header})
    assert response.status_code == 413
    assert response.get_json()["reason"] == "body too large"
    assert _rejections(session) == {"body too large": 1}
    assert events(session) == []


def test_webhook_needs_no_api_key_and_takes_only_post(app: Flask, client: FlaskClient) -> None:
    assert client.get(WEBHOOK).status_code == 405


# -- failures --------------------------------------------------------------------------------


def test_processing_failure_is_stored_answered_500_and_retried(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkout = _checkout(session)
    obj = session_object(checkout)
    real = processing.HANDLERS["checkout.session.completed"]

    def broken(ctx: processing.Context, data: dict[str, Any]) -> None:
        real(ctx, data)  # writes, then fails: none of it may stay
        raise RuntimeError("the database hiccuped")

    monkeypatch.setitem(processing.HANDLERS, "checkout.session.completed", broken)
    response = post_event(client, emulator, "checkout.session.completed", obj)
    assert response.status_code == 500
    assert response.get_json()["status"] == "failed"
    assert "hiccuped" not in response.get_data(as_text=True)
    (stored,) = events(session)
    assert stored.status == "failed"
    assert stored.attempts == 1
    assert "RuntimeError: the database hiccuped" in stored.last_error
    assert stored.next_attempt_at is not None
    wait = stored.next_attempt_at - utcnow()
    assert timedelta(seconds=10) < wait <= timedelta(seconds=30)
    assert order_of(session, checkout) is None
    session.expire_all()
    assert session.get(Checkout, checkout.id).status == "open"  # type: ignore[union-attr]

    # Not due yet: the worker leaves it. Then the fault is gone and the retry succeeds.
    assert Worker(app).run_once()["webhooks"] == 0
    monkeypatch.setitem(processing.HANDLERS, "checkout.session.completed", real)
    assert _run_worker(app)["webhooks"] == 1
    (stored,) = events(session)
    assert (stored.status, stored.attempts) == ("processed", 2)
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"


def test_provider_retry_of_a_failed_event_processes_it(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkout = _checkout(session)
    obj = session_object(checkout)
    real = processing.HANDLERS["checkout.session.completed"]

    def broken(ctx: processing.Context, data: dict[str, Any]) -> None:
        raise RuntimeError("down")

    monkeypatch.setitem(processing.HANDLERS, "checkout.session.completed", broken)
    assert (
        post_event(
            client, emulator, "checkout.session.completed", obj, event_id="evt_r"
        ).status_code
        == 500
    )
    monkeypatch.setitem(processing.HANDLERS, "checkout.session.completed", real)
    again = post_event(client, emulator, "checkout.session.completed", obj, event_id="evt_r")
    assert (again.status_code, again.get_json()["status"]) == (200, "processed")
    assert order_of(session, checkout) is not None


def test_a_listener_that_raises_does_not_undo_the_order(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(sender: Flask, **kwargs: Any) -> None:
        raise ValueError("listener bug")

    checkout = _checkout(session)
    with signals.order_paid.connected_to(explode, sender=app):
        response = post_event(
            client, emulator, "checkout.session.completed", session_object(checkout)
        )
    assert response.status_code == 200
    assert order_of(session, checkout) is not None
    assert any("listener" in r.getMessage() or r.exc_info for r in caplog.records)


# -- shuffled deliveries of one purchase ---------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_shuffled_purchase_events_converge(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, seed: int
) -> None:
    """Every event of a delayed payment, refunded and disputed, in a random order (with
    duplicates), ends in the one right state once the worker has run."""
    import random

    rng = random.Random(seed)
    checkout = _checkout(session, quantity=3)
    variant_id = checkout.lines[0].variant_id
    unpaid = session_object(checkout, payment_status="unpaid")
    paid = dict(unpaid, payment_status="paid")
    pi = unpaid["payment_intent"]
    meta = {"shoppable_checkout_id": str(checkout.id)}
    dispute = {
        "id": f"dp_{seed}",
        "object": "dispute",
        "amount": 7500,
        "currency": "usd",
        "payment_intent": pi,
        "reason": "fraudulent",
    }
    plan = [
        ("checkout.session.completed", unpaid),
        ("checkout.session.async_payment_succeeded", paid),
        ("charge.refunded", charge_object(pi, 7500, 2000, metadata=meta)),
        ("charge.refunded", charge_object(pi, 7500, 3500, metadata=meta)),
        ("charge.dispute.created", dict(dispute, status="needs_response")),
        ("charge.dispute.closed", dict(dispute, status="lost")),
    ]
    deliveries = [(f"evt_{seed}_{i}", t, o) for i, (t, o) in enumerate(plan)]
    deliveries += rng.sample(deliveries, 3)
    rng.shuffle(deliveries)
    for event_id, type_, obj in deliveries:
        response = post_event(client, emulator, type_, obj, event_id=event_id)
        assert response.status_code in (200, 202), response.get_json()
    _run_worker(app)

    order = order_of(session, checkout)
    assert order is not None
    assert (order.status, order.total_amount, order.refunded_amount) == ("paid", 7500, 3500)
    assert order.dispute_status == "lost"
    assert {e.status for e in events(session)} == {"processed"}
    assert stock(session, variant_id) == 2
    session.expire_all()
    assert session.get(Checkout, checkout.id).status == "completed"  # type: ignore[union-attr]
    credited = session.scalars(
        select(func.sum(OrderCredit.amount)).where(OrderCredit.model == "last_touch")
    ).one()
    assert credited in (None, 7500)


def test_touches_join_the_customer_across_devices(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    """A second purchase from another browser credits the first browser's click too."""
    phone, laptop = "1" * 32, "2" * 32
    first = _checkout(session, quantity=1, visitor_id=phone)
    post_event(client, emulator, "checkout.session.completed", session_object(first))
    click = new_id()
    session.add(
        Interaction(
            id=click,
            kind="click",
            visitor_id=phone,
            channel="tiktok",
            occurred_at=utcnow() - timedelta(hours=2),
        )
    )
    session.commit()
    second = open_checkout(
        session, [(variant(session, "cap", price=1500, stock=2), 1)], visitor_id=laptop
    )
    post_event(client, emulator, "checkout.session.completed", session_object(second))
    order = order_of(session, second)
    assert order is not None
    credits = session.scalars(
        select(OrderCredit).where(
            OrderCredit.order_id == order.id, OrderCredit.model == "last_touch"
        )
    ).all()
    assert [(c.interaction_id, c.amount) for c in credits] == [(click, 1500)]
    links = {v.visitor_id: v.customer_id for v in session.scalars(select(CustomerVisitor))}
    assert links == {phone: order.customer_id, laptop: order.customer_id}


def test_payment_after_the_stock_was_released_and_sold_is_flagged_oversold(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    from flask_shoppable.checkout import service as checkout_service

    item = variant(session, "last-ones", price=1000, stock=5)
    late = open_checkout(session, [(item, 3)])
    checkout_service.release(session, late, checkout_service.EXPIRED)
    session.commit()
    open_checkout(session, [(item, 4)])  # someone else takes what came back
    assert stock(session, item.id) == 1

    response = post_event(client, emulator, "checkout.session.completed", session_object(late))
    assert response.status_code == 200
    order = order_of(session, late)
    assert order is not None
    assert order.status == "paid"
    assert "oversold: the stock of 3 of variant" in order.flagged_reason
    kinds = session.scalars(select(OrderEvent.kind).where(OrderEvent.order_id == order.id)).all()
    assert kinds == ["paid", "flagged"]
    assert stock(session, item.id) == 1
