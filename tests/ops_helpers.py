"""Paid orders for the fulfilment, export, customer and admin order tests.

:func:`paid_order` goes the whole way: a checkout with stock held, its session opened on
the emulator through stripe-python, paid there with a card and an address, and the
emulator's ``checkout.session.completed`` posted to the app's webhook endpoint, signed.
:func:`webhook_order` is quicker: the same checkout, with a completed session made up as
Stripe sends it (no emulator session), for the tests that need many orders.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from flask_shoppable.catalog.models import Variant
from flask_shoppable.orders.models import Order
from flask_shoppable.social.models import Post, TrackedLink
from flask_shoppable.testing import Address, StripeEmulator

from .order_helpers import (
    open_checkout,
    order_of,
    post_emulator_event,
    post_event,
    provider_session,
    session_object,
)


def post_with_link(
    session: Session, slug: str, code: str, channel: str = "instagram", campaign: str = ""
) -> tuple[Post, TrackedLink]:
    """A published post and a tracked link of ``channel`` to it (committed)."""
    post = Post(slug=slug, caption=slug.replace("-", " ").capitalize(), image_url="",
                status="published")  # fmt: skip
    session.add(post)
    session.flush()
    link = TrackedLink(
        code=code,
        target="post",
        post_id=post.id,
        channel=channel,
        utm_source=channel,
        utm_medium="social",
        utm_campaign=campaign,
    )
    session.add(link)
    session.commit()
    return post, link


def paid_order(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    lines: list[tuple[Variant, int]],
    *,
    email: str = "buyer@example.com",
    name: str = "Test Shopper",
    address: Address | None = None,
    **checkout_kwargs: Any,
) -> Order:
    """A checkout paid on the emulator with a card, its completion posted: the order."""
    checkout = open_checkout(session, lines, **checkout_kwargs)
    session_id = provider_session(app, session, checkout)
    emulator.pay(session_id, email=email, name=name, address=address)
    event = emulator.wait_for_event("checkout.session.completed", id=session_id)
    assert post_emulator_event(client, emulator, event).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"
    return order


def webhook_order(
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    lines: list[tuple[Variant, int]],
    *,
    email: str = "buyer@example.com",
    name: str = "Test Shopper",
    address: dict[str, Any] | None = None,
    **checkout_kwargs: Any,
) -> Order:
    """A paid order from a made-up completed session posted to the webhook, signed."""
    checkout = open_checkout(session, lines, **checkout_kwargs)
    obj = session_object(
        checkout,
        customer_details={"email": email, "name": name},
        shipping_details={
            "name": name,
            "address": address
            or {"line1": "1 Test Street", "city": "Testville", "postal_code": "10001"},
        },
    )
    assert post_event(client, emulator, "checkout.session.completed", obj).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"
    return order
