"""``flask shoppable forget EMAIL``: the customer anonymised everywhere, totals kept, sinks asked.

On SQLite and PostgreSQL, with orders made over the real paths and the signed webhook
sink (which supports erasure requests) pointed at its local receiver.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flask_shoppable.checkout.models import Checkout
from flask_shoppable.crm import erasure
from flask_shoppable.orders.models import (
    Customer,
    CustomerVisitor,
    Order,
    OrderCredit,
    WebhookEvent,
)
from flask_shoppable.testing import FakeHubSpot, FakeWebhookReceiver
from flask_shoppable.tracking.models import Interaction

from .helpers import Shop, config_for, later


@pytest.fixture
def app_config(receiver: FakeWebhookReceiver) -> dict[str, Any]:
    return config_for(receiver, sinks=["webhook"])


def _forget(app: Flask, email: str) -> str:
    result = app.test_cli_runner().invoke(args=["shoppable", "forget", email, "--yes"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_forget_anonymises_keeps_totals_and_asks_the_sinks(
    shop: Shop, receiver: FakeWebhookReceiver
) -> None:
    ana = shop.paid_order(email="Ana.Buyer@Example.com")
    shop.drain()  # order.paid delivered (it named her)
    shop.refund(ana, 2000)  # order.refunded pending: not delivered yet
    bob = shop.paid_order(email="bob@example.com", name="Bob B")
    totals = shop.session.execute(select(func.sum(Order.total_amount), func.count())).one()
    credits = shop.session.scalar(select(func.count()).select_from(OrderCredit))
    ana_checkout = shop.session.get(Checkout, ana.checkout_id)
    assert ana_checkout is not None
    assert ana_checkout.client_ip
    assert shop.session.scalar(select(func.count()).select_from(CustomerVisitor)) >= 1

    output = _forget(shop.app, " ANA.buyer@example.com ")
    assert "Erasure requested from: webhook" in output

    shop.session.expire_all()
    customer = shop.session.get(Customer, ana.customer_id)
    assert customer is not None
    assert (customer.email, customer.email_hash, customer.name) == (None, "", "")
    assert customer.erased_at is not None
    order = shop.session.get(Order, ana.id)
    assert order is not None
    assert (order.email, order.shipping_name, order.visitor_id) == ("", "", None)
    # What the reports read stays: amounts, channel, post, link, credits.
    assert (order.total_amount, order.refunded_amount) == (8500, 2000)
    assert (order.channel, order.post_id, order.link_id) == (ana.channel, ana.post_id, ana.link_id)
    assert shop.session.execute(select(func.sum(Order.total_amount), func.count())).one() == totals
    assert shop.session.scalar(select(func.count()).select_from(OrderCredit)) == credits
    checkout = shop.session.get(Checkout, ana.checkout_id)
    assert checkout is not None
    assert (checkout.email, checkout.user_agent, checkout.client_ip) == ("", "", "")
    click = shop.session.get(Interaction, ana.origin_interaction_id)
    assert click is not None
    assert (click.ip_hash, click.referrer, click.click_ids, click.visitor_id) == ("", "", {}, None)
    assert (click.kind, click.channel, click.utm_campaign) == ("click", "instagram", "summer")
    assert (
        shop.session.scalar(
            select(func.count())
            .select_from(CustomerVisitor)
            .where(CustomerVisitor.customer_id == ana.customer_id)
        )
        == 0
    )
    stored = [e.payload for e in shop.session.scalars(select(WebhookEvent))]
    assert not any("ana.buyer" in p.lower() for p in stored)
    assert any("bob@example.com" in p.lower() for p in stored)  # only hers went

    # Bob is untouched.
    bob_row = shop.session.get(Order, bob.id)
    assert bob_row is not None
    assert bob_row.email == "bob@example.com"
    bob_checkout = shop.session.get(Checkout, bob.checkout_id)
    assert bob_checkout is not None
    assert bob_checkout.client_ip

    # The outbox keeps no copy of her personal data, and the pending refund goes anonymised.
    for message in shop.messages():
        if message.order_id == ana.id:
            assert message.payload["customer"]["email"] == ""
            assert message.payload["checkout"]["client_ip"] == ""
            assert message.payload["attribution"]["interaction"]["click_ids"] == {}
            assert message.payload["order"]["total_amount"] == 8500
    shop.drain(later())
    erase_key = f"erase:{erasure.email_hash('ana.buyer@example.com')}"
    assert receiver.deliveries[erase_key]["type"] == "customer.erase"
    assert receiver.deliveries[erase_key]["data"]["email"] == "ana.buyer@example.com"
    [request] = [m for m in shop.messages() if m.event == "customer.erase"]
    assert request.status == "delivered"
    assert request.payload["email"] == ""  # scrubbed once delivered
    refunded = receiver.deliveries[f"{ana.id}:order.refunded:2000"]["data"]
    assert refunded["customer"]["email"] == ""
    assert refunded["order"]["refunded_amount"] == 2000

    # Again: nothing left to find, no second request; the delivered request is scrubbed.
    output = _forget(shop.app, "ana.buyer@example.com")
    assert "nothing else named them" in output
    erase_messages = [m for m in shop.messages() if m.event == "customer.erase"]
    assert len(erase_messages) == 1
    assert erase_messages[0].payload["email"] == ""


def test_forget_refuses_what_is_not_an_email(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["shoppable", "forget", "nobody", "--yes"])
    assert result.exit_code != 0
    assert "is not an email address" in result.output


def test_other_capabilities_add_erasers(shop: Shop) -> None:
    order = shop.paid_order(email="cara@example.com")
    seen: list[erasure.Target] = []

    def social(session: Session, target: erasure.Target) -> int:
        seen.append(target)
        return len(target.customer_ids)

    erasure.register_eraser("test_social", social)
    try:
        output = _forget(shop.app, "cara@example.com")
    finally:
        erasure.ERASERS.pop("test_social")
    assert "test_social: 1" in output
    [target] = seen
    assert target.customer_ids == [order.customer_id]
    assert target.order_ids == [order.id]
    assert order.origin_interaction_id in target.interaction_ids


class TestWithHubSpot:
    @pytest.fixture
    def app_config(self, receiver: FakeWebhookReceiver, hubspot: FakeHubSpot) -> dict[str, Any]:
        return config_for(
            receiver,
            sinks=["hubspot", "webhook"],
            SHOPPABLE_HUBSPOT_ACCESS_TOKEN=hubspot.token,
            SHOPPABLE_HUBSPOT_BASE_URL=hubspot.url,
        )

    def test_hubspot_gdpr_deletes_the_contact(
        self, shop: Shop, receiver: FakeWebhookReceiver, hubspot: FakeHubSpot
    ) -> None:
        shop.paid_order(email="Dee@Example.com")
        shop.drain()
        assert "dee@example.com" in hubspot.contacts
        output = _forget(shop.app, "dee@example.com")
        assert "Erasure requested from: hubspot, webhook" in output
        shop.drain()
        assert hubspot.erased == ["dee@example.com"]
        assert "dee@example.com" not in hubspot.contacts
        requests = [m for m in shop.messages() if m.event == "customer.erase"]
        assert [(m.sink, m.status) for m in requests] == [
            ("hubspot", "delivered"),
            ("webhook", "delivered"),
        ]
        assert all(m.payload["email"] == "" for m in requests)
