"""The Channels page in Chromium: connect an X account, publish a post, see where it went.

Audited on a phone; screenshot: publishing-channels-phone.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.admin_helpers import EMAIL, PASSWORD, create_merchant
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_accessibility import AUDIT
from tests.publishing_helpers import ACCOUNT_IDS, Fakes, run_outbox, running_fakes, shop_post


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture
def app_config(fakes: Fakes) -> dict[str, Any]:
    return fakes.config()


def test_connect_and_publish_from_the_channels_page(
    app: Flask, session: Session, live_url: str, new_page: Any, fakes: Fakes
) -> None:
    create_merchant(app)
    post = shop_post(session, fakes.images.image_url(), caption="Linen for the long evenings")
    page = new_page(PHONE, reduced_motion="reduce")
    page.goto(f"{live_url}/shop/admin/sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_url}/shop/admin/channels")

    page.get_by_label("Channel").select_option("x")
    page.get_by_label("Account id").fill(ACCOUNT_IDS["x"])
    page.get_by_label("Name", exact=True).fill("Harbour on X")
    page.get_by_label("Access token").fill(fakes.tokens["x"])
    page.get_by_test_id("connect").click()
    page.get_by_test_id("flash-success").wait_for()
    assert fakes.tokens["x"] not in page.content()

    page.locator("#post_id").select_option(str(post.id))
    page.get_by_label("X · Harbour on X").check()
    page.get_by_test_id("publish").click()
    page.get_by_test_id("flash-success").wait_for()
    assert run_outbox(app) == 1
    (tweet,) = fakes.x.tweets
    page.reload()
    row = page.get_by_test_id("publications")
    assert tweet["id"] in row.inner_text()
    assert "published" in row.inner_text()
    assert page.evaluate(AUDIT) == []
    screenshot(page, "publishing-channels-phone")
