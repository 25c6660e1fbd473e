"""The plugin's database: one engine and one session factory per app.

Models derive from :class:`Base`, whose metadata carries naming conventions so that
constraints have stable names on SQLite and PostgreSQL alike (Alembic needs them to
drop and alter). Every table is prefixed ``shoppable_``. The session for the current
app context is :func:`session`; it is closed when the app context tears down.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, g
from sqlalchemy import DateTime, Dialect, MetaData, create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

TABLE_PREFIX = "shoppable_"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_SESSION_KEY = "_shoppable_session"


class Base(DeclarativeBase):
    """Declarative base of every plugin model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL; plain ``postgresql://`` URLs use psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str | URL, options: dict[str, Any] | None = None) -> Engine:
    """Create the engine for ``url`` with the plugin's defaults for its backend."""
    parsed = normalize_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 5}
    kwargs.update(options or {})
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def session() -> Session:
    """The plugin's session for the current app context (created on first use)."""
    existing: Session | None = g.get(_SESSION_KEY)
    if existing is None:
        existing = current_app.extensions["shoppable"].session_factory()
        setattr(g, _SESSION_KEY, existing)
    return existing


def remove_session(exc: BaseException | None = None) -> None:
    """Teardown: roll back anything uncommitted and close the session."""
    existing: Session | None = g.pop(_SESSION_KEY, None)
    if existing is not None:
        existing.close()
