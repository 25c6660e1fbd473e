"""The Stripe emulator's hosted checkout page in Chromium: a demo shopper pays with test cards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flask_shoppable.payments.base import SessionLine, SessionRequest, ShippingOption
from flask_shoppable.payments.stripe import StripeProvider
from flask_shoppable.testing import StripeEmulator
from tests.browser.conftest import DESKTOP, PHONE, screenshot
from tests.browser.test_accessibility import AUDIT

pytestmark = pytest.mark.slow


def _session(emulator: StripeEmulator) -> str:
    provider = StripeProvider(emulator.secret_key, emulator.webhook_secret, api_base=emulator.url)
    session = provider.create_session(
        SessionRequest(
            checkout_id=1,
            currency="EUR",
            lines=[SessionLine("Linen shirt", 4800, 1, "EUR"), SessionLine("Mug", 1500, 2, "EUR")],
            # A page that exists on the emulator stands in for the shop's success page.
            success_url=f"{emulator.url}/health?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{emulator.url}/health?cancelled=1",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            idempotency_key="browser-1",
            shipping_countries=("FR", "BE"),
            shipping_options=(ShippingOption("Colissimo", 490, "EUR"),),
        )
    )
    return session.id


def _fill(page: Any) -> None:
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Address").fill("12 Rue de la Paix")
    page.get_by_label("City").fill("Paris")
    page.get_by_label("Postal code").fill("75002")
    page.get_by_label("Country").select_option("FR")


def test_a_declined_card_then_a_good_one(emulator: StripeEmulator, new_page: Any) -> None:
    session_id = _session(emulator)
    page = new_page(PHONE)
    page.goto(f"{emulator.url}/pay/{session_id}")
    assert "Pay the shop" in page.title()
    assert page.locator("[data-total]").inner_text() == "82.90 EUR"

    _fill(page)
    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_role("button", name="Pay 82.90 EUR").click()
    assert page.get_by_role("alert").inner_text() == "Your card was declined."
    assert page.get_by_label("Email").input_value() == "ada@example.com"
    screenshot(page, "emulator-declined")
    assert emulator.sessions[session_id]["status"] == "open"

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name="Pay 82.90 EUR").click()
    page.wait_for_url(f"**/health?session_id={session_id}")
    paid = emulator.sessions[session_id]
    assert (paid["status"], paid["payment_status"]) == ("complete", "paid")
    assert paid["customer_details"]["email"] == "ada@example.com"


def test_pay_by_bank_transfer(emulator: StripeEmulator, new_page: Any) -> None:
    session_id = _session(emulator)
    page = new_page(DESKTOP)
    page.goto(f"{emulator.url}/pay/{session_id}")
    _fill(page)
    page.get_by_role("button", name="Pay by bank transfer (test): settles later").click()
    page.wait_for_url("**/health?session_id=*")
    assert emulator.sessions[session_id]["payment_status"] == "unpaid"

    page.goto(f"{emulator.url}/")
    page.get_by_role("button", name="Transfer arrives").click()
    assert emulator.sessions[session_id]["payment_status"] == "paid"
    assert emulator.last_event()["type"] == "checkout.session.async_payment_succeeded"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_page_passes_the_audit(
    emulator: StripeEmulator, new_page: Any, viewport: dict[str, int]
) -> None:
    session_id = _session(emulator)
    page = new_page(viewport, reduced_motion="reduce")
    page.goto(f"{emulator.url}/pay/{session_id}")
    assert page.evaluate(AUDIT) == []
    assert page.evaluate("document.documentElement.lang") == "en"
    screenshot(page, f"emulator-pay-{'phone' if viewport is PHONE else 'desktop'}")
