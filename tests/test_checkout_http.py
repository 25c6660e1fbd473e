"""``POST /shop/checkout`` and ``GET /shop/checkout/cart`` at the HTTP level.

On SQLite and PostgreSQL, with the real stripe-python client talking to the local Stripe
emulator (flask_shoppable.testing): what goes in is a browser's form post, a JSON body
or a social shop's cart link; what is checked is the answer, the database (checkouts,
stock, interactions) and the Checkout Session the emulator received.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.serving import WSGIRequestHandler, make_server

from flask_shoppable.catalog.models import Product, Variant
from flask_shoppable.checkout.models import Checkout, CheckoutLine
from flask_shoppable.db import utcnow
from flask_shoppable.orders.models import Order, OrderLine
from flask_shoppable.social.links import get_or_create_link
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.tracking import tokens
from flask_shoppable.tracking.models import Interaction

from . import checkout_helpers as h

ORIGIN = {"Origin": "http://localhost"}
BROWSER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def app_config() -> dict[str, Any]:
    # Clicks committed before the redirect, so the tests read them at once; the buffered
    # mode has a test of its own below. The app talks to the session's Stripe emulator.
    return {
        "SHOPPABLE_CLICK_WRITE_MODE": "durable",
        "SHOPPABLE_SHIPPING_COUNTRIES": ["US", "ca"],
        "SHOPPABLE_SHIPPING_RATES": {
            "USD": {"amount": 500, "free_over": 10000, "name": "Standard"}
        },
    }


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser: unlike pytest-flask's client, it keeps no request context pushed
    between requests, so each request has its own ``g`` and database session."""
    return app.test_client()


# --- helpers --------------------------------------------------------------------------


class _FormReader(HTMLParser):
    """The fields a browser would submit from the page's buy form (defaults as shown)."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and "data-buy-form" in a:
            self._in_form = True
            self.action = a["action"]
        if not self._in_form or "disabled" in a:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind == "checkbox" and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if tag == "form":
            self._in_form = False


def buy_form(client: FlaskClient, url: str) -> tuple[str, list[tuple[str, str]]]:
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    reader = _FormReader()
    reader.feed(page.get_data(as_text=True))
    return reader.action, reader.fields


def _session_id(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1]


def _checkout_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Checkout)) or 0


def _interactions(session: Session, kind: str | None = None) -> list[Interaction]:
    session.expire_all()
    stmt = select(Interaction).order_by(Interaction.occurred_at, Interaction.id)
    if kind:
        stmt = stmt.where(Interaction.kind == kind)
    return list(session.scalars(stmt))


@pytest.fixture
def shop(session: Session) -> dict[str, Any]:
    """Two products tagged in a published post: a tee (sizes) and a mug (unlimited)."""
    tee = h.product(
        session,
        "linen-tee",
        {"options": ["M"], "price": 3500, "stock": 10, "sku": "TEE-M"},
        {"options": ["L"], "price": 3600, "stock": 10, "sku": "TEE-L"},
        options=["Size"],
    )
    mug = h.product(session, "mug", {"price": 1200, "stock": None, "requires_shipping": True})
    ebook = h.product(session, "ebook", {"price": 900, "stock": None, "requires_shipping": False})
    post = h.post(session, "summer-look", tee, mug)
    return {"tee": tee, "mug": mug, "ebook": ebook, "post": post}


# --- the post page's form -------------------------------------------------------------


def test_the_post_page_form_opens_a_stripe_session(
    client: FlaskClient, session: Session, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    action, fields = buy_form(client, "/shop/p/summer-look")
    assert action == "/shop/checkout"
    tee, mug = shop["tee"], shop["mug"]
    # The shopper ticks both products, picks L and two mugs (what the page's script does).
    fields = [(k, v) for k, v in fields if k != "product" and not k.startswith("quantity-")]
    fields = [(k, str(tee.variants[1].id) if k == f"variant-{tee.id}" else v) for k, v in fields]
    fields += [
        ("product", str(tee.id)),
        ("product", str(mug.id)),
        (f"quantity-{tee.id}", "1"),
        (f"quantity-{mug.id}", "2"),
    ]
    response = client.post(
        action, data=MultiDict(fields), headers={**ORIGIN, "User-Agent": BROWSER_UA}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(emulator.url + "/pay/cs_test_")
    assert response.headers["Cache-Control"] == "no-store"

    [checkout] = h.checkouts(session)
    assert checkout.status == "open"
    assert checkout.provider_session_id == _session_id(location)
    assert checkout.provider_url == location
    assert checkout.subtotal_amount == 3600 + 2 * 1200
    assert checkout.post_id == shop["post"].id
    assert checkout.user_agent == BROWSER_UA
    assert checkout.client_ip == "127.0.0.1"
    assert h.stock(session, tee.variants[1].id) == 9
    assert h.stock(session, tee.variants[0].id) == 10

    stripe_session = emulator.session(checkout.provider_session_id)
    items = stripe_session["line_items"]["data"]
    assert [(i["description"], i["quantity"], i["price"]["unit_amount"]) for i in items] == [
        ("Linen Tee - L", 1, 3600),
        ("Mug", 2, 1200),
    ]
    assert stripe_session["currency"] == "usd"
    assert stripe_session["client_reference_id"] == str(checkout.id)
    assert stripe_session["metadata"]["shoppable_checkout_id"] == str(checkout.id)
    assert stripe_session["metadata"]["shoppable_post_id"] == str(shop["post"].id)
    assert stripe_session["metadata"]["shoppable_visitor_id"] == checkout.visitor_id
    assert stripe_session["metadata"]["shoppable_interaction_id"] == ""
    record = emulator.ledger.sessions[checkout.provider_session_id]
    assert record.pi_metadata == stripe_session["metadata"]
    # 60.00 is under the 100.00 free-shipping threshold: the flat rate applies.
    assert stripe_session["shipping_address_collection"] == {"allowed_countries": ["US", "CA"]}
    [rate] = stripe_session["shipping_options"]
    assert rate["shipping_amount"] == 500
    assert emulator.object(rate["shipping_rate"])["display_name"] == "Standard"
    assert stripe_session["allow_promotion_codes"] is True
    assert stripe_session["automatic_tax"]["enabled"] is False
    assert stripe_session["expires_at"] == int(checkout.expires_at.timestamp())
    minutes = (checkout.expires_at - checkout.created_at).total_seconds() / 60
    assert 30 < minutes < 32
    assert stripe_session["success_url"].endswith(
        "/shop/checkout/success?session_id={CHECKOUT_SESSION_ID}"
    )
    assert stripe_session["cancel_url"] == "http://localhost/shop/checkout/cancel?post=summer-look"
    creates = [r for r in emulator.api_requests if r["path"] == "/v1/checkout/sessions"]
    assert [r["idempotency_key"] for r in creates] == [f"checkout-{checkout.id}"]


def test_a_price_in_the_request_is_ignored(
    client: FlaskClient, session: Session, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    tee = shop["tee"]
    variant = tee.variants[0]
    form = {
        "product": str(tee.id),
        f"variant-{tee.id}": str(variant.id),
        f"quantity-{tee.id}": "1",
        f"price-{tee.id}": "1",
        "unit_amount": "1",
        "amount": "1",
    }
    response = client.post("/shop/checkout", data=form, headers=ORIGIN)
    assert response.status_code == 303
    body = {"lines": [{"variant_id": variant.id, "quantity": 1, "unit_amount": 1, "price": 1}]}
    response = client.post("/shop/checkout", json=body)
    assert response.status_code == 201
    for sid in emulator.sessions:
        [item] = emulator.session(sid)["line_items"]["data"]
        assert item["price"]["unit_amount"] == 3500
    assert {c.subtotal_amount for c in h.checkouts(session)} == {3500}


def test_json_body(
    client: FlaskClient, session: Session, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    tee, ebook = shop["tee"], shop["ebook"]
    body = {
        "lines": [
            {"variant_id": tee.variants[0].id, "quantity": 2},
            {"variant_id": ebook.variants[0].id, "quantity": 1},
            {"variant_id": tee.variants[0].id, "quantity": 1},
        ],
        "post": "summer-look",
        "email": "Shopper@Example.com",
    }
    response = client.post("/shop/checkout", json=body)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    [checkout] = h.checkouts(session)
    assert data == {"checkout_id": checkout.id, "url": checkout.provider_url}
    assert response.headers["Location"] == checkout.provider_url
    # Lines of one variant are merged.
    assert [(line.variant_id, line.quantity) for line in checkout.lines] == [
        (tee.variants[0].id, 3),
        (ebook.variants[0].id, 1),
    ]
    assert h.stock(session, tee.variants[0].id) == 7
    stripe_session = emulator.session(checkout.provider_session_id)
    assert stripe_session["customer_email"] == "Shopper@Example.com"
    assert checkout.email == "Shopper@Example.com"
    # 3 x 35.00 + 9.00 = 114.00 reaches the 100.00 threshold: shipping is free.
    [rate] = stripe_session["shipping_options"]
    assert rate["shipping_amount"] == 0


def test_digital_goods_collect_no_address(
    client: FlaskClient, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    response = client.post(
        "/shop/checkout", json={"lines": [{"variant_id": shop["ebook"].variants[0].id}]}
    )
    assert response.status_code == 201
    stripe_session = emulator.session(_session_id(response.get_json()["url"]))
    assert stripe_session["shipping_address_collection"] is None
    assert stripe_session["shipping_options"] == []


def test_tax_and_promotion_switches(
    app: Flask, client: FlaskClient, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    # The settings are read per request, so they can be switched on the running app.
    app.config.update(SHOPPABLE_AUTOMATIC_TAX=True, SHOPPABLE_ALLOW_PROMOTION_CODES=False)
    response = client.post(
        "/shop/checkout", json={"lines": [{"variant_id": shop["mug"].variants[0].id}]}
    )
    assert response.status_code == 201
    stripe_session = emulator.session(_session_id(response.get_json()["url"]))
    assert stripe_session["automatic_tax"]["enabled"] is True
    assert stripe_session["allow_promotion_codes"] is False


def test_promotion_code_and_a_stale_one(
    client: FlaskClient, session: Session, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    emulator.add_promotion_code("SUMMER10", percent_off=10)
    line = {"variant_id": shop["mug"].variants[0].id, "quantity": 1}
    response = client.post("/shop/checkout", json={"lines": [line], "promotion_code": "SUMMER10"})
    assert response.status_code == 201
    first = emulator.session(_session_id(response.get_json()["url"]))
    assert first["discounts"][0]["promotion_code"].startswith("promo_")
    assert first["allow_promotion_codes"] is None

    # A code Stripe does not know does not cost the sale: the page opens without it.
    response = client.post("/shop/checkout", json={"lines": [line], "promotion_code": "OLDCODE"})
    assert response.status_code == 201
    second = emulator.session(_session_id(response.get_json()["url"]))
    assert second["discounts"] == []
    assert second["allow_promotion_codes"] is True
    checkout = h.checkouts(session)[-1]
    assert checkout.promotion_code == ""
    keys = [r["idempotency_key"] for r in emulator.api_requests if r["method"] == "POST"]
    assert keys[-1] == f"checkout-{checkout.id}-without-code"


# --- bad input ------------------------------------------------------------------------------


def _form(product: Product, variant: Variant | int, quantity: Any = 1) -> dict[str, Any]:
    variant_id = variant if isinstance(variant, int) else variant.id
    return {
        "post": "summer-look",
        "product": str(product.id),
        f"variant-{product.id}": str(variant_id),
        f"quantity-{product.id}": str(quantity),
    }


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (0, "at least 1"),
        (-2, "at least 1"),
        (10**9, "at most 20"),
        (21, "at most 20"),
        ("abc", "whole number"),
        ("2.5", "whole number"),
    ],
)
def test_bad_quantities(
    client: FlaskClient,
    session: Session,
    shop: dict[str, Any],
    emulator: StripeEmulator,
    quantity: Any,
    message: str,
) -> None:
    tee = shop["tee"]
    response = client.post(
        "/shop/checkout", data=_form(tee, tee.variants[0], quantity), headers=ORIGIN
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert "/shop/p/summer-look" in response.get_data(as_text=True)  # the way back
    response = client.post(
        "/shop/checkout",
        json={"lines": [{"variant_id": tee.variants[0].id, "quantity": quantity}]},
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_quantity"
    assert message in body["message"]
    assert body["errors"] == {"lines.0.quantity": [body["message"]]}
    assert _checkout_count(session) == 0
    assert h.stock(session, tee.variants[0].id) == 10
    assert emulator.sessions == {}


def test_bad_carts(
    client: FlaskClient, session: Session, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    tee = shop["tee"]
    euro = h.variant(session, "euro-scarf", currency="EUR")
    gone = h.variant(session, "gone-cap", stock=0)
    retired = h.variant(session, "retired-belt", active=False)
    hidden = h.product(session, "hidden-hat", {}, active=False).variants[0]

    def post(lines: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        response = client.post("/shop/checkout", json={"lines": lines})
        return response.status_code, response.get_json()

    tee_line = {"variant_id": tee.variants[0].id, "quantity": 1}
    cases = [
        ([], 400, "empty_cart", "at least one"),
        (
            [tee_line, {"variant_id": euro.id, "quantity": 1}],
            422,
            "currency_mismatch",
            "Euro Scarf is priced in EUR",
        ),
        ([{"variant_id": gone.id, "quantity": 1}], 409, "out_of_stock", "Gone Cap is sold out"),
        ([{"variant_id": tee.variants[0].id, "quantity": 11}], 409, "out_of_stock", "Only 10 of"),
        (
            [{"variant_id": retired.id, "quantity": 1}],
            422,
            "unavailable",
            "Retired Belt is no longer",
        ),
        ([{"variant_id": hidden.id, "quantity": 1}], 422, "unavailable", "Hidden Hat is no longer"),
        ([{"variant_id": 999999, "quantity": 1}], 422, "unknown_variant", "999999"),
        ([{"variant_id": "abc", "quantity": 1}], 400, "invalid_variant", "abc"),
    ]
    for lines, status, code, text in cases:
        got_status, body = post(lines)
        assert (got_status, body["error"]) == (status, code), (lines, body)
        assert text in body["message"]
        assert body["code"] == status
    for body in ("not json", "[1, 2]"):
        response = client.post("/shop/checkout", data=body, content_type="application/json")
        assert response.status_code == 400
    response = client.post("/shop/checkout", data={"post": "summer-look"}, headers=ORIGIN)
    assert response.status_code == 400
    assert "Choose at least one product" in response.get_data(as_text=True)
    # A variant that is not an option of the product it was picked for.
    response = client.post(
        "/shop/checkout", data=_form(tee, shop["mug"].variants[0]), headers=ORIGIN
    )
    assert response.status_code == 422
    assert _checkout_count(session) == 0
    assert h.stock(session, tee.variants[0].id) == 10
    assert emulator.sessions == {}


def test_a_sold_out_form_post_shows_the_error_page(
    client: FlaskClient, session: Session, shop: dict[str, Any]
) -> None:
    tee = shop["tee"]
    session.execute(Variant.__table__.update().values(stock=0))
    session.commit()
    response = client.post("/shop/checkout", data=_form(tee, tee.variants[0]), headers=ORIGIN)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Linen Tee - M is sold out." in page
    assert 'href="/shop/p/summer-look"' in page
    assert "text/html" in response.content_type


def test_cross_site_form_posts_are_refused(
    app: Flask, client: FlaskClient, session: Session, shop: dict[str, Any]
) -> None:
    tee = shop["tee"]
    form = _form(tee, tee.variants[0])
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
    ):
        response = client.post("/shop/checkout", data=form, headers=headers)
        assert response.status_code == 403, headers
        assert "another site" in response.get_data(as_text=True)
    assert _checkout_count(session) == 0
    assert h.stock(session, tee.variants[0].id) == 10
    # Same host by Referer, no header at all, and the configured public host all pass.
    assert (
        client.post(
            "/shop/checkout", data=form, headers={"Referer": "http://localhost/shop/p/x"}
        ).status_code
        == 303
    )
    assert client.post("/shop/checkout", data=form).status_code == 303
    app.config["SHOPPABLE_PUBLIC_URL"] = "https://shop.example.com"
    response = client.post(
        "/shop/checkout", data=form, headers={"Origin": "https://shop.example.com"}
    )
    assert response.status_code == 303


def test_too_large_body(app: Flask, client: FlaskClient, session: Session) -> None:
    app.config["SHOPPABLE_MAX_BODY_BYTES"] = 1000
    response = client.post("/shop/checkout", json={"lines": [], "pad": "x" * 2000})
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"


# --- the provider fails ------------------------------------------------------------------------


def test_a_provider_failure_gives_the_stock_back(
    app: Flask,
    client: FlaskClient,
    session: Session,
    shop: dict[str, Any],
    emulator: StripeEmulator,
) -> None:
    tee = shop["tee"]
    # A key the emulator refuses: stripe-python gets a real 401 over the wire.
    from flask_shoppable.payments.stripe import StripeProvider

    app.extensions["shoppable"].payments = StripeProvider(
        "sk_test_not_the_emulators", "whsec_x", api_base=emulator.url, max_network_retries=0
    )
    response = client.post("/shop/checkout", data=_form(tee, tee.variants[0], 3), headers=ORIGIN)
    assert response.status_code == 502
    page = response.get_data(as_text=True)
    assert "payment page could not be opened" in page
    assert "sk_test" not in page
    response = client.post(
        "/shop/checkout", json={"lines": [{"variant_id": tee.variants[0].id, "quantity": 2}]}
    )
    assert response.status_code == 502
    assert response.get_json()["error"] == "provider_error"
    checkouts = h.checkouts(session)
    assert [(c.status, c.release_reason) for c in checkouts] == [("failed", "provider_error")] * 2
    assert all(c.released_at is not None and c.provider_session_id is None for c in checkouts)
    assert h.stock(session, tee.variants[0].id) == 10


def test_an_unreachable_provider(
    app: Flask, client: FlaskClient, session: Session, shop: dict[str, Any]
) -> None:
    from flask_shoppable.payments.stripe import StripeProvider

    app.extensions["shoppable"].payments = StripeProvider(
        "sk_test_x", "whsec_x", api_base="http://127.0.0.1:9", max_network_retries=0, timeout=2
    )
    tee = shop["tee"]
    response = client.post(
        "/shop/checkout", json={"lines": [{"variant_id": tee.variants[0].id, "quantity": 4}]}
    )
    assert response.status_code == 502
    assert h.stock(session, tee.variants[0].id) == 10
    assert h.checkouts(session)[0].status == "failed"


# --- attribution: the interaction that led here ---------------------------------------------


def test_click_then_checkout_carries_the_origin(
    app: Flask,
    client: FlaskClient,
    session: Session,
    shop: dict[str, Any],
    emulator: StripeEmulator,
) -> None:
    link = get_or_create_link(
        session, channel="facebook", target="post", post_id=shop["post"].id, utm_campaign="summer"
    )
    session.commit()
    click = client.get(f"/shop/s/{link.code}", headers={"User-Agent": BROWSER_UA})
    assert click.status_code == 302
    target = urlsplit(click.headers["Location"])
    token = parse_qs(target.query)["st"][0]
    action, fields = buy_form(client, f"{target.path}?{target.query}")
    assert ("st", token) in fields
    fields.append(("product", str(shop["mug"].id)))
    response = client.post(
        action, data=MultiDict(fields), headers={**ORIGIN, "User-Agent": BROWSER_UA}
    )
    assert response.status_code == 303, response.get_data(as_text=True)

    [clicked] = _interactions(session, "click")
    [started] = _interactions(session, "checkout_started")
    [checkout] = h.checkouts(session)
    assert checkout.origin_interaction_id == clicked.id
    assert checkout.interaction_id == started.id
    assert (checkout.channel, checkout.link_id, checkout.post_id) == (
        "facebook",
        link.id,
        shop["post"].id,
    )
    assert started.origin_id == clicked.id
    assert (started.channel, started.link_id, started.post_id) == (
        "facebook",
        link.id,
        shop["post"].id,
    )
    assert (started.utm_source, started.utm_campaign) == ("facebook", "summer")
    assert started.visitor_id == clicked.visitor_id == checkout.visitor_id
    assert started.detail["checkout_id"] == checkout.id
    assert started.ip_hash == clicked.ip_hash != ""
    metadata = emulator.session(checkout.provider_session_id)["metadata"]
    assert metadata["shoppable_interaction_id"] == str(clicked.id)
    # The way back from the payment page keeps the token.
    cancel = emulator.session(checkout.provider_session_id)["cancel_url"]
    assert parse_qs(urlsplit(cancel).query) == {"post": ["summer-look"], "st": [token]}


def test_without_a_token_the_cookie_finds_the_latest_click(
    client: FlaskClient, session: Session, shop: dict[str, Any]
) -> None:
    link = get_or_create_link(session, channel="instagram", target="post", post_id=shop["post"].id)
    older = get_or_create_link(session, channel="x", target="post", post_id=shop["post"].id)
    session.commit()
    client.get(f"/shop/s/{older.code}", headers={"User-Agent": BROWSER_UA})
    client.get(f"/shop/s/{link.code}", headers={"User-Agent": BROWSER_UA})
    tee = shop["tee"]
    response = client.post("/shop/checkout", data=_form(tee, tee.variants[0]), headers=ORIGIN)
    assert response.status_code == 303
    latest = _interactions(session, "click")[-1]
    [checkout] = h.checkouts(session)
    assert checkout.origin_interaction_id == latest.id
    assert checkout.channel == "instagram"


def test_a_tampered_token_counts_as_no_token(
    app: Flask, client: FlaskClient, session: Session, shop: dict[str, Any]
) -> None:
    link = get_or_create_link(session, channel="facebook", target="post", post_id=shop["post"].id)
    session.commit()
    click = client.get(f"/shop/s/{link.code}", headers={"User-Agent": BROWSER_UA})
    token = parse_qs(urlsplit(click.headers["Location"]).query)["st"][0]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    tee = shop["tee"]
    fresh = app.test_client()  # another browser, without the click's cookie
    for bad in (tampered, "not-a-token", "x" * 44, "A" * 5000):
        response = fresh.post(
            "/shop/checkout", data={**_form(tee, tee.variants[0]), "st": bad}, headers=ORIGIN
        )
        assert response.status_code == 303, response.get_data(as_text=True)
    checkouts = h.checkouts(session)
    assert len(checkouts) == 4
    assert all(c.origin_interaction_id is None and c.channel is None for c in checkouts)
    # The same token intact names the click.
    fresh.post("/shop/checkout", data={**_form(tee, tee.variants[0]), "st": token}, headers=ORIGIN)
    assert h.checkouts(session)[-1].origin_interaction_id is not None


def test_a_click_older_than_the_lookback_does_not_count(
    client: FlaskClient, session: Session, shop: dict[str, Any]
) -> None:
    link = get_or_create_link(session, channel="facebook", target="post", post_id=shop["post"].id)
    session.commit()
    client.get(f"/shop/s/{link.code}", headers={"User-Agent": BROWSER_UA})
    session.execute(
        Interaction.__table__.update().values(occurred_at=utcnow() - timedelta(days=31))
    )
    session.commit()
    tee = shop["tee"]
    assert (
        client.post("/shop/checkout", data=_form(tee, tee.variants[0]), headers=ORIGIN).status_code
        == 303
    )
    assert h.checkouts(session)[0].origin_interaction_id is None


def test_do_not_track_keeps_no_address_or_user_agent(
    client: FlaskClient, session: Session, shop: dict[str, Any]
) -> None:
    tee = shop["tee"]
    response = client.post(
        "/shop/checkout",
        data=_form(tee, tee.variants[0]),
        headers={**ORIGIN, "Sec-GPC": "1", "User-Agent": BROWSER_UA},
    )
    assert response.status_code == 303
    [checkout] = h.checkouts(session)
    assert (checkout.user_agent, checkout.client_ip, checkout.visitor_id) == ("", "", None)
    [started] = _interactions(session, "checkout_started")
    assert (started.visitor_id, started.ip_hash) == (None, "")


def test_a_token_for_a_click_still_in_the_buffer(
    app: Flask, client: FlaskClient, session: Session, shop: dict[str, Any]
) -> None:
    # Buffered clicks, written only when asked: the token arrives before its row.
    recorder = app.extensions["shoppable"].recorder
    recorder.mode = "buffered"
    recorder.flush_seconds = 3600.0
    recorder.buffer_size = 10_000
    link = get_or_create_link(session, channel="tiktok", target="post", post_id=shop["post"].id)
    session.commit()
    click = client.get(f"/shop/s/{link.code}", headers={"User-Agent": BROWSER_UA})
    token = parse_qs(urlsplit(click.headers["Location"]).query)["st"][0]
    tee = shop["tee"]
    response = client.post(
        "/shop/checkout", data={**_form(tee, tee.variants[0]), "st": token}, headers=ORIGIN
    )
    assert response.status_code == 303
    [checkout] = h.checkouts(session)
    assert checkout.origin_interaction_id == tokens.verify(
        token, secret=app.config["SHOPPABLE_SECRET_KEY"], max_age_days=1
    )
    assert checkout.channel == "tiktok"


# --- the cart permalink (Meta Shops, Google, checkout links) ---------------------------------


def test_meta_shops_cart_link(
    client: FlaskClient, session: Session, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    emulator.add_promotion_code("INSTA5", amount_off=500, currency="usd")
    tee, mug = shop["tee"], shop["mug"]
    query = (
        f"products=TEE-L%3A2%2Cvariant-{mug.variants[0].id}%3A1"
        "&coupon=INSTA5&cart_origin=instagram&utm_source=IGShopping&utm_medium=Social"
        "&fbclid=IwAR0abc"
    )
    response = client.get(f"/shop/checkout/cart?{query}", headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 303, response.get_data(as_text=True)
    [checkout] = h.checkouts(session)
    assert [(line.variant_id, line.quantity) for line in checkout.lines] == [
        (tee.variants[1].id, 2),
        (mug.variants[0].id, 1),
    ]
    assert checkout.channel == "instagram"
    assert checkout.promotion_code == "INSTA5"
    [click] = _interactions(session, "click")
    [started] = _interactions(session, "checkout_started")
    assert (click.channel, click.utm_source, click.utm_medium) == (
        "instagram",
        "IGShopping",
        "Social",
    )
    assert click.click_ids == {"fbclid": "IwAR0abc"}
    assert click.detail["source"] == "cart_link"
    assert checkout.origin_interaction_id == click.id == started.origin_id
    assert started.channel == "instagram"
    stripe_session = emulator.session(checkout.provider_session_id)
    assert stripe_session["discounts"][0]["promotion_code"].startswith("promo_")


def test_google_template_and_numeric_ids(
    client: FlaskClient, session: Session, shop: dict[str, Any]
) -> None:
    # Google: checkout_link_template https://.../shop/checkout/cart?products={id}
    mug = shop["mug"]
    response = client.get(f"/shop/checkout/cart?products={mug.variants[0].id}&utm_source=google")
    assert response.status_code == 303
    [checkout] = h.checkouts(session)
    assert [(line.variant_id, line.quantity) for line in checkout.lines] == [
        (mug.variants[0].id, 1)
    ]
    assert checkout.channel == "other"


def test_the_plugins_own_checkout_link(
    client: FlaskClient, session: Session, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    tee = shop["tee"]
    link = get_or_create_link(
        session, channel="pinterest", target="checkout", variant_id=tee.variants[0].id, quantity=2
    )
    session.commit()
    click = client.get(f"/shop/s/{link.code}", headers={"User-Agent": BROWSER_UA})
    assert click.status_code == 302
    location = click.headers["Location"]
    assert location.startswith("/shop/checkout/cart?products=")
    response = client.get(location, headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 303
    [clicked] = _interactions(session, "click")  # the redirect's click, no second one
    [checkout] = h.checkouts(session)
    assert checkout.origin_interaction_id == clicked.id
    assert (checkout.channel, checkout.link_id) == ("pinterest", link.id)
    assert [(line.variant_id, line.quantity) for line in checkout.lines] == [
        (tee.variants[0].id, 2)
    ]


def test_bad_cart_links(client: FlaskClient, session: Session, shop: dict[str, Any]) -> None:
    tee = shop["tee"]
    cases = [
        ("", 400, "no products"),
        ("products=", 400, "no products"),
        (f"products={tee.variants[0].id}:0", 400, "at least 1"),
        (f"products={tee.variants[0].id}:1000000000", 400, "at most 20"),
        (f"products={tee.variants[0].id}:abc", 400, "whole number"),
        ("products=NO-SUCH-SKU:1", 422, "NO-SUCH-SKU"),
        (f"products={tee.variants[0].id}:11", 409, "Only 10"),
    ]
    for query, status, text in cases:
        response = client.get(f"/shop/checkout/cart?{query}")
        assert response.status_code == status, query
        assert text in response.get_data(as_text=True), query
    assert _checkout_count(session) == 0
    assert _interactions(session) == []


def test_link_previews_hold_no_stock(
    client: FlaskClient, session: Session, shop: dict[str, Any]
) -> None:
    tee = shop["tee"]
    url = f"/shop/checkout/cart?products={tee.variants[0].id}:3"
    for headers in (
        {"User-Agent": "facebookexternalhit/1.1"},
        {"User-Agent": BROWSER_UA, "Sec-Purpose": "prefetch"},
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        assert "Continue to checkout" in response.get_data(as_text=True)
    assert _checkout_count(session) == 0
    assert h.stock(session, tee.variants[0].id) == 10


# --- success and cancel pages ------------------------------------------------------------------


def test_success_page_waits_for_the_order_then_shows_it(
    client: FlaskClient, session: Session, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    tee = shop["tee"]
    response = client.post(
        "/shop/checkout", json={"lines": [{"variant_id": tee.variants[0].id, "quantity": 2}]}
    )
    sid = _session_id(response.get_json()["url"])
    success_url = emulator.pay(sid)
    path = urlsplit(success_url)
    page = client.get(f"{path.path}?{path.query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "we are confirming your payment" in html
    assert 'http-equiv="refresh"' in html
    assert "2 \u00d7 Linen Tee - M" in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"

    # The webhook (engineer F's) makes the order; here it is written directly.
    [checkout] = h.checkouts(session)
    order = Order(
        checkout_id=checkout.id,
        status="paid",
        currency="USD",
        subtotal_amount=7000,
        total_amount=7500,
        provider_session_id=sid,
        lines=[
            OrderLine(
                variant_id=tee.variants[0].id, title="Linen Tee - M", unit_amount=3500, quantity=2
            )
        ],
    )
    session.add(order)
    session.commit()
    html = client.get(f"{path.path}?{path.query}").get_data(as_text=True)
    assert "your order is confirmed" in html
    assert f"data-order-number>{order.id}<" in html
    assert "75.00 USD" in html
    assert 'http-equiv="refresh"' not in html


def test_success_page_trusts_the_query_for_nothing_but_the_lookup(client: FlaskClient) -> None:
    for query in ("", "session_id=cs_test_unknown", "session_id=" + "x" * 1000):
        response = client.get(f"/shop/checkout/success?{query}&paid=1&order=7")
        assert response.status_code == 404
        assert "can\u2019t find this checkout" in response.get_data(as_text=True)


def test_cancel_releases_nothing_and_leads_back_to_the_post(
    client: FlaskClient, session: Session, shop: dict[str, Any], emulator: StripeEmulator
) -> None:
    tee = shop["tee"]
    response = client.post("/shop/checkout", data=_form(tee, tee.variants[0], 2), headers=ORIGIN)
    sid = _session_id(response.headers["Location"])
    cancel = urlsplit(emulator.session(sid)["cancel_url"])
    page = client.get(f"{cancel.path}?{cancel.query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "You left the payment page" in html
    assert 'href="/shop/p/summer-look"' in html
    assert h.stock(session, tee.variants[0].id) == 8
    assert h.checkouts(session)[0].status == "open"
    # An unknown post or a forged token is not carried.
    html = client.get("/shop/checkout/cancel?post=nope&st=forged").get_data(as_text=True)
    assert 'href="/shop/"' in html
    assert "forged" not in html


# --- concurrency through a real server (PostgreSQL) ----------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.postgresql_only
@pytest.mark.slow
def test_fifty_concurrent_checkouts_over_http_for_ten_units(
    app: Flask, session: Session, emulator: StripeEmulator
) -> None:
    shirt = h.variant(session, "shirt", stock=10, price=2000)
    barrier = threading.Barrier(50)
    results: list[Any] = [None] * 50

    with serve(app) as base:

        def buy(index: int) -> None:
            barrier.wait()
            try:
                reply = requests.post(
                    f"{base}/shop/checkout",
                    json={"lines": [{"variant_id": shirt.id, "quantity": 1}]},
                    timeout=60,
                )
                results[index] = (reply.status_code, reply.json())
            except Exception as exc:
                results[index] = exc

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

    statuses = sorted(r[0] for r in results if isinstance(r, tuple))
    assert statuses == [201] * 10 + [409] * 40, results
    assert h.stock(session, shirt.id) == 0
    checkouts = h.checkouts(session)
    assert len(checkouts) == 10
    assert all(c.status == "open" and c.provider_session_id for c in checkouts)
    assert len(emulator.sessions) == 10
    assert session.scalar(select(func.sum(CheckoutLine.reserved))) == 10
