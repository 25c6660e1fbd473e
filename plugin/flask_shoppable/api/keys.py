"""API keys: the merchant API's credentials.

A key reads ``shp_<id>_<secret>``. The database keeps the public ``<id>`` (to find the
row) and the SHA-256 of the whole key (the key has 190 bits of randomness, so a slow
hash adds nothing); the key itself is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from datetime import datetime, timedelta

from sqlalchemy import String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..db import Base, UTCDateTime, utcnow

SCOPES = ("read", "write")
_ALPHABET = string.ascii_letters + string.digits
_KEY_PREFIX = "shp_"


class ApiKey(Base):
    __tablename__ = "shoppable_api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(text: str) -> list[str]:
    """``"read,write"`` → ``["read", "write"]``; raise ValueError naming a bad scope."""
    scopes = [s.strip() for s in text.split(",") if s.strip()]
    if not scopes:
        raise ValueError(f"at least one scope is required ({', '.join(SCOPES)})")
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}: choose from {', '.join(SCOPES)}")
    return sorted(set(scopes), key=SCOPES.index)


def create(db: Session, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create and commit a key; return the row and the key text (shown only now)."""
    if not name.strip():
        raise ValueError("a key needs a name")
    public_id = _random(12)
    key = f"{_KEY_PREFIX}{public_id}_{_random(32)}"
    row = ApiKey(
        name=name.strip(), public_id=public_id, key_hash=_digest(key), scopes=",".join(scopes)
    )
    db.add(row)
    db.commit()
    return row, key


def verify(db: Session, key: str) -> ApiKey | None:
    """The active key matching ``key``, or None."""
    if not key.startswith(_KEY_PREFIX) or len(key) > 100:
        return None
    public_id, sep, _secret = key[len(_KEY_PREFIX) :].partition("_")
    if not sep:
        return None
    row = db.scalar(select(ApiKey).where(ApiKey.public_id == public_id))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, _digest(key)):
        return None
    return row


def touch(db: Session, row: ApiKey, every: timedelta) -> None:
    """Record use, at most once per ``every`` (keeps reads from writing on each request)."""
    now = utcnow()
    if row.last_used_at is not None and now - row.last_used_at < every:
        return
    db.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    db.commit()


def revoke(db: Session, public_id: str) -> ApiKey | None:
    """Revoke the key whose public id (or whole key) is given; None if there is none."""
    if public_id.startswith(_KEY_PREFIX):
        public_id = public_id[len(_KEY_PREFIX) :].partition("_")[0]
    row = db.scalar(select(ApiKey).where(ApiKey.public_id == public_id))
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.commit()
    return row
