"""The held autocommit connection: one round trip per statement, and a connection the
server dropped is replaced without the shopper noticing."""

from __future__ import annotations

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
