"""Delivering the outbox: the worker's "outbox" job.

One run claims due messages in batches, hands each to its sink and marks it delivered,
to retry (exponential backoff with jitter, or the receiver's Retry-After), or dead
(rejected, or out of SHOPPABLE_OUTBOX_MAX_ATTEMPTS).

Claiming: a lease, not a lock held across the HTTP call. One short transaction moves
the batch's ``next_attempt_at`` forward by SHOPPABLE_OUTBOX_LEASE_SECONDS, counts the
attempt and writes this worker's token in ``claimed_by``; on PostgreSQL the rows are
picked with ``FOR UPDATE SKIP LOCKED``, so any number of workers on any hosts take
disjoint batches. Results are then written in short transactions, only where
``claimed_by = <token>`` (a worker that lost its lease never overwrites another's
result). Delivered messages are marked together: one UPDATE for up to
:data:`MARK_EVERY` of them, written at the latest :data:`MARK_WITHIN` seconds after the
first of them was delivered (checked between two messages), before any other outcome
is written, before the lease is renewed and when the batch ends or stops. A retry, a
dead letter or a pause is written at once, in its own transaction. Why a lease: no
transaction stays open while a CRM takes seconds to answer (no idle-in-transaction
connections, no vacuum held back, works behind a transaction-mode pooler), results are
recorded soon after their calls (a crash resends at most the calls in flight
and the delivered ones not yet marked, at most MARK_EVERY, not the whole batch), and
SQLite runs the same code. The price: a killed worker's unfinished messages wait for
the lease to end before another worker takes them (the receiver then sees the same
idempotency key again). The lease is renewed while a batch takes long. A delivered
message not yet marked is still pending, so a later message of the same order and sink
waits for the mark (the order is kept).

Stopping: between two messages the job checks the worker's stop flag; on SIGTERM it
finishes the call in flight, marks what was delivered, and releases the rest of the
batch (due at once, the attempt not counted).

One order's messages reach a sink in the order they were written (paid before refunded):
a message is not claimed while an earlier one of the same order and sink is pending, so
a late "paid" never overwrites a refund in the CRM. A dead one no longer holds the rest.

A 429 pauses the sink: the message is not charged an attempt, and every pending message
of that sink waits until the receiver's delay has passed (HubSpot's DAILY limit stops all
calls, not one message's).

Each attempt logs one line on ``flask_shoppable.outbox``: ``outbox delivery sink=...
key=... message=... attempt=... outcome=... status=... duration_ms=...`` (the same
fields are on the record as ``extra`` for JSON log formatters). Never a token or payload.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import Flask
from sqlalchemy import Table, bindparam, case, exists, literal, select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from . import http
from .errors import Rejected, RetryLater
from .models import OutboxMessage
from .sinks import Message, Sink, sinks_of

log = logging.getLogger("flask_shoppable.outbox")

TABLE = cast(Table, OutboxMessage.__table__)
#: Most messages one run of the job handles before the worker looks at its other jobs.
RUN_LIMIT = 100
#: Most delivered messages marked by one UPDATE (a crash resends at most these).
MARK_EVERY = 20
#: Longest a delivered message waits to be marked, in seconds (checked between messages).
MARK_WITHIN = 1.0


@dataclass(frozen=True)
class Settings:
    max_attempts: int
    batch: int
    backoff: float
    backoff_max: float
    lease: float

    @classmethod
    def of(cls, app: Flask) -> Settings:
        config = app.config
        return cls(
            max_attempts=config["SHOPPABLE_OUTBOX_MAX_ATTEMPTS"],
            batch=config["SHOPPABLE_OUTBOX_BATCH_SIZE"],
            backoff=float(config["SHOPPABLE_OUTBOX_BACKOFF_SECONDS"]),
            backoff_max=float(config["SHOPPABLE_OUTBOX_BACKOFF_MAX_SECONDS"]),
            lease=float(config["SHOPPABLE_OUTBOX_LEASE_SECONDS"]),
        )


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before retry number ``attempts`` + 1: doubling, capped, half of it jittered."""
    delay = min(cap, base * 2 ** max(attempts - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


def new_token() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(
    session: Session, now: datetime, *, limit: int, token: str, lease: float, sinks: list[str]
) -> list[Message]:
    """Claim up to ``limit`` due messages of ``sinks`` for ``lease`` seconds (commits)."""
    earlier = TABLE.alias("earlier")
    due = (
        select(TABLE.c.id)
        .where(
            TABLE.c.status == "pending",
            TABLE.c.next_attempt_at <= now,
            TABLE.c.sink.in_(sinks),
            # One order's events reach a sink in order: none while an earlier one waits.
            ~exists().where(
                earlier.c.sink == TABLE.c.sink,
                earlier.c.order_id == TABLE.c.order_id,
                earlier.c.status == "pending",
                earlier.c.id < TABLE.c.id,
            ),
        )
        .order_by(TABLE.c.next_attempt_at, TABLE.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(TABLE)
        .where(TABLE.c.id.in_(due.scalar_subquery()))
        .values(
            next_attempt_at=now + timedelta(seconds=lease),
            claimed_by=token,
            attempts=TABLE.c.attempts + 1,
        )
        .returning(
            TABLE.c.id,
            TABLE.c.sink,
            TABLE.c.event,
            TABLE.c.key,
            TABLE.c.payload,
            TABLE.c.attempts,
        )
    )
    rows = session.execute(stmt).all()
    session.commit()
    return sorted((Message(*row) for row in rows), key=lambda m: m.id)


def release(session: Session, ids: list[int], token: str, at: datetime, *, uncount: bool) -> None:
    """Give claimed messages back, due at ``at`` (the attempt not counted if ``uncount``)."""
    if not ids:
        return
    values: dict[str, Any] = {"next_attempt_at": at, "claimed_by": None}
    if uncount:
        values["attempts"] = TABLE.c.attempts - 1
    session.execute(
        update(TABLE)
        .where(TABLE.c.id.in_(ids), TABLE.c.claimed_by == token, TABLE.c.status == "pending")
        .values(**values)
    )
    session.commit()


def pause_sink(session: Session, sink: str, until: datetime) -> None:
    """Every pending message of ``sink`` due before ``until`` waits until then."""
    session.execute(
        update(TABLE)
        .where(TABLE.c.sink == sink, TABLE.c.status == "pending", TABLE.c.next_attempt_at < until)
        .values(next_attempt_at=until)
    )
    session.commit()


def _mark(session: Session, message: Message, token: str, **values: Any) -> bool:
    result = session.execute(
        update(TABLE)
        .where(TABLE.c.id == message.id, TABLE.c.claimed_by == token)
        .values(claimed_by=None, **values)
    )
    return bool(result.rowcount)


def mark_delivered(
    session: Session, token: str, delivered: list[tuple[Message, datetime, Any]]
) -> set[int]:
    """Mark ``(message, delivered at, result)`` delivered in one UPDATE (does not commit).

    Only the messages this worker still holds (``claimed_by = token``) are marked; their
    ids are returned.
    """
    if not delivered:
        return set()
    at_type, result_type = TABLE.c.delivered_at.type, TABLE.c.result.type
    stmt = (
        update(TABLE)
        .where(TABLE.c.id.in_([m.id for m, _, _ in delivered]), TABLE.c.claimed_by == token)
        .values(
            status="delivered",
            claimed_by=None,
            last_error="",
            delivered_at=case(
                *[(TABLE.c.id == m.id, literal(at, at_type)) for m, at, _ in delivered]
            ),
            result=case(
                *[
                    (TABLE.c.id == m.id, bindparam(None, result, type_=result_type))
                    for m, _, result in delivered
                ]
            ),
        )
        .returning(TABLE.c.id)
    )
    return set(session.execute(stmt).scalars())


@dataclass
class Attempt:
    """What one delivery attempt came to."""

    outcome: str  # delivered, retry, dead, paused
    status: int | None = None
    reason: str = ""
    result: dict[str, Any] | None = None
    after: float | None = None


def attempt(sink: Sink, message: Message) -> Attempt:
    """Call the sink; classify what happened."""
    http.LAST_STATUS.set(None)
    try:
        result = sink.deliver(message)
    except Rejected as exc:
        return Attempt("dead", exc.status, exc.reason)
    except RetryLater as exc:
        outcome = "paused" if exc.status == 429 else "retry"
        return Attempt(outcome, exc.status, exc.reason, after=exc.after_seconds)
    except Exception as exc:  # any other failure counts as transient
        log.debug("sink %s raised", message.sink, exc_info=True)
        return Attempt("retry", http.LAST_STATUS.get(), f"{type(exc).__name__}: {exc}"[:500])
    if result is not None and not isinstance(result, dict):
        result = {"result": result}
    return Attempt("delivered", http.LAST_STATUS.get(), result=result)


class Run:
    """One run of the job: claims, delivers and marks until done, stopped or at the limit."""

    def __init__(self, app: Flask, now: datetime, should_stop: Callable[[], bool]) -> None:
        self.app = app
        self.settings = Settings.of(app)
        self.sinks = sinks_of(app)
        self.should_stop = should_stop
        self.skew = now - utcnow()
        self.token = new_token()
        self.paused: dict[str, datetime] = {}
        #: Delivered, not marked yet: (message, when, attempt, call duration).
        self.unmarked: list[tuple[Message, datetime, Attempt, float]] = []
        self.unmarked_since = 0.0

    def clock(self) -> datetime:
        return utcnow() + self.skew

    def run(self) -> int:
        handled = 0
        if not self.sinks:
            return 0
        engine = self.app.extensions["shoppable"].engine
        postgres = engine.dialect.name == "postgresql"
        with (
            engine.connect() as connection,
            Session(bind=connection, expire_on_commit=False, autoflush=False) as session,
        ):
            if postgres:
                # Marks need not wait for the disk: a mark lost in a database crash only
                # means the message is sent again, with the same idempotency key.
                connection.exec_driver_sql("SET synchronous_commit TO OFF")
                connection.commit()
            try:
                handled = self.drain(session)
            finally:
                if postgres:
                    session.rollback()
                    connection.exec_driver_sql("RESET synchronous_commit")
                    connection.commit()
        return handled

    def drain(self, session: Session) -> int:
        handled = 0
        while handled < RUN_LIMIT and not self.should_stop():
            batch = claim(
                session,
                self.clock(),
                limit=min(self.settings.batch, RUN_LIMIT - handled),
                token=self.token,
                lease=self.settings.lease,
                sinks=list(self.sinks),
            )
            if not batch:
                break
            handled += self.deliver_batch(session, batch)
        return handled

    def deliver_batch(self, session: Session, batch: list[Message]) -> int:
        lease_end = time.monotonic() + self.settings.lease
        done = 0
        pending = list(batch)
        try:
            while pending:
                if self.unmarked and time.monotonic() - self.unmarked_since >= MARK_WITHIN:
                    self.flush(session)
                if self.should_stop():
                    break
                if lease_end - time.monotonic() < self.settings.lease / 2:
                    self.flush(session)
                    lease_end = self.renew(session, [m.id for m in pending])
                message = pending[0]
                paused = self.paused.get(message.sink)
                if paused is not None and paused > self.clock():
                    release(session, [message.id], self.token, paused, uncount=True)
                else:
                    self.deliver(session, message)
                pending.pop(0)
                done += 1
        finally:
            try:
                self.flush(session)
            finally:
                if pending:
                    session.rollback()
                    release(
                        session, [m.id for m in pending], self.token, self.clock(), uncount=True
                    )
        return done

    def renew(self, session: Session, ids: list[int]) -> float:
        session.execute(
            update(TABLE)
            .where(TABLE.c.id.in_(ids), TABLE.c.claimed_by == self.token)
            .values(next_attempt_at=self.clock() + timedelta(seconds=self.settings.lease))
        )
        session.commit()
        return time.monotonic() + self.settings.lease

    def deliver(self, session: Session, message: Message) -> None:
        sink = self.sinks[message.sink]
        started = time.monotonic()
        result = attempt(sink, message)
        duration = time.monotonic() - started
        now = self.clock()
        settings = self.settings
        if result.outcome == "retry" and message.attempts >= settings.max_attempts:
            result.outcome = "dead"
            result.reason = f"gave up after {message.attempts} attempts: {result.reason}"
        if result.outcome == "delivered":
            if not self.unmarked:
                self.unmarked_since = time.monotonic()
            self.unmarked.append((message, now, result, duration))
            if len(self.unmarked) >= MARK_EVERY:
                self.flush(session)
            return
        self.flush(session)
        self.record_one(session, sink, message, result, now, duration)

    def record_one(
        self,
        session: Session,
        sink: Sink | None,
        message: Message,
        result: Attempt,
        now: datetime,
        duration: float,
    ) -> None:
        """Write one attempt's outcome in its own transaction, and log it."""
        try:
            self.record(session, sink, message, result, now)
        except Exception as exc:
            session.rollback()
            log.exception("outbox message %s: marking it failed", message.id)
            result = Attempt("retry", result.status, f"marking failed: {type(exc).__name__}")
            self.record(session, None, message, result, now)
        self.log(message, result, duration)

    def flush(self, session: Session) -> None:
        """Mark the delivered messages not marked yet, in one transaction, and log them.

        Each sink's ``on_delivered`` hook runs in that transaction for the messages it
        marked. If it fails, each message is written on its own as before (a failing one
        is retried with "marking failed", the others are marked).
        """
        unmarked, self.unmarked = self.unmarked, []
        if not unmarked:
            return
        try:
            marked = mark_delivered(
                session, self.token, [(m, now, r.result) for m, now, r, _ in unmarked]
            )
            for message, _, result, _ in unmarked:
                hook = getattr(self.sinks.get(message.sink), "on_delivered", None)
                if message.id in marked and hook is not None:
                    hook(session, message, result.result)
            session.commit()
        except Exception:
            session.rollback()
            log.warning("outbox: marking %s messages at once failed", len(unmarked), exc_info=True)
            for message, now, result, duration in unmarked:
                sink = self.sinks.get(message.sink)
                self.record_one(session, sink, message, result, now, duration)
            return
        for message, _, result, duration in unmarked:
            self.log(message, result, duration)

    def record(
        self, session: Session, sink: Sink | None, message: Message, result: Attempt, now: datetime
    ) -> None:
        settings = self.settings
        if result.outcome == "delivered":
            marked = _mark(
                session,
                message,
                self.token,
                status="delivered",
                delivered_at=now,
                result=result.result,
                last_error="",
            )
            hook = getattr(sink, "on_delivered", None)
            if marked and hook is not None:
                hook(session, message, result.result)
        elif result.outcome == "dead":
            marked = _mark(session, message, self.token, status="dead", last_error=result.reason)
            hook = getattr(sink, "on_dead", None)
            if marked and hook is not None:
                hook(session, message, result.reason)
        elif result.outcome == "paused":
            delay = result.after if result.after is not None else settings.backoff
            until = now + timedelta(seconds=delay + random.uniform(0, min(1.0, delay / 10)))
            _mark(
                session,
                message,
                self.token,
                next_attempt_at=until,
                attempts=TABLE.c.attempts - 1,
                last_error=result.reason,
            )
            session.commit()
            self.paused[message.sink] = until
            pause_sink(session, message.sink, until)
            return
        else:
            if result.after is not None:
                delay = result.after + random.uniform(0, min(1.0, result.after / 10))
            else:
                delay = backoff(message.attempts, settings.backoff, settings.backoff_max)
            _mark(
                session,
                message,
                self.token,
                next_attempt_at=now + timedelta(seconds=delay),
                last_error=result.reason,
            )
        session.commit()

    @staticmethod
    def log(message: Message, result: Attempt, duration: float) -> None:
        fields = {
            "sink": message.sink,
            "key": message.key,
            "message": message.id,
            "attempt": message.attempts,
            "outcome": result.outcome,
            "status": result.status,
            "duration_ms": round(duration * 1000, 1),
        }
        line = " ".join(f"{k}={v}" for k, v in fields.items())
        level = logging.INFO if result.outcome == "delivered" else logging.WARNING
        if result.reason:
            line = f"{line} reason={result.reason!r}"
        log.log(level, "outbox delivery %s", line, extra={"outbox": fields})


def run(app: Flask, now: datetime, should_stop: Callable[[], bool]) -> int:
    """The worker job: deliver what is due; how many messages were handled."""
    return Run(app, now, should_stop).run()
