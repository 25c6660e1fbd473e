"""The whole loop in Chromium, as a merchant and a shopper live it.

A merchant signs in, creates a product with two variants, a post with a picture, tags the
product on the picture, publishes the post and copies its Instagram link. A shopper opens
that link in Instagram's in-app browser on a phone, picks a size, pays on the Stripe
emulator's hosted page with the test card 4242 4242 4242 4242, and lands on the success
page, which confirms once the emulator's webhook reached the shop. The merchant then sees
the order, credited to Instagram and that post, on the order page and the dashboard.

The app runs on a real port; stripe-python talks to the session's emulator, which delivers
its signed webhooks to the app over HTTP. A screenshot of each step is saved under the
directory the test prints (test-artifacts/browser/journey-*.png).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.catalog.models import Product
from flask_shoppable.orders.models import Order
from flask_shoppable.social.models import Post, TrackedLink
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.tracking.models import Interaction
from tests.admin_helpers import EMAIL, PASSWORD, create_merchant
from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, screenshot
from tests.browser.test_accessibility import AUDIT
from tests.browser.test_checkout_journey import _fill as fill_shipping

pytestmark = pytest.mark.slow

#: Instagram's in-app browser on an iPhone.
INSTAGRAM_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Instagram 330.0.0.40.92 (iPhone14,5; iOS 17_4; "
    "en_US; en; scale=3.00; 1170x2532; 602346185)"
)

#: A photo-like post picture: a linen shirt on a hanger against a summer wall.
POST_SCENE = """
<html><body style="margin:0">
<svg xmlns="http://www.w3.org/2000/svg" width="640" height="800" viewBox="0 0 640 800">
  <defs>
    <linearGradient id="wall" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#f6d7b0"/><stop offset="1" stop-color="#f3e9dc"/>
    </linearGradient>
    <linearGradient id="linen" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#fdfbf7"/><stop offset="1" stop-color="#e7dccb"/>
    </linearGradient>
  </defs>
  <rect width="640" height="800" fill="url(#wall)"/>
  <circle cx="520" cy="150" r="80" fill="#f59e0b" opacity=".35"/>
  <rect y="640" width="640" height="160" fill="#c08a5b"/>
  <rect y="640" width="640" height="10" fill="#a16d43"/>
  <path d="M320 110 q0 -30 22 -30 q20 0 20 18" fill="none" stroke="#6b7280" stroke-width="6"/>
  <path d="M200 170 L320 140 L440 170" fill="none" stroke="#6b7280" stroke-width="8"
        stroke-linecap="round"/>
  <path d="M230 175 L285 160 Q320 190 355 160 L410 175 L500 260 L455 315 L420 280 L420 560
           L220 560 L220 280 L185 315 L140 260 Z" fill="url(#linen)" stroke="#cbbba3"
        stroke-width="3"/>
  <path d="M320 185 L320 555" stroke="#d6c8b2" stroke-width="3"/>
  <g fill="#b59f80"><circle cx="320" cy="230" r="5"/><circle cx="320" cy="300" r="5"/>
     <circle cx="320" cy="370" r="5"/><circle cx="320" cy="440" r="5"/></g>
  <path d="M240 600 q80 -30 160 0 q-20 40 -80 40 q-60 0 -80 -40z" fill="#1e3a5f"/>
  <rect x="470" y="520" width="90" height="120" rx="10" fill="#4d7c0f" opacity=".85"/>
  <path d="M515 520 q-30 -80 10 -140 q20 60 -10 140z" fill="#65a30d"/>
</svg></body></html>
"""
#: The product's own picture: the shirt on a plain background.
PRODUCT_SCENE = POST_SCENE.replace("url(#wall)", "#f8fafc").replace(
    'fill="#c08a5b"', 'fill="#f8fafc"'
)


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {
        "SHOPPABLE_CLICK_WRITE_MODE": "durable",
        "SHOPPABLE_SHIPPING_COUNTRIES": ["US"],
        "SHOPPABLE_SHIPPING_RATES": {"USD": {"amount": 500, "name": "Standard"}},
        "SHOPPABLE_SHOP_NAME": "Harbour & Pine",
    }


def _png(browser: Any, html: str) -> bytes:
    """Render ``html`` in Chromium and take it as a PNG (a real upload, no image library)."""
    context = browser.new_context(viewport={"width": 640, "height": 800})
    try:
        page = context.new_page()
        page.set_content(html)
        return bytes(page.screenshot(type="png"))
    finally:
        context.close()


def _step(page: Any, name: str, audit: bool = True, full_page: bool = True) -> None:
    """Screenshot a step; audit its page (the catalog, post and link pages are audited by
    their own browser tests, the emulator's page is not the shop's)."""
    if audit:
        assert page.evaluate(AUDIT) == [], name
    screenshot(page, f"journey-{name}", full_page=full_page)


def test_merchant_posts_shopper_buys_merchant_sees_the_sale(
    app: Flask,
    session: Session,
    live_url: str,
    new_page: Any,
    browser: Any,
    emulator: StripeEmulator,
) -> None:
    print(f"screenshots: {ARTIFACTS}")
    create_merchant(app)
    emulator.add_webhook(f"{live_url}/shop/webhooks/stripe")
    admin = f"{live_url}/shop/admin"

    # -- the merchant signs in -----------------------------------------------------------
    merchant = new_page(
        DESKTOP, reduced_motion="reduce", permissions=["clipboard-read", "clipboard-write"]
    )
    merchant.goto(f"{admin}/products")
    assert "/shop/admin/sign-in?next=" in merchant.url
    merchant.get_by_label("Email").fill(EMAIL)
    merchant.get_by_label("Password").fill(PASSWORD)
    _step(merchant, "01-sign-in", audit=False)
    merchant.get_by_role("button", name="Sign in").click()
    merchant.wait_for_url(f"{admin}/products")

    # -- a product with two variants -----------------------------------------------------
    merchant.goto(f"{admin}/products/new")
    merchant.locator("#title").fill("Linen Shirt")
    merchant.locator("#description").fill("Breathable European linen, garment-washed.")
    merchant.locator("#vendor").fill("Harbour & Pine")
    merchant.locator("#image").set_input_files(
        {"name": "shirt.png", "mimeType": "image/png", "buffer": _png(browser, PRODUCT_SCENE)}
    )
    merchant.locator("#image_alt").fill("A white linen shirt on a hanger")
    merchant.locator("#options").fill("Size")
    for row, (size, sku) in enumerate((("M", "LIN-M"), ("L", "LIN-L"))):
        merchant.locator(f"#variants-{row}-options").fill(size)
        merchant.locator(f"#variants-{row}-price").fill("49.00")
        merchant.locator(f"#variants-{row}-stock").fill("10")
        merchant.locator(f"#variants-{row}-sku").fill(sku)
        active = merchant.locator(f"#variants-{row}-active")
        if not active.is_checked():
            active.check()
    active = merchant.locator("#active")
    if not active.is_checked():
        active.check()
    _step(merchant, "02-new-product", audit=False)
    merchant.get_by_test_id("save-product").click()
    merchant.wait_for_url(re.compile(r".*/shop/admin/products/\d+.*"))
    product = session.scalars(select(Product).where(Product.title == "Linen Shirt")).one()
    assert sorted(v.sku for v in product.variants) == ["LIN-L", "LIN-M"]
    _step(merchant, "03-product", audit=False)

    # -- a post with a picture, the product tagged on it, published ----------------------
    merchant.goto(f"{admin}/posts/new")
    merchant.locator("#caption").fill("Summer starts in linen. Tap to shop the shirt.")
    merchant.locator("#image").set_input_files(
        {"name": "summer.png", "mimeType": "image/png", "buffer": _png(browser, POST_SCENE)}
    )
    merchant.locator("#image_alt").fill("A linen shirt on a hanger against a sunny wall")
    merchant.locator("#campaign").fill("summer-25")
    merchant.locator("#slug").fill("summer-linen")
    _step(merchant, "04-new-post", audit=False)
    merchant.get_by_test_id("save-post").click()
    merchant.wait_for_url(re.compile(r".*/shop/admin/posts/\d+.*"))
    merchant.locator("#tags-0-product_id").select_option(str(product.id))
    merchant.get_by_test_id("place-0").click()
    tagger = merchant.get_by_test_id("tagger")
    box = tagger.bounding_box()
    assert box is not None
    tagger.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.45})
    x = float(merchant.locator("#tags-0-x").input_value())
    y = float(merchant.locator("#tags-0-y").input_value())
    assert 45 <= x <= 55
    assert 40 <= y <= 50
    _step(merchant, "05-tag-on-image", audit=False)
    merchant.get_by_test_id("save-tags").click()
    merchant.get_by_test_id("publish-post").wait_for()
    merchant.get_by_test_id("publish-post").click()
    assert merchant.get_by_test_id("post-status-badge").inner_text() == "Published"
    post = session.scalars(select(Post).where(Post.slug == "summer-linen")).one()
    session.refresh(post)
    assert post.status == "published"
    assert [(t.product_id, round(t.x or 0)) for t in post.tags] == [(product.id, round(x))]
    _step(merchant, "06-published", audit=False)

    # -- its Instagram link, copied --------------------------------------------------------
    merchant.get_by_test_id("post-links").click()
    merchant.locator("#channel").select_option("instagram")
    merchant.locator("#target").select_option("post")
    merchant.locator("#post_id").select_option(str(post.id))
    merchant.get_by_test_id("create-link").click()
    card = merchant.get_by_test_id("link-instagram").first
    card.wait_for()
    card.get_by_role("button", name="Copy").click()
    copied = merchant.evaluate("navigator.clipboard.readText()")
    link = session.scalars(select(TrackedLink).where(TrackedLink.channel == "instagram")).one()
    assert copied.endswith(f"/shop/s/{link.code}")
    assert link.post_id == post.id
    _step(merchant, "07-instagram-link", audit=False)

    # -- a shopper opens it in Instagram on a phone, picks M, pays -----------------------
    shopper = new_page(PHONE, user_agent=INSTAGRAM_UA, is_mobile=True, has_touch=True)
    shopper.goto(copied)
    shopper.wait_for_url(re.compile(r".*/shop/p/summer-linen.*"))
    _step(shopper, "08-post-on-phone", full_page=False)
    shopper.get_by_label("Buy Linen Shirt").check()
    medium = next(v for v in product.variants if v.sku == "LIN-M")
    shopper.get_by_label("Size").select_option(str(medium.id))
    shopper.get_by_label("Size").scroll_into_view_if_needed()
    _step(shopper, "09-picked", full_page=False)
    shopper.get_by_role("button", name="Buy 1 item").click()
    shopper.wait_for_url(f"{emulator.url}/pay/*")
    assert shopper.locator("[data-total]").inner_text() == "54.00 USD"  # 49.00 + 5.00
    fill_shipping(shopper)  # ada@example.com, Ada Lovelace, 1 Main Street, ... US
    shopper.get_by_label("Card number").fill("4242 4242 4242 4242")
    _step(shopper, "10-pay", audit=False)
    shopper.get_by_role("button", name="Pay 54.00 USD").click()
    shopper.wait_for_url(f"{live_url}/shop/checkout/success?session_id=*")
    shopper.get_by_role("heading", name="Thank you, your order is confirmed").wait_for(
        timeout=15_000
    )
    _step(shopper, "11-success")

    # -- the merchant sees the sale, credited to Instagram and the post ----------------
    order = session.scalars(select(Order)).one()
    assert (order.status, order.channel, order.post_id, order.link_id) == (
        "paid",
        "instagram",
        post.id,
        link.id,
    )
    click = session.get(Interaction, order.origin_interaction_id)
    assert click is not None
    assert (click.kind, click.ua_class) == ("click", "instagram-app")
    merchant.goto(f"{admin}/orders")
    row = merchant.locator(f"[data-order-id='{order.id}']")
    assert row.locator("[data-channel]").get_attribute("data-channel") == "instagram"
    _step(merchant, "12-orders")
    row.get_by_role("link", name=f"#{order.id}").click()
    assert merchant.get_by_test_id("order-channel").get_attribute("data-channel") == "instagram"
    assert merchant.get_by_test_id("origin-post").inner_text().startswith("summer-linen")
    lines = merchant.get_by_test_id("order-line").all_inner_texts()
    assert len(lines) == 1
    assert "LIN-M" in lines[0]
    _step(merchant, "13-order")

    # -- the dashboard: the sale under Instagram and under the post ------------------------
    merchant.get_by_test_id("nav-dashboard").click()
    assert merchant.get_by_test_id("kpi-orders").locator(".dash-kpi__value").inner_text() == "1"
    for testid in ("row-channel-instagram", f"row-post-{post.id}"):
        cells = merchant.get_by_test_id(testid).locator("td").all_inner_texts()
        # impressions, clicks, visitors, checkouts, orders, conversion, gross, refunded, net
        assert cells[1] == "1", testid  # the click on the Instagram link
        assert cells[4] == "1", testid
        assert "54.00" in cells[8], testid
    label = merchant.get_by_test_id("row-channel-instagram").locator("th").text_content()
    assert label.strip() == "Instagram"
    _step(merchant, "14-dashboard")
