"""Merchant API for the outbox: is everything reaching the CRMs, and what did not.

Routes (under ``<prefix>/api``, behind API keys with the ``read`` scope, like the catalog's):

* ``GET /outbox/health``: per sink, the lag (age of the oldest message due and not yet
  delivered), counts by status, how many pending messages have failed at least once, the
  latest error and the latest delivery; plus the same totals for all sinks;
* ``GET /outbox/messages``: the messages, newest first, filtered by ``sink``, ``status``
  (pending, delivered, dead), ``event``, ``order_id`` and ``failing`` (pending after a
  failed attempt), paginated; ``GET /outbox/messages?status=dead`` lists the dead letters
  with their last error;
* ``GET /outbox/messages/<id>``: one message with its payload and what the sink returned;
* ``POST /outbox/messages/<id>/replay`` (``write`` scope): a dead letter goes back to pending,
  due now, with its attempts reset and the same idempotency key (409 if it is not dead).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from .. import db
from ..api import abort
from ..catalog.pagination import ConfiguredPaginationBlueprint, page_of
from ..db import utcnow
from .models import OUTBOX_STATUSES, OutboxMessage
from .outbox import requeue

blp = ConfiguredPaginationBlueprint(
    "shoppable_outbox",
    __name__,
    description="The outbox towards the CRMs and ad platforms: lag, failures, dead letters.",
)


class _QueryBoolean(fields.Boolean):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={"true", "1"}, falsy={"false", "0"}, **kwargs)


class MessageQuerySchema(Schema):
    sink = fields.String(validate=validate.Length(min=1, max=60))
    status = fields.String(validate=validate.OneOf(OUTBOX_STATUSES))
    event = fields.String(validate=validate.Length(min=1, max=60))
    order_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    failing = _QueryBoolean(
        metadata={"description": "true: pending messages whose last attempt failed."}
    )


class MessageSchema(Schema):
    id = fields.Integer()
    sink = fields.String()
    event = fields.String()
    key = fields.String(metadata={"description": "The idempotency key the receiver is given."})
    status = fields.String(metadata={"description": "pending, delivered or dead."})
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_error = fields.String(metadata={"description": "Why the last attempt failed."})
    order_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)


class MessageDetailSchema(MessageSchema):
    payload = fields.Raw(metadata={"description": "What is (or was) sent, as JSON."})
    result = fields.Raw(
        allow_none=True, metadata={"description": "What the sink returned (record ids...)."}
    )


class SinkHealthSchema(Schema):
    sink = fields.String()
    pending = fields.Integer()
    delivered = fields.Integer()
    dead = fields.Integer()
    failing = fields.Integer(
        metadata={"description": "Pending messages that have failed at least once."}
    )
    lag_seconds = fields.Float(
        metadata={
            "description": "Age of the oldest pending message that is due (0 when none): "
            "how far behind the receiver is."
        }
    )
    oldest_pending_at = fields.DateTime(allow_none=True)
    last_delivered_at = fields.DateTime(allow_none=True)
    last_error = fields.String(metadata={"description": "The latest failure's reason."})
    last_error_message_id = fields.Integer(
        allow_none=True, metadata={"description": "The message that failed so (see /messages)."}
    )


class HealthSchema(Schema):
    checked_at = fields.DateTime()
    totals = fields.Nested(SinkHealthSchema)
    sinks = fields.List(fields.Nested(SinkHealthSchema))


def _seconds(now: datetime, then: datetime | None) -> float:
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0


def health() -> dict[str, Any]:
    """Per-sink counts, lag and latest error, from a few grouped queries."""
    from .sinks import sinks_of

    session = db.session()
    now = utcnow()
    m = OutboxMessage
    rows: dict[str, dict[str, Any]] = {}

    def row(sink: str) -> dict[str, Any]:
        return rows.setdefault(
            sink,
            {
                "sink": sink,
                "pending": 0,
                "delivered": 0,
                "dead": 0,
                "failing": 0,
                "lag_seconds": 0.0,
                "oldest_pending_at": None,
                "last_delivered_at": None,
                "last_error": "",
                "last_error_message_id": None,
            },
        )

    from flask import current_app

    for name in sinks_of(current_app):
        row(name)
    for sink, status, count in session.execute(
        select(m.sink, m.status, func.count()).group_by(m.sink, m.status)
    ):
        row(sink)[status] = count
    for sink, oldest, failing in session.execute(
        select(m.sink, func.min(m.created_at), func.count().filter(m.attempts > 0))
        .where(m.status == "pending")
        .group_by(m.sink)
    ):
        row(sink)["oldest_pending_at"] = oldest
        row(sink)["failing"] = failing
    for sink, oldest_due in session.execute(
        select(m.sink, func.min(m.created_at))
        .where(m.status == "pending", m.next_attempt_at <= now)
        .group_by(m.sink)
    ):
        row(sink)["lag_seconds"] = _seconds(now, oldest_due)
    for sink, delivered in session.execute(
        select(m.sink, func.max(m.delivered_at)).where(m.status == "delivered").group_by(m.sink)
    ):
        row(sink)["last_delivered_at"] = delivered
    latest_errors = (
        select(m.sink, func.max(m.id).label("id")).where(m.last_error != "").group_by(m.sink)
    ).subquery()
    for sink, error, message_id in session.execute(
        select(m.sink, m.last_error, m.id).join(latest_errors, latest_errors.c.id == m.id)
    ):
        row(sink)["last_error"] = error[:1000]
        row(sink)["last_error_message_id"] = message_id
    sinks = [rows[name] for name in sorted(rows)]
    totals = {
        "sink": "*",
        **{k: sum(r[k] for r in sinks) for k in ("pending", "delivered", "dead", "failing")},
        "lag_seconds": max((r["lag_seconds"] for r in sinks), default=0.0),
        "oldest_pending_at": min(
            (r["oldest_pending_at"] for r in sinks if r["oldest_pending_at"]), default=None
        ),
        "last_delivered_at": max(
            (r["last_delivered_at"] for r in sinks if r["last_delivered_at"]), default=None
        ),
        "last_error": "",
        "last_error_message_id": None,
    }
    return {"checked_at": now, "totals": totals, "sinks": sinks}


@blp.route("/outbox/health", endpoint="health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """Outbox health per sink: lag, counts by status, failures, the latest error."""
        return health()


@blp.route("/outbox/messages", endpoint="messages")
class Messages(MethodView):
    @blp.arguments(MessageQuerySchema, location="query")
    @blp.response(200, MessageSchema(many=True))
    @blp.paginate()
    def get(
        self, filters: dict[str, Any], pagination_parameters: PaginationParameters
    ) -> list[OutboxMessage]:
        """Outbox messages, newest first.

        Filters: sink, status (pending, delivered, dead: the dead letters, with their last
        error), event, order_id, failing (pending after a failed attempt). Paginated.
        """
        stmt = select(OutboxMessage)
        for name in ("sink", "status", "event", "order_id"):
            if filters.get(name) is not None:
                stmt = stmt.where(getattr(OutboxMessage, name) == filters[name])
        if filters.get("failing") is not None:
            failing = (OutboxMessage.status == "pending") & (OutboxMessage.attempts > 0)
            stmt = stmt.where(failing if filters["failing"] else ~failing)
        stmt = stmt.order_by(OutboxMessage.id.desc())
        return page_of(db.session(), stmt, pagination_parameters)


def _message(message_id: int) -> OutboxMessage:
    row = db.session().get(OutboxMessage, message_id) if 0 < message_id < 2**31 else None
    if row is None:
        abort(404, f"No outbox message {message_id}.")
    return row


@blp.route("/outbox/messages/<int:message_id>", endpoint="message")
class MessageById(MethodView):
    @blp.response(200, MessageDetailSchema)
    @blp.alt_response(404, schema="Error", description="No such id.")
    def get(self, message_id: int) -> OutboxMessage:
        """One message with its payload and the sink's result."""
        return _message(message_id)


@blp.route("/outbox/messages/<int:message_id>/replay", endpoint="replay")
class MessageReplay(MethodView):
    @blp.response(200, MessageSchema)
    @blp.alt_response(404, schema="Error", description="No such id.")
    @blp.alt_response(409, schema="Error", description="The message is not dead.")
    def post(self, message_id: int) -> OutboxMessage:
        """Send a dead letter again: pending, due now, attempts reset, the same key."""
        session = db.session()
        row = _message(message_id)
        if not requeue(session, OutboxMessage.id == message_id):
            abort(409, f"Outbox message {message_id} is {row.status}, not dead: nothing to replay.")
        session.commit()
        session.refresh(row)
        return row
