"""Visit chains (tracking.chains): the breakdowns' unique visitors stay exact.

The property: whatever the chains' state (none made, all made, made before some rows
were written, rows written late with older times, rows erased, a post deleted, the job
halfway through), a breakdown's unique visitors per key equal the number of distinct
visitors with an interaction of that key in the range, counted here by brute force from
the rows themselves.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.orm import Session

from flask_shoppable import worker
from flask_shoppable.crm import erasure
from flask_shoppable.reports import queries
from flask_shoppable.social import service as social_service
from flask_shoppable.social.models import Post, TrackedLink
from flask_shoppable.tracking import chains
from flask_shoppable.tracking.models import Interaction

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 10
_TABLE = Interaction.__table__
POSTS = (101, 102, 103)
LINKS = (201, 202, 203)
KEY_COLUMNS = {
    "channel": "channel",
    "post": "post_id",
    "link": "link_id",
    "campaign": "utm_campaign",
    "partner": "partner",
}


@pytest.fixture
def conn(app: Flask) -> Iterator[Connection]:
    with app.extensions["shoppable"].engine.connect() as connection:
        connection.execute(
            insert(Post.__table__),
            [{"id": p, "slug": f"post-{p}", "caption": "", "status": "published"} for p in POSTS],
        )
        connection.execute(
            insert(TrackedLink.__table__),
            [
                {
                    "id": link,
                    "code": f"code{link}",
                    "channel": "instagram",
                    "utm_source": "instagram",
                    "utm_medium": "social",
                    "target": "post",
                    "post_id": POSTS[-1],
                }
                for link in LINKS
            ],
        )
        connection.commit()
        yield connection


def _rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    visitors = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(5)]
    rows = []
    for _ in range(count):
        rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128)),
                "kind": rng.choice(["impression", "click", "comment", "checkout_started"]),
                # whole minutes, so that some times tie (ties are ordered by id)
                "occurred_at": T0 + timedelta(minutes=rng.randrange(DAYS * 24 * 60 // 97) * 97),
                "visitor_id": rng.choice([*visitors, None]),
                "channel": rng.choice(["instagram", "facebook", None]),
                "post_id": rng.choice([*POSTS, None]),
                "link_id": rng.choice([*LINKS, None]),
                "utm_campaign": rng.choice(["spring", "summer", ""]),
                "partner": rng.choice(["ana", ""]),
            }
        )
    return rows


def _expected(conn: Connection, dimension: str, start: datetime, end: datetime) -> dict[Any, int]:
    column = _TABLE.c[KEY_COLUMNS[dimension]]
    pairs = conn.execute(
        select(column, _TABLE.c.visitor_id).where(
            _TABLE.c.occurred_at >= start,
            _TABLE.c.occurred_at < end,
            _TABLE.c.visitor_id.is_not(None),
        )
    ).all()
    counts: dict[Any, int] = {}
    for key, _visitor in set(pairs):
        key = None if key == "" else key  # an empty campaign or partner is "(none)"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _check(conn: Connection, rng: random.Random, label: str) -> None:
    ranges = [(T0, T0 + timedelta(days=DAYS + 1))]
    for _ in range(4):
        a, b = sorted(rng.sample(range(DAYS * 24 + 1), 2))
        ranges.append((T0 + timedelta(hours=a), T0 + timedelta(hours=b)))
    for start, end in ranges:
        q = queries.ReportQuery(start=start, end=end, model="last_touch", currency="USD")
        for dimension in queries.DIMENSIONS:
            got = {
                r.key: r.metrics.unique_visitors
                for r in queries.breakdown(conn, q, dimension)
                if r.metrics.unique_visitors
            }
            want = _expected(conn, dimension, start, end)
            assert got == want, (label, dimension, start, end)


def test_unique_visitors_are_exact_in_every_state_of_the_chains(conn: Connection) -> None:
    rng = random.Random(20261124)
    for scenario in range(12):
        conn.execute(delete(_TABLE))
        conn.commit()
        first, later = _rows(rng, 40), _rows(rng, 15)
        conn.execute(insert(_TABLE), first)
        conn.commit()
        # (rows without a visitor are written chained: they have nothing to chain)
        assert all(
            chained == (visitor is None)
            for visitor, chained in conn.execute(select(_TABLE.c.visitor_id, _TABLE.c.chained))
        )
        _check(conn, rng, f"{scenario}: none chained")
        chains.chain_all(conn, limit=2)
        assert conn.execute(select(_TABLE.c.id).where(chains.unchained())).first() is None
        _check(conn, rng, f"{scenario}: all chained")
        # Written after the job ran, some with older times than chained rows.
        conn.execute(insert(_TABLE), later)
        conn.commit()
        _check(conn, rng, f"{scenario}: late rows")
        # The job halfway: one visitor rechained, the others not yet.
        chains.chain_batch(conn, limit=1)
        conn.commit()
        _check(conn, rng, f"{scenario}: halfway")
        # Some rows lose their visitor (erasure by interaction id).
        some = [r["id"] for r in rng.sample(first + later, 6)]
        with Session(bind=conn) as session:
            erasure.erase_interactions(session, erasure.Target("", "", interaction_ids=some))
            session.commit()
        _check(conn, rng, f"{scenario}: erased")
        chains.chain_all(conn)
        _check(conn, rng, f"{scenario}: rechained")


def test_a_deleted_post_unchains_its_visitors(app: Flask, conn: Connection) -> None:
    rng = random.Random(7)
    conn.execute(insert(_TABLE), _rows(rng, 60))
    conn.commit()
    chains.chain_all(conn)
    conn.execute(delete(TrackedLink.__table__))  # (delete_post refuses a post with links)
    conn.commit()
    with app.extensions["shoppable"].session_factory() as session:
        post = session.get(Post, POSTS[0])
        assert post is not None
        social_service.delete_post(session, post)
    assert conn.execute(select(_TABLE.c.id).where(chains.unchained())).first() is not None
    _check(conn, rng, "post deleted")
    chains.chain_all(conn)
    _check(conn, rng, "post deleted, rechained")


def test_the_worker_job_chains_new_rows_and_recorders_leave_them_unchained(
    app: Flask, conn: Connection
) -> None:
    rows = _rows(random.Random(3), 30)
    recorder = app.extensions["shoppable"].recorder
    for row in rows:
        recorder.record(row)
    recorder.flush()
    written = conn.execute(
        select(_TABLE.c.visitor_id.is_(None), _TABLE.c.chained, _TABLE.c.prev_channel_at)
    ).all()
    assert len(written) == 30
    # Rows with a visitor wait for the job; a row without one has nothing to chain.
    assert {tuple(r) for r in written} == {(False, False, None), (True, True, None)}
    now = datetime.now(UTC)
    assert worker.chain_visits(app, now, lambda: False) > 0
    while worker.chain_visits(app, now, lambda: False):
        pass
    assert conn.execute(select(_TABLE.c.id).where(chains.unchained())).first() is None
    _check(conn, random.Random(4), "after the worker")


@pytest.mark.postgresql_only
def test_one_job_at_a_time_on_postgresql(app: Flask, conn: Connection) -> None:
    conn.execute(insert(_TABLE), _rows(random.Random(5), 20))
    conn.commit()
    with app.extensions["shoppable"].engine.connect() as other:
        assert chains.chain_batch(other) > 0  # holds the lock until its transaction ends
        assert chains.chain_batch(conn) == -1
        conn.rollback()
        other.rollback()
    assert chains.chain_batch(conn) > 0
    conn.commit()
    assert conn.execute(text("SELECT count(*) FROM shoppable_interaction WHERE chained")).scalar()


def test_rechain_changes_only_rows_whose_chain_changed(conn: Connection) -> None:
    rows = _rows(random.Random(6), 30)
    conn.execute(insert(_TABLE), rows)
    conn.commit()
    visitors = sorted({r["visitor_id"] for r in rows if r["visitor_id"]})
    assert chains.rechain(conn, visitors) == sum(1 for r in rows if r["visitor_id"])
    assert chains.rechain(conn, visitors) == 0
    conn.execute(update(_TABLE).where(_TABLE.c.visitor_id == visitors[0]).values(chained=False))
    assert chains.rechain(conn, visitors) == sum(1 for r in rows if r["visitor_id"] == visitors[0])
    conn.commit()
