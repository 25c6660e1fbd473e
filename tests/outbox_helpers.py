"""Arranging paid orders and running the outbox for the CRM tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.db import utcnow
from flask_shoppable.orders.models import Order
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.tracking.models import Interaction, new_id
from flask_shoppable.worker import Worker, jobs_for

from .checkout_helpers import post, product
from .order_helpers import open_checkout, order_of, post_event, session_object

VISITOR = "b" * 32


def paid_order(
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    *,
    handle: str = "linen-shirt",
    email: str = "Shopper@Example.com ",
    visitor: str = VISITOR,
) -> tuple[Order, dict[str, Any]]:
    """An order paid through a signed checkout.session.completed, from an Instagram click."""
    item = product(session, handle, {"price": 4200, "stock": 5, "sku": f"{handle.upper()}-1"})
    page = post(session, f"{handle}-drop", item)
    page.campaign = "summer"
    origin = new_id()
    session.add(
        Interaction(
            id=origin,
            kind="click",
            visitor_id=visitor,
            post_id=page.id,
            channel="instagram",
            utm_source="instagram",
            utm_campaign="summer",
            click_ids={"fbclid": "IwAR-test"},
        )
    )
    session.commit()
    checkout = open_checkout(
        session,
        [(item.variants[0], 2)],
        visitor_id=visitor,
        origin_id=origin,
        channel="instagram",
        post_id=page.id,
    )
    obj = session_object(checkout, customer_details={"email": email, "name": "Sam Shopper"})
    assert post_event(client, emulator, "checkout.session.completed", obj).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"
    return order, obj


def messages(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def run_outbox(app: Flask, now: datetime | None = None, *, hours: float = 0) -> int:
    """Run the worker's outbox job until nothing is due (at ``now`` + ``hours``)."""
    job = next(j for j in jobs_for(app) if j.name == "outbox")
    at = (now or utcnow()) + timedelta(hours=hours)
    return Worker(app, jobs=[job]).run_once(at)["outbox"]
