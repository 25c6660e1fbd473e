"""Publishing models: the merchant's connected channel accounts and each publication.

A :class:`ChannelAccount` is where a post can go: an Instagram business account, a
Facebook Page, a Pinterest board, a LinkedIn organisation or an X account, with the
token the platform issued, encrypted at rest (:mod:`.crypto`). Disconnecting keeps the
row (publications refer to it) but forgets the token.

A :class:`Publication` is one post placed (or to be placed) on one account: the exact
caption sent, its own tracked link, and what the platform answered (its post id and
permalink, the id that social listening ties comments to). ``live`` is True while the
publication counts (scheduled, publishing, published) and NULL once it failed: the
unique constraint on (post_id, account_id, live) lets a post go to an account once,
while a failed attempt stays as history and may be made again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from ..social.models import Post, TrackedLink

CHANNELS = ("instagram", "facebook", "pinterest", "linkedin", "x")
STATES = ("scheduled", "publishing", "published", "failed")


class ChannelAccount(Base):
    __tablename__ = "shoppable_channel_account"
    __table_args__ = (
        CheckConstraint(
            "channel IN ('instagram', 'facebook', 'pinterest', 'linkedin', 'x')", name="channel"
        ),
        UniqueConstraint("channel", "account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    #: The platform's id: IG business account id, Page id, board id, organisation id
    #: (the number of urn:li:organization:<id>), X user id.
    account_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200), default="")
    #: The token, Fernet-encrypted (MultiFernet over SHOPPABLE_TOKEN_KEYS); NULL once
    #: disconnected.
    token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Instagram: the Meta commerce catalog whose products can be tagged on images.
    catalog_id: Mapped[str] = mapped_column(String(100), default="")
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def connected(self) -> bool:
        return self.disconnected_at is None and self.token_encrypted is not None

    @property
    def has_token(self) -> bool:
        return self.token_encrypted is not None

    def token_expired(self, now: datetime | None = None) -> bool:
        return self.token_expires_at is not None and self.token_expires_at <= (now or utcnow())


class Publication(Base):
    __tablename__ = "shoppable_publication"
    __table_args__ = (
        CheckConstraint(
            "state IN ('scheduled', 'publishing', 'published', 'failed')", name="state"
        ),
        CheckConstraint(
            "(state = 'failed' AND live IS NULL) OR (state != 'failed' AND live IS NOT NULL)",
            name="live_unless_failed",
        ),
        UniqueConstraint("post_id", "account_id", "live"),
        Index("ix_shoppable_publication_channel_platform_id", "channel", "platform_post_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_post.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_channel_account.id", ondelete="RESTRICT"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_tracked_link.id", ondelete="SET NULL")
    )
    #: The caption as sent (with the tracked link or "link in bio").
    caption: Mapped[str] = mapped_column(Text, default="")
    #: Pinterest's pin title / LinkedIn's article title.
    title: Mapped[str] = mapped_column(String(200), default="")
    image_url: Mapped[str] = mapped_column(String(2000), default="")
    state: Mapped[str] = mapped_column(String(20), default="scheduled")
    live: Mapped[bool | None] = mapped_column(Boolean, default=True)
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    #: Instagram: the media container made for this publication, reused on a retry.
    container_id: Mapped[str] = mapped_column(String(100), default="")
    platform_post_id: Mapped[str] = mapped_column(String(255), default="")
    permalink: Mapped[str] = mapped_column(String(2000), default="")
    publish_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    post: Mapped[Post] = relationship()
    account: Mapped[ChannelAccount] = relationship(lazy="joined")
    link: Mapped[TrackedLink | None] = relationship()
