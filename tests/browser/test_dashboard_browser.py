"""The dashboard in Chromium, on the hand-computed week of tests/reports_fixture.py: the
merchant picks the range and a model, reads the tiles, the chart, the funnel and the
tables, switches tabs and downloads a CSV. The page passes the accessibility audit on a
desktop and a phone; screenshots go to ``test-artifacts/browser/dashboard-*.png``.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests import reports_fixture as fx
from tests.admin_helpers import EMAIL, PASSWORD, create_merchant
from tests.browser.conftest import DESKTOP, PHONE, screenshot
from tests.browser.test_accessibility import AUDIT

pytestmark = pytest.mark.slow


def test_dashboard_range_model_tabs_and_export(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    create_merchant(app)
    fx.load(session)
    page = new_page(DESKTOP, reduced_motion="reduce", accept_downloads=True)
    page.goto(f"{live_url}/shop/admin/")
    assert "/shop/admin/sign-in" in page.url
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_url}/shop/admin/**")
    page.goto(f"{live_url}/shop/admin/dashboard")

    page.get_by_label("From").fill("2026-03-01")
    page.get_by_label("To (included)").fill("2026-03-07")
    page.get_by_label("Attribution", exact=True).select_option("linear")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**model=linear**")

    assert page.get_by_test_id("kpi-net_revenue").inner_text().split("\n")[1] == "165.00 USD"
    assert page.get_by_test_id("kpi-orders").inner_text().split("\n")[1] == "5"
    instagram = page.get_by_test_id("row-channel-instagram").locator("td")
    # Linear: 19/6 orders, 119.99 net (tests/test_reports.py works it out).
    assert instagram.nth(4).inner_text() == "3.1667"
    assert instagram.nth(8).inner_text() == "119.99 USD"
    assert page.locator("svg[data-testid=chart] rect.dash-bar").count() == 7
    assert page.evaluate(AUDIT) == []
    screenshot(page, "dashboard")

    page.get_by_test_id("tab-partner").click()
    page.wait_for_url("**by=partner**")
    assert page.get_by_test_id("row-partner-ana").locator("th").inner_text() == "ana"
    with page.expect_download() as info:
        page.get_by_test_id("export-partner").click()
    download = info.value
    assert download.suggested_filename == "shoppable-partner-2026-03-01-2026-03-08-linear.csv"
    with open(download.path(), encoding="utf-8") as handle:
        assert handle.readline().startswith("partner,label,currency,impressions")

    phone = new_page(PHONE, reduced_motion="reduce")
    phone.context.add_cookies(page.context.cookies())
    phone.goto(page.url)
    assert phone.get_by_test_id("kpis").is_visible()
    assert phone.evaluate(AUDIT) == []
    screenshot(phone, "dashboard-phone")
