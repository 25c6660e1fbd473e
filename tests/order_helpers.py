"""Arranging checkouts and posting provider events for the webhook and order tests.

Checkouts are opened through the checkout service (stock really held); sessions are
either opened on the emulator through the app's provider (the real stripe-python
client) and paid there, or made up as Stripe would send them (:func:`session_object`)
for the cases the emulator would never produce (a tampered amount, say).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from flask_shoppable.catalog.models import Variant
from flask_shoppable.checkout import cart as cart_module
from flask_shoppable.checkout import provider_request
from flask_shoppable.checkout import service as checkout_service
from flask_shoppable.checkout.models import Checkout
from flask_shoppable.db import utcnow
from flask_shoppable.orders.models import Order, WebhookEvent
from flask_shoppable.testing import StripeEmulator

WEBHOOK = "/shop/webhooks/stripe"


def open_checkout(
    session: Session,
    lines: Sequence[tuple[Variant, int]],
    *,
    visitor_id: str | None = None,
    origin_id: uuid.UUID | None = None,
    channel: str | None = None,
    post_id: int | None = None,
    link_id: int | None = None,
    email: str = "",
) -> Checkout:
    """A checkout for ``lines`` with its stock held (committed)."""
    cart = cart_module.price(
        session, [cart_module.LineRequest(v.id, q) for v, q in lines], maximum=100
    )
    return checkout_service.open_checkout(
        session,
        cart,
        checkout_service.CheckoutDetails(
            origin_interaction_id=origin_id,
            visitor_id=visitor_id,
            post_id=post_id,
            link_id=link_id,
            channel=channel,
            email=email,
        ),
        expires_at=utcnow() + timedelta(hours=1),
    )


def provider_session(app: Flask, session: Session, checkout: Checkout) -> str:
    """Open the checkout's session on the emulator through the app's provider; its id."""
    request = provider_request.build(
        checkout,
        app.config,
        success_url="http://shop.test/shop/checkout/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://shop.test/shop/checkout/cancel",
        expires_at=utcnow() + timedelta(hours=1),
        promotion_code=None,
        idempotency_key=f"test-checkout-{checkout.id}-{secrets.token_hex(4)}",
    )
    created = app.extensions["shoppable"].payments.create_session(request)
    checkout_service.attach_session(session, checkout, created)
    return created.id


def session_object(checkout: Checkout, **overrides: Any) -> dict[str, Any]:
    """A completed Checkout Session for ``checkout`` as Stripe sends it in an event."""
    session_id = checkout.provider_session_id or f"cs_test_{secrets.token_hex(12)}"
    obj: dict[str, Any] = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": checkout.subtotal_amount,
        "amount_total": checkout.subtotal_amount,
        "currency": checkout.currency.lower(),
        "client_reference_id": str(checkout.id),
        "customer_details": {"email": "Shopper@Example.com ", "name": "Sam Shopper"},
        "customer_email": None,
        "metadata": provider_request.metadata(checkout),
        "mode": "payment",
        "payment_intent": f"pi_{secrets.token_hex(12)}",
        "payment_status": "paid",
        "status": "complete",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
    }
    obj.update(overrides)
    return obj


def charge_object(payment_intent: str, amount: int, refunded: int, **extra: Any) -> dict[str, Any]:
    """A charge as ``charge.refunded`` carries it (cumulative ``amount_refunded``)."""
    obj: dict[str, Any] = {
        "id": extra.pop("charge_id", f"ch_{payment_intent[3:]}"),
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "currency": "usd",
        "payment_intent": payment_intent,
        "refunded": refunded == amount,
        "metadata": {"shoppable_checkout_id": "1"},
        "status": "succeeded",
    }
    obj.update(extra)
    return obj


def post_event(
    client: FlaskClient,
    emulator: StripeEmulator,
    type: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
) -> TestResponse:
    """Sign an event as Stripe would and post it to the app's endpoint."""
    payload, header = emulator.signed_event(type, obj, event_id=event_id)
    return client.post(
        WEBHOOK, data=payload, headers={"Stripe-Signature": header}, content_type="application/json"
    )


def post_emulator_event(
    client: FlaskClient, emulator: StripeEmulator, event: dict[str, Any]
) -> TestResponse:
    """Post an event the emulator made, byte for byte as it would deliver it."""
    payload, header = emulator.event_payload(event["id"])
    return client.post(
        WEBHOOK, data=payload, headers={"Stripe-Signature": header}, content_type="application/json"
    )


def order_of(session: Session, checkout: Checkout) -> Order | None:
    session.expire_all()
    return session.scalars(select(Order).where(Order.checkout_id == checkout.id)).first()


def events(session: Session) -> list[WebhookEvent]:
    session.expire_all()
    return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))
