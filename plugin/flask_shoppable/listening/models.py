"""Listening models: webhook changes, media linked to posts, identities, comments, rules.

* :class:`MetaChange`: one change of a Meta webhook delivery, stored before it is
  processed, unique by ``change_key`` (a comment's platform and id, else a hash of the
  change), so Meta's retries (for up to 36 hours) are no-ops.
* :class:`PostMedia`: a platform media id (Instagram media, Facebook Page post) linked
  to a shoppable post, by the merchant (``source="manual"``) or by publishing
  (``source="published"``).
* :class:`SocialIdentity`: a commenter (platform, user id, username), linked to a
  customer when they buy through their reply link.
* :class:`Comment`: a comment or mention, on linked media or not (unlinked ones are
  kept for the listening report), with its interaction, keyword match and the state
  of its private reply.
* :class:`KeywordRule`: per post, the words and emoji that ask for the link, and the
  reply's text.
"""

from __future__ import annotations

import uuid
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
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow

PLATFORMS = ("instagram", "facebook")
MEDIA_SOURCES = ("manual", "published")
CHANGE_STATUSES = ("received", "processed", "ignored", "failed")
#: recorded: an interaction on linked media; unlinked: kept for the report only;
#: flood: over the bound per user per post (kept, no interaction, no reply).
COMMENT_STATUSES = ("recorded", "unlinked", "flood")
#: none: no keyword matched (or no rule); queued: in the outbox; sent; failed: dead
#: letter (Graph refused, or the 7-day window passed); skipped: matched, but the
#: commenter already has a reply for this post.
REPLY_STATUSES = ("none", "queued", "sent", "failed", "skipped")


class MetaChange(Base):
    __tablename__ = "shoppable_meta_change"
    __table_args__ = (
        CheckConstraint("status IN ('received', 'processed', 'ignored', 'failed')", name="status"),
        Index("ix_shoppable_meta_change_status", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    change_key: Mapped[str] = mapped_column(String(255), unique=True)
    #: The webhook object: "instagram", "page", or another Meta sent.
    object: Mapped[str] = mapped_column(String(40))
    #: The entry's id: the Instagram account or the Facebook Page.
    account_id: Mapped[str] = mapped_column(String(64), default="")
    #: The change's field ("comments", "mentions", "feed", "messaging", ...).
    field: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="received")
    reason: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PostMedia(Base):
    __tablename__ = "shoppable_post_media"
    __table_args__ = (
        UniqueConstraint("platform", "media_id"),
        CheckConstraint("platform IN ('instagram', 'facebook')", name="platform"),
        CheckConstraint("source IN ('manual', 'published')", name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    media_id: Mapped[str] = mapped_column(String(64))
    post_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_post.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(20), default="manual")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SocialIdentity(Base):
    __tablename__ = "shoppable_social_identity"
    __table_args__ = (
        UniqueConstraint("platform", "user_id"),
        CheckConstraint("platform IN ('instagram', 'facebook')", name="platform"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str] = mapped_column(String(64))
    #: The Instagram username, or the Facebook name (Graph sends a name, no handle).
    username: Mapped[str] = mapped_column(String(200), default="")
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_customer.id", ondelete="SET NULL"), index=True
    )
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(Base):
    __tablename__ = "shoppable_comment"
    __table_args__ = (
        UniqueConstraint("platform", "comment_id"),
        CheckConstraint("platform IN ('instagram', 'facebook')", name="platform"),
        CheckConstraint("kind IN ('comment', 'mention')", name="kind"),
        CheckConstraint("status IN ('recorded', 'unlinked', 'flood')", name="status"),
        CheckConstraint(
            "reply_status IN ('none', 'queued', 'sent', 'failed', 'skipped')",
            name="reply_status",
        ),
        Index("ix_shoppable_comment_post", "post_id", "created_at"),
        Index("ix_shoppable_comment_identity_post", "identity_id", "post_id", "created_at"),
        Index("ix_shoppable_comment_media", "platform", "media_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="comment")
    comment_id: Mapped[str] = mapped_column(String(64))
    #: The Instagram account or Facebook Page the comment was made on (the reply's sender).
    account_id: Mapped[str] = mapped_column(String(64), default="")
    media_id: Mapped[str] = mapped_column(String(64), default="")
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_post.id", ondelete="SET NULL")
    )
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_social_identity.id", ondelete="SET NULL")
    )
    #: The ``comment`` Interaction (linked media only).
    interaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="recorded")
    #: The keyword (as the merchant wrote it) that matched, or "".
    keyword: Mapped[str] = mapped_column(String(100), default="")
    reply_status: Mapped[str] = mapped_column(String(20), default="none")
    reply_error: Mapped[str] = mapped_column(String(500), default="")
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Follows of the reply's link.
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    first_click_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the comment was made (Meta's time when sent, else when received).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KeywordRule(Base):
    """The comment-to-buy rule of one post."""

    __tablename__ = "shoppable_keyword_rule"

    post_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_post.id", ondelete="CASCADE"), primary_key=True
    )
    #: As the merchant wrote them.
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The reply's text; ``{link}`` is replaced by the commenter's own link.
    message: Mapped[str] = mapped_column(String(900), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
