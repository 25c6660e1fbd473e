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

On SQLite, a write waits for the other processes' writes to finish. SQLite's own busy
handler sleeps at least a millisecond per attempt, twenty times what a click's INSERT
holds the lock for, which left sync workers idle a tenth of the time in durable mode;
the held connection retries itself instead, from 50 µs doubling to 2 ms, within the
connection's usual busy timeout (which it puts back when it returns to the pool).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from typing import Any

from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql import Executable


class DirectConnection:
    """``execute(statement, params)`` on a held autocommit connection of ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        #: Every connection made, with its process and thread: close() closes this
        #: process's own, and a new connection first gives back those of this process's
        #: threads that have ended (a server with a thread per request, like Werkzeug's,
        #: would otherwise keep one pool connection per request it ever served, until the
        #: pool ran dry). A connection inherited across a fork stays listed, so it is
        #: never collected (collecting it would send a ROLLBACK down the parent's socket).
        self._made: list[tuple[int, weakref.ref[threading.Thread], Connection]] = []
        self._made_lock = threading.Lock()
        self._lock_pid = os.getpid()

    def _connection(self) -> Connection:
        local = self._local
        held: Connection | None = getattr(local, "connection", None)
        pid = os.getpid()
        if held is None or local.pid != pid or held.closed or held.invalidated:
            self._release_ended_threads(pid)
            held = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self.sqlite:
                timeout = held.exec_driver_sql("PRAGMA busy_timeout").scalar()
                held.info[_BUSY_TIMEOUT] = int(timeout or 0)
                held.exec_driver_sql("PRAGMA busy_timeout = 0")
            with self._lock():
                self._made.append((pid, weakref.ref(threading.current_thread()), held))
            local.connection = held
            local.pid = pid
        return held

    def _lock(self) -> threading.Lock:
        if self._lock_pid != os.getpid():
            # A new process (fork): a lock another thread held at the fork stays held.
            self._made_lock = threading.Lock()
            self._lock_pid = os.getpid()
        return self._made_lock

    def _release_ended_threads(self, pid: int) -> None:
        """Give back the connections of this process's threads that have ended."""
        ended: list[Connection] = []
        with self._lock():
            kept = []
            for entry in self._made:
                owner = entry[1]()
                if entry[0] == pid and (owner is None or not owner.is_alive()):
                    ended.append(entry[2])
                else:
                    kept.append(entry)
            self._made = kept
        for connection in ended:
            _quietly_close(connection)

    @property
    def sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        connection = self._connection()
        try:
            if self.sqlite:
                return _execute_waiting_for_lock(connection, statement, params)
            return connection.execute(statement, params)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # The server closed the connection (restart, failover, idle timeout): once more.
        self._local.connection = None
        _quietly_close(connection)
        return self._connection().execute(statement, params)

    def connection(self) -> Connection:
        """This thread's held connection itself, for a caller that runs more than one
        statement on it (the webhook: its store, then a transaction). The caller gives it
        back as it found it (autocommit, no transaction open) or calls :meth:`discard`."""
        return self._connection()

    def discard(self) -> None:
        """Drop this thread's connection (after a failure); the next call makes another."""
        held: Connection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if held is not None:
            _quietly_close(held)

    def close(self) -> None:
        """Close every connection this process made (new ones are made on the next call)."""
        pid = os.getpid()
        with self._lock():
            mine = [c for p, _t, c in self._made if p == pid]
            self._made = [entry for entry in self._made if entry[0] != pid]
        self._local = threading.local()
        for connection in mine:
            _quietly_close(connection)


_BUSY_TIMEOUT = "shoppable_busy_timeout_ms"
_FIRST_WAIT = 0.00005
_LONGEST_WAIT = 0.002


def _execute_waiting_for_lock(
    connection: Connection, statement: Executable, params: Any
) -> CursorResult[Any]:
    """Run ``statement``; while SQLite says the database is locked, wait a little, again."""
    deadline = time.monotonic() + connection.info.get(_BUSY_TIMEOUT, 0) / 1000
    wait = _FIRST_WAIT
    while True:
        try:
            return connection.execute(statement, params)
        except OperationalError as exc:
            message = str(exc.orig)
            locked = "database is locked" in message or "database is busy" in message
            if not locked or time.monotonic() + wait > deadline:
                raise
        time.sleep(wait)
        wait = min(wait * 2, _LONGEST_WAIT)


def _quietly_close(connection: Connection) -> None:
    # A broken connection, or another thread's SQLite one, need not close cleanly.
    with contextlib.suppress(Exception):
        timeout = connection.info.pop(_BUSY_TIMEOUT, None)
        if timeout is not None and not connection.invalidated:
            # Back to the pool as it came: other users rely on SQLite's busy handler.
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(timeout)}")
    with contextlib.suppress(Exception):
        connection.close()
