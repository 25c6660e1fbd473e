"""The webhook event log: store a delivery once, claim it for processing, record outcomes.

An event is stored (and committed) before it is processed, so that nothing the provider
delivered is lost whatever happens next. The store is one statement,
``INSERT ... ON CONFLICT (provider, event_id) DO NOTHING RETURNING id``: the unique
constraint decides, atomically, which of two concurrent deliveries of one event stored
it (check-then-insert would cost a round trip more on every new event and still need
the constraint for that race).

Claiming is the first statement of the processing transaction, an ``UPDATE`` of the row
that only matches while the event still needs processing. It takes the row's lock on
PostgreSQL (a concurrent duplicate waits, then matches nothing) and the database's
write lock on SQLite (whose deferred transactions must start with a write, or a later
write could fail with "database is locked" instead of waiting). The claim sets the
status to ``processed`` at once: processing that raises rolls it back with everything
else, so no second statement is needed on success.

A crash (SIGKILL, power loss) during processing rolls the transaction back; the event
is then as it was, "received" (or "failed") with a due ``next_attempt_at``, and the
worker takes it again. Events are stored with ``next_attempt_at`` a little in the
future (:data:`RECEIVED_GRACE`) so the worker leaves the request that stored one the
time to process it.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, bindparam, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import WebhookEvent, WebhookRejection

#: Statuses from which an event may (still) be processed.
OPEN_STATUSES = ("received", "failed", "deferred")
#: How long a just-stored event is left to the request that stored it.
RECEIVED_GRACE = timedelta(seconds=60)
#: Retry schedule of a failed event: base * 2**(attempts - 1), capped, with jitter.
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=6)
#: After this many failed attempts (about three days of retries) the event stays failed
#: with no next attempt: a person must look at it (``POST .../replay``).
MAX_ATTEMPTS = 20
#: Retry schedule of a deferred event (waiting for an earlier event): much sooner.
DEFER_BASE = timedelta(seconds=2)
DEFER_CAP = timedelta(minutes=10)
#: How long an event may wait for an earlier one before it is given up (ignored).
DEFER_LIMIT = timedelta(days=3)
#: Longest traceback kept in ``last_error``.
ERROR_MAX = 10_000

_TABLE = cast(Table, WebhookEvent.__table__)


def describe(exc: BaseException) -> str:
    """One line about an exception, for logs: never a statement's parameters.

    SQLAlchemy's messages carry the failing statement's parameters (a webhook's body,
    a customer's email); logs get the database's own message instead. The full
    traceback is kept with the event (``last_error``), in the shop's own database.
    """
    inner = getattr(exc, "orig", None) if isinstance(exc, StatementError) else None
    shown = inner if isinstance(inner, BaseException) else exc
    text = (str(shown).strip().splitlines() or [""])[0][:300]
    return f"{type(shown).__name__}: {text}" if text else type(shown).__name__


def backoff(
    attempts: int,
    base: timedelta = RETRY_BASE,
    cap: timedelta = RETRY_CAP,
    rng: random.Random | None = None,
) -> timedelta:
    """The wait before attempt ``attempts + 1``: exponential, capped, with full jitter.

    The wait is uniformly drawn between half and all of ``base * 2**(attempts - 1)``
    (capped), so retries of many events failing together spread out instead of
    arriving in waves.
    """
    exponent = max(0, min(attempts - 1, 30))
    ceiling = min(base * (2**exponent), cap)
    factor: float = (rng or random).uniform(0.5, 1.0)
    wait: timedelta = ceiling * factor
    return wait


@functools.cache
def _store_statement(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (provider, event_id) DO NOTHING RETURNING id``, built once."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = (
        "provider",
        "event_id",
        "type",
        "payload",
        "status",
        "attempts",
        "last_error",
        "reason",
        "next_attempt_at",
        "remote_addr",
        "received_at",
    )
    return (
        make(_TABLE)
        .values({name: bindparam(f"p_{name}") for name in columns})
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(_TABLE.c.id)
    )


#: status IN the open statuses, as a fixed list of bound values (not an "expanding" IN,
#: which SQLAlchemy rewrites on every execution).
_OPEN = _TABLE.c.status.in_([literal(status) for status in OPEN_STATUSES])
_SELECT_STORED = select(_TABLE.c.id, _TABLE.c.status).where(
    _TABLE.c.provider == bindparam("provider"), _TABLE.c.event_id == bindparam("event_id")
)
_CLAIM = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"), _OPEN)
    .values(
        status="processed",
        attempts=_TABLE.c.attempts + 1,
        processed_at=bindparam("now"),
        next_attempt_at=None,
        waiting_for=None,
    )
    .returning(
        _TABLE.c.id,
        _TABLE.c.provider,
        _TABLE.c.event_id,
        _TABLE.c.type,
        _TABLE.c.payload,
        _TABLE.c.attempts,
        _TABLE.c.received_at,
    )
)


@dataclass(frozen=True)
class Stored:
    """The row of a delivery: ``new`` when this call stored it."""

    id: int
    status: str
    new: bool


def store(
    connection: Connection | Session,
    *,
    provider: str,
    event_id: str,
    type: str,
    payload: str,
    remote_addr: str = "",
    now: datetime | None = None,
) -> Stored:
    """Store a verified delivery unless its event is already stored. Does not commit.

    One statement when the event is new (the webhook view runs it in autocommit mode,
    so it is committed on its own with no BEGIN or COMMIT round trip); a second one
    reads the stored row's status when it is a duplicate.
    """
    now = now or utcnow()
    dialect = (
        connection.get_bind().dialect.name
        if isinstance(connection, Session)
        else (connection.dialect.name)
    )
    params = {
        "p_provider": provider,
        "p_event_id": event_id[:255],
        "p_type": type[:100],
        "p_payload": payload,
        "p_status": "received",
        "p_attempts": 0,
        "p_last_error": "",
        "p_reason": "",
        "p_next_attempt_at": now + RECEIVED_GRACE,
        "p_remote_addr": remote_addr[:45],
        "p_received_at": now,
    }
    new_id = connection.execute(_store_statement(dialect), params).scalar()
    if new_id is not None:
        return Stored(id=new_id, status="received", new=True)
    row = connection.execute(
        _SELECT_STORED, {"provider": provider, "event_id": event_id[:255]}
    ).one()
    return Stored(id=row.id, status=row.status, new=False)


def claim(session: Session, event_id: int, now: datetime) -> Row[Any] | None:
    """Lock an event that still needs processing and mark it processed; None otherwise.

    The first statement of the processing transaction (see the module's docstring).
    Returns the row's ``id, provider, event_id, type, payload, attempts, received_at``
    (attempts counting this one), or None when the event was processed (or ignored)
    meanwhile.
    """
    result = session.connection().execute(_CLAIM, {"row_id": event_id, "now": now})
    return result.first()


def finish(
    session: Session,
    event_id: int,
    status: str,
    *,
    reason: str = "",
    waiting_for: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    """Set a claimed event's outcome when it is not "processed" (in the same transaction)."""
    session.execute(
        update(_TABLE)
        .where(_TABLE.c.id == event_id)
        .values(
            status=status,
            reason=reason[:500],
            waiting_for=waiting_for[:255] if waiting_for else None,
            next_attempt_at=next_attempt_at,
            processed_at=None if status == "deferred" else _TABLE.c.processed_at,
        )
    )


def record_failure(
    session: Session, event_id: int, error: str, now: datetime, rng: random.Random | None = None
) -> WebhookEvent | None:
    """After a rolled-back attempt: count it, keep the traceback, schedule the next one.

    Runs in a transaction of its own and commits. Only an event still open is touched:
    if another process processed it in between, its success stands.
    """
    row = session.execute(
        select(_TABLE.c.attempts).where(_TABLE.c.id == event_id, _TABLE.c.status.in_(OPEN_STATUSES))
    ).first()
    if row is None:
        session.rollback()
        return None
    attempts = row.attempts + 1
    next_at = now + backoff(attempts, rng=rng) if attempts < MAX_ATTEMPTS else None
    session.execute(
        update(_TABLE)
        .where(_TABLE.c.id == event_id, _TABLE.c.status.in_(OPEN_STATUSES))
        .values(
            status="failed",
            attempts=attempts,
            last_error=error[-ERROR_MAX:],
            next_attempt_at=next_at,
            waiting_for=None,
            processed_at=None,
        )
    )
    session.commit()
    return session.get(WebhookEvent, event_id, populate_existing=True)


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Ids of open events whose next attempt is due, oldest due first (no lock)."""
    rows = session.execute(
        select(_TABLE.c.id)
        .where(_TABLE.c.status.in_(OPEN_STATUSES), _TABLE.c.next_attempt_at <= now)
        .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
        .limit(limit)
    )
    return [r.id for r in rows]


def lock_next_due(session: Session, now: datetime, skip: set[int]) -> int | None:
    """PostgreSQL: lock one due event no other worker holds (``FOR UPDATE SKIP LOCKED``).

    The lock is kept by the caller's transaction, in which the event is then processed:
    a worker that dies releases it with its connection, and the event is due again.
    """
    stmt = (
        select(_TABLE.c.id)
        .where(_TABLE.c.status.in_(OPEN_STATUSES), _TABLE.c.next_attempt_at <= now)
        .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if skip:
        stmt = stmt.where(_TABLE.c.id.not_in(skip))
    return session.execute(stmt).scalar()


def nudge(session: Session, waiting_for: str, now: datetime) -> list[int]:
    """Make the deferred events waiting for ``waiting_for`` due now; their ids.

    Called when the order they wait for appears. Rows another transaction holds are
    skipped on PostgreSQL (their processor will defer them again briefly and the worker
    will take them), which also keeps two processors from waiting on each other.
    """
    statement = _nudge_statement(session.get_bind().dialect.name)
    result = session.connection().execute(statement, {"p_waiting_for": waiting_for, "now": now})
    return [r.id for r in result]


@functools.cache
def _nudge_statement(dialect: str) -> Any:
    inner = select(_TABLE.c.id).where(
        _TABLE.c.status == "deferred", _TABLE.c.waiting_for == bindparam("p_waiting_for")
    )
    if dialect == "postgresql":
        inner = inner.with_for_update(skip_locked=True)
    return (
        update(_TABLE)
        .where(_TABLE.c.id.in_(inner.scalar_subquery()))
        .values(next_attempt_at=bindparam("now"))
        .returning(_TABLE.c.id)
    )


def count_rejection(session: Session, provider: str, reason: str, now: datetime) -> None:
    """Add one to the counter of deliveries refused for ``reason``, and commit."""
    table = cast(Table, WebhookRejection.__table__)
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    stmt = insert.values(
        provider=provider, reason=reason[:60], count=1, first_at=now, last_at=now
    ).on_conflict_do_update(
        index_elements=["provider", "reason"],
        set_={"count": table.c.count + 1, "last_at": now},
    )
    session.execute(stmt)
    session.commit()
