"""Processing a stored webhook event: a plain dict from event type to handler.

:func:`process` runs one event in one transaction: claim the row (see
:mod:`.eventlog`), parse the stored payload, call the handler for its type, commit.
A handler raises :class:`Ignored` for an event that is not for this shop (a session
without ``shoppable_checkout_id``, an unknown checkout) and :class:`NotYetKnown` when
it needs an order an earlier event has not created yet (a refund before its payment's
completion). Anything else it raises rolls the transaction back and leaves the event
"failed" with its traceback and a next attempt (exponential backoff with jitter).

Every handler is idempotent and converges whatever the order of delivery: statuses
only move forward (pending → paid or payment_failed), refunds take the charge's
cumulative ``amount_refunded``, disputes take the latest status. Signals are collected
while processing and sent by the caller after the commit (:meth:`Outcome.send_signals`).

Handlers take the processing :class:`Context` and the event's ``data.object`` (a plain
dict). ``HANDLERS`` may be extended by a host (``HANDLERS["x.y"] = fn``) with its own.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blinker import NamedSignal
from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from ..db import utcnow
from . import eventlog, service
from .models import WebhookEvent

log = logging.getLogger("flask_shoppable.webhooks")


class Ignored(Exception):
    """The event is not for this shop (or needs nothing done): stored as ignored."""


class NotYetKnown(Exception):
    """The event needs something an earlier event will create: deferred, retried soon."""

    def __init__(self, message: str, waiting_for: str) -> None:
        super().__init__(message)
        self.waiting_for = waiting_for


@dataclass
class Context:
    """What a handler gets besides the event's object."""

    session: Session
    app: Flask
    provider: str
    event_id: str
    event_type: str
    now: datetime
    #: (signal, keyword arguments) to send once the transaction is committed.
    signals: list[tuple[NamedSignal, dict[str, Any]]] = field(default_factory=list)
    #: Deferred events made due by this one (processed by the caller after the commit).
    nudged: list[int] = field(default_factory=list)
    #: (id, flagged_reason) of the order this event created, if it created one.
    created: tuple[int, str] | None = None

    @property
    def config(self) -> Any:
        return self.app.config


Handler = Callable[[Context, dict[str, Any]], None]


def _session_completed(ctx: Context, obj: dict[str, Any]) -> None:
    status = service.SESSION_PAYMENT_STATUS.get(str(obj.get("payment_status")))
    if status is None:
        raise Ignored(f"payment_status {obj.get('payment_status')!r} is not one this shop knows")
    service.record_session(ctx, obj, status, complete_checkout=True)


def _async_succeeded(ctx: Context, obj: dict[str, Any]) -> None:
    service.record_session(ctx, obj, "paid", complete_checkout=True)


def _async_failed(ctx: Context, obj: dict[str, Any]) -> None:
    service.record_session(ctx, obj, "payment_failed", complete_checkout=False)


def _session_expired(ctx: Context, obj: dict[str, Any]) -> None:
    service.expire_session(ctx, obj)


def _charge_refunded(ctx: Context, obj: dict[str, Any]) -> None:
    service.apply_charge_refunds(ctx, obj)


def _dispute(ctx: Context, obj: dict[str, Any]) -> None:
    service.record_dispute(ctx, obj)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _async_succeeded,
    "checkout.session.async_payment_failed": _async_failed,
    "checkout.session.expired": _session_expired,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute,
    "charge.dispute.updated": _dispute,
    "charge.dispute.closed": _dispute,
}


@dataclass
class Outcome:
    """What became of one processing attempt."""

    #: processed, ignored, deferred, failed; or "done" when there was nothing to do (the
    #: event had been processed or ignored already, by this or another process).
    status: str
    event_id: str = ""
    message: str = ""
    signals: list[tuple[NamedSignal, dict[str, Any]]] = field(default_factory=list)
    nudged: list[int] = field(default_factory=list)

    def send_signals(self, app: Flask) -> None:
        """Send the collected signals; a listener's exception is logged, not raised."""
        for signal, kwargs in self.signals:
            try:
                signal.send(app, **kwargs)
            except Exception:
                log.exception("a listener of %s raised", signal.name)


def process(
    session: Session,
    app: Flask,
    row_id: int,
    *,
    now: datetime | None = None,
    handlers: dict[str, Handler] | None = None,
    obj: dict[str, Any] | None = None,
) -> Outcome:
    """Process stored event ``row_id`` in one transaction (committed or rolled back).

    The transaction is the session's current one (the worker has locked the row in it)
    or a new one. ``obj`` is the event's data.object when the caller has it parsed
    already (saves parsing the stored payload again). The caller sends the signals
    (:meth:`Outcome.send_signals`) and processes :attr:`Outcome.nudged` after this.
    """
    now = now or utcnow()
    table = handlers if handlers is not None else HANDLERS
    # Rows loaded by an earlier event in this session are stale now: a row locked with
    # FOR UPDATE must be read afresh, never served from the identity map. (Objects an
    # earlier outcome's signals carry stay usable, detached, as they were committed.)
    session.expunge_all()
    try:
        row = eventlog.claim(session, row_id, now)
        if row is None:
            session.rollback()
            return Outcome("done")
        ctx = Context(
            session=session,
            app=app,
            provider=row.provider,
            event_id=row.event_id,
            event_type=row.type,
            now=now,
        )
        outcome = _dispatch(ctx, row, table, obj)
        session.commit()
    except Exception as exc:
        session.rollback()
        error = traceback.format_exc()
        log.error(
            "processing webhook event row %s failed (%s); it will be retried, traceback in "
            "its last_error",
            row_id,
            eventlog.describe(exc),
        )
        stored = eventlog.record_failure(session, row_id, error, now)
        event_id = stored.event_id if stored is not None else ""
        return Outcome("failed", event_id=event_id, message="processing failed")
    return outcome


def _dispatch(
    ctx: Context, row: Any, table: dict[str, Handler], obj: dict[str, Any] | None
) -> Outcome:
    handler = table.get(ctx.event_type)
    if handler is None:
        reason = f"event type {ctx.event_type} is not handled"
        eventlog.finish(ctx.session, row.id, "ignored", reason=reason)
        return Outcome("ignored", event_id=ctx.event_id, message=reason)
    if obj is None:
        obj = json.loads(row.payload)["data"]["object"]
    try:
        handler(ctx, obj)
    except Ignored as exc:
        # Handlers decide to ignore or defer before they write anything.
        reason = str(exc)
        log.info("webhook %s %s ignored: %s", ctx.event_type, ctx.event_id, reason)
        eventlog.finish(ctx.session, row.id, "ignored", reason=reason)
        return Outcome("ignored", event_id=ctx.event_id, message=reason)
    except NotYetKnown as exc:
        reason = str(exc)
        if ctx.now - row.received_at > eventlog.DEFER_LIMIT:
            reason = f"gave up after {eventlog.DEFER_LIMIT.days} days: {reason}"
            log.warning("webhook %s %s: %s", ctx.event_type, ctx.event_id, reason)
            eventlog.finish(ctx.session, row.id, "ignored", reason=reason)
            return Outcome("ignored", event_id=ctx.event_id, message=reason)
        wait = eventlog.backoff(row.attempts, eventlog.DEFER_BASE, eventlog.DEFER_CAP)
        log.info("webhook %s %s deferred: %s", ctx.event_type, ctx.event_id, reason)
        eventlog.finish(
            ctx.session,
            row.id,
            "deferred",
            reason=reason,
            waiting_for=exc.waiting_for,
            next_attempt_at=ctx.now + wait,
        )
        return Outcome("deferred", event_id=ctx.event_id, message=reason)
    return Outcome("processed", event_id=ctx.event_id, signals=ctx.signals, nudged=ctx.nudged)


def replay(app: Flask, row_id: int) -> Outcome:
    """Process stored event ``row_id`` again, now, whatever its status; send its signals.

    Handlers are idempotent, so a processed event changes nothing that is already right;
    a failed, deferred or ignored one is tried again. Used by the API's and the admin's
    replay buttons.
    """
    state = app.extensions["shoppable"]
    with state.session_factory() as session:
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == row_id)
            .values(status="received", next_attempt_at=utcnow() + eventlog.RECEIVED_GRACE)
        )
        session.commit()
        outcome = process(session, app, row_id)
        follow_ups = [process(session, app, i) for i in outcome.nudged]
    outcome.send_signals(app)
    for follow_up in follow_ups:
        follow_up.send_signals(app)
    return outcome
