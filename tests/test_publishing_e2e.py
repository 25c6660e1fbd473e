"""A post published to the five fake platforms through the outbox, and what it records.

At the HTTP level: the merchant API publishes, the worker's outbox job delivers to the
fake servers (real HTTP on 127.0.0.1), the fakes check the shapes the platforms document,
and a comment on the Instagram media through the Meta webhook is tied to the post with
no manual mapping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.db import utcnow
from flask_shoppable.listening.models import Comment, PostMedia
from flask_shoppable.publishing import crypto
from flask_shoppable.publishing.models import ChannelAccount, Publication

from . import listening_helpers as listening
from .conftest import ApiClient
from .publishing_helpers import (
    BOARD_ID,
    CHANNELS,
    IG_ACCOUNT,
    ORG_ID,
    PAGE_ID,
    Fakes,
    connect_all,
    run_outbox,
    running_fakes,
    shop_post,
)

CATALOG_ID = "778899001122"
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture
def app_config(fakes: Fakes) -> dict[str, Any]:
    return {
        **fakes.config(),
        **listening.settings(fakes.graph.url, fakes.graph.add_token()),
        "SHOPPABLE_OUTBOX_BACKOFF_SECONDS": 1,
        "SHOPPABLE_TOKEN_KEYS": [OLD_KEY],
    }


def _ending(fake: Any, suffix: str, method: str) -> list[Any]:
    """Requests whose path ends with ``suffix``."""
    return [r for r in fake.requests_to(suffix, method) if r.path.endswith(suffix)]


def _publications(session: Session) -> dict[str, Publication]:
    session.expire_all()
    return {p.channel: p for p in session.scalars(select(Publication))}


def _published_everywhere(
    api: ApiClient, session: Session, fakes: Fakes
) -> tuple[Any, dict[str, Any]]:
    ids = connect_all(api, fakes)
    # Instagram tags the post's product from the shop's Meta catalog.
    account = session.get(ChannelAccount, ids["instagram"])
    assert account is not None
    account.catalog_id = CATALOG_ID
    session.commit()
    post = shop_post(session, fakes.images.image_url("look", "jpg", width=1080, height=1350))
    catalog = fakes.graph.publishing.add_catalog(CATALOG_ID, ["SKU-linen-summer", "OTHER"])
    fakes.graph.publishing.in_progress_polls = 2  # the container is not ready at once
    response = api.post(f"/posts/{post.id}/publications", json={"channels": list(CHANNELS)})
    assert response.status_code == 202, response.json
    made = {p["channel"]: p for p in response.json}
    return post, {"made": made, "catalog": catalog, "ids": ids}


def test_a_post_published_to_all_five_platforms(
    app: Flask, api: ApiClient, client: FlaskClient, session: Session, fakes: Fakes
) -> None:
    post, context = _published_everywhere(api, session, fakes)
    made = context["made"]
    assert run_outbox(app) == 5

    rows = _publications(session)
    assert {c: r.state for c, r in rows.items()} == dict.fromkeys(CHANNELS, "published")
    graph = fakes.graph.publishing

    # Instagram: one container (with the product tag), polled until FINISHED, published.
    (container_call,) = _ending(fakes.graph, f"/{IG_ACCOUNT}/media", "POST")
    form = container_call.form
    assert container_call.headers["Authorization"] == f"Bearer {fakes.tokens['instagram']}"
    assert form["image_url"] == fakes.images.image_url("look", "jpg", width=1080, height=1350)
    assert form["caption"] == made["instagram"]["caption"]
    assert "link in bio" in form["caption"]
    assert "/shop/s/" not in form["caption"]
    assert json.loads(form["product_tags"]) == [
        {"product_id": context["catalog"]["SKU-linen-summer"], "x": 0.4, "y": 0.55}
    ]
    (container,) = graph.containers.values()
    polls = list(fakes.graph.requests_to(f"/{container['id']}", "GET"))
    assert [r.query["fields"] for r in polls] == ["status_code"] * 3
    (publish_call,) = fakes.graph.requests_to(f"/{IG_ACCOUNT}/media_publish", "POST")
    assert publish_call.form == {"creation_id": container["id"]}
    (media,) = graph.media
    assert rows["instagram"].platform_post_id == media["id"]
    assert rows["instagram"].container_id == container["id"]
    assert rows["instagram"].permalink == media["permalink"]

    # Facebook: a Page photo with the Facebook link in its message.
    (photo,) = graph.photos
    assert photo["page_id"] == PAGE_ID
    assert photo["url"] == form["image_url"]
    assert photo["message"] == made["facebook"]["caption"]
    assert made["facebook"]["link_url"] in photo["message"]
    assert rows["facebook"].platform_post_id == photo["post_id"]
    assert rows["facebook"].permalink == photo["permalink_url"]

    # Pinterest: a pin on the board whose link is the Pinterest link.
    (pin,) = fakes.pinterest.pins
    (pin_call,) = fakes.pinterest.requests_to("/v5/pins", "POST")
    assert pin_call.json == {
        "board_id": BOARD_ID,
        "media_source": {"source_type": "image_url", "url": form["image_url"]},
        "link": made["pinterest"]["link_url"],
        "title": "Linen Summer Shirt",
        "description": "Linen for the long evenings #summer",
        "alt_text": "Linen Summer Shirt",
    }
    assert rows["pinterest"].platform_post_id == pin["id"]
    assert rows["pinterest"].permalink == f"https://www.pinterest.com/pin/{pin['id']}/"

    # LinkedIn: the versioned REST API, as the organisation, the LinkedIn link as article.
    (li_call,) = fakes.linkedin.requests_to("/rest/posts", "POST")
    assert li_call.headers["Linkedin-Version"] == "202610"
    assert li_call.headers["X-Restli-Protocol-Version"] == "2.0.0"
    body = li_call.json
    assert body["author"] == f"urn:li:organization:{ORG_ID}"
    assert body["commentary"] == made["linkedin"]["caption"]
    assert body["content"] == {
        "article": {"source": made["linkedin"]["link_url"], "title": "Linen Summer Shirt"}
    }
    assert body["visibility"] == "PUBLIC"
    assert body["lifecycleState"] == "PUBLISHED"
    (li_post,) = fakes.linkedin.posts
    assert rows["linkedin"].platform_post_id == li_post["id"]

    # X: the text with the X link.
    (tweet,) = fakes.x.tweets
    assert tweet["text"] == made["x"]["caption"]
    assert tweet["text"].endswith(made["x"]["link_url"])
    assert rows["x"].platform_post_id == tweet["id"]

    # Every channel's link is its own and leads to the post.
    urls = {p["link_url"] for p in made.values()}
    assert len(urls) == 5
    for url in urls:
        followed = client.get(url.replace("http://shop.test", ""))
        assert followed.status_code == 302
        assert f"/shop/p/{post.slug}" in followed.headers["Location"]

    # What the API says, and what social listening now knows.
    listed = {p["channel"]: p for p in api.get(f"/posts/{post.id}/publications").json}
    assert {c: p["platform_post_id"] for c, p in listed.items()} == {
        c: r.platform_post_id for c, r in rows.items()
    }
    assert all(p["published_at"] for p in listed.values())
    media_links = {
        (m.platform, m.media_id): (m.post_id, m.source) for m in session.scalars(select(PostMedia))
    }
    assert media_links == {
        ("instagram", media["id"]): (post.id, "published"),
        ("facebook", photo["post_id"]): (post.id, "published"),
    }

    # Nothing is due any more; a message delivered again posts nothing twice.
    assert run_outbox(app) == 0
    session.execute(update(OutboxMessage).values(status="pending", next_attempt_at=utcnow()))
    session.commit()
    assert run_outbox(app) == 5
    assert (len(graph.media), len(graph.photos), len(fakes.pinterest.pins)) == (1, 1, 1)
    assert (len(fakes.linkedin.posts), len(fakes.x.tweets)) == (1, 1)

    # A comment on the Instagram media, through the Meta webhook: tied to the post.
    hook = listening.delivery(
        "instagram",
        IG_ACCOUNT,
        [listening.ig_comment("c-pub-1", media["id"], "link please", user_id="u77")],
    )
    answered = listening.post_delivery(client, hook)
    assert answered.status_code == 200, answered.json
    session.expire_all()
    (comment,) = session.scalars(select(Comment)).all()
    assert comment.media_id == media["id"]
    assert comment.post_id == post.id
    assert comment.status == "recorded"


def test_a_container_not_ready_is_polled_again_later_never_made_twice(
    app: Flask, api: ApiClient, session: Session, fakes: Fakes
) -> None:
    app.config["SHOPPABLE_INSTAGRAM_POLLS"] = 1
    ids = connect_all(api, fakes)
    post = shop_post(session, fakes.images.image_url())
    fakes.graph.publishing.in_progress_polls = 3
    assert (
        api.post(
            f"/posts/{post.id}/publications", json={"accounts": [ids["instagram"]]}
        ).status_code
        == 202
    )

    now = utcnow()
    for step in range(3):  # IN_PROGRESS: retried later, with the same container
        assert run_outbox(app, rounds=1, now=now + timedelta(minutes=10 * step)) == 1
        row = _publications(session)["instagram"]
        assert row.state == "publishing"
        assert row.container_id
    assert run_outbox(app, now=now + timedelta(hours=1)) == 1
    row = _publications(session)["instagram"]
    assert row.state == "published"
    assert len(fakes.graph.publishing.containers) == 1
    assert len(_ending(fakes.graph, f"/{IG_ACCOUNT}/media", "POST")) == 1
    assert len(fakes.graph.publishing.media) == 1


def test_a_token_expired_between_scheduling_and_publishing(
    app: Flask, api: ApiClient, session: Session, fakes: Fakes
) -> None:
    ids = connect_all(api, fakes, expires_in=timedelta(days=30))
    post = shop_post(session, fakes.images.image_url())
    at = utcnow() + timedelta(hours=1)
    response = api.post(
        f"/posts/{post.id}/publications",
        json={"accounts": [ids["instagram"], ids["x"]], "publish_at": at.isoformat()},
    )
    assert response.status_code == 202
    # Meanwhile: Instagram's token runs out (its recorded expiry passes; the sink reads
    # the real clock), and X revokes its token (only the platform knows).
    session.execute(
        update(ChannelAccount)
        .where(ChannelAccount.id == ids["instagram"])
        .values(token_expires_at=utcnow() - timedelta(minutes=1))
    )
    session.commit()
    fakes.x.expire_token(fakes.tokens["x"])

    assert run_outbox(app, now=utcnow()) == 0  # not due yet
    assert run_outbox(app, now=at + timedelta(minutes=1)) == 2
    rows = _publications(session)
    assert {c: r.state for c, r in rows.items()} == {"instagram": "failed", "x": "failed"}
    assert "token expired at" in rows["instagram"].failure_reason
    assert "reconnect the account" in rows["instagram"].failure_reason
    assert "X refused" in rows["x"].failure_reason
    assert "expired or revoked" in rows["x"].failure_reason
    assert fakes.graph.requests_to(f"/{IG_ACCOUNT}/") == []  # no call with a dead token
    assert len(fakes.x.requests_to("/2/tweets")) == 1  # one refusal, no retry storm
    assert run_outbox(app, now=at + timedelta(days=1)) == 0
    dead = session.scalars(select(OutboxMessage.status)).all()
    assert dead == ["dead", "dead"]
    listed = {p["channel"]: p for p in api.get(f"/posts/{post.id}/publications").json}
    assert listed["x"]["state"] == "failed"
    assert listed["x"]["failure_reason"] == rows["x"].failure_reason

    # Reconnected with a fresh token, the post can be published there again.
    fresh = fakes.x.add_token()
    again = api.post(
        "/channel-accounts", json={"channel": "x", "account_id": "2244994945", "token": fresh}
    )
    assert again.status_code == 200
    retry = api.post(f"/posts/{post.id}/publications", json={"accounts": [ids["x"]]})
    assert retry.status_code == 202, retry.json
    assert run_outbox(app, now=at + timedelta(days=1)) == 1
    assert len(fakes.x.tweets) == 1


def test_rate_limits_and_outages_are_retried_and_post_once(
    app: Flask, api: ApiClient, session: Session, fakes: Fakes
) -> None:
    ids = connect_all(api, fakes)
    post = shop_post(session, fakes.images.image_url())
    fakes.x.rate_limit(2, reset_in=30)
    fakes.pinterest.rate_limit(1, reset=20)
    fakes.linkedin.rate_limit(1)
    fakes.graph.publishing.rate_limit(1, minutes=2)
    fakes.graph.fail(1, status=503, path_contains=f"/{PAGE_ID}/photos")
    assert (
        api.post(
            f"/posts/{post.id}/publications", json={"accounts": list(ids.values())}
        ).status_code
        == 202
    )

    now = utcnow()
    run_outbox(app, now=now)
    rows = _publications(session)
    assert all(r.state == "publishing" for r in rows.values())
    messages = {m.sink: m for m in session.scalars(select(OutboxMessage))}
    # X's reset (a Unix time) and Pinterest's are honoured; Graph says when in its header.
    assert messages["publish_x"].next_attempt_at >= now + timedelta(seconds=25)
    assert messages["publish_pinterest"].next_attempt_at >= now + timedelta(seconds=19)
    assert messages["publish_instagram"].next_attempt_at >= now + timedelta(seconds=110)
    assert "throttled" in messages["publish_instagram"].last_error

    for minutes in (5, 10, 20):
        run_outbox(app, now=now + timedelta(minutes=minutes))
    rows = _publications(session)
    assert {c: r.state for c, r in rows.items()} == dict.fromkeys(CHANNELS, "published")
    assert len(fakes.x.tweets) == 1
    assert len(fakes.pinterest.pins) == 1
    assert len(fakes.linkedin.posts) == 1
    assert len(fakes.graph.publishing.media) == 1
    assert len(fakes.graph.publishing.photos) == 1


def test_a_token_read_with_an_older_key_is_re_encrypted_on_use(
    app: Flask, api: ApiClient, session: Session, fakes: Fakes
) -> None:
    ids = connect_all(api, fakes)
    post = shop_post(session, fakes.images.image_url())
    # The keys are rotated: a new key first, the old one kept to read what it wrote.
    app.config["SHOPPABLE_TOKEN_KEYS"] = [NEW_KEY, OLD_KEY]
    app.extensions["shoppable"].extra.pop("publishing_fernet", None)
    response = api.post(f"/posts/{post.id}/publications", json={"accounts": [ids["x"]]})
    assert response.status_code == 202
    assert run_outbox(app) == 1
    (tweet,) = fakes.x.tweets
    session.expire_all()
    account = session.get(ChannelAccount, ids["x"])
    assert account is not None
    new_only = crypto.build({"SHOPPABLE_TOKEN_KEYS": [NEW_KEY]})
    assert crypto.decrypt(account.token_encrypted or "", new_only) == fakes.tokens["x"]
    untouched = session.get(ChannelAccount, ids["pinterest"])
    assert untouched is not None
    assert not crypto.is_newest(untouched.token_encrypted or "", new_only)
    assert tweet["id"] == _publications(session)["x"].platform_post_id
