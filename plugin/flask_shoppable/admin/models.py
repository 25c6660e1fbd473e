"""The merchant pages' tables: merchant accounts, their sessions, failed sign-ins, settings.

- :class:`MerchantUser`: a person who signs in to ``/shop/admin`` (email + scrypt hash).
- :class:`AdminSession`: a signed-in browser. The cookie holds a random id; the table keeps
  only its SHA-256, so a copy of the database cannot be replayed as a cookie. Signing out
  deletes the row; a row idle for longer than ``SHOPPABLE_ADMIN_IDLE_MINUTES`` or older
  than ``SHOPPABLE_ADMIN_SESSION_HOURS`` no longer counts.
- :class:`LoginFailure`: one row per failed sign-in, keyed by a hash of (email, IP), so the
  rate limit holds across processes and hosts (PostgreSQL is the one source of truth).
- :class:`ShopSettings`: the one row of the shop's look (name, logo, accent colour,
  social handles, legal links) read by the storefront, post pages and embeds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from ..db import Base, UTCDateTime, utcnow


class MerchantUser(Base):
    __tablename__ = "shoppable_merchant_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased, so sign-in is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AdminSession(Base):
    __tablename__ = "shoppable_admin_session"

    #: SHA-256 (hex) of the random id in the browser's cookie.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("shoppable_merchant_user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant: Mapped[MerchantUser] = relationship(lazy="joined")


class LoginFailure(Base):
    __tablename__ = "shoppable_admin_login_failure"
    __table_args__ = (Index("ix_shoppable_admin_login_failure_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: HMAC of the lower-cased email and the client address (neither is kept in clear).
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ShopSettings(Base):
    """The shop's look; one row (id 1). Empty fields fall back to the configuration."""

    __tablename__ = "shoppable_shop_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    #: An https URL, or the path of an uploaded logo served by the plugin.
    logo_url: Mapped[str] = mapped_column(String(2000), default="")
    #: ``#rrggbb`` or empty (the stylesheet's default).
    accent_color: Mapped[str] = mapped_column(String(7), default="")
    #: {"instagram": "handle", "tiktok": "handle", ...}: handles without the @.
    social_handles: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    terms_url: Mapped[str] = mapped_column(String(2000), default="")
    privacy_url: Mapped[str] = mapped_column(String(2000), default="")
    returns_url: Mapped[str] = mapped_column(String(2000), default="")
    contact_email: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
