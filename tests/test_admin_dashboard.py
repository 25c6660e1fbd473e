"""The dashboard page: the hand-computed week of tests/reports_fixture.py, as a merchant
sees it (figures as in tests/test_reports.py), its inputs, the CSV export, the guard."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from . import reports_fixture as fx
from .admin_helpers import ADMIN, AdminClient, create_merchant, sign_in

WEEK = {"from": "2026-03-01", "to": "2026-03-07"}


@pytest.fixture
def merchant(app: Flask) -> AdminClient:
    """A test client signed in as a merchant."""
    create_merchant(app)
    client = app.test_client()
    assert sign_in(client).status_code == 302
    return AdminClient(client)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _row(html: str, testid: str) -> list[str]:
    match = re.search(rf'data-testid="{testid}">(.*?)</tr>', html, re.S)
    assert match, f"no row {testid}"
    return [
        _text(c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", match.group(1), re.S)
    ]


def test_the_week_under_linear(merchant: AdminClient, session: Session) -> None:
    fx.load(session)
    response = merchant.get(f"{ADMIN}/", query_string={**WEEK, "model": "linear"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    kpis = _text(html[html.index('data-testid="kpis"') : html.index('class="dash-grid"')])
    for shown in (
        "Net revenue 165.00 USD gross 270.00 USD",
        "Orders 5 AOV 54.00 USD",
        "Refunded 105.00 USD",
        "Clicks 6 net per click 27.50 USD",
        "Conversion 83.3%",
        "Visitors 6 5 impressions",
        "Checkouts started 5",
    ):
        assert shown in kpis, (shown, kpis)
    # Instagram under linear: 19/6 orders, 181.66 gross, 61.67 refunded, 119.99 net.
    assert _row(html, "row-channel-instagram") == [
        "Instagram", "3", "3", "4", "3", "3.1667", "105.6%", "181.66 USD", "61.67 USD",
        "119.99 USD", "57.37 USD", "40.00 USD",
    ]  # fmt: skip
    assert _row(html, "row-channel-none")[0] == "(direct)"
    assert _row(html, "row-post-2")[0] == "Linen shirt"
    # The third table: campaign by default, link and partner as tabs.
    assert 'data-testid="by-campaign"' in html
    # Its stylesheet is the plugin's own (no CDN).
    sheet = re.search(r'href="([^"]*admin-dashboard\.css[^"]*)"', html)
    assert sheet
    css = merchant.get(sheet.group(1).replace("&amp;", "&"))
    assert css.status_code == 200
    assert ".dash-kpis" in css.get_data(as_text=True)
    assert _row(html, "row-campaign-spring")[0] == "spring"
    # The chart: one bar per day, the busiest (03-02: 125.00 net) at full height.
    assert html.count('class="dash-bar"') == 7
    assert "02 Mar 2026: 125.00 USD net, 2 orders, 2 clicks" in html
    # The funnel: 5 impressions, 6 clicks, 5 checkouts, 5 orders.
    funnel = _text(html[html.index('data-testid="funnel"') : html.index("</ol>")])
    for step in ("Impressions 5", "Clicks 6", "Checkouts started 5", "Orders 5"):
        assert step in funnel
    assert "120.0% of the step before" in funnel


def test_tabs_models_and_bad_input(merchant: AdminClient, session: Session) -> None:
    fx.load(session)
    html = merchant.get(f"{ADMIN}/dashboard", query_string={**WEEK, "by": "partner"}).get_data(
        as_text=True
    )
    assert _row(html, "row-partner-ana")[:6] == ["ana", "0", "1", "2", "2", "1"]
    html = merchant.get(
        f"{ADMIN}/", query_string={"from": "2026-03-09", "to": "2026-03-01", "model": "x"}
    ).get_data(as_text=True)
    assert "Must be on or after the start." in html
    assert "Pick one of the models." in html
    html = merchant.get(f"{ADMIN}/", query_string={"from": "31/03/2026"}).get_data(as_text=True)
    assert "Use a date such as 2026-03-31." in html


def test_csv_export(merchant: AdminClient, session: Session) -> None:
    fx.load(session)
    response = merchant.get(
        f"{ADMIN}/dashboard/export.csv",
        query_string={**WEEK, "model": "first_touch", "by": "channel"},
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert (
        "shoppable-channel-2026-03-01-2026-03-08-first_touch.csv"
        in response.headers["Content-Disposition"]
    )
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    # First touch: instagram O1 O2 O4 (180.00 gross, 35.00 refunded).
    assert table[1][:2] == ["instagram", "Instagram"]
    assert table[1][9:12] == ["180.00", "35.00", "145.00"]
    days = merchant.get(f"{ADMIN}/dashboard/export.csv", query_string={**WEEK, "by": "day"})
    assert len(days.get_data(as_text=True).splitlines()) == 8
    assert (
        merchant.get(f"{ADMIN}/dashboard/export.csv", query_string={"by": "x"}).status_code == 404
    )


def test_an_empty_shop(merchant: AdminClient) -> None:
    response = merchant.get(f"{ADMIN}/")
    assert response.status_code == 200
    assert "Nothing in this range yet." in response.get_data(as_text=True)


def test_anonymous_is_refused(app: Flask, client: FlaskClient) -> None:
    for path in (f"{ADMIN}/", f"{ADMIN}/dashboard", f"{ADMIN}/dashboard/export.csv"):
        response = client.get(path)
        assert response.status_code in (302, 303, 401, 403), path
        assert "text/csv" not in response.headers.get("Content-Type", "")


def test_money_on_the_page() -> None:
    from flask_shoppable.admin.dashboard import _money

    assert _money(3024250, "USD") == "30,242.50 USD"
    assert _money(-150, "EUR") == "-1.50 EUR"
    assert _money(1234567, "JPY") == "1,234,567 JPY"
    assert _money(None, "USD") == "\u2014"
