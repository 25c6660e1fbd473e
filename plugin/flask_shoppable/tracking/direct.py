"""A connection held open per process and thread, in autocommit, for the redirect's queries.

The redirect runs at most two statements (a link lookup on a cache miss, and in durable
mode the click's INSERT), each alone. Through the pool each would cost extra round
trips: the pre-ping on checkout, ``BEGIN``, ``COMMIT`` or the ``ROLLBACK`` on return.
In autocommit on a held connection each is one round trip (a lone INSERT commits
itself, durably), and the driver prepares the repeated statements (psycopg does so
after five runs), which is where the issue's "4x cheaper than the ORM" comes from.

The connection is per thread (SQLite connections belong to their thread) and per
process (a connection inherited across ``fork`` belongs to the parent and is left
alone). A connection the database dropped is replaced once, transparently; any other
error is the caller's.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable


class DirectConnection:
    """``execute(statement, params)`` on a held autocommit connection of ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        #: Every connection made, with its process: close() closes this process's own.
        #: A connection inherited across a fork stays listed, so it is never collected
        #: (collecting it would send a ROLLBACK down the parent's socket).
        self._made: list[tuple[int, Connection]] = []

    def _connection(self) -> Connection:
        local = self._local
        held: Connection | None = getattr(local, "connection", None)
        pid = os.getpid()
        if held is None or local.pid != pid or held.closed or held.invalidated:
            held = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._made.append((pid, held))
            local.connection = held
            local.pid = pid
        return held

    def execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        connection = self._connection()
        try:
            return connection.execute(statement, params)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # The server closed the connection (restart, failover, idle timeout): once more.
        self._local.connection = None
        _quietly_close(connection)
        return self._connection().execute(statement, params)

    def close(self) -> None:
        """Close every connection this process made (new ones are made on the next call)."""
        pid = os.getpid()
        mine = [c for p, c in self._made if p == pid]
        self._made = [(p, c) for p, c in self._made if p != pid]
        self._local = threading.local()
        for connection in mine:
            _quietly_close(connection)


def _quietly_close(connection: Connection) -> None:
    # A broken connection, or another thread's SQLite one, need not close cleanly.
    with contextlib.suppress(Exception):
        connection.close()
