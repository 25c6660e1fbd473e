"""The metrics queries shared by the dashboard, the merchant API and ``flask shoppable report``.

:mod:`.queries` holds the definitions (its docstring says how each metric is counted);
:func:`connect` opens a connection to the database reports read from:
``SHOPPABLE_REPORTS_DATABASE_URL`` (a read replica) when set, else the plugin's own.
"""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import Connection, Engine, text

from .. import db
from .queries import DIMENSIONS as DIMENSIONS
from .queries import Metrics as Metrics
from .queries import ReportError as ReportError
from .queries import ReportQuery as ReportQuery
from .queries import Row as Row
from .queries import breakdown as breakdown
from .queries import funnel as funnel
from .queries import summary as summary
from .queries import timeseries as timeseries

_ENGINE_KEY = "reports_engine"


def engine(app: Flask | None = None) -> Engine:
    """The engine reports read from (made once per app for a separate replica URL)."""
    app = app or current_app
    state = app.extensions["shoppable"]
    url = app.config["SHOPPABLE_REPORTS_DATABASE_URL"]
    if not url:
        return state.engine
    found: Engine | None = state.extra.get(_ENGINE_KEY)
    if found is None:
        found = db.make_engine(url, app.config["SHOPPABLE_ENGINE_OPTIONS"])
        state.extra[_ENGINE_KEY] = found
    return found


def dispose(app: Flask) -> None:
    """Close the replica engine's connections, if one was made."""
    found: Engine | None = app.extensions["shoppable"].extra.pop(_ENGINE_KEY, None)
    if found is not None:
        found.dispose()


#: PostgreSQL memory per sort or hash of a report's transaction: a year of interactions
#: grouped per visitor fits in it instead of spilling to disk (the default is 4MB).
WORK_MEM = "32MB"


def prepare(conn: Connection) -> Connection:
    """Set up ``conn`` for report queries, on PostgreSQL: a transaction-local ``work_mem``
    and no JIT compilation.

    JIT pays off for queries of many seconds; a report's aggregates run in a few hundred
    milliseconds, of which compiling them took 40-50 (a year of 1M interactions). The
    settings end with the connection's transaction, so a pooled connection goes back to
    the pool as it was.
    """
    if conn.dialect.name == "postgresql":
        # (set_config(..., true) is SET LOCAL: both in one statement, one round trip)
        conn.execute(
            text("SELECT set_config('work_mem', :work_mem, true), set_config('jit', 'off', true)"),
            {"work_mem": WORK_MEM},
        )
    return conn


def connect(app: Flask | None = None) -> Connection:
    """A connection for reading reports (use it as a context manager)."""
    return prepare(engine(app).connect())
