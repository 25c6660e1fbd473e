"""The comment-to-buy loop end to end, over real paths, on SQLite and PostgreSQL.

A signed Instagram comment webhook → one private reply on the fake Graph API (through the
outbox and the worker) → the shopper follows the reply's link → the post page and its buy
form → the Stripe emulator's payment and signed webhook → the order, attributed to the
comment → the fake HubSpot receives the contact with the Instagram username; the
listening report counts it all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from flask_shoppable._fakes.hubspot import FakeHubSpot
from flask_shoppable.catalog.models import Product
from flask_shoppable.checkout.models import Checkout
from flask_shoppable.crm.erasure import forget
from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.db import utcnow
from flask_shoppable.listening.models import Comment, SocialIdentity
from flask_shoppable.orders.models import Order
from flask_shoppable.testing import FakeGraph, StripeEmulator
from flask_shoppable.tracking import tokens
from flask_shoppable.tracking.models import Interaction
from flask_shoppable.worker import Worker

from .conftest import ApiClient
from .listening_helpers import (
    IG_ACCOUNT,
    PAGE_ID,
    delivery,
    fb_comment,
    ig_comment,
    post_delivery,
    settings,
)
from .test_listening import linked_post, set_rule
from .test_webhooks_e2e import _BuyForm


def drain(app: Flask, now: datetime | None = None) -> dict[str, int]:
    """Run the worker's jobs once, as ``flask shoppable worker --once`` does."""
    return Worker(app).run_once(now)


def later(minutes: float) -> datetime:
    return utcnow() + timedelta(minutes=minutes)


def messages(session: Session, sink: str) -> list[OutboxMessage]:
    session.expire_all()
    stmt = select(OutboxMessage).where(OutboxMessage.sink == sink).order_by(OutboxMessage.id)
    return list(session.scalars(stmt))


PIXEL = "1234567890123456"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Instagram 300.0"


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture(scope="module")
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def app_config(graph: FakeGraph, hubspot: FakeHubSpot) -> dict[str, Any]:
    for fake in (graph, hubspot):
        fake.recover()
        with fake.lock:
            fake.received.clear()
    with graph.lock:
        graph.replies.clear()
    with graph.lock:
        graph.capi_events.clear()
        graph.capi_seen.clear()
    with hubspot.lock:
        hubspot.contacts.clear()
        hubspot.deals.clear()
    return dict(
        SHOPPABLE_CRM_SINKS=["hubspot", "meta_capi"],
        SHOPPABLE_META_PIXEL_ID=graph.add_pixel(PIXEL),
        SHOPPABLE_META_CAPI_TOKEN=graph.add_token(),
        SHOPPABLE_CLICK_WRITE_MODE="durable",
        SHOPPABLE_OUTBOX_HTTP_TIMEOUT=2,
        SHOPPABLE_HUBSPOT_ACCESS_TOKEN=hubspot.token,
        SHOPPABLE_HUBSPOT_BASE_URL=hubspot.url,
        **settings(graph.url, graph.add_token()),
    )


def test_comment_to_reply_to_click_to_sale_to_crm(
    app: Flask,
    client: FlaskClient,
    session: Session,
    api: ApiClient,
    emulator: StripeEmulator,
    webhooks_to_app: Any,
    graph: FakeGraph,
    hubspot: FakeHubSpot,
) -> None:
    post_id = linked_post(session, "loop", "m-loop")
    assert set_rule(api, post_id, ["link"], "Here is your link: {link}").status_code == 200

    # 1. A signed Instagram comment reaches the webhook; the worker sends ONE reply.
    body = delivery(
        "instagram",
        IG_ACCOUNT,
        [ig_comment("ig-c-1", "m-loop", "LINK please 😍", user_id="1784", username="ana.buys")],
    )
    assert post_delivery(client, body).status_code == 200
    assert post_delivery(client, body).json["duplicates"] == 1  # Meta's retry
    drain(app)
    drain(app)
    (reply,) = graph.replies
    assert (reply["account"], reply["comment_id"]) == (IG_ACCOUNT, "ig-c-1")
    session.expire_all()
    comment = session.scalars(select(Comment)).one()
    assert comment.reply_status == "sent"
    assert comment.replied_at is not None

    # 2. The shopper follows the link in the private message.
    link = reply["text"].split("http://shop.test", 1)[1]
    redirect = client.get(link, headers={"User-Agent": BROWSER})
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    st = parse_qs(urlsplit(location).query)["st"][0]
    assert tokens.verify(st, secret=app.config["SHOPPABLE_SECRET_KEY"]) == comment.interaction_id

    # 3. The post page's buy form carries the comment's token into the checkout.
    page = client.get(location, headers={"User-Agent": BROWSER})
    assert page.status_code == 200
    form = _BuyForm()
    form.feed(page.get_data(as_text=True))
    assert ("st", st) in form.fields
    bought = client.post(form.action, data=MultiDict(form.fields), headers={"User-Agent": BROWSER})
    assert bought.status_code == 303, bought.get_data(as_text=True)
    checkout = session.scalars(select(Checkout)).one()
    assert checkout.origin_interaction_id == comment.interaction_id

    # 4. The emulator's payment and signed webhook: the order, attributed to the comment.
    emulator.pay(checkout.provider_session_id, email="ana@example.com", name="Ana Buys")
    deliveries = emulator.wait_for_deliveries(timeout=20)
    assert [d.state for d in deliveries] == ["delivered"]
    session.expire_all()
    order = session.scalars(select(Order)).one()
    assert order.status == "paid"
    assert order.origin_interaction_id == comment.interaction_id
    assert (order.channel, order.post_id) == ("instagram", post_id)
    origin = session.get(Interaction, order.origin_interaction_id)
    assert origin is not None
    assert origin.kind == "comment"
    identity = session.scalars(select(SocialIdentity)).one()
    assert identity.customer_id == order.customer_id
    (crm_message,) = messages(session, "hubspot")
    assert crm_message.payload["social"]["social_identity"]["username"] == "ana.buys"
    assert crm_message.payload["attribution"]["messaging_channel"] == "instagram"

    # 5. The worker delivers the order to HubSpot: the contact has the Instagram username.
    drain(app)
    contact = hubspot.contacts["ana@example.com"]
    assert contact["properties"]["shoppable_instagram_username"] == "ana.buys"
    assert contact["properties"]["shoppable_latest_interaction"] == "comment"
    assert len(graph.replies) == 1
    # ... and the Conversions API's Purchase says it came from an Instagram conversation.
    (purchase,) = graph.capi_events[PIXEL]
    assert purchase["action_source"] == "business_messaging"
    assert purchase["messaging_channel"] == "instagram"

    # 6. The listening report: the comment, its match, the reply, the click, the order.
    (row,) = api.get(f"/listening/report?post_id={post_id}").json
    assert {k: row[k] for k in ("comments", "keyword_matches", "replies_sent", "clicks")} == {
        "comments": 1,
        "keyword_matches": 1,
        "replies_sent": 1,
        "clicks": 1,
    }
    assert (row["orders"], row["revenue"]) == (1, {order.currency: order.total_amount})
    result = app.test_cli_runner().invoke(args=["shoppable", "listening-report", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert f",{post_id},1,1,1,0,1,1,{order.total_amount} {order.currency}" in result.output

    # 7. Erasure: the identity and the comment's text go, the counts stay.
    with app.extensions["shoppable"].session_factory() as s:
        report = forget(app, s, "ana@example.com")
    assert report.counts["social"] >= 3
    session.expire_all()
    identity = session.scalars(select(SocialIdentity)).one()
    assert (identity.username, identity.customer_id) == ("", None)
    assert identity.user_id.startswith("erased:")
    assert session.scalars(select(Comment)).one().text == ""
    assert "text" not in session.get(Interaction, comment.interaction_id).detail  # type: ignore[union-attr]
    assert api.get(f"/listening/report?post_id={post_id}").json[0]["orders"] == 1


def test_reply_retried_when_graph_is_down_and_never_sent_twice(
    app: Flask, client: FlaskClient, session: Session, api: ApiClient, graph: FakeGraph
) -> None:
    post_id = linked_post(session, "down", "m-down")
    set_rule(api, post_id, ["link"])
    graph.fail(times=1, status=503, path_contains="/messages")
    body = delivery("instagram", IG_ACCOUNT, [ig_comment("d-1", "m-down", "link")])
    assert post_delivery(client, body).status_code == 200
    drain(app)
    session.expire_all()
    assert session.scalars(select(Comment)).one().reply_status == "queued"
    assert graph.replies == []
    drain(app, later(60))
    drain(app, later(120))
    assert [r["comment_id"] for r in graph.replies] == ["d-1"]
    session.expire_all()
    assert session.scalars(select(Comment)).one().reply_status == "sent"


def test_graph_refusal_dead_letters_the_reply_as_failed(
    app: Flask, client: FlaskClient, session: Session, api: ApiClient, graph: FakeGraph
) -> None:
    post_id = linked_post(session, "dup", "m-dup")
    set_rule(api, post_id, ["link"])
    # Someone already answered this comment privately (from the Instagram app, say).
    with graph.lock:
        graph.replies.append({"comment_id": "x-1", "account": IG_ACCOUNT, "text": "hi"})
    body = delivery("instagram", IG_ACCOUNT, [ig_comment("x-1", "m-dup", "LINK")])
    assert post_delivery(client, body).status_code == 200
    drain(app)
    session.expire_all()
    comment = session.scalars(select(Comment)).one()
    assert comment.reply_status == "failed"
    assert "already replied" in comment.reply_error
    assert len(graph.replies_to("x-1")) == 1
    (row,) = api.get(f"/listening/report?post_id={post_id}").json
    assert (row["replies_sent"], row["replies_failed"]) == (0, 1)


def test_facebook_comment_sale_is_a_messenger_conversation(
    app: Flask,
    client: FlaskClient,
    session: Session,
    api: ApiClient,
    emulator: StripeEmulator,
    webhooks_to_app: Any,
    graph: FakeGraph,
    hubspot: FakeHubSpot,
) -> None:
    media = f"{PAGE_ID}_4242"
    post_id = linked_post(session, "fbloop", media, platform="facebook")
    set_rule(api, post_id, ["acheter"])
    comment = fb_comment(f"{media}_1", media, "Je veux ACHETER", user_id="6100", name="Bo Buyer")
    assert post_delivery(client, delivery("page", PAGE_ID, [comment])).status_code == 200
    drain(app)
    (reply,) = graph.replies
    assert reply["account"] == PAGE_ID
    link = reply["text"].split("http://shop.test", 1)[1]
    location = client.get(link).headers["Location"]
    st = parse_qs(urlsplit(location).query)["st"][0]
    item = session.scalars(select(Product).where(Product.handle == "fbloop-tee")).one()
    variant = item.variants[0]
    bought = client.post(
        "/shop/checkout",
        json={"lines": [{"variant_id": variant.id, "quantity": 1}], "st": st},
        headers={"Origin": "http://localhost"},
    )
    assert bought.status_code in (200, 201), bought.get_data(as_text=True)
    checkout = session.get(Checkout, bought.get_json()["checkout_id"])
    assert checkout is not None
    emulator.pay(checkout.provider_session_id, email="bo@example.com", name="Bo Buyer")
    assert [d.state for d in emulator.wait_for_deliveries(timeout=20)] == ["delivered"]
    drain(app)
    session.expire_all()
    order = session.scalars(select(Order)).one()
    origin = session.get(Interaction, order.origin_interaction_id)
    assert origin is not None
    assert (origin.kind, origin.channel) == ("comment", "facebook")
    (purchase,) = graph.capi_events[PIXEL]
    assert (purchase["action_source"], purchase["messaging_channel"]) == (
        "business_messaging",
        "messenger",
    )
    contact = hubspot.contacts["bo@example.com"]
    assert contact["properties"]["shoppable_facebook_username"] == "Bo Buyer"


def test_graph_throttling_is_retried_not_dead_lettered(
    app: Flask, client: FlaskClient, session: Session, api: ApiClient, graph: FakeGraph
) -> None:
    post_id = linked_post(session, "busy", "m-busy")
    set_rule(api, post_id, ["link"])
    throttled = {
        "error": {
            "message": "(#613) Calls to this api have exceeded the rate limit.",
            "type": "OAuthException",
            "code": 613,
        }
    }
    graph.fail(times=1, status=400, body=throttled, path_contains="/messages")
    body = delivery("instagram", IG_ACCOUNT, [ig_comment("t-1", "m-busy", "link")])
    assert post_delivery(client, body).status_code == 200
    drain(app)
    session.expire_all()
    assert session.scalars(select(Comment)).one().reply_status == "queued"
    (message,) = messages(session, "meta_private_reply")
    assert message.status == "pending"
    assert "613" in message.last_error
    drain(app, later(2))
    assert [r["comment_id"] for r in graph.replies] == ["t-1"]
    session.expire_all()
    assert session.scalars(select(Comment)).one().reply_status == "sent"


def test_a_change_whose_processing_failed_is_retried_by_the_worker(
    app: Flask,
    client: FlaskClient,
    session: Session,
    api: ApiClient,
    graph: FakeGraph,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flask_shoppable.listening import processing
    from flask_shoppable.listening.models import MetaChange

    post_id = linked_post(session, "retry", "m-retry")
    set_rule(api, post_id, ["link"])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database hiccuped")

    monkeypatch.setattr(processing, "_comment", broken)
    body = delivery("instagram", IG_ACCOUNT, [ig_comment("w-1", "m-retry", "LINK")])
    response = post_delivery(client, body)
    assert response.status_code == 500
    assert response.json["failed"] == 1
    change = session.scalars(select(MetaChange)).one()
    assert (change.status, change.attempts) == ("failed", 1)
    assert "hiccuped" in change.reason
    monkeypatch.undo()

    assert drain(app)["listening"] == 0  # not due yet (backoff)
    assert drain(app, later(6))["listening"] == 1
    session.expire_all()
    assert session.scalars(select(MetaChange)).one().status == "processed"
    comment = session.scalars(select(Comment)).one()
    assert comment.reply_status in ("queued", "sent")
    drain(app, later(7))
    (reply,) = graph.replies
    assert "http://shop.test/shop/r/" in reply["text"]
    assert drain(app, later(60))["listening"] == 0
