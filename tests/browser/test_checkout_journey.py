"""The checkout in Chromium: buy from the post page, pay on the emulator, come back.

The app runs on a real port and talks to the session's Stripe emulator through
stripe-python; the shopper clicks through the post page, the emulator's hosted page,
and the shop's success, cancel and error pages, each audited like the other pages.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.catalog.models import Variant
from flask_shoppable.checkout.models import Checkout
from flask_shoppable.orders.models import Order, OrderLine
from flask_shoppable.testing import StripeEmulator
from tests.browser.conftest import DESKTOP, PHONE, screenshot
from tests.browser.test_accessibility import AUDIT
from tests.pages_data import look

pytestmark = pytest.mark.slow


def _buy_the_cap(page: Any, live_url: str) -> None:
    page.goto(f"{live_url}/shop/p/summer-look")
    page.get_by_label("Buy Canvas Cap").check()
    page.get_by_role("button", name="Buy 1 item").click()


def _fill(page: Any) -> None:
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Address").fill("1 Main Street")
    page.get_by_label("City").fill("Springfield")
    page.get_by_label("Postal code").fill("12345")
    page.get_by_label("Country").select_option("US")


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {
        "SHOPPABLE_CLICK_WRITE_MODE": "durable",
        "SHOPPABLE_SHIPPING_COUNTRIES": ["US"],
        "SHOPPABLE_SHIPPING_RATES": {"USD": {"amount": 500, "name": "Standard"}},
    }


def test_buy_pay_and_come_back_to_the_order(
    app: Flask,
    session: Session,
    live_url: str,
    new_page: Any,
    emulator: StripeEmulator,
) -> None:
    data = look(session)
    page = new_page(PHONE)
    _buy_the_cap(page, live_url)
    page.wait_for_url(f"{emulator.url}/pay/*")
    assert page.locator("[data-total]").inner_text() == "30.00 USD"  # 25.00 + 5.00 shipping

    _fill(page)
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name="Pay 30.00 USD").click()
    page.wait_for_url(f"{live_url}/shop/checkout/success?session_id=*")
    assert page.get_by_role(
        "heading", name="Thank you, we are confirming your payment"
    ).is_visible()
    assert page.locator("[data-line]").all_inner_texts() == ["1 \u00d7 Canvas Cap\n25.00 USD"]
    assert page.evaluate(AUDIT) == []
    screenshot(page, "checkout-success-confirming")

    # The webhook's order (engineer F's processing) is written here directly; the page
    # reloads itself and shows it.
    checkout = session.scalars(select(Checkout)).one()
    cap_variant = data["cap"].variants[0]
    session.add(
        Order(
            checkout_id=checkout.id,
            status="paid",
            currency="USD",
            subtotal_amount=2500,
            shipping_amount=500,
            total_amount=3000,
            provider_session_id=checkout.provider_session_id,
            lines=[
                OrderLine(
                    variant_id=cap_variant.id, title="Canvas Cap", unit_amount=2500, quantity=1
                )
            ],
        )
    )
    session.commit()
    heading = page.get_by_role("heading", name="Thank you, your order is confirmed")
    heading.wait_for(timeout=10_000)
    assert page.locator("[data-adjustment]").all_inner_texts() == ["Shipping\n5.00 USD"]
    assert page.locator("[data-total]").inner_text() == "Total\n30.00 USD"
    assert page.evaluate(AUDIT) == []
    screenshot(page, "checkout-success-paid")


def test_cancel_and_go_back_to_the_post(
    app: Flask, session: Session, live_url: str, new_page: Any, emulator: StripeEmulator
) -> None:
    data = look(session)
    page = new_page(DESKTOP)
    _buy_the_cap(page, live_url)
    page.wait_for_url(f"{emulator.url}/pay/*")
    page.get_by_role("link", name="Cancel and return to the shop").click()
    page.wait_for_url(f"{live_url}/shop/checkout/cancel?*")
    assert page.get_by_role("heading", name="You left the payment page").is_visible()
    assert page.evaluate(AUDIT) == []
    screenshot(page, "checkout-cancel")
    # Nothing is released by leaving: the session may still be paid in another tab.
    assert session.scalars(select(Checkout)).one().status == "open"
    page.get_by_role("link", name="Back to the post").click()
    page.wait_for_url(f"{live_url}/shop/p/summer-look")
    assert data["post"].slug == "summer-look"


def test_sold_out_meanwhile_shows_the_error_page(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    data = look(session)
    page = new_page(PHONE)
    page.goto(f"{live_url}/shop/p/summer-look")
    page.get_by_label("Buy Canvas Cap").check()
    # Another shopper takes the last caps while this one hesitates.
    cap_variant = data["cap"].variants[0]
    session.execute(Variant.__table__.update().where(Variant.id == cap_variant.id).values(stock=0))
    session.commit()
    page.get_by_role("button", name="Buy 1 item").click()
    page.wait_for_url(f"{live_url}/shop/checkout")
    assert page.get_by_role("heading", name="We couldn\u2019t start your checkout").is_visible()
    assert page.get_by_role("alert").inner_text().find("Canvas Cap is sold out.") >= 0
    assert page.evaluate(AUDIT) == []
    screenshot(page, "checkout-error-sold-out")
    page.get_by_role("link", name="Back to the post").click()
    page.wait_for_url(f"{live_url}/shop/p/summer-look")
