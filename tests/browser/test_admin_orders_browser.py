"""The merchant's orders, customers and outbox pages in Chromium: ship an order, refund part of
it through the emulator, follow the customer's timeline, replay a failed webhook.

Each page passes the accessibility audit on a desktop and a phone; screenshots go to
``test-artifacts/browser/admin-*.png``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.db import utcnow
from flask_shoppable.orders.models import Order, WebhookEvent
from flask_shoppable.social.models import Post, TrackedLink
from flask_shoppable.testing import Address, StripeEmulator
from flask_shoppable.tracking.models import Interaction, new_id
from tests.admin_helpers import EMAIL, PASSWORD, create_merchant
from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, screenshot
from tests.browser.test_accessibility import AUDIT
from tests.checkout_helpers import product, variant
from tests.ops_helpers import paid_order, webhook_order
from tests.order_helpers import post_event

pytestmark = pytest.mark.slow

PHONE_VISITOR = "e" * 32
LAPTOP_VISITOR = "f" * 32


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"SHOPPABLE_SHIPPING_COUNTRIES": ["US", "GB"], "SHOPPABLE_SHOP_NAME": "Harbour & Pine"}


def _shop(app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator) -> Order:
    """A few orders; the last came from an Instagram click after a TikTok one."""
    post = Post(
        slug="summer-look", caption="Summer in linen", image_url="/img/summer.svg",
        status="published",
    )  # fmt: skip
    session.add(post)
    session.flush()
    link = TrackedLink(
        code="igsummer01", target="post", post_id=post.id, channel="instagram",
        utm_source="instagram", utm_medium="social", utm_campaign="summer-25",
    )  # fmt: skip
    session.add(link)
    session.flush()
    now = utcnow()
    touches = [
        ("impression", "instagram", PHONE_VISITOR, "instagram-app", 30),
        ("click", "tiktok", LAPTOP_VISITOR, "desktop", 26),
        ("impression", "instagram", PHONE_VISITOR, "instagram-app", 3),
    ]
    for kind, channel, visitor, ua, hours in touches:
        session.add(
            Interaction(
                id=new_id(), kind=kind, channel=channel, visitor_id=visitor, ua_class=ua,
                post_id=post.id, occurred_at=now - timedelta(hours=hours),
            )
        )  # fmt: skip
    click = new_id()
    session.add(
        Interaction(
            id=click, kind="click", channel="instagram", visitor_id=PHONE_VISITOR,
            ua_class="instagram-app", post_id=post.id, link_id=link.id, utm_source="instagram",
            utm_medium="social", utm_campaign="summer-25", occurred_at=now - timedelta(hours=2),
        )
    )  # fmt: skip
    session.commit()
    shirt = product(
        session,
        "linen-shirt",
        {"sku": "LIN-S", "options": ["S"], "price": 4900},
        {"sku": "LIN-M", "options": ["M"], "price": 4900},
    )
    cap = variant(session, "canvas-cap", sku="CAP-NAVY", price=2500, stock=50)
    for number, channel in enumerate(["tiktok", "facebook", "instagram", "email", "tiktok"]):
        webhook_order(
            client, session, emulator, [(cap, 1 + number % 2)], email=f"shopper{number}@mail.test",
            name=f"Shopper {number}", channel=channel,
        )  # fmt: skip
    webhook_order(
        client, session, emulator, [(shirt.variants[0], 1)], email="ada@example.com",
        name="Ada Lovelace", visitor_id=LAPTOP_VISITOR, channel="tiktok",
    )  # fmt: skip
    return paid_order(
        app, client, session, emulator, [(shirt.variants[1], 1), (cap, 1)],
        email="ada@example.com", name="Ada Lovelace",
        address=Address(line1="12 Harbour Road", city="Brighton", postal_code="BN1 2AB",
                        country="GB"),
        visitor_id=PHONE_VISITOR, origin_id=click, channel="instagram", post_id=post.id,
        link_id=link.id,
    )  # fmt: skip


def _sign_in(page: Any, live_url: str) -> None:
    page.goto(f"{live_url}/shop/admin/orders")
    assert "/shop/admin/sign-in?next=" in page.url  # anonymous: sent to sign in first
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_url}/shop/admin/orders")


def test_ship_refund_and_follow_the_customer(
    app: Flask,
    client: FlaskClient,
    session: Session,
    live_url: str,
    new_page: Any,
    emulator: StripeEmulator,
) -> None:
    create_merchant(app)
    order = _shop(app, client, session, emulator)
    emulator.add_webhook(f"{live_url}/shop/webhooks/stripe")
    print(f"screenshots: {ARTIFACTS}")
    page = new_page(DESKTOP, reduced_motion="reduce")
    _sign_in(page, live_url)
    assert page.locator("[data-testid=order-row]").count() == 7
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-orders")

    page.get_by_label("Channel").select_option("instagram")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/orders?*channel=instagram*")
    assert page.locator("[data-testid=order-row]").count() == 2
    page.get_by_role("link", name=f"#{order.id}").click()
    page.wait_for_url(f"{live_url}/shop/admin/orders/{order.id}")
    assert page.get_by_test_id("order-channel").get_attribute("data-channel") == "instagram"
    assert page.get_by_test_id("origin-post").inner_text().startswith("summer-look")
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-order")

    # Bad tracking number: the message beside the field, what was typed kept.
    page.get_by_label("Carrier").fill("Royal Mail")
    page.get_by_label("Tracking number").fill("??")
    page.get_by_role("button", name="Mark as shipped").click()
    assert "letters, digits or dashes" in page.get_by_test_id("error-tracking_number").inner_text()
    assert page.get_by_label("Carrier").input_value() == "Royal Mail"
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-order-fulfil-error", full_page=False)
    page.get_by_label("Tracking number").fill("RM 1234 5678 9GB")
    page.get_by_role("button", name="Mark as shipped").click()
    page.get_by_test_id("fulfilment").wait_for()
    assert "RM123456789GB" in page.get_by_test_id("fulfilment").inner_text()

    # Refund part of it through the emulator; the page says it waits for the webhook.
    page.get_by_label("Amount (USD)").fill("10.00")
    page.get_by_role("button", name="Refund").click()
    page.get_by_test_id("flash-info").wait_for()
    assert (
        "changes when the payment provider confirms"
        in page.get_by_test_id("flash-info").inner_text()
    )
    emulator.wait_for_deliveries()
    page.reload()
    assert page.get_by_test_id("order-refunded").inner_text() == "\u221210.00 USD"
    assert page.get_by_test_id("order-net").inner_text() == "64.00 USD"
    # Confirmed, not left pending (the webhook may come before the request recorded it).
    assert page.get_by_test_id("refund-pending-note").count() == 0
    assert page.get_by_test_id("refund-row").locator(".badge").inner_text() == "succeeded"
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-order-shipped-refunded")

    page.get_by_test_id("customer-timeline").click()
    page.wait_for_url(f"{live_url}/shop/admin/customers/{order.customer_id}")
    kinds = page.locator("[data-testid=timeline-entry]").evaluate_all(
        "els => els.map(e => e.dataset.kind)"
    )
    assert kinds == [
        "impression", "click", "impression", "click", "checkout", "order", "checkout",
        "order", "fulfilled", "refund",
    ]  # fmt: skip
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-customer-timeline")

    page.get_by_test_id("nav-customers").click()
    page.get_by_label("Email").fill("ada@")
    page.get_by_role("button", name="Search").click()
    assert page.locator("[data-testid=customer-row]").count() == 1
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-customers")

    phone = new_page(PHONE, reduced_motion="reduce")
    _sign_in(phone, live_url)
    assert phone.evaluate(AUDIT) == []
    screenshot(phone, "admin-orders-phone")
    phone.goto(f"{live_url}/shop/admin/orders/{order.id}")
    assert phone.evaluate(AUDIT) == []
    screenshot(phone, "admin-order-phone")
    phone.goto(f"{live_url}/shop/admin/customers/{order.customer_id}")
    assert phone.evaluate(AUDIT) == []
    screenshot(phone, "admin-customer-timeline-phone")


def test_outbox_page_replays_a_failed_webhook(
    app: Flask,
    client: FlaskClient,
    session: Session,
    live_url: str,
    new_page: Any,
    emulator: StripeEmulator,
) -> None:
    create_merchant(app)
    order = webhook_order(client, session, emulator, [(variant(session, "tee", price=3000), 1)])
    charge = {
        "id": "ch_1", "object": "charge", "amount": 3000, "amount_refunded": 1000,
        "currency": "usd", "payment_intent": order.provider_payment_id,
        "metadata": {"shoppable_checkout_id": str(order.checkout_id)}, "status": "succeeded",
    }  # fmt: skip
    post_event(client, emulator, "charge.refunded", charge, event_id="evt_refund_1")
    session.execute(
        WebhookEvent.__table__.update()
        .where(WebhookEvent.event_id == "evt_refund_1")
        .values(
            status="failed",
            attempts=4,
            last_error='Traceback (most recent call last):\n  File "x.py", line 1\n'
            "OperationalError: could not connect to server",
        )
    )
    session.add(
        OutboxMessage(
            sink="hubspot", event="order.paid", key=f"{order.id}:order.paid:1",
            payload={"order": {"id": order.id}}, status="dead", attempts=8, order_id=order.id,
            last_error="Rejected: 400 Property values were not valid: revenue_source",
        )
    )  # fmt: skip
    session.commit()
    page = new_page(DESKTOP, reduced_motion="reduce")
    _sign_in(page, live_url)
    page.get_by_test_id("nav-outbox").click()
    assert page.get_by_test_id("outbox-dead-count").inner_text() == "1 dead"
    assert page.get_by_test_id("webhooks-attention").inner_text() == "1 need attention"
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-outbox")
    page.get_by_test_id("replay-webhook").click()
    page.get_by_test_id("flash-success").wait_for()
    assert "replayed: processed" in page.get_by_test_id("flash-success").inner_text()
    assert page.get_by_test_id("webhooks-healthy").is_visible()
    page.get_by_test_id("replay-message").click()
    assert "queued again" in page.get_by_test_id("flash-success").inner_text()
    assert page.get_by_test_id("dead-letters-empty").is_visible()
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-outbox-replayed")
    session.expire_all()
    assert session.get(Order, order.id).refunded_amount == 1000
