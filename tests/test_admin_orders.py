"""The merchant's orders pages at the HTTP level: list and filters, the order page, shipping,
refunds through the emulator, the warehouse CSV; customers and their timeline; the outbox
and webhook health page."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.db import utcnow
from flask_shoppable.orders.models import Order, Refund, WebhookEvent
from flask_shoppable.testing import Address, StripeEmulator
from flask_shoppable.tracking.models import Interaction, new_id
from tests.admin_helpers import (
    ADMIN,
    AdminClient,
    admin,  # noqa: F401  (fixture)
)

from .checkout_helpers import product, variant
from .ops_helpers import paid_order, post_with_link, webhook_order
from .order_helpers import charge_object, post_emulator_event, post_event

VISITOR = "d" * 32


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"SHOPPABLE_SHIPPING_COUNTRIES": ["US", "GB"]}


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def _error(html: str, name: str) -> str:
    match = re.search(rf'data-testid="error-{name}">([^<]*)<', html)
    return match.group(1) if match else ""


def _value(html: str, name: str) -> str | None:
    match = re.search(rf'<input [^>]*id="{name}" name="{name}"[^>]*value="([^"]*)"', html)
    return match.group(1) if match else None


def _attributed_order(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> Order:
    """A paid order that came from a click on an Instagram link to a post."""
    post, link = post_with_link(session, "summer-look", "insta12345", campaign="summer")
    session.add(
        Interaction(
            id=new_id(),
            kind="impression",
            visitor_id=VISITOR,
            post_id=post.id,
            channel="instagram",
            ua_class="instagram-app",
            occurred_at=utcnow() - timedelta(hours=4),
        )
    )
    session.add(
        Interaction(
            id=new_id(),
            kind="click",
            visitor_id=VISITOR,
            channel="tiktok",
            ua_class="mobile",
            occurred_at=utcnow() - timedelta(hours=3),
        )
    )
    click = new_id()
    session.add(
        Interaction(
            id=click,
            kind="click",
            visitor_id=VISITOR,
            link_id=link.id,
            post_id=post.id,
            channel="instagram",
            utm_source="instagram",
            utm_medium="social",
            utm_campaign="summer",
            ua_class="instagram-app",
            occurred_at=utcnow() - timedelta(hours=1),
        )
    )
    session.commit()
    shirt = product(
        session,
        "linen-shirt",
        {"sku": "LIN-S", "options": ["S"], "price": 4000},
        {"sku": "LIN-M", "options": ["M"], "price": 4000},
    )
    return paid_order(
        app,
        client,
        session,
        emulator,
        [(shirt.variants[1], 1), (variant(session, "cap", sku="CAP", price=1500), 2)],
        email="ada@example.com",
        name="Ada Lovelace",
        address=Address(line1="1 Main Street", city="Springfield", postal_code="12345"),
        visitor_id=VISITOR,
        origin_id=click,
        channel="instagram",
        post_id=post.id,
        link_id=link.id,
    )


# -- the list ---------------------------------------------------------------------------


def test_orders_list_filters_and_pages(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    admin: AdminClient,  # noqa: F811
) -> None:
    tee = variant(session, "tee", price=1000, stock=100)
    made = []
    for number in range(27):
        channel = "instagram" if number % 3 == 0 else "tiktok"
        made.append(
            webhook_order(
                client, session, emulator, [(tee, 1)], email=f"b{number}@x.test", channel=channel
            )
        )
    from flask_shoppable.orders import fulfilment

    fulfilment.fulfil(session, made[0].id, carrier="UPS", tracking_number="1Z0000")

    def ids(query: str) -> list[int]:
        response = admin.get(f"{ADMIN}/orders{query}")
        assert response.status_code == 200
        return [int(i) for i in re.findall(r'data-order-id="(\d+)"', _text(response))]

    first_page = ids("")
    assert first_page == [o.id for o in reversed(made)][:25]
    assert ids("?page=2") == [made[1].id, made[0].id]
    assert ids("?page=99") == [made[1].id, made[0].id]  # past the end: the last page
    page = _text(admin.get(f"{ADMIN}/orders"))
    assert "Page 1 of 2" in page
    assert 'data-testid="page-next"' in page

    instagram = [o.id for o in reversed(made) if o.channel == "instagram"]
    assert ids("?channel=instagram") == instagram
    assert ids("?fulfilled=yes") == [made[0].id]
    assert len(ids("?fulfilled=no&channel=instagram")) == len(instagram) - 1
    assert ids("?status=pending") == []
    assert "No orders match these filters." in _text(admin.get(f"{ADMIN}/orders?status=pending"))
    # Unknown filter values are ignored, not errors.
    assert len(ids("?status=nonsense&channel=%3Cscript%3E&page=x")) == 25
    assert ids(f"?email={made[4].email.upper()}") == [made[4].id]
    # An order number goes straight to the order; an unknown one lists nothing.
    jump = admin.get(f"{ADMIN}/orders?email=%23{made[3].id}")
    assert jump.status_code == 302
    assert jump.headers["Location"].endswith(f"/orders/{made[3].id}")
    assert admin.get(f"{ADMIN}/orders?email={made[3].id}").status_code == 302
    assert ids("?email=%23999999") == []
    html = _text(admin.get(f"{ADMIN}/orders?fulfilled=no"))
    assert re.search(
        r'data-testid="to-ship">\s*<div class="stat__label">Paid, to ship</div>'
        r'<div class="stat__value">26<',
        html,
    )


def test_orders_pages_refuse_anonymous_requests(app: Flask, client: FlaskClient) -> None:
    for path in (
        "/orders",
        "/orders/1",
        "/orders/unfulfilled.csv",
        "/customers",
        "/customers/1",
        "/outbox",
    ):
        response = client.get(f"{ADMIN}{path}")
        assert response.status_code == 302, path
        assert "/sign-in" in response.headers["Location"]
    for path in (
        "/orders/1/fulfil",
        "/orders/1/refund",
        "/outbox/webhooks/1/replay",
        "/outbox/messages/1/replay",
    ):
        assert client.post(f"{ADMIN}{path}", data={}).status_code == 401, path


# -- one order ---------------------------------------------------------------------------


def test_order_page_shows_lines_shipping_origin_and_credits(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    admin: AdminClient,  # noqa: F811
) -> None:
    order = _attributed_order(app, client, session, emulator)
    response = admin.get(f"{ADMIN}/orders/{order.id}")
    assert response.status_code == 200
    html = _text(response)
    assert response.headers["X-Frame-Options"] == "DENY"
    lines = re.findall(
        r'data-testid="order-line"><td>([^<]+)</td><td><code>([^<]+)</code>'
        r'</td><td class="num">(\d+)</td>',
        html,
    )
    assert lines == [("Linen Shirt - M", "LIN-M", "1"), ("Cap", "CAP", "2")]
    assert 'data-testid="order-total">70.00 USD<' in html
    assert "1 Main Street" in html
    assert "Springfield" in html
    assert "Ada Lovelace" in html
    origin = html[html.index('data-testid="order-origin"') : html.index('id="refund-title"')]
    assert "click" in origin
    assert 'href="/shop/p/summer-look"' in origin
    assert "/s/insta12345" in origin
    assert "summer" in origin
    assert 'data-channel="instagram" data-testid="order-channel">Instagram<' in html
    # Every model's credits: last touch gives it all to the Instagram click; linear
    # splits it between the TikTok click and the Instagram one.
    for model in ("last_touch", "first_touch", "linear", "time_decay", "position_based"):
        assert f'data-model="{model}"' in html
    linear = html[html.index('data-model="linear"') : html.index('data-model="time_decay"')]
    assert linear.count("<li>") == 2
    assert "35.00 USD" in linear
    last = html[html.index('data-model="last_touch"') : html.index('data-model="first_touch"')]
    assert "100.0%" in last
    assert "70.00 USD" in last
    assert "click · Instagram" in last
    assert "reports use this" in last
    assert "Paid" in html[html.index('data-testid="order-history"') :]
    assert f'href="{ADMIN}/customers/{order.customer_id}"' in html

    dispute = {
        "id": "dp_1", "object": "dispute", "amount": 7000, "currency": "usd",
        "payment_intent": order.provider_payment_id, "reason": "product_not_received",
        "status": "needs_response",
    }  # fmt: skip
    assert post_event(client, emulator, "charge.dispute.created", dispute).status_code == 200
    html = _text(admin.get(f"{ADMIN}/orders/{order.id}"))
    shown = html[html.index('data-testid="dispute"') :]
    assert "Dispute needs response" in shown
    assert "70.00 USD" in shown
    assert "product not received" in shown
    assert "Disputed" in html  # the badge beside the heading

    assert admin.get(f"{ADMIN}/orders/99999").status_code == 404
    assert admin.get(f"{ADMIN}/orders/0").status_code == 404


def test_fulfil_from_the_order_page(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    admin: AdminClient,  # noqa: F811
) -> None:
    order = webhook_order(client, session, emulator, [(variant(session, "tee"), 1)])
    path = f"{ADMIN}/orders/{order.id}/fulfil"

    bad = admin.post(path, data={"carrier": "Royal Mail", "tracking_number": "=cmd|' /C calc'!A0"})
    assert bad.status_code == 422
    html = _text(bad)
    assert "letters, digits or dashes" in _error(html, "tracking_number")
    assert _error(html, "carrier") == ""
    assert _value(html, "carrier") == "Royal Mail"  # kept as typed
    assert _value(html, "tracking_number") == "=cmd|&#39; /C calc&#39;!A0"
    empty = admin.post(path, data={"carrier": " ", "tracking_number": ""})
    assert empty.status_code == 422
    assert "carrier" in _error(_text(empty), "carrier").lower()
    assert "tracking number" in _error(_text(empty), "tracking_number")

    # No token, or a forged one: refused, nothing written.
    no_token = admin.client.post(path, data={"carrier": "UPS", "tracking_number": "1Z999"})
    assert no_token.status_code == 400
    forged = admin.post(
        path, data={"carrier": "UPS", "tracking_number": "1Z999", "csrf_token": "f" * 64}
    )
    assert forged.status_code == 400
    session.expire_all()
    assert session.get(Order, order.id).fulfilled_at is None

    done = admin.post(path, data={"carrier": "UPS", "tracking_number": "1z 999 aa1"})
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/orders/{order.id}")
    page = _text(admin.get(done.headers["Location"]))
    assert "marked shipped with UPS 1Z999AA1" in page
    assert 'data-testid="fulfilment"' in page
    assert 'href="https://www.ups.com/track?tracknum=1Z999AA1"' in page
    assert "Update shipment" in page
    session.expire_all()
    shipped = session.get(Order, order.id)
    assert (shipped.carrier, shipped.tracking_number) == ("UPS", "1Z999AA1")
    assert shipped.fulfilled_at is not None


def test_partial_refund_through_the_emulator(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    admin: AdminClient,  # noqa: F811
) -> None:
    order = paid_order(app, client, session, emulator, [(variant(session, "tee", price=5000), 1)])
    page = _text(admin.get(f"{ADMIN}/orders/{order.id}"))
    assert "the order changes when the provider confirms it" in page
    key = re.search(r'name="refund_key" value="([^"]+)"', page).group(1)
    path = f"{ADMIN}/orders/{order.id}/refund"

    bad = admin.post(
        path, data={"amount": "12.345", "reason": "requested_by_customer", "refund_key": key}
    )
    assert bad.status_code == 422
    assert "such as 12.50" in _error(_text(bad), "amount")
    assert _value(_text(bad), "amount") == "12.345"
    too_much = admin.post(
        path, data={"amount": "50.01", "reason": "requested_by_customer", "refund_key": key}
    )
    assert too_much.status_code == 409
    assert "at most 5000 more" in _error(_text(too_much), "amount")
    odd_reason = admin.post(path, data={"amount": "1", "reason": "because", "refund_key": key})
    assert odd_reason.status_code == 422
    assert _error(_text(odd_reason), "reason") == "Choose a reason."
    assert (
        admin.client.post(
            path, data={"amount": "12", "reason": "duplicate", "refund_key": key}
        ).status_code
        == 400
    )
    assert emulator.refunds == []

    data = {"amount": "12.00", "reason": "requested_by_customer", "refund_key": key}
    done = admin.post(path, data=data)
    assert done.status_code == 303
    again = admin.post(path, data=data)  # a double submit: the same refund
    assert again.status_code == 303
    assert [r["amount"] for r in emulator.refunds] == [1200]
    page = _text(admin.get(f"{ADMIN}/orders/{order.id}"))
    assert "Refund of 12.00 USD requested" in page
    assert 'data-testid="refund-pending-note"' in page
    assert "waiting for the payment provider" in page
    assert 'data-testid="order-refunded"' not in page  # not until the webhook confirms
    session.expire_all()
    assert session.get(Order, order.id).refunded_amount == 0

    for event in list(emulator.events):
        if event["type"] == "charge.refunded":
            assert post_emulator_event(client, emulator, event).status_code == 200
    page = _text(admin.get(f"{ADMIN}/orders/{order.id}"))
    assert 'data-testid="order-refunded">\u221212.00 USD<' in page
    assert 'data-testid="order-net">38.00 USD<' in page
    assert "Partly refunded" in page
    assert 'data-testid="refund-pending-note"' not in page
    assert "Refund confirmed" in page
    refunds = list(session.scalars(select(Refund).where(Refund.order_id == order.id)))
    assert [(r.amount, r.status) for r in refunds] == [(1200, "succeeded")]

    # The rest, with the amount left empty.
    key2 = re.search(r'name="refund_key" value="([^"]+)"', page).group(1)
    assert key2 != key
    rest = admin.post(path, data={"amount": "", "reason": "duplicate", "refund_key": key2})
    assert rest.status_code == 303
    assert [r["amount"] for r in emulator.refunds] == [1200, 3800]


def test_warehouse_csv_download(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    admin: AdminClient,  # noqa: F811
) -> None:
    order = webhook_order(
        client,
        session,
        emulator,
        [(variant(session, "tee", sku="TEE-1"), 3)],
        email="grace@example.com",
        name="@Grace",
        address={
            "line1": "-1 Negative Way",
            "city": "Arlington",
            "postal_code": "22201",
            "country": "US",
            "state": "VA",
        },
    )
    response = admin.get(f"{ADMIN}/orders/unfulfilled.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="unfulfilled-orders-'
    )
    rows = list(csv.reader(io.StringIO(_text(response))))
    assert rows[0][:4] == ["order_id", "paid_at", "email", "name"]
    assert rows[1] == [
        str(order.id),
        order.paid_at.isoformat(timespec="seconds"),
        "grace@example.com",
        "'@Grace",
        "'-1 Negative Way",
        "",
        "Arlington",
        "VA",
        "22201",
        "US",
        "TEE-1",
        "Tee",
        "3",
    ]
    assert len(rows) == 2
    assert 'data-testid="export-unfulfilled"' in _text(admin.get(f"{ADMIN}/orders"))


# -- customers ----------------------------------------------------------------------------


def test_customers_list_and_timeline_pages(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    admin: AdminClient,  # noqa: F811
) -> None:
    order = _attributed_order(app, client, session, emulator)
    webhook_order(
        client, session, emulator, [(variant(session, "tee"), 1)], email="grace@navy.test"
    )

    listing = _text(admin.get(f"{ADMIN}/customers"))
    assert listing.count('data-testid="customer-row"') == 2
    found = _text(admin.get(f"{ADMIN}/customers?q=ADA"))
    assert found.count('data-testid="customer-row"') == 1
    assert "ada@example.com" in found
    assert "70.00 USD" in found
    none = _text(admin.get(f"{ADMIN}/customers?q=nobody"))
    assert "No customer" in none
    assert "nobody" in none

    page = admin.get(f"{ADMIN}/customers/{order.customer_id}")
    assert page.status_code == 200
    html = _text(page)
    kinds = re.findall(r'data-kind="([a-z_]+)" data-testid="timeline-entry"', html)
    assert kinds == ["impression", "click", "click", "checkout", "order"]
    assert "instagram app" in html  # the device of the click
    assert f'href="{ADMIN}/orders/{order.id}"' in html
    assert admin.get(f"{ADMIN}/customers/424242").status_code == 404


# -- outbox and webhooks ------------------------------------------------------------------


def test_outbox_page_lists_failures_and_replays_them(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    admin: AdminClient,  # noqa: F811
) -> None:
    order = webhook_order(client, session, emulator, [(variant(session, "tee", price=2000), 1)])
    # A refund event whose processing failed (stored, with its traceback).
    charge = charge_object(order.provider_payment_id, 2000, 500)
    assert post_event(client, emulator, "charge.refunded", charge, event_id="evt_broken")
    event = session.scalars(select(WebhookEvent).where(WebhookEvent.event_id == "evt_broken")).one()
    session.execute(
        WebhookEvent.__table__.update()
        .where(WebhookEvent.id == event.id)
        .values(status="failed", attempts=3, last_error="Traceback...\nRuntimeError: boom")
    )
    session.add(
        OutboxMessage(
            sink="hubspot",
            event="order.paid",
            key=f"{order.id}:order.paid:1",
            payload={"order": {"id": order.id}},
            status="dead",
            attempts=8,
            last_error="Rejected: 400 Property 'revenue' does not exist",
            order_id=order.id,
        )
    )
    session.commit()

    page = admin.get(f"{ADMIN}/outbox")
    assert page.status_code == 200
    html = _text(page)
    assert 'data-testid="webhooks-attention"' in html
    assert 'data-event-id="evt_broken"' in html
    assert "RuntimeError: boom" in html
    assert 'data-testid="dead-letter"' in html
    assert "Property &#39;revenue&#39; does not exist" in html
    assert 'data-sink="hubspot"' in html

    replayed = admin.post(f"{ADMIN}/outbox/webhooks/{event.id}/replay")
    assert replayed.status_code == 303
    after = _text(admin.get(replayed.headers["Location"]))
    assert "replayed: processed" in after
    assert 'data-event-id="evt_broken"' not in after
    session.expire_all()
    assert session.get(WebhookEvent, event.id).status == "processed"
    assert session.get(Order, order.id).refunded_amount == 500

    message = session.scalars(select(OutboxMessage)).one()
    assert admin.client.post(f"{ADMIN}/outbox/messages/{message.id}/replay").status_code == 400
    queued = admin.post(f"{ADMIN}/outbox/messages/{message.id}/replay")
    assert queued.status_code == 303
    session.expire_all()
    message = session.get(OutboxMessage, message.id)
    assert (message.status, message.attempts) == ("pending", 0)
    html = _text(admin.get(f"{ADMIN}/outbox"))
    assert "queued again" in html
    assert 'data-testid="dead-letters-empty"' in html
    assert admin.post(f"{ADMIN}/outbox/webhooks/99999/replay").status_code == 404

    # Every dead letter of one sink at once (after fixing its token, say).
    for number in (2, 3):
        session.add(
            OutboxMessage(
                sink="hubspot", event="order.paid", key=f"{order.id}:order.paid:{number}",
                payload={}, status="dead", attempts=8, order_id=order.id,
            )
        )  # fmt: skip
    session.add(
        OutboxMessage(
            sink="segment", event="order.paid", key=f"{order.id}:order.paid:1", payload={},
            status="dead", attempts=8, order_id=order.id,
        )
    )  # fmt: skip
    session.commit()
    html = _text(admin.get(f"{ADMIN}/outbox"))
    assert 'data-testid="replay-sink-hubspot"' in html
    done = admin.post(f"{ADMIN}/outbox/sinks/hubspot/replay")
    assert done.status_code == 303
    assert "2 dead messages to hubspot queued again." in _text(admin.get(f"{ADMIN}/outbox"))
    session.expire_all()
    statuses = {(m.sink, m.status) for m in session.scalars(select(OutboxMessage)).all()}
    assert statuses == {("hubspot", "pending"), ("segment", "dead")}
