"""Writing to the outbox: :func:`enqueue`, in the caller's transaction; :func:`requeue`.

``INSERT ... ON CONFLICT (sink, key) DO NOTHING`` on both PostgreSQL and SQLite: a
second enqueue of the same message (a webhook processed twice, a retried transaction)
is a no-op, and two transactions enqueueing the same key at once never fail on the
unique constraint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import OutboxMessage

TABLE = cast(Table, OutboxMessage.__table__)


def enqueue(
    session: Session,
    *,
    sink: str,
    event: str,
    key: str,
    payload: dict[str, Any],
    order_id: int | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Add a message for ``sink`` (no commit); False when ``(sink, key)`` is already there."""
    if not sink or not key:
        raise ValueError("a message needs a sink and an idempotency key")
    if len(key) > 255:
        raise ValueError(f"the idempotency key is longer than 255 characters: {key[:40]}...")
    now = utcnow()
    values = {
        "sink": sink,
        "event": event,
        "key": key,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "claimed_by": None,
        "last_error": "",
        "result": None,
        "order_id": order_id,
        "created_at": now,
        "delivered_at": None,
    }
    connection = session.connection()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(TABLE)
        .values(values)
        .on_conflict_do_nothing(index_elements=["sink", "key"])
        .returning(TABLE.c.id)
    )
    return connection.execute(stmt).first() is not None


def requeue(session: Session, *conditions: ColumnElement[bool], only_dead: bool = True) -> int:
    """Messages matching ``conditions`` (dead ones only, unless told) back to pending, due
    now, attempts reset, the same idempotency key; how many (no commit).

    The one way to send again: ``flask shoppable outbox replay``, the API's replay and the
    admin page's buttons all come here.
    """
    if only_dead:
        conditions = (OutboxMessage.status == "dead", *conditions)
    stmt = (
        update(OutboxMessage)
        .where(*conditions)
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(stmt).rowcount or 0)
