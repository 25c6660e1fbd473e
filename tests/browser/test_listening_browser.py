"""The merchant's Listening page in Chromium: the report and the latest comments, with the
accessibility audit on a desktop and a phone; screenshots go to
``test-artifacts/browser/admin-listening*.png``.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from flask_shoppable.listening.media import link_media
from flask_shoppable.listening.models import KeywordRule
from tests.admin_helpers import EMAIL, PASSWORD, create_merchant
from tests.browser.conftest import DESKTOP, PHONE, screenshot
from tests.browser.test_accessibility import AUDIT
from tests.checkout_helpers import post, product
from tests.listening_helpers import IG_ACCOUNT, delivery, ig_comment, post_delivery, settings

pytestmark = pytest.mark.slow


@pytest.fixture
def app_config() -> dict[str, Any]:
    # Replies are only queued here (no worker runs): the Graph address is never called.
    return settings("http://127.0.0.1:9", "EAAG-browser-test")


def _sign_in(page: Any, live_url: str) -> None:
    page.goto(f"{live_url}/shop/admin/listening")
    assert "/shop/admin/sign-in?next=" in page.url
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_url}/shop/admin/listening")


def test_listening_page(
    app: Flask, client: FlaskClient, session: Session, live_url: str, new_page: Any
) -> None:
    create_merchant(app)
    look = post(session, "linen-look", product(session, "linen-shirt"))
    link_media(session, "instagram", "m-linen", look.id)
    session.add(KeywordRule(post_id=look.id, keywords=["link", "🛒"], message=""))
    session.commit()
    changes = [
        ig_comment("b-1", "m-linen", "LINK please!", user_id="b1", username="ana.buys"),
        ig_comment("b-2", "m-linen", "so pretty 😍", user_id="b2", username="bo"),
        ig_comment("b-3", "m-other", "🛒", user_id="b3", username="cy"),
    ]
    assert post_delivery(client, delivery("instagram", IG_ACCOUNT, changes)).status_code == 200

    page = new_page(DESKTOP, reduced_motion="reduce")
    _sign_in(page, live_url)
    assert page.locator("[data-testid=listening-row]").count() == 2
    assert page.get_by_text("ana.buys").count() == 1
    assert page.evaluate(AUDIT) == []
    screenshot(page, "admin-listening")

    phone = new_page(PHONE, reduced_motion="reduce")
    _sign_in(phone, live_url)
    assert phone.evaluate(AUDIT) == []
    screenshot(phone, "admin-listening-phone")
