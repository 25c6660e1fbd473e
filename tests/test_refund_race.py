"""A refund's webhook that arrives before the request that asked for it has recorded the
provider's answer must not be undone by that answer.

Found by the admin pages' browser test: the emulator (like Stripe) sends
``charge.refunded`` at once; when it was processed before ``request_refund`` wrote
``pending``, the refund stayed "pending" forever while the order showed it refunded.
Here the provider is wrapped so that its webhook deterministically lands first.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.orders import service
from flask_shoppable.orders.models import Order, Refund
from flask_shoppable.testing import StripeEmulator

from .checkout_helpers import variant
from .ops_helpers import paid_order


class WebhookFirst:
    """The app's payment provider, whose refund webhook is delivered before it answers."""

    def __init__(self, inner: Any, emulator: StripeEmulator) -> None:
        self.inner = inner
        self.emulator = emulator

    def refund(self, payment_intent: str, *args: Any, **kwargs: Any) -> Any:
        answer = self.inner.refund(payment_intent, *args, **kwargs)
        event = self.emulator.wait_for_event("charge.refunded", payment_intent=payment_intent)
        deadline = time.monotonic() + 10
        while not any(d.event_id == event["id"] and d.delivered for d in self.emulator.deliveries):
            assert time.monotonic() < deadline, "charge.refunded was not delivered"
            time.sleep(0.02)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_webhook_before_the_answer_keeps_the_refund_confirmed(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    webhooks_to_app: Any,
) -> None:
    order = paid_order(app, client, session, emulator, [(variant(session, "tee", price=4000), 1)])
    emulator.wait_for_deliveries()
    state = app.extensions["shoppable"]
    with state.session_factory() as own:
        result = service.request_refund(
            own, WebhookFirst(state.payments, emulator), order.id, key="k-1", amount=1500
        )
    assert result.refund.status == "succeeded"
    session.expire_all()
    refund = session.scalars(select(Refund).where(Refund.order_id == order.id)).one()
    assert (refund.status, refund.amount) == ("succeeded", 1500)
    assert refund.provider_refund_id is not None
    assert refund.confirmed_at is not None
    assert session.get(Order, order.id).refunded_amount == 1500
    with state.session_factory() as own:
        assert service.outstanding(own, session.get(Order, order.id)) == 0
