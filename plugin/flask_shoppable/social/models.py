"""Social models: shoppable posts, the products tagged in them, and tracked links.

A post is what a merchant shares: a caption and an image, with products tagged on it
(each tag optionally pinned to a spot on the image, x and y in percent, like Instagram
product tags). A tracked link is what goes into a channel: a short unguessable code
that records a click and redirects to its target (a post, a product, the storefront,
or straight to checkout for one variant and quantity).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.models import Product, Variant
from ..db import Base, UTCDateTime, utcnow

POST_STATUSES = ("draft", "published", "archived")
LINK_TARGETS = ("post", "product", "storefront", "checkout")


class Post(Base):
    __tablename__ = "shoppable_post"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'archived')", name="status"),
        Index("ix_shoppable_post_status_published_at", "status", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str] = mapped_column(String(2000), default="")
    image_alt: Mapped[str] = mapped_column(String(500), default="")
    campaign: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tags: Mapped[list[PostTag]] = relationship(
        back_populates="post",
        cascade="all, delete-orphan",
        order_by="PostTag.position, PostTag.id",
        lazy="selectin",
    )


class PostTag(Base):
    """A product tagged in a post, optionally pinned at (x, y) percent of the image."""

    __tablename__ = "shoppable_post_tag"
    __table_args__ = (
        UniqueConstraint("post_id", "product_id"),
        CheckConstraint("x IS NULL OR (x >= 0 AND x <= 100)", name="x_in_range"),
        CheckConstraint("y IS NULL OR (y >= 0 AND y <= 100)", name="y_in_range"),
        CheckConstraint("(x IS NULL) = (y IS NULL)", name="x_and_y_together"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("shoppable_post.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_product.id", ondelete="CASCADE"), index=True
    )
    x: Mapped[float | None] = mapped_column(Float)
    y: Mapped[float | None] = mapped_column(Float)
    position: Mapped[int] = mapped_column(Integer, default=0)

    post: Mapped[Post] = relationship(back_populates="tags")
    product: Mapped[Product] = relationship(lazy="joined")


class TrackedLink(Base):
    """A short link into a channel; its target always comes from here, never the request."""

    __tablename__ = "shoppable_tracked_link"
    __table_args__ = (
        CheckConstraint("target IN ('post', 'product', 'storefront', 'checkout')", name="target"),
        CheckConstraint(
            "(target = 'post' AND post_id IS NOT NULL)"
            " OR (target = 'product' AND product_id IS NOT NULL)"
            " OR (target = 'storefront')"
            " OR (target = 'checkout' AND variant_id IS NOT NULL AND quantity >= 1)",
            name="target_has_object",
        ),
        Index("ix_shoppable_tracked_link_channel_created", "channel", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200), default="")
    utm_source: Mapped[str] = mapped_column(String(200))
    utm_medium: Mapped[str] = mapped_column(String(200))
    utm_campaign: Mapped[str] = mapped_column(String(200), default="")
    utm_content: Mapped[str] = mapped_column(String(200), default="")
    utm_term: Mapped[str] = mapped_column(String(200), default="")
    #: The creator or affiliate who shares the link, so sales can be credited per partner.
    partner: Mapped[str] = mapped_column(String(200), default="", index=True)
    target: Mapped[str] = mapped_column(String(20))
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_post.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_product.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_variant.id", ondelete="CASCADE")
    )
    quantity: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    post: Mapped[Post | None] = relationship()
    product: Mapped[Product | None] = relationship()
    variant: Mapped[Variant | None] = relationship()
