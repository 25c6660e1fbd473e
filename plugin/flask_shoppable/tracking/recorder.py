"""Writes interactions: buffered in the process (default) or committed before the redirect.

``app.extensions["shoppable"].recorder.record(row)`` takes a dict of
:class:`~flask_shoppable.tracking.models.Interaction` column values. The caller makes the
id (``models.new_id()``) so it can sign it into the redirect before the row exists;
checkouts and orders refer to a click by that id, with no foreign key, so a click still
in the buffer is no obstacle to them.

``SHOPPABLE_CLICK_WRITE_MODE``:

* ``"durable"``: :meth:`Recorder.record` commits the row before it returns, and raises
  if it cannot (the redirect view logs that and redirects all the same).
* ``"buffered"`` (default): the row joins an in-process queue that a background thread
  writes with one multi-row INSERT (Core ``insert`` with executemany) every
  ``SHOPPABLE_CLICK_FLUSH_SECONDS`` or as soon as ``SHOPPABLE_CLICK_BUFFER_SIZE`` rows
  wait. A round trip and a commit per batch instead of per click is what keeps the
  redirect within reach of a bare one.

What a buffered process can lose:

* Graceful stop: nothing. :meth:`Recorder.close` writes what waits and joins the
  thread; it runs at interpreter exit (``atexit``) and from gunicorn's ``worker_exit``
  hook (put ``worker_exit = "flask_shoppable.tracking.recorder.gunicorn_worker_exit"``
  in the gunicorn config file), which covers SIGTERM, SIGINT, SIGQUIT and max-requests
  restarts.
* Crash (SIGKILL, OOM, a worker killed at gunicorn's ``timeout``, power loss): the rows
  not yet written, normally at most the last ``SHOPPABLE_CLICK_FLUSH_SECONDS`` (0.2 s)
  of clicks of that process, never more than ``SHOPPABLE_CLICK_BUFFER_SIZE`` rows plus
  those arriving during one write. While the database is unreachable the rows are kept
  and retried (with a backoff up to 30 s), up to :data:`MAX_PENDING_ROWS`; beyond that
  the oldest are dropped and counted in the log, so a long outage costs clicks, never
  the process's memory. A crash during an outage loses what was kept.

A batch the database refuses because of one bad row (a data or integrity error, say a
link deleted since the click) is written row by row; a row refused for a foreign key is
written again without its link/post/product ids, and a row refused for anything else is
dropped and logged, so one bad row never blocks the others.

Every row written is announced with :data:`flask_shoppable.signals.interaction_recorded`
(``interaction=`` the row's dict) once committed: in the request in durable mode, from
the writer thread (inside an app context) in buffered mode. Nothing is sent when no
receiver is connected, so the signal costs nothing unless used.

Fork safety: gunicorn ``--preload`` imports the app, then forks; a thread started in the
parent does not exist in the child, and pooled connections must not be shared. The
recorder notes its process id: in a new process (checked on every call and in an
``os.register_at_fork`` hook) it drops the parent's queue (the parent writes its own),
makes new locks, resets the engine's pool and starts its thread lazily on first use.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import JSON, insert
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from ..signals import interaction_recorded
from .direct import DirectConnection
from .models import CHAIN_COLUMNS, INTERACTION_KINDS, Interaction

log = logging.getLogger("flask_shoppable.tracking")

#: Rows kept while the database cannot be written; the oldest go beyond this.
MAX_PENDING_ROWS = 100_000
#: Rows per INSERT statement and transaction when a backlog is written.
CHUNK_ROWS = 1_000
#: Longest wait between two attempts to write while the database fails (seconds).
MAX_BACKOFF = 30.0
#: How long :meth:`Recorder.close` keeps trying to write before giving up (seconds).
CLOSE_TIMEOUT = 10.0

_TABLE = Interaction.__table__
#: The columns a row given to a recorder has: all but the visit chains' (the worker's,
#: see .chains); :func:`normalize` adds ``chained`` (true when there is no visitor).
_WRITTEN = tuple(c for c in _TABLE.columns if c.name not in CHAIN_COLUMNS)
_COLUMNS = frozenset(c.name for c in _WRITTEN)
_FK_COLUMNS = ("link_id", "post_id", "product_id")
_INSERT = insert(_TABLE)


def _column_defaults() -> dict[str, Callable[[], Any]]:
    """A zero-argument maker of each column's Python-side default (None if it has none)."""
    makers: dict[str, Callable[[], Any]] = {}
    for column in _WRITTEN:
        default = column.default
        if default is None:
            makers[column.name] = lambda: None
        elif default.is_callable:
            # SQLAlchemy wraps zero-argument callables so that they take a context.
            makers[column.name] = lambda fn=default.arg: fn(None)  # type: ignore[attr-defined]
        else:
            makers[column.name] = lambda value=default.arg: value  # type: ignore[attr-defined]
    return makers


_DEFAULTS = _column_defaults()


def normalize(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every column present (executemany needs uniform rows).

    Raises ValueError for an unknown column or kind: a programming error, reported to
    the caller at once rather than by a background thread later.
    """
    if row.get("kind") not in INTERACTION_KINDS:
        raise ValueError(f"kind must be one of {INTERACTION_KINDS}, got {row.get('kind')!r}")
    if row.keys() == _COLUMNS and row["id"] is not None:
        full = dict(row)  # the redirect's rows come complete
    else:
        unknown = row.keys() - _COLUMNS
        if unknown:
            raise ValueError(f"not Interaction columns: {sorted(unknown)}")
        full = {name: row[name] if name in row else make() for name, make in _DEFAULTS.items()}
        if full["id"] is None:
            full["id"] = _DEFAULTS["id"]()
    for name, value in full.items():
        # PostgreSQL refuses NUL in text; one such value would refuse its whole batch.
        if isinstance(value, str) and "\x00" in value:
            full[name] = value.replace("\x00", "")
    # A row without a visitor has nothing to chain (see .chains and Interaction.chained).
    full["chained"] = full["visitor_id"] is None
    return full


class Recorder:
    """Records interaction rows, buffered or durable per ``SHOPPABLE_CLICK_WRITE_MODE``."""

    def __init__(self, config: Any, session_factory: sessionmaker[Session]) -> None:
        self.mode: str = config["SHOPPABLE_CLICK_WRITE_MODE"]
        self.buffer_size: int = config["SHOPPABLE_CLICK_BUFFER_SIZE"]
        self.flush_seconds: float = float(config["SHOPPABLE_CLICK_FLUSH_SECONDS"])
        self.max_pending = max(MAX_PENDING_ROWS, self.buffer_size)
        engine = session_factory.kw["bind"]
        if not isinstance(engine, Engine):
            raise TypeError("the session factory must be bound to an Engine")
        self.engine = engine
        self.dropped = 0
        self._app: weakref.ReferenceType[Flask] | None = None
        self._reset_process_state()
        _recorders.add(self)

    @property
    def engine(self) -> Engine:
        return self._engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        previous: DirectConnection | None = getattr(self, "direct", None)
        if previous is not None:
            previous.close()
        self._engine = engine
        #: The held autocommit connection of the redirect's own statements: durable
        #: inserts here, and the link cache's lookups (see :mod:`.direct`).
        self.direct = DirectConnection(engine)

    def _reset_process_state(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        #: Held by whoever is writing, so that flush() returns only once all is written.
        self._write_lock = threading.Lock()
        self._pending: deque[dict[str, Any]] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._close_deadline = 0.0

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's queue, locks, thread and connections."""
        self._reset_process_state()
        self.engine.dispose(close=False)

    def _check_process(self) -> None:
        if self._pid != os.getpid():
            self._after_fork()

    # -- the public interface --------------------------------------------------------

    @property
    def buffered(self) -> bool:
        return self.mode == "buffered"

    @property
    def pending(self) -> int:
        """Rows waiting to be written (always 0 in durable mode)."""
        self._check_process()
        return len(self._pending)

    def record(self, row: dict[str, Any]) -> None:
        """Write ``row`` (durable) or queue it (buffered). See the module's docstring."""
        full = normalize(row)
        self._check_process()
        if self._app is None and has_app_context():
            # Remembered for the interaction_recorded signal, sent from the writer too.
            self._app = weakref.ref(current_app._get_current_object())  # type: ignore[attr-defined]
        if self._closed:
            # After close() (interpreter exit) there is no thread left: write at once.
            self._insert(self.engine, [full])
            self._announce([full])
            return
        if not self.buffered:
            # One autocommit INSERT on the held connection: committed when it returns.
            self.direct.execute(_INSERT, full)
            self._announce([full])
            return
        with self._wake:
            self._pending.append(full)
            overflow = len(self._pending) - self.max_pending
            if overflow > 0:
                for _ in range(overflow):
                    self._pending.popleft()
                self.dropped += overflow
            if self._thread is None:
                self._start_thread()
            elif len(self._pending) == 1 or len(self._pending) >= self.buffer_size:
                self._wake.notify()
        before = self.dropped - overflow
        if overflow > 0 and (before == 0 or before // 1000 != self.dropped // 1000):
            log.error(
                "click buffer full (%d rows waiting for the database): %d rows dropped so far",
                self.max_pending,
                self.dropped,
            )

    def flush(self) -> bool:
        """Write everything waiting, now, in this thread. True when nothing is left."""
        self._check_process()
        if not self.buffered:
            return True
        return self._write_pending()

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Write what waits and stop the thread (trying for up to ``timeout`` seconds).

        Later records are written directly, one by one, as in durable mode.
        """
        self._check_process()
        if self._closed:
            return
        with self._wake:
            self._closed = True
            self._stopping = True
            self._close_deadline = time.monotonic() + timeout
            thread = self._thread
            self._wake.notify_all()
        if thread is not None:
            thread.join(timeout + 1.0)
        else:
            self._write_pending()
        while self._pending and time.monotonic() < self._close_deadline:
            time.sleep(0.2)
            self._write_pending()
        if self._pending:
            log.error("%d clicks could not be written before shutdown", len(self._pending))
        self.direct.close()

    # -- the background writer -------------------------------------------------------

    def _start_thread(self) -> None:
        """Start the writer (called with the lock held, on the first row of a process)."""
        thread = threading.Thread(
            target=_run_writer,
            args=(weakref.ref(self),),
            name=f"shoppable-recorder-{self._pid}",
            daemon=True,
        )
        self._thread = thread
        thread.start()

    def _wait_for_work(self, backoff: float) -> bool:
        """Block until a batch is due; False when the writer should stop."""
        with self._wake:
            if backoff:
                self._wake.wait_for(lambda: self._stopping, timeout=backoff)
            else:
                # Bounded, so that the thread lets go of a recorder nobody uses any more.
                self._wake.wait_for(lambda: bool(self._pending) or self._stopping, timeout=5.0)
                if self._pending and not self._stopping and len(self._pending) < self.buffer_size:
                    self._wake.wait_for(
                        lambda: len(self._pending) >= self.buffer_size or self._stopping,
                        timeout=self.flush_seconds,
                    )
            return not self._stopping

    def _write_pending(self, drain: bool = True) -> bool:
        """Write the queue in chunks; on failure keep the rest queued. True if all written.

        ``drain=False`` (the writer thread) writes only the rows waiting when it starts:
        rows that arrive meanwhile wait for the next batch instead of trickling out in
        batches of a few rows, each paying a transaction of its own.
        """
        with self._write_lock:
            budget = len(self._pending)
            while drain or budget > 0:
                with self._lock:
                    if not self._pending:
                        return True
                    count = min(len(self._pending), CHUNK_ROWS)
                    if not drain:
                        count = min(count, budget)
                        budget -= count
                    chunk = [self._pending.popleft() for _ in range(count)]
                unwritten = self._write_chunk(chunk)
                if unwritten:
                    with self._wake:
                        self._pending.extendleft(reversed(unwritten))
                        # The writer may have gone idle while this thread held the rows.
                        self._wake.notify()
                    return False
            return True

    def _write_chunk(self, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write ``chunk``; return the rows left unwritten by a failure not theirs."""
        try:
            self._insert_batch(self.engine, chunk)
        except Exception as exc:
            if not is_row_error(exc):
                log.exception("writing %d clicks failed; keeping them to retry", len(chunk))
                return chunk
        else:
            self._announce(chunk)
            return []
        # One bad row refuses the whole batch: find it, keep the others.
        for index, row in enumerate(chunk):
            try:
                written = self._insert_row(row)
            except Exception:
                log.exception("writing clicks failed; keeping %d to retry", len(chunk) - index)
                return chunk[index:]
            if written is not None:
                self._announce([written])
        return []

    def _insert_row(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """Write one row; the row as written, or None when the database refused it."""
        try:
            self._insert(self.engine, [row])
            return row
        except Exception as exc:
            if not is_row_error(exc):
                raise
            if not isinstance(exc, IntegrityError) or all(row[c] is None for c in _FK_COLUMNS):
                self._drop(row, exc)
                return None
            orphan = {**row, **dict.fromkeys(_FK_COLUMNS)}
            try:
                self._insert(self.engine, [orphan])
            except Exception as again:
                if not is_row_error(again):
                    raise
                self._drop(row, again)
                return None
            log.warning(
                "interaction %s written without link/post/product ids (deleted since)",
                row["id"],
            )
            return orphan

    def _announce(self, rows: list[dict[str, Any]]) -> None:
        """Send ``interaction_recorded`` for rows now committed (if anyone listens)."""
        if not interaction_recorded.receivers or self._app is None:
            return
        app = self._app()
        if app is None:
            return
        with app.app_context():
            for row in rows:
                try:
                    interaction_recorded.send(app, interaction=row)
                except Exception:
                    log.exception("a receiver of interaction_recorded failed")

    def _drop(self, row: dict[str, Any], exc: Exception) -> None:
        self.dropped += 1
        log.error(
            "interaction %s (%s) refused by the database and dropped: %s",
            row["id"],
            row["kind"],
            type(exc).__name__,
        )

    @staticmethod
    def _insert(engine: Engine, rows: list[dict[str, Any]]) -> None:
        with engine.begin() as connection:
            connection.execute(_INSERT, rows)

    @staticmethod
    def _insert_batch(engine: Engine, rows: list[dict[str, Any]]) -> None:
        """One batch in one transaction: COPY on PostgreSQL, else executemany."""
        if engine.dialect.name != "postgresql" or len(rows) < 2:
            Recorder._insert(engine, rows)
            return
        with engine.begin() as connection:
            _copy_rows(connection, rows)


def _copy_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` with PostgreSQL's COPY (psycopg's ``Cursor.copy``).

    A batch of clicks is what COPY is for: measured on the redirect benchmark, it takes
    about half the CPU of an executemany INSERT in this process and a third less in
    PostgreSQL. Values go through the columns' own bind processors (UTC timestamps,
    JSON), as an INSERT would. A driver error is raised as SQLAlchemy's, so that the
    caller tells a bad row from a lost connection the same way for both paths.
    """
    processors = _copy_processors(connection.dialect)
    columns = _COPY_COLUMNS
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    try:
        with dbapi_connection.cursor() as cursor, cursor.copy(_COPY_SQL) as copy:
            for row in rows:
                copy.write_row(
                    [
                        process(row[name]) if process is not None else row[name]
                        for name, process in zip(columns, processors, strict=True)
                    ]
                )
    except connection.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            _COPY_SQL, None, exc, connection.dialect.loaded_dbapi.Error
        ) from exc


_COPY_COLUMNS = (*(c.name for c in _WRITTEN), "chained")
_COPY_SQL = f"COPY {_TABLE.name} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
_processors_by_dialect: dict[str, list[Callable[[Any], Any] | None]] = {}


def _copy_processors(dialect: Dialect) -> list[Callable[[Any], Any] | None]:
    key = f"{dialect.name}+{dialect.driver}"
    processors = _processors_by_dialect.get(key)
    if processors is None:
        # JSON goes in as its text (the driver's JSON adapter is for parameters only).
        dumps = getattr(dialect, "_json_serializer", None) or json.dumps
        processors = [
            _json_text(dumps)
            if isinstance(_TABLE.c[name].type, JSON)
            else _TABLE.c[name].type.bind_processor(dialect)
            for name in _COPY_COLUMNS
        ]
        _processors_by_dialect[key] = processors
    return processors


def _json_text(dumps: Callable[[Any], str]) -> Callable[[Any], str | None]:
    def process(value: Any) -> str | None:
        return None if value is None else dumps(value)

    return process


def is_row_error(exc: BaseException) -> bool:
    """Whether the database refused the rows themselves (retrying them cannot help).

    Integrity and data errors, and values the driver cannot send, are the rows' fault;
    anything else (connection lost, server down, table missing) is kept and retried.
    """
    if isinstance(exc, IntegrityError | DataError):
        return True
    original = exc.orig if isinstance(exc, StatementError) else exc
    if isinstance(original, IntegrityError | DataError):
        return True
    return isinstance(original, ValueError | TypeError | UnicodeError | OverflowError)


def _run_writer(ref: weakref.ReferenceType[Recorder]) -> None:
    """The writer thread's loop; holds the recorder weakly so an unused app can go."""
    backoff = 0.0
    while True:
        recorder = ref()
        if recorder is None:
            return
        if recorder._pid != os.getpid():
            return  # a copy of this thread does not run in a child; nothing to do
        keep_going = recorder._wait_for_work(backoff)
        written = recorder._write_pending(drain=not keep_going)
        if not keep_going:
            while not written and time.monotonic() < recorder._close_deadline:
                time.sleep(min(0.5, max(0.0, recorder._close_deadline - time.monotonic())))
                written = recorder._write_pending()
            return
        backoff = 0.0 if written else min(max(backoff * 2, 0.5), MAX_BACKOFF)
        del recorder


# -- every recorder of the process: exit and fork hooks -------------------------------

_recorders: weakref.WeakSet[Recorder] = weakref.WeakSet()


def close_all() -> None:
    """Close every recorder of this process (flushing what waits)."""
    for recorder in list(_recorders):
        try:
            recorder.close()
        except Exception:
            log.exception("closing the click recorder failed")


def gunicorn_worker_exit(server: Any, worker: Any) -> None:
    """gunicorn ``worker_exit`` hook: write every waiting click before the worker ends.

    In the gunicorn config file::

        worker_exit = "flask_shoppable.tracking.recorder.gunicorn_worker_exit"
    """
    close_all()


def _after_fork_in_child() -> None:
    for recorder in list(_recorders):
        recorder._check_process()


atexit.register(close_all)
os.register_at_fork(after_in_child=_after_fork_in_child)
