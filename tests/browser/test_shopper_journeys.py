"""What a shopper does, in Chromium: storefront → post → hotspots → pick → buy; embeds.

The checkout endpoint comes with the checkout issue, so the buy form's POST is
intercepted (``page.route``) and its fields checked against the form contract.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.browser.conftest import DESKTOP, PHONE, screenshot
from tests.pages_data import look, make_post, make_product

pytestmark = pytest.mark.slow

CAPTIONS = [
    "Golden hour on the pier. Linen everything.",
    "Weekend market haul 🧺",
    "Studio desk, slow mornings",
    "Rain-ready layers",
    "Picnic in the park",
    "Ceramics drop: small batch",
    "Trail day essentials",
    "Coffee, always",
]


def _storefront_posts(session: Session) -> dict[str, Any]:
    data = look(session)
    for i, caption in enumerate(CAPTIONS, start=1):
        product = make_product(
            session, f"item-{i}", title=f"Item {i}", variants=[{"price": 1000 + i * 250}]
        )
        make_post(session, f"post-{i}", caption=caption, tags=[(product, 50.0, 50.0)], age_days=i)
    session.commit()
    return data


def _tab_until(page: Any, selector: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(sel) => document.activeElement.matches(sel)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with the Tab key")


def test_phone_journey_storefront_post_pick_and_buy(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    data = _storefront_posts(session)
    shirt, cap = data["shirt"], data["cap"]
    shirt_large = next(v for v in shirt.variants if v.sku == "SHIRT-L")
    page = new_page(PHONE)

    posted: list[dict[str, list[str]]] = []

    def capture(route: Any) -> None:
        posted.append(parse_qs(route.request.post_data or ""))
        route.fulfill(status=200, content_type="text/html", body="<h1>checkout</h1>")

    page.route("**/shop/checkout", capture)

    page.goto(f"{live_url}/shop/?st=tok-123")
    assert page.get_by_role("heading", name="Shop").is_visible()
    tiles = page.locator(".tile__link")
    assert tiles.count() == 9
    screenshot(page, "storefront-phone")

    tiles.first.click()
    page.wait_for_url("**/shop/p/summer-look?st=tok-123")
    assert page.get_by_role("heading", name="Shop the look").is_visible()
    screenshot(page, "post-phone", full_page=False)  # what the shopper sees first

    # The hotspots are buttons named after their product, reachable with the keyboard.
    hotspot = page.get_by_role("button", name="Linen Shirt, 49.00 USD")
    assert hotspot.is_visible()
    _tab_until(page, "[data-hotspot]")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith(
        "Linen Shirt"
    )
    page.keyboard.press("Enter")
    tip = page.locator(f"#tip-{shirt.id}")
    assert tip.is_visible()
    assert hotspot.get_attribute("aria-expanded") == "true"
    screenshot(page, "post-phone-hotspot", full_page=False)
    page.keyboard.press("Tab")  # onto the tip's link
    page.keyboard.press("Enter")  # goes to the product card and focuses its toggle
    assert page.evaluate("document.activeElement.id") == f"pick-{shirt.id}"
    page.keyboard.press("Space")  # adds the shirt
    assert page.get_by_label("Buy Linen Shirt").is_checked()

    # Sold-out variants are disabled; pick L, two of them, and the cap too.
    select = page.get_by_label("Size")
    assert select.locator("option[disabled]").all_inner_texts() == ["S (sold out)"]
    select.select_option(str(shirt_large.id))
    card = page.locator(f"#product-{shirt.id}")
    assert card.locator("[data-show-price]").inner_text() == "54.00 USD"
    assert card.locator("[data-show-compare]").is_visible()
    card.get_by_label("Quantity").fill("2")
    page.get_by_label("Buy Canvas Cap").check()
    assert page.get_by_label("Buy Stone Mug").is_disabled()
    summary = page.locator("[data-summary]")
    assert summary.inner_text() == "3 items · 133.00 USD"
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    screenshot(page, "post-phone-picked", full_page=False)

    page.get_by_role("button", name="Buy 3 items").click()
    page.wait_for_url("**/shop/checkout")
    assert len(posted) == 1
    fields = posted[0]
    assert fields["st"] == ["tok-123"]
    assert fields["post"] == ["summer-look"]
    assert sorted(fields["product"]) == sorted([str(shirt.id), str(cap.id)])
    assert fields[f"variant-{shirt.id}"] == [str(shirt_large.id)]
    assert fields[f"quantity-{shirt.id}"] == ["2"]
    assert fields[f"variant-{cap.id}"] == [str(cap.variants[0].id)]
    assert fields[f"quantity-{cap.id}"] == ["1"]


def test_desktop_post_and_product_pages(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    data = _storefront_posts(session)
    page = new_page(DESKTOP)
    page.goto(f"{live_url}/shop/")
    screenshot(page, "storefront-desktop")
    page.goto(f"{live_url}/shop/p/nope")
    assert page.get_by_role("heading", name="This page isn\u2019t here").is_visible()
    screenshot(page, "not-found-desktop")
    page.goto(f"{live_url}/shop/p/summer-look")
    page.get_by_role("button", name="Select all").click()
    assert page.locator("[data-summary]").inner_text() == "2 items · 74.00 USD"
    screenshot(page, "post-desktop")

    posted: list[dict[str, list[str]]] = []

    def capture(route: Any) -> None:
        posted.append(parse_qs(route.request.post_data or ""))
        route.fulfill(status=200, content_type="text/html", body="ok")

    page.route("**/shop/checkout", capture)
    page.get_by_role("link", name="Linen Shirt").first.click()
    page.wait_for_url("**/shop/products/linen-shirt")
    assert page.get_by_role("heading", name="Linen Shirt").is_visible()
    assert page.get_by_role("heading", name="As seen in").is_visible()
    screenshot(page, "product-desktop")
    page.get_by_label("Quantity").fill("3")
    page.get_by_role("button", name="Buy now").click()
    page.wait_for_url("**/shop/checkout")
    shirt = data["shirt"]
    assert posted[0]["product"] == [str(shirt.id)]
    assert posted[0][f"quantity-{shirt.id}"] == ["3"]
    medium = next(v for v in shirt.variants if v.sku == "SHIRT-M")
    assert posted[0][f"variant-{shirt.id}"] == [str(medium.id)]


def test_product_page_on_a_phone(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    look(session)
    page = new_page(PHONE)
    page.goto(f"{live_url}/shop/products/linen-shirt")
    assert page.get_by_label("Size").input_value() != ""
    screenshot(page, "product-phone")


def test_caption_with_script_shows_as_text(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    product = make_product(session, "plain-tee")
    make_post(
        session,
        "xss",
        caption='<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">',
        tags=[(product, 50.0, 50.0)],
    )
    session.commit()
    page = new_page(PHONE)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_url}/shop/p/xss")
    assert page.evaluate("window.__pwned") is None
    assert "<script>window.__pwned = 1</script>" in page.locator(".caption__text").inner_text()
    page.goto(f"{live_url}/shop/embed/xss")
    assert page.evaluate("window.__pwned") is None
    assert "<script>" in page.locator(".caption").inner_text()
    assert errors == []


def _host_page(snippet: str, shop: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>A blog</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font:16px/1.6 Georgia,serif;max-width:640px;margin:40px auto;padding:0 16px;"
        "color:#222}</style></head><body><h1>Our summer post</h1>"
        "<p>Some words from the blog about linen.</p>"
        f"{snippet}<p>More words after the embed.</p>"
        f'<script async src="{shop}/shop/embed.js"></script></body></html>'
    )


def test_embed_in_an_iframe_on_another_site_resizes(
    app: Flask, session: Session, live_url: str, new_page: Any, other_site: Any
) -> None:
    look(session)
    page = new_page(PHONE)
    snippet = (
        '<div class="shoppable-embed" data-post="summer-look" data-channel="email">'
        f'<a href="{live_url}/shop/p/summer-look">Shop this look</a></div>'
    )
    page.goto(other_site(_host_page(snippet, live_url)))
    frame = page.frame_locator("iframe")
    frame.get_by_role("link", name="Shop the look").wait_for()
    iframe = page.locator("iframe")
    # The card reports its height; the script sizes the iframe to it (from 744 at first).
    page.wait_for_function(
        "() => { const f = document.querySelector('iframe');"
        " return f && f.style.height !== '744px'; }"
    )
    height = float(iframe.evaluate("f => f.getBoundingClientRect().height"))
    content = float(
        iframe.evaluate(
            "f => f.contentDocument ? -1 : 0"  # cross-origin: no access from the blog
        )
    )
    assert content == 0
    inner = page.frames[1].evaluate("document.documentElement.getBoundingClientRect().height")
    assert abs(height - inner) <= 2
    assert page.frames[1].url.endswith("/shop/embed/summer-look?channel=email")
    screenshot(page, "embed-on-blog-phone")

    # The same card at a desktop width is wider and shorter, and the iframe follows.
    page.set_viewport_size(DESKTOP)
    page.wait_for_function(
        "(h) => Math.abs(document.querySelector('iframe').getBoundingClientRect().height - h) > 5",
        arg=height,
    )
    screenshot(page, "embed-on-blog-desktop")


def test_pages_other_than_the_embed_refuse_to_be_framed(
    app: Flask, session: Session, live_url: str, new_page: Any, other_site: Any
) -> None:
    look(session)
    page = new_page(DESKTOP)
    body = (
        f'<iframe id="post" src="{live_url}/shop/p/summer-look"></iframe>'
        f'<iframe id="card" src="{live_url}/shop/embed/summer-look"></iframe>'
    )
    page.goto(other_site(body))
    page.wait_for_load_state("load")
    card = page.frame_locator("#card")
    card.get_by_role("link", name="Shop the look").wait_for()
    post_frame = page.frame_locator("#post")
    assert post_frame.get_by_role("heading", name="Shop the look").count() == 0
