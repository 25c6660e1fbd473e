"""The merchant API for orders, refunds and the webhook event log, at the HTTP level.

Refunds go through the real stripe-python client to the emulator; the order changes
only when the emulator's ``charge.refunded`` reaches the webhook.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.db import utcnow
from flask_shoppable.orders.models import Order, Refund
from flask_shoppable.social.models import Post, TrackedLink
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.tracking.models import Interaction, new_id

from .checkout_helpers import variant
from .conftest import ApiClient
from .order_helpers import (
    events,
    open_checkout,
    order_of,
    post_emulator_event,
    post_event,
    provider_session,
    session_object,
)

VISITOR = "b" * 32


def _paid_order(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    *,
    handle: str = "tee",
    quantity: int = 2,
    **checkout_kwargs: Any,
) -> Order:
    """A checkout paid on the emulator with a card, its completion posted: the order."""
    checkout = open_checkout(
        session,
        [(variant(session, handle, price=2500, stock=10), quantity)],
        **checkout_kwargs,
    )
    session_id = provider_session(app, session, checkout)
    emulator.pay(session_id, email="Buyer@Example.com")
    event = emulator.wait_for_event("checkout.session.completed", id=session_id)
    assert post_emulator_event(client, emulator, event).status_code == 200
    order = order_of(session, checkout)
    assert order is not None
    return order


def _deliver_refunds(client: FlaskClient, emulator: StripeEmulator) -> None:
    """Post every charge.refunded the emulator made, as its webhook delivery would."""
    for event in list(emulator.events):
        if event["type"] == "charge.refunded":
            post_emulator_event(client, emulator, event)


def _refund(api: ApiClient, order_id: int, key: str | None, **body: Any) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return api.post(f"/orders/{order_id}/refunds", json=body, headers=headers)


# -- reading orders -----------------------------------------------------------------------


def test_order_detail_has_everything(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    post = Post(slug="summer", caption="Summer", image_url="", status="published")
    session.add(post)
    session.flush()
    link = TrackedLink(
        code="abcdefgh12",
        target="post",
        post_id=post.id,
        channel="instagram",
        utm_source="instagram",
        utm_medium="social",
        utm_campaign="summer",
    )
    session.add(link)
    session.flush()
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
            occurred_at=utcnow() - timedelta(hours=1),
        )
    )
    session.commit()
    order = _paid_order(
        app,
        client,
        session,
        emulator,
        visitor_id=VISITOR,
        origin_id=click,
        channel="instagram",
        post_id=post.id,
        link_id=link.id,
    )

    response = api.get(f"/orders/{order.id}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "paid"
    assert body["email"] == "buyer@example.com"
    assert body["total_amount"] == 5000
    assert body["net_amount"] == 5000
    assert body["refundable_amount"] == 5000
    assert [(li["title"], li["quantity"], li["total_amount"]) for li in body["lines"]] == [
        ("Tee", 2, 5000)
    ]
    assert body["shipping"]["name"] == ""
    origin = body["origin"]
    assert origin["id"] == str(click)
    assert origin["recorded"] is True
    assert (origin["channel"], origin["post_slug"], origin["link_code"]) == (
        "instagram",
        "summer",
        "abcdefgh12",
    )
    assert (origin["utm_source"], origin["utm_medium"], origin["utm_campaign"]) == (
        "instagram",
        "social",
        "summer",
    )
    assert body["attribution_model"] == "last_touch"
    assert body["credit"] == [{"interaction_id": str(click), "amount": 5000, "share": 1.0}]
    assert set(body["credits"]) == {
        "last_touch",
        "first_touch",
        "linear",
        "time_decay",
        "position_based",
    }
    assert [h["kind"] for h in body["history"]] == ["paid"]
    assert body["refunds"] == []
    assert body["disputes"] == []


def test_list_and_filter_orders(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    first = _paid_order(app, client, session, emulator, handle="a", channel="tiktok")
    second = _paid_order(app, client, session, emulator, handle="b", channel="instagram")
    listed = api.get("/orders")
    assert listed.status_code == 200
    assert [o["id"] for o in listed.get_json()] == [second.id, first.id]
    assert "X-Pagination" in listed.headers
    assert [o["id"] for o in api.get("/orders?channel=tiktok").get_json()] == [first.id]
    assert [o["id"] for o in api.get("/orders?email=BUYER@example.com").get_json()] == [
        second.id,
        first.id,
    ]
    assert api.get("/orders?status=pending").get_json() == []
    later = (utcnow() + timedelta(minutes=5)).isoformat()
    assert api.get("/orders", query_string={"created_from": later}).get_json() == []
    bad = api.get("/orders?status=shipped")
    assert bad.status_code == 422
    assert "status" in bad.get_json()["errors"]["query"]


def test_orders_need_an_api_key(app: Flask, client: FlaskClient) -> None:
    assert client.get("/shop/api/orders").status_code == 401
    assert client.get("/shop/api/webhooks/events").status_code == 401


def test_unknown_order_is_404(api: ApiClient) -> None:
    response = api.get("/orders/123456")
    assert response.status_code == 404
    assert response.get_json()["message"] == "No order 123456."


# -- refunds ----------------------------------------------------------------------------


def test_partial_refund_changes_the_order_only_on_the_webhook(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    order = _paid_order(app, client, session, emulator)
    response = _refund(api, order.id, "key-1", amount=1200, reason="requested_by_customer")
    assert response.status_code == 201, response.get_json()
    refund = response.get_json()
    assert (refund["amount"], refund["status"], refund["currency"]) == (1200, "pending", "USD")
    assert refund["provider_refund_id"].startswith("re_")
    assert [r["amount"] for r in emulator.refunds] == [1200]

    # Asked for, not confirmed: the order's money is unchanged; the remainder is not.
    detail = api.get(f"/orders/{order.id}").get_json()
    assert (detail["refunded_amount"], detail["refundable_amount"]) == (0, 3800)

    _deliver_refunds(client, emulator)
    detail = api.get(f"/orders/{order.id}").get_json()
    assert (detail["refunded_amount"], detail["net_amount"], detail["refundable_amount"]) == (
        1200,
        3800,
        3800,
    )
    assert [(r["amount"], r["status"]) for r in detail["refunds"]] == [(1200, "succeeded")]
    assert detail["refunds"][0]["confirmed_at"] is not None
    assert [h["kind"] for h in detail["history"]] == ["paid", "refunded"]


def test_full_refund_without_an_amount_takes_the_rest(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    order = _paid_order(app, client, session, emulator)
    assert _refund(api, order.id, "part", amount=1000).status_code == 201
    rest = _refund(api, order.id, "rest")
    assert rest.status_code == 201
    assert rest.get_json()["amount"] == 4000
    _deliver_refunds(client, emulator)
    session.refresh(order)
    assert (order.refunded_amount, order.net_amount) == (5000, 0)
    statuses = session.scalars(select(Refund.status).where(Refund.order_id == order.id)).all()
    assert statuses == ["succeeded", "succeeded"]
    nothing = _refund(api, order.id, "more")
    assert nothing.status_code == 409
    assert "nothing left" in nothing.get_json()["message"]


def test_over_refund_counts_unconfirmed_refunds(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    order = _paid_order(app, client, session, emulator)
    assert _refund(api, order.id, "k1", amount=3000).status_code == 201
    too_much = _refund(api, order.id, "k2", amount=2001)
    assert too_much.status_code == 409
    assert "at most 2000 more" in too_much.get_json()["message"]
    assert len(emulator.refunds) == 1
    assert _refund(api, order.id, "k3", amount=2000).status_code == 201


def test_idempotent_retry_answers_the_same_without_a_second_call(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    order = _paid_order(app, client, session, emulator)
    first = _refund(api, order.id, "same-key", amount=700)
    calls = len([r for r in emulator.api_requests if r["path"] == "/v1/refunds"])
    again = _refund(api, order.id, "same-key", amount=700)
    also = _refund(api, order.id, "same-key")
    assert first.status_code == again.status_code == also.status_code == 201
    assert first.get_json() == again.get_json() == also.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len([r for r in emulator.api_requests if r["path"] == "/v1/refunds"]) == calls
    assert len(emulator.refunds) == 1
    other = _refund(api, order.id, "same-key", amount=800)
    assert other.status_code == 422
    assert "used for a refund of 700" in other.get_json()["message"]


def test_refund_needs_a_key_and_a_valid_amount(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    order = _paid_order(app, client, session, emulator)
    no_key = _refund(api, order.id, None, amount=100)
    assert no_key.status_code == 422
    assert "Idempotency-Key" in no_key.get_json()["errors"]["headers"]
    for amount in (0, -5, 1.5, "100", True):
        bad = _refund(api, order.id, "k", amount=amount)
        assert bad.status_code == 422, amount
    assert _refund(api, 999999, "k", amount=100).status_code == 404
    assert emulator.refunds == []


def test_refund_of_an_unpaid_order_is_refused(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    checkout = open_checkout(session, [(variant(session, "tee", price=900, stock=3), 1)])
    post_event(
        client,
        emulator,
        "checkout.session.completed",
        session_object(checkout, payment_status="unpaid"),
    )
    order = order_of(session, checkout)
    assert order is not None
    response = _refund(api, order.id, "k", amount=100)
    assert response.status_code == 409
    assert "pending" in response.get_json()["message"]


def test_refund_the_provider_refuses_is_502_and_stays_refused(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    order = _paid_order(app, client, session, emulator)
    assert order.provider_payment_id is not None
    emulator.dispute(order.provider_payment_id)  # a disputed charge cannot be refunded
    refused = _refund(api, order.id, "k", amount=100)
    assert refused.status_code == 502
    assert "charged back" in refused.get_json()["message"]
    again = _refund(api, order.id, "k", amount=100)
    assert again.status_code == 502
    calls = [r for r in emulator.api_requests if r["path"] == "/v1/refunds"]
    assert len(calls) == 1
    row = session.scalars(select(Refund)).one()
    assert row.status == "failed"
    # A failed refund holds nothing back.
    assert api.get(f"/orders/{order.id}").get_json()["refundable_amount"] == 5000


def test_read_only_key_cannot_refund(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    read_auth: dict[str, str],
) -> None:
    order = _paid_order(app, client, session, emulator)
    response = client.post(
        f"/shop/api/orders/{order.id}/refunds",
        json={"amount": 100},
        headers={**read_auth, "Idempotency-Key": "k"},
    )
    assert response.status_code == 403


# -- the event log ------------------------------------------------------------------------


def test_event_log_lists_filters_and_replays(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    api: ApiClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flask_shoppable.orders import processing

    checkout = open_checkout(session, [(variant(session, "tee", price=900, stock=3), 1)])
    real = processing.HANDLERS["checkout.session.completed"]

    def broken(ctx: processing.Context, data: dict[str, Any]) -> None:
        raise RuntimeError("not today")

    monkeypatch.setitem(processing.HANDLERS, "checkout.session.completed", broken)
    post_event(client, emulator, "checkout.session.completed", session_object(checkout))
    post_event(client, emulator, "customer.created", {"id": "cus_1", "object": "customer"})

    listed = api.get("/webhooks/events").get_json()
    assert [(e["type"], e["status"]) for e in listed] == [
        ("customer.created", "ignored"),
        ("checkout.session.completed", "failed"),
    ]
    failed = api.get("/webhooks/events?status=failed").get_json()
    assert len(failed) == 1
    assert failed[0]["attempts"] == 1
    assert "RuntimeError: not today" in failed[0]["last_error"]
    assert "payload" not in failed[0]
    detail = api.get(f"/webhooks/events/{failed[0]['id']}").get_json()
    assert detail["payload"]["data"]["object"]["object"] == "checkout.session"

    monkeypatch.setitem(processing.HANDLERS, "checkout.session.completed", real)
    replayed = api.post(f"/webhooks/events/{failed[0]['id']}/replay")
    assert replayed.status_code == 200, replayed.get_json()
    assert (replayed.get_json()["status"], replayed.get_json()["attempts"]) == ("processed", 2)
    assert order_of(session, checkout) is not None
    # Replaying a processed event changes nothing.
    assert api.post(f"/webhooks/events/{failed[0]['id']}/replay").status_code == 200
    assert len(session.scalars(select(Order)).all()) == 1
    assert api.post("/webhooks/events/999999/replay").status_code == 404
    assert api.get("/webhooks/events?status=bogus").status_code == 422
    assert len(events(session)) == 2


def test_rejection_counters(
    app: Flask, client: FlaskClient, emulator: StripeEmulator, api: ApiClient
) -> None:
    payload, header = emulator.signed_event("x.y", {"id": "x"}, secret="whsec_wrong")
    for _ in range(3):
        client.post("/shop/webhooks/stripe", data=payload, headers={"Stripe-Signature": header})
    client.post("/shop/webhooks/stripe", data=payload)
    rows = api.get("/webhooks/rejections").get_json()
    assert [(r["reason"], r["count"]) for r in rows] == [
        ("missing header", 1),
        ("signature mismatch", 3),
    ]
    assert rows[1]["last_at"] >= rows[1]["first_at"]
