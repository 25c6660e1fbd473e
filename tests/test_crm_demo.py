"""The README's demo path: a shopper follows a tracked Instagram link, pays on the Stripe
emulator's page, the emulator's webhook makes the order, the worker delivers it, and the
fake HubSpot (as ``python -m flask_shoppable._fakes.hubspot`` runs it) prints the contact
and the deal with their channel and post.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from flask_shoppable._fakes import hubspot as fake_hubspot
from flask_shoppable.checkout.models import Checkout
from flask_shoppable.orders.models import Order
from flask_shoppable.social.links import get_or_create_link
from flask_shoppable.testing import FakeHubSpot, StripeEmulator

from .checkout_helpers import post, product
from .outbox_helpers import messages, run_outbox
from .test_webhooks_e2e import _BuyForm

TOKEN = "demo-hubspot-token"


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(TOKEN) as server:
        server.on_upsert = fake_hubspot._show  # type: ignore[attr-defined]
        yield server  # type: ignore[misc]


@pytest.fixture
def app_config(fake: FakeHubSpot) -> dict[str, Any]:
    return {
        "SHOPPABLE_CRM_SINKS": ["hubspot"],
        "SHOPPABLE_HUBSPOT_ACCESS_TOKEN": TOKEN,
        "SHOPPABLE_HUBSPOT_BASE_URL": fake.url,
    }


def test_a_paid_demo_order_shows_in_the_fake_crm_with_its_channel_and_post(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    webhooks_to_app: Any,
    fake: FakeHubSpot,
    capsys: pytest.CaptureFixture[str],
) -> None:
    item = product(session, "linen-shirt", {"price": 4200, "stock": 3, "sku": "LS-1"})
    page = post(session, "summer-linen", item)
    link = get_or_create_link(
        session, channel="instagram", target="post", post_id=page.id, utm_campaign="summer"
    )
    session.commit()

    redirect = client.get(f"/shop/s/{link.code}", headers={"User-Agent": "Mozilla/5.0 Instagram"})
    location = redirect.headers["Location"]
    assert parse_qs(urlsplit(location).query)["st"]
    form = _BuyForm()
    form.feed(client.get(location).get_data(as_text=True))
    assert client.post(form.action, data=MultiDict(form.fields)).status_code == 303
    checkout = session.scalars(select(Checkout)).one()
    emulator.pay(checkout.provider_session_id, email="You@Example.com")
    assert [d.state for d in emulator.wait_for_deliveries(timeout=20)] == ["delivered"]
    order = session.scalars(select(Order)).one()
    app.extensions["shoppable"].recorder.flush()

    assert run_outbox(app) == 1
    printed = capsys.readouterr().out
    assert (
        f"contact 1001 you@example.com: latest source instagram post {page.id}, "
        "first source instagram"
    ) in printed
    assert (
        f"deal 1002 Order #{order.id}: 42.00 USD, stage closedwon, channel instagram, "
        "post summer-linen, campaign summer"
    ) in printed
    assert messages(session)[0].status == "delivered"
    listed = app.test_cli_runner().invoke(args=["shoppable", "outbox", "list"])
    assert f"delivered  hubspot       order.paid        {order.id}:order.paid:1" in listed.output
