"""Orders, customers, refunds, disputes, attribution credits and the webhook event log.

An order is made from a checkout when the provider says it completed; its lines copy
the checkout's (prices as they were when the shopper saw them). Its money is integer
minor units: ``total_amount`` as charged, ``refunded_amount`` the refunds the provider
confirmed, ``net`` the difference. ``origin_interaction_id`` and the denormalised
channel/post/link make the reports cheap; ``OrderCredit`` holds every attribution
model's credits, computed at purchase. ``WebhookEvent`` stores each provider event
before it is processed (unique by provider and event id), so a failure is retried, a
duplicate is a no-op, and nothing is lost.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow

ORDER_STATUSES = ("pending", "paid", "payment_failed")
#: received: stored, not processed yet (or its processing was interrupted); processed;
#: ignored: not for this shop or of a type it does not handle; failed: processing raised,
#: retried at next_attempt_at; deferred: waits for an earlier event (a refund before its
#: order's completion), retried soon.
WEBHOOK_STATUSES = ("received", "processed", "failed", "ignored", "deferred")


class Customer(Base):
    __tablename__ = "shoppable_customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Normalised (trimmed, lower-cased); unique. Empty once the customer is erased.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    #: SHA-256 of the normalised email, for matching (Conversions API, CRM) and erasure.
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CustomerVisitor(Base):
    """A visitor id (cookie) known to belong to a customer: the cross-device join."""

    __tablename__ = "shoppable_customer_visitor"

    visitor_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_customer.id", ondelete="CASCADE"), index=True
    )
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(Base):
    __tablename__ = "shoppable_order"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'paid', 'payment_failed')", name="status"),
        CheckConstraint("total_amount >= 0", name="total_not_negative"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= total_amount", name="refund_in_range"
        ),
        Index("ix_shoppable_order_paid_at", "paid_at"),
        Index("ix_shoppable_order_created_at", "created_at"),
        Index("ix_shoppable_order_email", "email"),
        Index("ix_shoppable_order_channel_paid_at", "channel", "paid_at"),
        Index("ix_shoppable_order_post_paid_at", "post_id", "paid_at"),
        Index("ix_shoppable_order_status_fulfilled_at", "status", "fulfilled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    checkout_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_checkout.id", ondelete="SET NULL"), unique=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_customer.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="pending")
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_amount: Mapped[int] = mapped_column(BigInteger)
    discount_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    total_amount: Mapped[int] = mapped_column(BigInteger)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    #: None, or the provider's dispute status (needs_response, under_review, won, lost...).
    dispute_status: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(320), default="")
    shipping_name: Mapped[str] = mapped_column(String(300), default="")
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    provider_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    provider_payment_id: Mapped[str | None] = mapped_column(String(255), index=True)
    origin_interaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    visitor_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(20))
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_post.id", ondelete="SET NULL")
    )
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_tracked_link.id", ondelete="SET NULL")
    )
    #: Set when the amount or currency in the provider's event differs from the checkout.
    flagged_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: Set when the merchant shipped it (:mod:`.fulfilment`); NULL: still to ship.
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The shipment's carrier and tracking number, as the merchant typed them.
    carrier: Mapped[str] = mapped_column(String(100), default="", server_default=text("''"))
    tracking_number: Mapped[str] = mapped_column(String(100), default="", server_default=text("''"))

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="OrderLine.id",
    )
    customer: Mapped[Customer | None] = relationship()

    @property
    def net_amount(self) -> int:
        return self.total_amount - self.refunded_amount


class OrderLine(Base):
    __tablename__ = "shoppable_order_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_order.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_variant.id", ondelete="SET NULL")
    )
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_product.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(520))
    sku: Mapped[str | None] = mapped_column(String(100))
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def total_amount(self) -> int:
        return self.unit_amount * self.quantity


class OrderEvent(Base):
    """The order's history: every status change, refund and dispute, with its cause."""

    __tablename__ = "shoppable_order_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_order.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    provider_event_id: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Refund(Base):
    __tablename__ = "shoppable_refund"
    __table_args__ = (
        UniqueConstraint("order_id", "client_key"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('requested', 'pending', 'succeeded', 'failed', 'canceled')",
            name="status",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_order.id", ondelete="CASCADE"), index=True
    )
    #: The provider's refund id (re_...); NULL until the provider answered.
    provider_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="requested")
    reason: Mapped[str] = mapped_column(String(100), default="")
    #: The merchant client's idempotency key (NULL for refunds made in the provider's dashboard).
    client_key: Mapped[str | None] = mapped_column(String(255))
    #: Why the provider refused the refund (status failed), as shown to the merchant.
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Dispute(Base):
    __tablename__ = "shoppable_dispute"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_order.id", ondelete="CASCADE"), index=True
    )
    provider_dispute_id: Mapped[str] = mapped_column(String(255), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OrderCredit(Base):
    """One touch's credit for an order under one attribution model.

    The touch's channel, post, link, campaign and partner are copied onto the credit at
    purchase (an origin click whose row is not written yet: the order's channel, post
    and link), so that the reports' breakdowns read the credits alone. An empty
    campaign or partner is stored as NULL.
    """

    __tablename__ = "shoppable_order_credit"
    __table_args__ = (
        UniqueConstraint("order_id", "model", "interaction_id"),
        Index("ix_shoppable_order_credit_interaction", "interaction_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shoppable_order.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(20))
    interaction_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[int] = mapped_column(BigInteger)
    share: Mapped[float] = mapped_column(Float)
    channel: Mapped[str | None] = mapped_column(String(20))
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_post.id", ondelete="SET NULL")
    )
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_tracked_link.id", ondelete="SET NULL")
    )
    campaign: Mapped[str | None] = mapped_column(String(200))
    partner: Mapped[str | None] = mapped_column(String(200))


class WebhookEvent(Base):
    """A provider's webhook delivery, stored before it is processed."""

    __tablename__ = "shoppable_webhook_event"
    __table_args__ = (
        UniqueConstraint("provider", "event_id"),
        CheckConstraint(
            "status IN ('received', 'processed', 'failed', 'ignored', 'deferred')", name="status"
        ),
        Index("ix_shoppable_webhook_event_retry", "status", "next_attempt_at"),
        Index("ix_shoppable_webhook_event_waiting_for", "waiting_for"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(100))
    #: The raw body as received (the signature was checked on exactly these bytes).
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="received")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The last failure's message and traceback.
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: Why it was ignored or deferred, in a sentence.
    reason: Mapped[str] = mapped_column(String(500), default="")
    #: A deferred event's missing piece (the payment id whose order it waits for).
    waiting_for: Mapped[str | None] = mapped_column(String(255))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remote_addr: Mapped[str] = mapped_column(String(45), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookRejection(Base):
    """Deliveries refused before they were stored, counted per provider and reason.

    A wrong webhook secret shows up here as "signature mismatch" (the most common webhook
    failure in the field, invisible otherwise: the provider only sees 400s). ``doctor``
    and ``GET /api/webhooks/rejections`` show these counters.
    """

    __tablename__ = "shoppable_webhook_rejection"

    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str] = mapped_column(String(60), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
