"""Checkouts: what a shopper asked to buy, priced from the database, with stock held.

A checkout is created by ``POST <prefix>/checkout`` before the provider's session: its
lines keep the price and title as they were (the order copies them), and the stock of
each stock-tracked variant is taken at once (a conditional decrement, atomic on both
backends) and given back if the checkout expires or fails. ``origin_interaction_id``
names the click or comment that brought the shopper (no foreign key: a buffered click
may not be written yet). The user agent and address are kept for the Meta Conversions
API and erased with the customer.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow

CHECKOUT_STATUSES = ("open", "completed", "expired", "failed")


class Checkout(Base):
    __tablename__ = "shoppable_checkout"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'completed', 'expired', 'failed')", name="status"),
        CheckConstraint("subtotal_amount >= 0", name="subtotal_not_negative"),
        Index("ix_shoppable_checkout_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    #: The provider's session id (cs_...), set once the session exists.
    provider_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    provider_url: Mapped[str] = mapped_column(String(2000), default="")
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_amount: Mapped[int] = mapped_column(BigInteger)
    #: The click or comment that brought the shopper (from the signed token, else the cookie).
    origin_interaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: The checkout_started interaction recorded for this checkout.
    interaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    visitor_id: Mapped[str | None] = mapped_column(String(32), index=True)
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_post.id", ondelete="SET NULL")
    )
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_tracked_link.id", ondelete="SET NULL")
    )
    channel: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(320), default="")
    promotion_code: Mapped[str] = mapped_column(String(100), default="")
    user_agent: Mapped[str] = mapped_column(String(500), default="")
    client_ip: Mapped[str] = mapped_column(String(45), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set when the held stock went back (expiry, failure); makes the release idempotent.
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why it went back: "expired", "provider_error", "payment_failed", ...
    release_reason: Mapped[str] = mapped_column(String(40), default="")

    lines: Mapped[list[CheckoutLine]] = relationship(
        back_populates="checkout",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="CheckoutLine.id",
    )


class CheckoutLine(Base):
    __tablename__ = "shoppable_checkout_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_amount >= 0", name="unit_amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    checkout_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_checkout.id", ondelete="CASCADE"), index=True
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
    #: Units taken from stock for this line (0 for a variant with unlimited stock).
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    requires_shipping: Mapped[bool] = mapped_column(default=True)

    checkout: Mapped[Checkout] = relationship(back_populates="lines")
