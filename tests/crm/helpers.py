"""A paid order made over the real paths, for the CRM sink tests, and running the outbox.

The shopper taps a tracked Instagram link carrying an fbclid and UTM fields, checks out
(JSON, with a browser's user agent and address), pays on the Stripe emulator, whose
signed webhook reaches the app: the order is paid and its outbox messages are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.checkout.models import Checkout
from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.db import utcnow
from flask_shoppable.orders.models import Order
from flask_shoppable.social.links import get_or_create_link
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.worker import Worker

from ..checkout_helpers import post, product

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Instagram 300.0"
SHOPPER_IP = "203.0.113.7"
FBCLID = "IwAR2xYzFakeClickId_123"


def paid_order(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    *,
    email: str = "Ana.Buyer@Example.com",
    name: str = "Ana Buyer",
    quantity: int = 2,
    privacy: dict[str, str] | None = None,
) -> Order:
    """An order paid through link → checkout → emulator → webhook; its outbox written."""
    handle = f"linen-{utcnow().timestamp():.6f}".replace(".", "-")
    item = product(session, handle, {"price": 4250, "stock": 10, "sku": f"LS-{handle[-6:]}"})
    page = post(session, f"look-{handle}", item)
    link = get_or_create_link(
        session,
        channel="instagram",
        target="post",
        post_id=page.id,
        utm_campaign="summer",
        partner="ana",
    )
    session.commit()
    redirect = client.get(
        f"/shop/s/{link.code}?fbclid={FBCLID}&utm_content=reel",
        headers={"User-Agent": BROWSER, **(privacy or {})},
        environ_base={"REMOTE_ADDR": SHOPPER_IP},
    )
    assert redirect.status_code == 302
    token = parse_qs(urlsplit(redirect.headers["Location"]).query)["st"][0]
    bought = client.post(
        "/shop/checkout",
        json={
            "lines": [{"variant_id": item.variants[0].id, "quantity": quantity}],
            "st": token,
            "email": email,
        },
        headers={"User-Agent": BROWSER, "Origin": "http://localhost", **(privacy or {})},
        environ_base={"REMOTE_ADDR": SHOPPER_IP},
    )
    assert bought.status_code in (200, 201), bought.get_data(as_text=True)
    checkout_id = bought.get_json()["checkout_id"]
    checkout = session.get(Checkout, checkout_id)
    assert checkout is not None
    assert checkout.provider_session_id
    assert checkout.user_agent == ("" if privacy else BROWSER)
    session_id = checkout.provider_session_id
    emulator.pay(session_id, email=email, name=name)
    deliveries = emulator.wait_for_deliveries(timeout=20)
    assert all(d.state == "delivered" for d in deliveries), [d.state for d in deliveries]
    session.expire_all()
    order = session.scalars(select(Order).where(Order.checkout_id == checkout_id)).one()
    assert order.status == "paid"
    return order


def refund(emulator: StripeEmulator, session: Session, order: Order, amount: int) -> Order:
    """Refund from the Stripe dashboard; the webhook reaches the app."""
    emulator.refund(str(order.provider_payment_id), amount)
    emulator.wait_for_deliveries(timeout=20)
    session.expire_all()
    refreshed = session.get(Order, order.id)
    assert refreshed is not None
    assert refreshed.refunded_amount == amount
    return refreshed


def drain(app: Flask, now: datetime | None = None) -> dict[str, int]:
    """Run the worker's jobs once, as ``flask shoppable worker --once`` does."""
    return Worker(app).run_once(now)


def later(minutes: float = 60) -> datetime:
    return utcnow() + timedelta(minutes=minutes)


def messages(session: Session, sink: str | None = None) -> list[OutboxMessage]:
    session.expire_all()
    stmt = select(OutboxMessage).order_by(OutboxMessage.id)
    if sink is not None:
        stmt = stmt.where(OutboxMessage.sink == sink)
    return list(session.scalars(stmt))


def config_for(*fakes: Any, sinks: list[str], **extra: Any) -> dict[str, Any]:
    """The app settings for ``sinks``, pointed at ``fakes``; the outbox retries fast."""
    config: dict[str, Any] = {
        "SHOPPABLE_CRM_SINKS": sinks,
        "SHOPPABLE_CLICK_WRITE_MODE": "durable",
        "SHOPPABLE_OUTBOX_HTTP_TIMEOUT": 2,
    }
    for fake in fakes:
        config.update(fake.app_config())
    config.update(extra)
    return config


@dataclass
class Shop:
    """The app under test with its client, a session and the emulator delivering to it."""

    app: Flask
    client: FlaskClient
    session: Session
    emulator: StripeEmulator

    def paid_order(self, **kwargs: Any) -> Order:
        return paid_order(self.app, self.client, self.session, self.emulator, **kwargs)

    def refund(self, order: Order, amount: int) -> Order:
        return refund(self.emulator, self.session, order, amount)

    def drain(self, now: datetime | None = None) -> dict[str, int]:
        return drain(self.app, now)

    def messages(self, sink: str | None = None) -> list[OutboxMessage]:
        return messages(self.session, sink)
