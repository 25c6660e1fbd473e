"""Interactions: the common record of every touch a shopper has with the shop.

One row per impression (an embed or page view), click (a tracked link), comment (from
social listening), checkout_started (from checkout). The id is made in Python (a
time-ordered UUID), so a click can be named in the redirect's signed token before its
row is written (clicks may be buffered), and later records (checkouts, orders) refer
to it by that id without a foreign key that a buffered click could not yet satisfy.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String, Uuid, false, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow
from .randomness import token_bytes

INTERACTION_KINDS = ("impression", "click", "comment", "checkout_started")
#: The columns of the visit chains (see .chains), the worker's: a recorder writes only
#: ``chained``, true for a row without a visitor (nothing to chain).
CHAIN_COLUMNS = (
    "chained",
    "prev_channel_at",
    "prev_post_at",
    "prev_link_at",
    "prev_campaign_at",
    "prev_partner_at",
)
#: Ad click ids taken from the query string of a tracked link.
CLICK_ID_PARAMS = ("fbclid", "gclid", "ttclid", "li_fat_id", "epik", "twclid")


def _nothing_to_chain(context: Any) -> bool:
    """``chained``'s default: true for a row without a visitor (see Interaction)."""
    return context.get_current_parameters().get("visitor_id") is None


def new_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit millisecond time, then randomness; sorts by time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(token_bytes(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


class Interaction(Base):
    __tablename__ = "shoppable_interaction"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('impression', 'click', 'comment', 'checkout_started')", name="kind"
        ),
        # The reports' range scans read these columns from the index alone (PostgreSQL).
        Index(
            "ix_shoppable_interaction_occurred_at",
            "occurred_at",
            postgresql_include=[
                "kind",
                "visitor_id",
                "channel",
                "post_id",
                "link_id",
                "utm_campaign",
                "partner",
            ],
        ),
        Index("ix_shoppable_interaction_visitor", "visitor_id", "occurred_at"),
        Index("ix_shoppable_interaction_channel", "channel", "occurred_at"),
        Index("ix_shoppable_interaction_post", "post_id", "occurred_at"),
        Index("ix_shoppable_interaction_link", "link_id", "occurred_at"),
        Index("ix_shoppable_interaction_campaign", "utm_campaign", "occurred_at"),
        # The rows the worker has still to chain (see .chains): few, and gone once chained.
        Index(
            "ix_shoppable_interaction_unchained",
            "occurred_at",
            postgresql_where=text("visitor_id IS NOT NULL AND NOT chained"),
            sqlite_where=text("visitor_id IS NOT NULL AND chained = 0"),  # as queries say it
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The first-party cookie's random id; NULL when none may be set (DNT/GPC, no consent).
    visitor_id: Mapped[str | None] = mapped_column(String(32))
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_tracked_link.id", ondelete="SET NULL")
    )
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_post.id", ondelete="SET NULL")
    )
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("shoppable_product.id", ondelete="SET NULL")
    )
    channel: Mapped[str | None] = mapped_column(String(20))
    utm_source: Mapped[str] = mapped_column(String(200), default="")
    utm_medium: Mapped[str] = mapped_column(String(200), default="")
    utm_campaign: Mapped[str] = mapped_column(String(200), default="")
    utm_content: Mapped[str] = mapped_column(String(200), default="")
    utm_term: Mapped[str] = mapped_column(String(200), default="")
    partner: Mapped[str] = mapped_column(String(200), default="")
    #: Ad click ids found in the query (fbclid, gclid, ...), each bounded in length.
    click_ids: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    referrer: Mapped[str] = mapped_column(String(500), default="")
    #: Keyed hash of the client address (never the address itself).
    ip_hash: Mapped[str] = mapped_column(String(64), default="")
    #: "mobile", "tablet", "desktop", or an in-app browser such as "instagram-app".
    ua_class: Mapped[str] = mapped_column(String(30), default="")
    #: The interaction that led to this one (a checkout_started's click or comment).
    origin_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: Kind-specific extras (a comment's platform ids and text, say).
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # The visit chains (see .chains), kept by the worker: whether this row's prev_* are
    # set, and per report dimension the time of the same visitor's previous interaction
    # with the same value of it. A row without a visitor has nothing to chain and is
    # written chained (so that "not chained" is the few rows still to do, as the planner
    # should estimate them); a recorder writes no other chain column.
    chained: Mapped[bool] = mapped_column(
        Boolean, default=_nothing_to_chain, server_default=false()
    )
    prev_channel_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prev_post_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prev_link_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prev_campaign_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prev_partner_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
