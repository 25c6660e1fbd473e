"""The worker marks delivered outbox messages together, without weakening the guarantees.

One UPDATE marks up to ``delivery.MARK_EVERY`` delivered messages; a crash between the
calls and their mark resends them with the same key once the lease ends; a stop mid-batch
marks what was delivered and gives the rest back; a failing batched mark falls back to
one mark per message. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, event
from sqlalchemy.orm import Session

from flask_shoppable.crm import delivery, outbox, sinks
from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.crm.sinks import Message
from flask_shoppable.db import utcnow

from .conftest import make_app
from .outbox_helpers import messages, run_outbox


class KeySink:
    """Keeps the key of every message it is given; its hook fails when a payload asks."""

    name = "keys"

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.after_each: Any = None

    def deliver(self, message: Message) -> dict[str, Any]:
        self.keys.append(message.key)
        if self.after_each is not None:
            self.after_each()
        return {"ok": message.key}

    def on_delivered(self, session: Session, message: Message, result: Any) -> None:
        if message.payload.get("hook_fails"):
            raise RuntimeError("the hook failed")


def key_sink(app: Flask) -> KeySink:
    return KeySink()


@pytest.fixture
def app(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setitem(sinks.FACTORIES, "keys", f"{__name__}:key_sink")
    app = make_app(
        database_url,
        tmp_path / "marks",
        SHOPPABLE_CRM_SINKS=["keys"],
        SHOPPABLE_OUTBOX_BATCH_SIZE=50,
    )
    with app.extensions["shoppable"].session_factory() as session:
        session.execute(delete(OutboxMessage))
        session.commit()
    yield app
    app.extensions["shoppable"].recorder.close()
    app.extensions["shoppable"].engine.dispose()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    with app.extensions["shoppable"].session_factory() as session:
        yield session


def enqueue(session: Session, count: int, **payload: Any) -> list[str]:
    keys = [f"k{i}" for i in range(count)]
    for key in keys:
        outbox.enqueue(session, sink="keys", event="x", key=key, payload=dict(payload))
    session.commit()
    return keys


def sink_of(app: Flask) -> KeySink:
    return sinks.sinks_of(app)["keys"]  # type: ignore[return-value]


def test_delivered_messages_are_marked_a_few_at_a_time(app: Flask, db: Session) -> None:
    keys = enqueue(db, 45)
    engine = app.extensions["shoppable"].engine
    updates: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert run_outbox(app) == 45
    finally:
        event.remove(engine, "before_cursor_execute", count)
    rows = messages(db)
    assert [m.key for m in rows] == keys == sink_of(app).keys
    assert all(m.status == "delivered" and m.claimed_by is None for m in rows)
    assert all(m.result == {"ok": m.key} and m.delivered_at is not None for m in rows)
    assert all(m.attempts == 1 and m.last_error == "" for m in rows)
    # One mark per MARK_EVERY delivered messages (45 -> 3), not 45; besides them, the
    # claim of the batch and the claim that finds nothing more.
    marks = [u for u in updates if "delivered_at" in u]
    assert len(marks) == -(-45 // delivery.MARK_EVERY)
    assert len(updates) == len(marks) + 2


def test_a_crash_between_the_calls_and_their_mark_resends_with_the_same_key(
    app: Flask, db: Session
) -> None:
    keys = enqueue(db, 5)
    now = utcnow()
    run = delivery.Run(app, now, lambda: False)
    engine = app.extensions["shoppable"].engine
    with engine.connect() as connection, Session(bind=connection) as session:
        batch = delivery.claim(
            session, now, limit=50, token=run.token, lease=run.settings.lease, sinks=["keys"]
        )
        for message in batch:
            run.deliver(session, message)
        # The worker dies here: every call was made, no mark was written yet.
    assert sink_of(app).keys == keys
    rows = messages(db)
    assert all(m.status == "pending" and m.claimed_by == run.token for m in rows)
    assert run_outbox(app, now) == 0  # held by the dead worker's lease
    lease = timedelta(seconds=run.settings.lease + 1)
    assert run_outbox(app, now + lease) == 5
    assert sink_of(app).keys == keys + keys  # sent again, with the same keys
    rows = messages(db)
    assert all(m.status == "delivered" and m.attempts == 2 for m in rows)


def test_a_stop_mid_batch_marks_what_was_delivered_and_releases_the_rest(
    app: Flask, db: Session
) -> None:
    enqueue(db, 10)
    sink = sink_of(app)
    stop = lambda: len(sink.keys) >= 3  # noqa: E731 - the worker's stop flag
    assert delivery.run(app, utcnow(), stop) == 3
    rows = messages(db)
    delivered = [m for m in rows if m.status == "delivered"]
    waiting = [m for m in rows if m.status == "pending"]
    assert [m.key for m in delivered] == sink.keys == ["k0", "k1", "k2"]
    assert len(waiting) == 7
    assert all(m.claimed_by is None for m in rows)
    assert all(m.attempts == 0 and m.next_attempt_at <= utcnow() for m in waiting)


def test_a_failing_batched_mark_falls_back_to_one_mark_per_message(app: Flask, db: Session) -> None:
    enqueue(db, 2)
    outbox.enqueue(db, sink="keys", event="x", key="bad", payload={"hook_fails": True})
    enqueue(db, 1)  # k0 again: a no-op
    outbox.enqueue(db, sink="keys", event="x", key="after", payload={})
    db.commit()
    assert run_outbox(app) == 4
    rows = {m.key: m for m in messages(db)}
    assert {k: m.status for k, m in rows.items()} == {
        "k0": "delivered",
        "k1": "delivered",
        "bad": "pending",
        "after": "delivered",
    }
    assert rows["bad"].last_error == "marking failed: RuntimeError"
    assert rows["bad"].claimed_by is None
    assert rows["bad"].attempts == 1
