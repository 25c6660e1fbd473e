"""Writes interactions: buffered in the process (default) or committed before the redirect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker


class Recorder:
    """Records interaction rows (dicts of Interaction columns). Placeholder: durable only."""

    def __init__(self, config: Any, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def record(self, row: dict[str, Any]) -> None:
        from .models import Interaction

        with self._session_factory() as session:
            session.add(Interaction(**row))
            session.commit()

    def flush(self) -> None:
        """Write everything waiting (no-op in durable mode)."""

    def close(self) -> None:
        """Flush and stop the background writer."""
