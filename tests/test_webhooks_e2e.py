"""End to end: a tracked link, the post page, the checkout, the emulator's payment page,
its signed webhook delivery, and the order with the interaction and channel that led to it.

Everything goes over the real paths: the Flask test client for the shopper's browser,
stripe-python to the emulator for the session, the emulator's own webhook delivery
(signed, retried) into the app.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from flask_shoppable import signals
from flask_shoppable.checkout.models import Checkout
from flask_shoppable.orders.models import Order
from flask_shoppable.social.links import get_or_create_link
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.tracking import tokens

from .checkout_helpers import post, product
from .conftest import ApiClient


class _BuyForm(HTMLParser):
    """The fields a browser would submit from the post page's buy form."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form" and attr.get("method", "").lower() == "post":
            self._in_form = True
            self.action = attr.get("action", "")
        elif not self._in_form:
            return
        elif tag == "input" and attr.get("name"):
            kind = attr.get("type", "text")
            if kind == "checkbox":
                self.fields.append((attr["name"], attr.get("value", "on")))  # tick it
            elif kind not in ("submit", "button"):
                self.fields.append((attr["name"], attr.get("value", "")))
        elif tag == "select":
            self._select = attr.get("name")
        elif tag == "option" and self._select and "selected" in attr:
            self.fields.append((self._select, attr.get("value", "")))
            self._select = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def test_tracked_link_to_attributed_order(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    webhooks_to_app: Any,
    api: ApiClient,
) -> None:
    item = product(session, "linen-shirt", {"price": 4200, "stock": 3, "sku": "LS-1"})
    page = post(session, "summer-drop", item)
    link = get_or_create_link(
        session, channel="instagram", target="post", post_id=page.id, utm_campaign="summer"
    )
    session.commit()
    paid: list[Order] = []

    def on_paid(sender: Flask, order: Order, **extra: Any) -> None:
        paid.append(order)

    # 1. The shopper taps the link in an Instagram post.
    redirect = client.get(f"/shop/s/{link.code}", headers={"User-Agent": "Mozilla/5.0 Instagram"})
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    token = parse_qs(urlsplit(location).query)["st"][0]
    click_id = tokens.verify(token, secret=app.config["SHOPPABLE_SECRET_KEY"])
    assert click_id is not None

    # 2. The post page, with the buy form carrying the token.
    page_response = client.get(location)
    assert page_response.status_code == 200
    form = _BuyForm()
    form.feed(page_response.get_data(as_text=True))
    assert ("st", token) in form.fields
    assert form.action.endswith("/checkout")

    # 3. Buy: a 303 to the provider's payment page.
    bought = client.post(form.action, data=MultiDict(form.fields))
    assert bought.status_code == 303, bought.get_data(as_text=True)
    checkout = session.scalars(select(Checkout)).one()
    assert checkout.origin_interaction_id == click_id
    assert checkout.provider_session_id is not None
    assert bought.headers["Location"].startswith(emulator.url)

    # 4. The shopper pays on the emulator's page; its webhook reaches the app.
    with signals.order_paid.connected_to(on_paid, sender=app):
        emulator.pay(checkout.provider_session_id, email="Linen.Fan@Example.com")
        deliveries = emulator.wait_for_deliveries(timeout=20)
    assert [d.state for d in deliveries] == ["delivered"]
    assert deliveries[0].attempts[-1].status == 200

    # 5. The order: paid, attributed to the click, on the link's channel and post.
    order = session.scalars(select(Order)).one()
    assert order.status == "paid"
    assert order.origin_interaction_id == click_id
    assert (order.channel, order.post_id, order.link_id) == ("instagram", page.id, link.id)
    assert order.email == "linen.fan@example.com"
    assert order.total_amount == emulator.session(checkout.provider_session_id)["amount_total"]
    assert [o.id for o in paid] == [order.id]

    app.extensions["shoppable"].recorder.flush()
    detail = api.get(f"/orders/{order.id}").get_json()
    origin = detail["origin"]
    assert origin["id"] == str(click_id)
    assert origin["recorded"] is True
    assert (origin["kind"], origin["channel"], origin["post_slug"], origin["link_code"]) == (
        "click",
        "instagram",
        "summer-drop",
        link.code,
    )
    assert origin["utm_campaign"] == "summer"
    assert detail["credit"][0]["interaction_id"] == str(click_id)
    assert detail["credit"][0]["amount"] == order.total_amount
    assert re.fullmatch(r"[0-9a-f-]{36}", detail["credit"][0]["interaction_id"])
