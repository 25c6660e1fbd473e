"""The outbox: one row per message to deliver to one sink.

A message is written in the same transaction as the change that caused it (an order
paid, refunded, disputed; a reply to send; a post to publish), so it exists exactly
when the change does. ``(sink, key)`` is unique: ``key`` is the idempotency key (for
orders ``<order id>:<event>:<version>``), so enqueueing twice is a no-op and the
receiver can use the same key to keep one record per message.

States: ``pending`` (to deliver at ``next_attempt_at``), ``delivered``, ``dead`` (gave
up: rejected by the receiver, or out of attempts; ``flask shoppable outbox replay``
sends it again). A worker claims a pending message by moving its ``next_attempt_at``
forward by a lease and writing its claim token in ``claimed_by`` (see
:mod:`flask_shoppable.crm.delivery`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow

OUTBOX_STATUSES = ("pending", "delivered", "dead")


class OutboxMessage(Base):
    __tablename__ = "shoppable_outbox_message"
    __table_args__ = (
        UniqueConstraint("sink", "key"),
        CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
        Index("ix_shoppable_outbox_message_due", "status", "next_attempt_at"),
        Index("ix_shoppable_outbox_message_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sink: Mapped[str] = mapped_column(String(60))
    event: Mapped[str] = mapped_column(String(60))
    key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    #: Delivery attempts started (counted when a worker claims the message).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Pending: due at this time (also the end of a worker's lease while it is claimed).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The claim token of the worker delivering it (None when no one has it).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: What the sink returned on delivery (the CRM's record ids...).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_order.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
