"""Reliability: the platforms fail for a stretch while 50 scheduled posts fall due.

Each fake fails every request for the stretch (Graph 500, Pinterest 429 with its
rate-limit headers, LinkedIn 503, X 502); the worker keeps retrying with backoff; after
the platforms recover, each of the 50 posts is on each platform exactly once, with the
platform's id recorded and its own tracked link.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.db import utcnow
from flask_shoppable.publishing.models import Publication

from .conftest import ApiClient
from .publishing_helpers import CHANNELS, Fakes, connect_all, run_outbox, running_fakes, shop_post

POSTS = 50


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture
def app_config(fakes: Fakes) -> dict[str, Any]:
    return {
        **fakes.config(),
        "SHOPPABLE_OUTBOX_BACKOFF_SECONDS": 60,
        "SHOPPABLE_OUTBOX_BACKOFF_MAX_SECONDS": 600,
    }


def test_fifty_scheduled_posts_survive_an_outage_and_post_exactly_once(
    app: Flask, api: ApiClient, session: Session, fakes: Fakes
) -> None:
    ids = connect_all(api, fakes)
    image = fakes.images.image_url("look", "jpg", width=1080, height=1080)
    start = utcnow() + timedelta(minutes=1)
    for n in range(POSTS):
        post = shop_post(session, image, slug=f"look-{n}", caption=f"Look number {n}")
        response = api.post(
            f"/posts/{post.id}/publications",
            json={
                "accounts": list(ids.values()),
                "publish_at": (start + timedelta(seconds=n)).isoformat(),
            },
        )
        assert response.status_code == 202, response.json

    fakes.graph.fail_for(3600, status=500, body={"error": {"message": "unknown", "code": 1}})
    fakes.pinterest.fail_for(
        3600,
        status=429,
        body={"code": 8, "message": "You have exceeded your rate limit. Try again later."},
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "60"},
    )
    fakes.linkedin.fail_for(3600, status=503)
    fakes.x.fail_for(3600, status=502)

    assert run_outbox(app, now=utcnow()) == 0  # none due before its time
    for minutes in (2, 10, 30, 60):  # the stretch: everything due fails, is retried later
        run_outbox(app, now=start + timedelta(minutes=minutes))
    failed_calls = sum(len(fake.received) for fake in fakes.all())
    assert failed_calls >= 4 * POSTS * len(CHANNELS) // 2
    states = dict(
        session.execute(select(Publication.state, func.count()).group_by(Publication.state)).all()
    )
    assert states.get("published", 0) == 0
    assert states.get("failed", 0) == 0
    pending = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
    )
    assert pending == POSTS * len(CHANNELS)
    assert fakes.x.tweets == []
    assert fakes.pinterest.pins == []

    fakes.recover()
    run_outbox(app, rounds=200, now=start + timedelta(hours=3))
    session.expire_all()
    rows = session.scalars(select(Publication)).all()
    assert len(rows) == POSTS * len(CHANNELS)
    assert {r.state for r in rows} == {"published"}
    assert all(r.platform_post_id for r in rows)
    statuses = session.scalars(select(OutboxMessage.status).distinct()).all()
    assert statuses == ["delivered"]

    # Exactly once on each platform: 50 of each, 50 different texts, one link each.
    graph = fakes.graph.publishing
    assert len(graph.media) == POSTS
    assert len(graph.containers) == POSTS
    assert len({m["caption"] for m in graph.media}) == POSTS
    assert len(graph.photos) == POSTS
    assert len({p["message"] for p in graph.photos}) == POSTS
    assert len(fakes.pinterest.pins) == POSTS
    assert len({p["link"] for p in fakes.pinterest.pins}) == POSTS
    assert len(fakes.linkedin.posts) == POSTS
    assert len({p["content"]["article"]["source"] for p in fakes.linkedin.posts}) == POSTS
    assert len(fakes.x.tweets) == POSTS
    by_channel: dict[str, set[str]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, set()).add(row.platform_post_id)
    assert {c: len(v) for c, v in by_channel.items()} == dict.fromkeys(CHANNELS, POSTS)
    assert by_channel["x"] == {t["id"] for t in fakes.x.tweets}
    assert by_channel["pinterest"] == {p["id"] for p in fakes.pinterest.pins}
    assert by_channel["instagram"] == {m["id"] for m in graph.media}
    assert len({r.link_id for r in rows}) == POSTS * len(CHANNELS)
