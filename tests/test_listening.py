"""Social listening over HTTP: the Meta webhook, comments, keyword rules, private replies.

Every test runs on SQLite and PostgreSQL, against the local fake Graph API (a real HTTP
server) for the replies.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flask_shoppable.config import ConfigError
from flask_shoppable.crm.errors import Rejected
from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.crm.sinks import Message, sinks_of
from flask_shoppable.db import utcnow
from flask_shoppable.listening import keywords, linktoken
from flask_shoppable.listening.media import link_media
from flask_shoppable.listening.models import (
    Comment,
    KeywordRule,
    MetaChange,
    PostMedia,
    SocialIdentity,
)
from flask_shoppable.orders.models import WebhookRejection
from flask_shoppable.testing import FakeGraph
from flask_shoppable.tracking import tokens
from flask_shoppable.tracking.models import Interaction

from .admin_helpers import AdminClient, create_merchant, sign_in
from .checkout_helpers import post, product
from .conftest import ApiClient, make_app
from .listening_helpers import (
    IG_ACCOUNT,
    PAGE_ID,
    VERIFY_TOKEN,
    WEBHOOK,
    delivery,
    fb_comment,
    ig_comment,
    post_delivery,
    settings,
    sign,
)

MAX_PER_USER = 3


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture(scope="module")
def page_token(graph: FakeGraph) -> str:
    return graph.add_token()


@pytest.fixture
def app_config(graph: FakeGraph, page_token: str) -> dict[str, Any]:
    graph.recover()
    with graph.lock:
        graph.replies.clear()
        graph.received.clear()
    return {
        **settings(graph.url, page_token),
        "SHOPPABLE_LISTENING_MAX_COMMENTS_PER_USER": MAX_PER_USER,
    }


def linked_post(session: Session, slug: str, media_id: str, platform: str = "instagram") -> int:
    row = post(session, slug, product(session, f"{slug}-tee", {"price": 3000, "stock": 50}))
    link_media(session, platform, media_id, row.id)
    session.commit()
    return row.id


def set_rule(api: ApiClient, post_id: int, words: list[str], message: str = "") -> Any:
    return api.put(f"/listening/posts/{post_id}/rule", json={"keywords": words, "message": message})


def replies(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.sink == "meta_private_reply")
            .order_by(OutboxMessage.id)
        )
    )


def count(session: Session, model: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- the handshake ----------------------------------------------------------------------


def test_handshake_echoes_the_challenge_for_the_right_token(client: FlaskClient) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    response = client.get(WEBHOOK, query_string=query)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
        {},
    ],
)
def test_handshake_refused_otherwise(client: FlaskClient, query: dict[str, str]) -> None:
    response = client.get(WEBHOOK, query_string=query)
    assert response.status_code == 403
    assert "1" not in response.get_data(as_text=True)


def test_listening_off_without_app_secret(tmp_path: Any, database_url: str) -> None:
    app = make_app(database_url, tmp_path / "off")
    try:
        client = app.test_client()
        assert client.get(WEBHOOK, query_string={"hub.mode": "subscribe"}).status_code == 404
        assert client.post(WEBHOOK, data=b"{}").status_code == 404
    finally:
        app.extensions["shoppable"].recorder.close()
        app.extensions["shoppable"].engine.dispose()


def test_app_secret_without_verify_token_fails_at_start(tmp_path: Any, database_url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_app(
            database_url,
            tmp_path / "bad",
            SHOPPABLE_META_APP_SECRET="0123456789abcdef0123",
            SHOPPABLE_META_PAGE_TOKEN="tok",
        )
    assert caught.value.key == "SHOPPABLE_META_VERIFY_TOKEN"


# --- signatures and malformed deliveries --------------------------------------------------


def test_missing_and_forged_signatures_are_refused_and_nothing_is_stored(
    client: FlaskClient, session: Session
) -> None:
    linked_post(session, "sig", "m-sig")
    body = delivery("instagram", IG_ACCOUNT, [ig_comment("c-sig", "m-sig", "LINK")])
    missing = post_delivery(client, body, signature=None)
    assert missing.status_code == 401
    assert missing.json["reason"] == "no signature"
    forged = post_delivery(client, body, signature="sha256=" + "0" * 64)
    assert forged.status_code == 403
    other_secret = post_delivery(client, body, signature=sign(body, "another-apps-secret"))
    assert other_secret.status_code == 403
    tampered = body.replace(b"LINK", b"LINX")
    assert post_delivery(client, tampered, signature=sign(body)).status_code == 403
    assert count(session, MetaChange) == 0
    assert count(session, Comment) == 0
    counters = {r.reason: r.count for r in session.scalars(select(WebhookRejection))}
    assert counters == {"no signature": 1, "bad signature": 3}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"object": "instagram"}',
        b'{"entry": []}',
        b'{"object": "page", "entry": [1]}',
    ],
)
def test_malformed_deliveries_are_400(client: FlaskClient, session: Session, body: bytes) -> None:
    response = post_delivery(client, body)
    assert response.status_code == 400
    assert response.json["reason"] == "malformed delivery"
    assert count(session, MetaChange) == 0


def test_body_over_the_cap_is_413(app: Flask, client: FlaskClient, session: Session) -> None:
    limit = app.config["SHOPPABLE_WEBHOOK_MAX_BYTES"]
    body = delivery("instagram", IG_ACCOUNT, [ig_comment("c-big", "m", "x" * limit)])
    assert post_delivery(client, body).status_code == 413
    assert count(session, MetaChange) == 0


def test_malformed_changes_messaging_and_other_fields_are_stored_and_ignored(
    client: FlaskClient, session: Session
) -> None:
    changes = [
        {"field": "comments", "value": {"text": "no id"}},
        {"field": "comments", "value": "not an object"},
        {"field": "story_insights", "value": {"media_id": "1", "reach": 3}},
        "not a change",
    ]
    messaging = [{"sender": {"id": "1"}, "recipient": {"id": "2"}, "message": {"text": "hi"}}]
    body = delivery("instagram", IG_ACCOUNT, changes, messaging=messaging)
    response = post_delivery(client, body)
    assert response.status_code == 200, response.json
    assert response.json["ignored"] == 5
    rows = list(session.scalars(select(MetaChange)))
    assert {r.status for r in rows} == {"ignored"}
    assert {r.field for r in rows} >= {"comments", "story_insights", "messaging"}
    assert count(session, Comment) == 0
    assert post_delivery(client, body).json["duplicates"] == 5
    assert count(session, MetaChange) == 5


# --- comments ---------------------------------------------------------------------------


def test_comment_on_unknown_media_is_kept_without_a_sales_flow(
    client: FlaskClient, session: Session, api: ApiClient
) -> None:
    post_id = linked_post(session, "known", "m-known")
    assert set_rule(api, post_id, ["link"]).status_code == 200
    body = delivery("instagram", IG_ACCOUNT, [ig_comment("c-unk", "m-unknown", "LINK please")])
    response = post_delivery(client, body)
    assert response.status_code == 200
    comment = session.scalars(select(Comment)).one()
    assert (comment.status, comment.post_id, comment.interaction_id) == ("unlinked", None, None)
    assert comment.identity_id is None
    assert count(session, Interaction) == 0
    assert replies(session) == []
    assert count(session, SocialIdentity) == 0


def test_instagram_comment_becomes_an_interaction_and_one_reply(
    app: Flask, client: FlaskClient, session: Session, api: ApiClient
) -> None:
    post_id = linked_post(session, "drop", "m-drop")
    assert set_rule(api, post_id, ["link", "je veux"], "Here you go: {link}").status_code == 200
    body = delivery(
        "instagram",
        IG_ACCOUNT,
        [
            ig_comment("c-1", "m-drop", "LÍNK stp!!", user_id="u1", username="ana"),
            ig_comment("c-2", "m-drop", "so pretty", user_id="u2", username="bo"),
            ig_comment("c-3", "m-drop", "linked? no", user_id="u3", username="cy"),
            ig_comment("c-4", "m-drop", "Je   VEUX", user_id="u4", username="di"),
        ],
    )
    response = post_delivery(client, body)
    assert response.status_code == 200, response.json
    assert response.json["processed"] == 4

    comments = {c.comment_id: c for c in session.scalars(select(Comment))}
    assert {k: c.keyword for k, c in comments.items()} == {
        "c-1": "link",
        "c-2": "",
        "c-3": "",
        "c-4": "je veux",
    }
    first = comments["c-1"]
    interaction = session.get(Interaction, first.interaction_id)
    assert interaction is not None
    assert (interaction.kind, interaction.channel, interaction.post_id) == (
        "comment",
        "instagram",
        post_id,
    )
    assert interaction.detail["text"] == "LÍNK stp!!"
    identity = session.get(SocialIdentity, first.identity_id)
    assert identity is not None
    assert (identity.platform, identity.user_id, identity.username, identity.customer_id) == (
        "instagram",
        "u1",
        "ana",
        None,
    )
    messages = replies(session)
    assert [m.key for m in messages] == ["reply:instagram:c-1", "reply:instagram:c-4"]
    payload = messages[0].payload
    assert payload["account_id"] == IG_ACCOUNT
    assert payload["comment_id"] == "c-1"
    assert payload["text"].startswith("Here you go: http://shop.test/shop/r/")
    assert first.reply_status == "queued"

    # Meta's retry of the same delivery, and the same changes in another order: no-ops.
    again = post_delivery(client, body)
    assert again.status_code == 200
    assert again.json["duplicates"] == 4
    shuffled = json.loads(body)
    shuffled["entry"][0]["changes"].reverse()
    assert post_delivery(client, json.dumps(shuffled).encode()).status_code == 200
    assert len(replies(session)) == 2
    assert count(session, Interaction) == 4
    assert count(session, Comment) == 4


def test_facebook_feed_comment_with_emoji_keyword(
    client: FlaskClient, session: Session, api: ApiClient
) -> None:
    media = f"{PAGE_ID}_555"
    post_id = linked_post(session, "fbpost", media, platform="facebook")
    assert set_rule(api, post_id, ["🛒", "❤"]).status_code == 200
    now = int(time.time())
    changes = [
        fb_comment(f"{media}_1", media, "🛒🛒", user_id="f1", created_time=now),
        fb_comment(f"{media}_2", media, "love it ❤️", user_id="f2", created_time=now),
        fb_comment(f"{media}_3", media, "nice", user_id="f3", created_time=now),
        fb_comment(f"{media}_1", media, "🛒 edited", user_id="f1", verb="edited"),
        {"field": "feed", "value": {"item": "reaction", "verb": "add", "post_id": media}},
    ]
    response = post_delivery(client, delivery("page", PAGE_ID, changes))
    assert response.status_code == 200, response.json
    assert [m.key for m in replies(session)] == [
        f"reply:facebook:{media}_1",
        f"reply:facebook:{media}_2",
    ]
    assert replies(session)[0].payload["account_id"] == PAGE_ID
    assert count(session, Comment) == 3
    interaction = session.scalars(select(Interaction)).first()
    assert interaction is not None
    assert interaction.channel == "facebook"


def test_old_comment_gets_no_reply(client: FlaskClient, session: Session, api: ApiClient) -> None:
    media = f"{PAGE_ID}_777"
    post_id = linked_post(session, "old", media, platform="facebook")
    set_rule(api, post_id, ["link"])
    eight_days_ago = int(time.time()) - 8 * 86400
    body = delivery(
        "page", PAGE_ID, [fb_comment(f"{media}_9", media, "link", created_time=eight_days_ago)]
    )
    assert post_delivery(client, body).status_code == 200
    comment = session.scalars(select(Comment)).one()
    assert comment.reply_status == "failed"
    assert "7-day" in comment.reply_error
    assert replies(session) == []


def test_a_flood_from_one_user_is_bounded(
    client: FlaskClient, session: Session, api: ApiClient
) -> None:
    post_id = linked_post(session, "flood", "m-flood")
    set_rule(api, post_id, ["link"])
    changes = [ig_comment(f"f-{i}", "m-flood", "LINK", user_id="spammer") for i in range(20)]
    changes.append(ig_comment("f-other", "m-flood", "link", user_id="someone"))
    assert post_delivery(client, delivery("instagram", IG_ACCOUNT, changes)).status_code == 200
    statuses = [c.status for c in session.scalars(select(Comment).order_by(Comment.id))]
    assert statuses[:MAX_PER_USER] == ["recorded"] * MAX_PER_USER
    assert statuses[MAX_PER_USER:20] == ["flood"] * (20 - MAX_PER_USER)
    assert statuses[20] == "recorded"
    # Interactions: the bound for the spammer, one for the other person.
    assert count(session, Interaction) == MAX_PER_USER + 1
    # One reply per person per post, however often they ask.
    assert [m.key for m in replies(session)] == ["reply:instagram:f-0", "reply:instagram:f-other"]
    skipped = session.scalars(select(Comment).where(Comment.reply_status == "skipped")).all()
    assert [c.comment_id for c in skipped] == ["f-1", "f-2"]


def test_own_comments_are_ignored(client: FlaskClient, session: Session, api: ApiClient) -> None:
    post_id = linked_post(session, "own", "m-own")
    set_rule(api, post_id, ["link"])
    body = delivery(
        "instagram", IG_ACCOUNT, [ig_comment("c-own", "m-own", "link", user_id=IG_ACCOUNT)]
    )
    assert post_delivery(client, body).json["ignored"] == 1
    assert count(session, Comment) == 0


# --- reliability --------------------------------------------------------------------------


def test_a_thousand_changes_twice_in_two_orders_yield_one_reply_each(
    client: FlaskClient, session: Session, api: ApiClient
) -> None:
    post_id = linked_post(session, "big", "m-big")
    set_rule(api, post_id, ["link"])
    changes = [
        ig_comment(f"r-{i}", "m-big", "LINK" if i % 3 == 0 else "nice", user_id=f"user{i}")
        for i in range(1000)
    ]
    matching = {f"reply:instagram:r-{i}" for i in range(1000) if i % 3 == 0}
    rng = random.Random(7)
    first, second = changes[:], changes[:]
    rng.shuffle(first)
    second.reverse()
    for order in (first, second):
        for start in range(0, 1000, 100):
            body = delivery("instagram", IG_ACCOUNT, order[start : start + 100])
            response = post_delivery(client, body)
            assert response.status_code == 200, response.json
    keys = [m.key for m in replies(session)]
    assert len(keys) == len(matching)
    assert set(keys) == matching
    assert count(session, Comment) == 1000
    assert count(session, MetaChange) == 1000
    assert count(session, Interaction) == 1000


# --- the private reply sink ----------------------------------------------------------------


def _message(app: Flask, outbox_row: OutboxMessage) -> Message:
    return Message(
        id=outbox_row.id,
        sink=outbox_row.sink,
        event=outbox_row.event,
        key=outbox_row.key,
        payload=outbox_row.payload,
        attempts=1,
    )


def test_sink_sends_once_and_graph_refuses_a_second_reply(
    app: Flask,
    client: FlaskClient,
    session: Session,
    api: ApiClient,
    graph: FakeGraph,
    page_token: str,
) -> None:
    post_id = linked_post(session, "sink", "m-sink")
    set_rule(api, post_id, ["link"])
    post_delivery(client, delivery("instagram", IG_ACCOUNT, [ig_comment("s-1", "m-sink", "link")]))
    (row,) = replies(session)
    sink = sinks_of(app)["meta_private_reply"]
    result = sink.deliver(_message(app, row))
    assert result is not None
    assert result["message_id"].startswith("m_")
    (sent,) = graph.replies_to("s-1")
    assert sent["account"] == IG_ACCOUNT
    assert "http://shop.test/shop/r/" in sent["text"]
    (request,) = graph.requests_to(f"/{IG_ACCOUNT}/messages")
    assert request.headers["Authorization"] == f"Bearer {page_token}"
    assert request.json["recipient"] == {"comment_id": "s-1"}
    with pytest.raises(Rejected) as refused:
        sink.deliver(_message(app, row))
    assert "10900" in str(refused.value) or "already replied" in str(refused.value)
    assert len(graph.replies_to("s-1")) == 1


def test_sink_refuses_after_seven_days_without_calling_graph(
    app: Flask, client: FlaskClient, session: Session, api: ApiClient, graph: FakeGraph
) -> None:
    post_id = linked_post(session, "late", "m-late")
    set_rule(api, post_id, ["link"])
    post_delivery(client, delivery("instagram", IG_ACCOUNT, [ig_comment("l-1", "m-late", "link")]))
    (row,) = replies(session)
    payload = dict(row.payload)
    payload["comment_created_at"] = (utcnow() - timedelta(days=7, minutes=1)).isoformat()
    sink = sinks_of(app)["meta_private_reply"]
    message = Message(
        id=row.id, sink=row.sink, event=row.event, key=row.key, payload=payload, attempts=3
    )
    with pytest.raises(Rejected):
        sink.deliver(message)
    assert graph.requests_to("/messages") == []
    with app.extensions["shoppable"].session_factory() as s:
        sink.on_dead(s, message, "the comment is older than Meta's 7-day private reply window")
        s.commit()
    session.expire_all()
    assert session.scalars(select(Comment)).one().reply_status == "failed"


# --- the reply link -------------------------------------------------------------------------


def test_reply_link_credits_the_comment_and_cannot_be_swapped(
    app: Flask, client: FlaskClient, session: Session, api: ApiClient
) -> None:
    post_id = linked_post(session, "rl", "m-rl")
    set_rule(api, post_id, ["link"])
    post_delivery(client, delivery("instagram", IG_ACCOUNT, [ig_comment("rl-1", "m-rl", "link")]))
    (row,) = replies(session)
    link = row.payload["text"].split("http://shop.test", 1)[1]
    comment = session.scalars(select(Comment)).one()

    preview = client.get(link, headers={"User-Agent": "facebookexternalhit/1.1"})
    assert preview.status_code == 302
    session.expire_all()
    assert session.get(Comment, comment.id).clicks == 0  # type: ignore[union-attr]
    response = client.get(link)
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/shop/p/rl"
    st = parse_qs(target.query)["st"][0]
    assert tokens.verify(st, secret=app.config["SHOPPABLE_SECRET_KEY"]) == comment.interaction_id
    session.expire_all()
    assert session.get(Comment, comment.id).clicks == 1  # type: ignore[union-attr]

    # A click's st token is no reply link; a reply token for a non-comment interaction,
    # an altered token and an expired one are all unknown links.
    token = link.rsplit("/", 1)[1]
    assert client.get(f"/shop/r/{st}").status_code == 404
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.get(f"/shop/r/{altered}").status_code == 404
    with app.test_request_context():
        old = linktoken.sign(comment.interaction_id, now=time.time() - 400 * 86400)
        assert linktoken.verify(old) is None
    assert client.get(f"/shop/r/{old}").status_code == 404
    session.expire_all()
    assert session.get(Comment, comment.id).clicks == 1  # type: ignore[union-attr]


# --- merchant API and report ------------------------------------------------------------------


def test_media_and_rule_api(api: ApiClient, session: Session, client: FlaskClient) -> None:
    page = post(session, "api-post", product(session, "api-tee"))
    other = post(session, "api-other")
    created = api.post(
        "/listening/media", json={"platform": "instagram", "media_id": "m1", "post_id": page.id}
    )
    assert created.status_code == 201, created.json
    assert created.json["source"] == "manual"
    conflict = api.post(
        "/listening/media", json={"platform": "instagram", "media_id": "m1", "post_id": other.id}
    )
    assert conflict.status_code == 409
    assert (
        api.post(
            "/listening/media", json={"platform": "tiktok", "media_id": "m2", "post_id": page.id}
        ).status_code
        == 422
    )
    assert (
        api.post(
            "/listening/media", json={"platform": "instagram", "media_id": "m2", "post_id": 999999}
        ).status_code
        == 404
    )
    assert [m["media_id"] for m in api.get(f"/listening/media?post_id={page.id}").json] == ["m1"]
    assert client.get("/shop/api/listening/media").status_code == 401
    spec = client.get("/shop/api/openapi.json").json
    for path in (
        "/shop/api/listening/media",
        "/shop/api/listening/posts/{post_id}/rule",
        "/shop/api/listening/comments",
        "/shop/api/listening/report",
    ):
        assert path in spec["paths"], path

    assert set_rule(api, page.id, ["Link", "línk", " ", "🛒"]).json["keywords"] == ["Link", "🛒"]
    assert set_rule(api, page.id, ["x" * 101]).status_code == 422
    assert api.get(f"/listening/posts/{page.id}/rule").json["keywords"] == ["Link", "🛒"]
    assert session.get(KeywordRule, page.id) is not None
    assert api.delete(f"/listening/media/{created.json['id']}").status_code == 204
    assert count(session, PostMedia) == 0


def test_keyword_matching_rules() -> None:
    assert keywords.match(["link"], "LINK!!") == "link"
    assert keywords.match(["link"], "Línk pls") == "link"
    assert keywords.match(["link"], "linked") is None
    assert keywords.match(["je veux"], "oui JE  veux") == "je veux"
    assert keywords.match(["❤"], "❤️❤️") == "❤"
    assert keywords.match(["👍"], "👍🏽") == "👍"
    assert keywords.match(["buy"], "") is None


def test_listening_report_counts(client: FlaskClient, session: Session, api: ApiClient) -> None:
    post_id = linked_post(session, "rep", "m-rep")
    set_rule(api, post_id, ["link"])
    changes = [
        ig_comment("p-1", "m-rep", "link", user_id="a"),
        ig_comment("p-2", "m-rep", "wow", user_id="b"),
        ig_comment("p-3", "m-other", "link", user_id="c"),
    ]
    post_delivery(client, delivery("instagram", IG_ACCOUNT, changes))
    rows = api.get("/listening/report").json
    today = utcnow().date().isoformat()
    by_post = {r["post_id"]: r for r in rows}
    assert by_post[post_id] == {
        "post_id": post_id,
        "day": today,
        "comments": 2,
        "keyword_matches": 1,
        "replies_sent": 0,
        "replies_failed": 0,
        "clicks": 0,
        "orders": 0,
        "revenue": {},
    }
    assert by_post[None]["comments"] == 1
    assert api.get("/listening/report?start=2020-01-01&end=2026-01-01").status_code == 422
    assert api.get(f"/listening/report?post_id={post_id}").json == [by_post[post_id]]


def test_entry_level_change_mentions_and_live_comments(
    client: FlaskClient, session: Session, api: ApiClient
) -> None:
    post_id = linked_post(session, "shapes", "m-shapes")
    set_rule(api, post_id, ["link"])
    entry_level = {
        "object": "instagram",
        "entry": [
            {
                "id": IG_ACCOUNT,
                "time": 1700000000,
                **ig_comment("e-1", "m-shapes", "link", user_id="e1"),
            }
        ],
    }
    assert post_delivery(client, json.dumps(entry_level).encode()).status_code == 200
    live = ig_comment("e-2", "m-shapes", "LINK", user_id="e2")
    live["field"] = "live_comments"
    mention = {"field": "mentions", "value": {"comment_id": "e-3", "media_id": "someone-elses"}}
    body = delivery("instagram", IG_ACCOUNT, [live, mention])
    assert post_delivery(client, body).status_code == 200
    comments = {c.comment_id: c for c in session.scalars(select(Comment))}
    assert (comments["e-1"].status, comments["e-1"].reply_status) == ("recorded", "queued")
    assert (comments["e-2"].status, comments["e-2"].reply_status) == ("recorded", "queued")
    assert (comments["e-3"].kind, comments["e-3"].status) == ("mention", "unlinked")
    assert [m.key for m in replies(session)] == ["reply:instagram:e-1", "reply:instagram:e-2"]


def test_concurrent_redeliveries_yield_one_reply_per_matching_comment(
    app: Flask, session: Session, api: ApiClient
) -> None:
    """Two deliveries of the same changes at once, in two orders (two web processes
    answering Meta's retry while the first delivery is still being processed)."""
    import threading

    post_id = linked_post(session, "race", "m-race")
    set_rule(api, post_id, ["link"])
    changes = [
        ig_comment(f"k-{i}", "m-race", "link" if i % 2 else "hi", user_id=f"k{i}")
        for i in range(120)
    ]
    orders = [changes[:], changes[::-1]]
    statuses: list[int] = []

    def deliver(order: list[dict[str, Any]]) -> None:
        client = app.test_client()
        for start in range(0, len(order), 40):
            body = delivery("instagram", IG_ACCOUNT, order[start : start + 40])
            for _attempt in range(5):  # Meta retries a non-2xx answer
                code = post_delivery(client, body).status_code
                statuses.append(code)
                if code == 200:
                    break

    threads = [threading.Thread(target=deliver, args=(o,)) for o in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses.count(200) == 6, statuses
    keys = [m.key for m in replies(session)]
    assert sorted(keys) == sorted(f"reply:instagram:k-{i}" for i in range(1, 120, 2))
    assert count(session, Comment) == 120
    assert count(session, Interaction) == 120


@pytest.fixture
def merchant(app: Flask) -> AdminClient:
    create_merchant(app)
    browser = app.test_client()
    assert sign_in(browser).status_code == 302
    return AdminClient(browser)


def test_admin_listening_page(
    app: Flask, client: FlaskClient, session: Session, api: ApiClient, merchant: AdminClient
) -> None:
    admin = merchant
    post_id = linked_post(session, "adm", "m-adm")
    set_rule(api, post_id, ["link"])
    changes = [
        ig_comment("a-1", "m-adm", "LINK <script>x</script>", user_id="a1", username="ana"),
        ig_comment("a-2", "m-elsewhere", "hello", user_id="a2"),
    ]
    post_delivery(client, delivery("instagram", IG_ACCOUNT, changes))
    page = admin.get("/shop/admin/listening")
    assert page.status_code == 200, page.headers.get("Location")
    html = page.get_data(as_text=True)
    assert 'href="/shop/admin/listening"' in html  # in the nav
    assert html.count('data-testid="listening-row"') == 2
    assert "adm" in html
    assert "media not linked" in html
    assert "ana" in html
    assert "<script>x</script>" not in html  # escaped
    assert "&lt;script&gt;" in html
    bad = admin.get("/shop/admin/listening?from=2026-13-01")
    assert bad.status_code == 200
    assert "Use a date such as" in bad.get_data(as_text=True)
