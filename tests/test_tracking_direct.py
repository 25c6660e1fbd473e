"""The held autocommit connection: one round trip per statement, and a connection the
server dropped is replaced without the shopper noticing."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from flask_shoppable import db
from flask_shoppable.social.models import Post, TrackedLink
from flask_shoppable.tracking import linkcache
from flask_shoppable.tracking.direct import DirectConnection
from flask_shoppable.tracking.models import Interaction, new_id

UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148 Instagram 300.0"


def _arrange(session: Session) -> None:
    post = Post(slug="look", caption="Look", status="published", published_at=db.utcnow())
    session.add(post)
    session.flush()
    session.add(
        TrackedLink(
            code="DirectLnk1",
            channel="instagram",
            utm_source="instagram",
            utm_medium="social",
            target="post",
            post_id=post.id,
        )
    )
    session.commit()


def test_statements_autocommit(app: Flask) -> None:
    engine = app.extensions["shoppable"].engine
    direct = DirectConnection(engine)
    try:
        direct.execute(
            sa.insert(Interaction.__table__),
            {"id": new_id(), "kind": "click"},
        )
        # Visible to another connection at once: it was committed.
        with engine.connect() as other:
            assert other.scalar(sa.select(sa.func.count()).select_from(Interaction.__table__)) == 1
        first = direct._connection()
        direct.execute(sa.select(1))
        assert direct._connection() is first  # held, not checked out again
    finally:
        direct.close()
    assert first.closed


def test_connections_of_ended_threads_go_back_to_the_pool(app: Flask) -> None:
    """A server with a thread per request (Werkzeug's, ``flask run``) must not keep one
    pool connection per request it ever served: the pool would run dry."""
    engine = app.extensions["shoppable"].engine
    direct = DirectConnection(engine)
    before = engine.pool.checkedout()  # type: ignore[attr-defined]
    try:
        for _ in range(20):  # more than the pool's 5 + 10 overflow
            worker = threading.Thread(target=direct.execute, args=(sa.select(1),))
            worker.start()
            worker.join()
        # The last thread's connection is still listed; every earlier one went back.
        assert engine.pool.checkedout() - before <= 1  # type: ignore[attr-defined]
        direct.execute(sa.select(1))  # and this thread still gets one at once
    finally:
        direct.close()
    assert engine.pool.checkedout() == before  # type: ignore[attr-defined]


@pytest.mark.postgresql_only
class TestServerDropsTheConnection:
    @pytest.fixture
    def app_config(self) -> dict[str, object]:
        return {"SHOPPABLE_CLICK_WRITE_MODE": "durable"}

    def test_the_redirect_reconnects(
        self, app: Flask, client: FlaskClient, session: Session
    ) -> None:
        _arrange(session)
        headers = {"User-Agent": UA}
        assert client.get("/shop/s/DirectLnk1", headers=headers).status_code == 302
        held = app.extensions["shoppable"].recorder.direct._connection()
        pid = held.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        session.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        session.commit()
        with app.app_context():
            linkcache.invalidate("DirectLnk1")  # the lookup goes to the database too
        response = client.get("/shop/s/DirectLnk1", headers=headers)
        assert response.status_code == 302
        assert "st=" in response.headers["Location"]  # the click was written
        count = session.scalar(sa.select(sa.func.count()).select_from(Interaction.__table__))
        assert count == 2


@pytest.mark.sqlite_only
def test_sqlite_waits_for_another_writer_in_short_steps(app: Flask) -> None:
    import threading
    import time

    from flask_shoppable.tracking import direct as direct_module

    engine = app.extensions["shoppable"].engine
    locked = threading.Event()

    def writer(seconds: float) -> None:
        with engine.connect() as other:
            other.exec_driver_sql("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(seconds)
            other.exec_driver_sql("ROLLBACK")

    def insert(direct: DirectConnection) -> None:
        direct.execute(sa.insert(Interaction.__table__), {"id": new_id(), "kind": "click"})

    direct = DirectConnection(engine)
    held = direct._connection()
    assert held.exec_driver_sql("PRAGMA busy_timeout").scalar() == 0
    thread = threading.Thread(target=writer, args=(0.3,))
    thread.start()
    locked.wait()
    started = time.monotonic()
    try:
        insert(direct)
    finally:
        thread.join()
    assert 0.2 < time.monotonic() - started < 0.3 + 2 * direct_module._LONGEST_WAIT + 0.2
    dbapi_connection = held.connection.dbapi_connection
    direct.close()
    # Back in the pool with SQLite's busy handler as db.make_engine set it.
    assert dbapi_connection.execute("PRAGMA busy_timeout").fetchone()[0] == 5000

    # A writer holding on past the busy timeout: the error reaches the caller.
    direct = DirectConnection(engine)
    direct._connection().info[direct_module._BUSY_TIMEOUT] = 100
    locked.clear()
    thread = threading.Thread(target=writer, args=(0.5,))
    thread.start()
    locked.wait()
    try:
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            insert(direct)
    finally:
        thread.join()
        direct.close()
