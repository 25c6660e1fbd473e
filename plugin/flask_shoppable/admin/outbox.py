"""Outbox and webhook health: is money coming in, and is it going out?

Incoming: the payment provider's webhook events by status, the ones that need a person
(failed, deferred, or received and not processed for longer than the grace period), the
deliveries refused before they were stored (a wrong webhook secret shows as "signature
mismatch"), and a replay button per event (:func:`~flask_shoppable.orders.processing.replay`,
as the API's replay).

Outgoing: the outbox (:mod:`flask_shoppable.crm`): messages by sink and status, the lag
(how long the oldest due message has waited), the dead letters with their last error,
and a replay button that makes a dead message pending again, due now.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from sqlalchemy import func, select

from .. import db
from ..db import utcnow
from ..orders import eventlog, processing
from ..orders.models import WEBHOOK_STATUSES, WebhookEvent, WebhookRejection
from . import bp, login_required
from .messages import flash
from .orders import render_not_found

#: Events and dead letters listed per section.
LIST_LIMIT = 50
#: Statuses shown as needing attention.
ATTENTION = ("failed", "deferred")


def _webhooks(session: Any, status: str) -> dict[str, Any]:
    now = utcnow()
    counts = dict.fromkeys(WEBHOOK_STATUSES, 0)
    for row_status, number in session.execute(
        select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
    ):
        counts[row_status] = number
    stuck_before = now - eventlog.RECEIVED_GRACE
    stmt = select(WebhookEvent)
    if status in WEBHOOK_STATUSES:
        stmt = stmt.where(WebhookEvent.status == status)
    else:
        stmt = stmt.where(
            WebhookEvent.status.in_(ATTENTION)
            | ((WebhookEvent.status == "received") & (WebhookEvent.received_at < stuck_before))
        )
    events = list(
        session.scalars(
            stmt.order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc()).limit(LIST_LIMIT)
        )
    )
    oldest_open = session.scalar(
        select(func.min(WebhookEvent.received_at)).where(
            WebhookEvent.status.in_(eventlog.OPEN_STATUSES)
        )
    )
    last = session.scalar(select(func.max(WebhookEvent.received_at)))
    rejections = list(
        session.scalars(
            select(WebhookRejection).order_by(WebhookRejection.last_at.desc()).limit(LIST_LIMIT)
        )
    )
    return {
        "counts": counts,
        "events": events,
        "status": status if status in WEBHOOK_STATUSES else "",
        "open_since": (now - oldest_open) if oldest_open else None,
        "last_received": last,
        "rejections": rejections,
    }


def _outbox(session: Any) -> dict[str, Any] | None:
    """The outbox's health per sink (the API's figures), its dead letters and retries."""
    try:
        from ..crm.api import health
        from ..crm.models import OutboxMessage
    except ImportError:  # pragma: no cover - only before issue 5's crm lands
        return None
    dead = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == "dead")
            .order_by(OutboxMessage.id.desc())
            .limit(LIST_LIMIT)
        )
    )
    retrying = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.attempts > 0)
            .order_by(OutboxMessage.next_attempt_at)
            .limit(LIST_LIMIT)
        )
    )
    return {"health": health(), "dead": dead, "retrying": retrying}


@bp.get("/outbox")
@login_required
def outbox() -> Any:
    session = db.session()
    return render_template(
        "shoppable/admin/outbox.html",
        webhooks=_webhooks(session, request.args.get("status", "")),
        outbox=_outbox(session),
        statuses=WEBHOOK_STATUSES,
    )


@bp.post("/outbox/webhooks/<int:event_id>/replay")
@login_required
def outbox_replay_webhook(event_id: int) -> Any:
    row = db.session().get(WebhookEvent, event_id) if 0 < event_id < 2**31 else None
    if row is None:
        return render_not_found(f"No webhook event {event_id}.")
    outcome = processing.replay(current_app._get_current_object(), event_id)  # type: ignore[attr-defined]
    category = "success" if outcome.status in ("processed", "done") else "error"
    if outcome.status == "ignored":
        category = "info"
    detail = f": {outcome.message}" if outcome.message else ""
    flash(f"Webhook event {row.event_id} replayed: {outcome.status}{detail}.", category)
    return redirect(url_for(".outbox", status=request.form.get("status") or None), code=303)


def _requeue(session: Any, *conditions: Any) -> int:
    """Dead messages matching ``conditions`` sent again (the outbox's one requeue)."""
    from ..crm.outbox import requeue

    changed = requeue(session, *conditions)
    session.commit()
    return changed


@bp.post("/outbox/messages/<int:message_id>/replay")
@login_required
def outbox_replay_message(message_id: int) -> Any:
    from ..crm.models import OutboxMessage

    session = db.session()
    message = session.get(OutboxMessage, message_id) if 0 < message_id < 2**31 else None
    if message is None:
        return render_not_found(f"No outbox message {message_id}.")
    if _requeue(session, OutboxMessage.id == message_id):
        flash(
            f"Message {message_id} to {message.sink} is queued again; the worker delivers it "
            "within a few seconds.",
        )
    else:
        flash(f"Message {message_id} is not dead ({message.status}); nothing to replay.", "info")
    return redirect(url_for(".outbox"), code=303)


@bp.post("/outbox/sinks/<sink>/replay")
@login_required
def outbox_replay_sink(sink: str) -> Any:
    """Every dead letter of one sink sent again (after fixing its token or mapping)."""
    from ..crm.models import OutboxMessage

    number = _requeue(db.session(), OutboxMessage.sink == sink[:60])
    noun = "message" if number == 1 else "messages"
    flash(f"{number} dead {noun} to {sink} queued again.", "success" if number else "info")
    return redirect(url_for(".outbox"), code=303)
