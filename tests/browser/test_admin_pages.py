"""The merchant pages in Chromium: tagging with the keyboard alone, the settings reaching the
storefront, a refused sign-in, and the pages on a phone. Screenshots: admin-pages-*.png."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.admin.models import ShopSettings
from flask_shoppable.social.models import PostTag
from tests.admin_helpers import EMAIL, PASSWORD, create_merchant
from tests.browser.conftest import DESKTOP, PHONE, screenshot
from tests.browser.test_accessibility import AUDIT
from tests.pages_data import make_post, make_product

LAPTOP = {"width": 1024, "height": 768}


def _sign_in(page: Any, base: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/shop/admin/sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_tags_are_placed_with_the_keyboard_alone(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    create_merchant(app)
    product = make_product(session, "straw-hat", title="Straw Hat")
    post = make_post(
        session, "beach-day", caption="Beach day", status="draft", image_url="/img/beach.svg"
    )
    session.commit()
    page = new_page(DESKTOP, reduced_motion="reduce")
    _sign_in(page, live_url)
    page.goto(f"{live_url}/shop/admin/posts/{post.id}")
    page.locator("#tags-0-product_id").select_option(str(product.id))
    # Tab from the product's row onto "Place on image", press it: the image takes focus.
    page.get_by_test_id("place-0").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.dataset.testid") == "tagger"
    page.keyboard.press("Enter")  # a first position: the middle
    page.keyboard.press("Shift+ArrowRight")  # +5
    page.keyboard.press("ArrowDown")  # +1
    page.keyboard.press("ArrowDown")
    assert page.locator("#tags-0-x").input_value() == "55.00"
    assert page.locator("#tags-0-y").input_value() == "52.00"
    status = page.locator("#tagger-status").inner_text()
    assert status.startswith("Straw Hat placed at 55.00% across, 52.00% down")
    hotspot = page.locator("[data-hotspot='0']")
    assert hotspot.get_attribute("style") == "left: 55%; top: 52%;"
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-pages-tag-keyboard")
    page.get_by_test_id("save-tags").click()
    page.get_by_test_id("flash-success").wait_for()
    tags = session.scalars(select(PostTag).where(PostTag.post_id == post.id)).all()
    assert [(t.product_id, t.x, t.y) for t in tags] == [(product.id, 55.0, 52.0)]


def test_settings_show_on_the_storefront_on_a_phone(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    create_merchant(app)
    product = make_product(session, "straw-hat", title="Straw Hat")
    make_post(session, "beach-day", caption="Beach day", tags=[(product, 40.0, 60.0)])
    session.commit()
    page = new_page(PHONE, reduced_motion="reduce")
    _sign_in(page, live_url)
    page.goto(f"{live_url}/shop/admin/settings")
    page.get_by_label("Shop name").fill("Sea & Sand")
    page.get_by_label("Accent colour").fill("#be185d")
    page.get_by_label("Instagram handle").fill("seaandsand")
    page.get_by_label("Returns policy").fill("https://seaandsand.example/returns")
    page.get_by_test_id("save-settings").click()
    page.get_by_test_id("flash-success").wait_for()
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-pages-settings-phone")
    page.goto(f"{live_url}/shop/")
    assert page.get_by_role("heading", level=1).inner_text() == "Sea & Sand"
    accent = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()"
    )
    assert accent == "#be185d"
    assert page.get_by_role("link", name="Instagram").get_attribute("href") == (
        "https://www.instagram.com/seaandsand"
    )
    assert page.get_by_role("link", name="Returns").is_visible()
    screenshot(page, "admin-pages-storefront-after-settings")


def test_a_wrong_password_is_refused_and_the_email_kept(
    app: Flask, live_url: str, new_page: Any
) -> None:
    create_merchant(app)
    page = new_page(PHONE)
    _sign_in(page, live_url, password="not the password!")
    alert = page.get_by_role("alert")
    assert alert.inner_text() == "That email and password do not match an account."
    assert page.get_by_label("Email").input_value() == EMAIL
    assert page.get_by_label("Password").input_value() == ""
    screenshot(page, "admin-pages-sign-in-refused")
    # No admin page opens; the next URL is kept for after signing in.
    page.goto(f"{live_url}/shop/admin/products")
    assert "/shop/admin/sign-in?next=/shop/admin/products" in page.url
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_url}/shop/admin/products")
    assert page.get_by_role("heading", level=1).inner_text() == "Products"


def test_every_section_passes_the_audit_and_fits_the_screen(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    """Sign-in and each section the nav links to: the accessibility audit (labels, names,
    contrast), nothing wider than the screen, and on a desktop or laptop screen every nav
    item in view with a long shop name."""
    create_merchant(app)
    product = make_product(session, "straw-hat", title="Straw Hat")
    make_post(session, "beach-day", caption="Beach day", tags=[(product, 40.0, 60.0)])
    session.add(ShopSettings(id=1, name="Harbour & Pine Outfitters"))  # a long name
    session.commit()
    for viewport in (DESKTOP, LAPTOP, PHONE):
        page = new_page(viewport, reduced_motion="reduce")
        page.goto(f"{live_url}/shop/admin/sign-in")
        assert page.evaluate(AUDIT) == [], "sign-in"
        _sign_in(page, live_url)
        page.wait_for_url(f"{live_url}/shop/admin/**")
        sections = page.eval_on_selector_all(
            ".nav a[href]", "links => links.map(a => a.getAttribute('href'))"
        )
        assert len(sections) >= 8, sections
        for path in sections:
            page.goto(f"{live_url}{path}")
            assert page.evaluate(AUDIT) == [], path
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} is {overflow}px wider than a {viewport} screen"
            if viewport is not PHONE:
                hidden = page.evaluate(
                    "(() => { const n = document.querySelector('.nav');"
                    " return n ? n.scrollWidth - n.clientWidth : 'no nav on ' + location.href; })()"
                )
                assert hidden <= 0, f"{path}: {hidden}px of the nav scrolled out of view"
        screenshot(page, f"admin-pages-nav-{viewport['width']}", full_page=False)
