"""A graceful stop of gunicorn loses no buffered click (both backends).

A real gunicorn (2 sync workers, ``--preload``, the documented ``worker_exit`` hook)
serves the redirect with a buffer that would not be written for a minute; N clicks,
SIGTERM, and then N rows must be in the database, one per token handed out.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from flask_shoppable import db
from flask_shoppable.social.models import Post, TrackedLink
from flask_shoppable.tracking import tokens
from flask_shoppable.tracking.models import Interaction

from .conftest import missing

CLICKS = 200
UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Instagram 300.0.0.29.110"
)

APP_MODULE = """
import json, os
from flask import Flask
from flask_shoppable import Shoppable

app = Flask("clicks", instance_path=os.environ["CLICKS_INSTANCE"])
app.config.update(json.loads(os.environ["CLICKS_CONFIG"]))
Shoppable(app)
"""

GUNICORN_CONFIG = """
workers = 2
worker_class = "sync"
preload_app = True
graceful_timeout = 30
worker_exit = "flask_shoppable.tracking.recorder.gunicorn_worker_exit"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited early with {proc.returncode}")
        try:
            requests.get(url, timeout=1, allow_redirects=False)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start")


@pytest.mark.slow
def test_sigterm_writes_every_buffered_click(
    app: Flask, session: Session, database_url: str, tmp_path: Path
) -> None:
    if importlib.util.find_spec("gunicorn") is None:
        missing("gunicorn", "not installed (pip install 'Flask-Shoppable[bench]')")
    post = Post(slug="look", caption="Look", status="published", published_at=db.utcnow())
    session.add(post)
    session.flush()
    session.add(
        TrackedLink(
            code="GraceLink1",
            channel="instagram",
            utm_source="instagram",
            utm_medium="social",
            target="post",
            post_id=post.id,
        )
    )
    session.commit()

    (tmp_path / "clickapp.py").write_text(textwrap.dedent(APP_MODULE))
    (tmp_path / "gunicorn.conf.py").write_text(textwrap.dedent(GUNICORN_CONFIG))
    config = {
        key: value.decode() if isinstance(value, bytes) else value
        for key, value in app.config.items()
        if key.startswith("SHOPPABLE_STRIPE_") or key in ("SHOPPABLE_DATABASE_URL",)
    }
    config.update(
        SECRET_KEY="test-secret-key-for-the-suite",
        SHOPPABLE_CLICK_WRITE_MODE="buffered",
        SHOPPABLE_CLICK_FLUSH_SECONDS=60,
        SHOPPABLE_CLICK_BUFFER_SIZE=100_000,
    )
    port = _free_port()
    env = {
        **os.environ,
        "CLICKS_CONFIG": json.dumps(config),
        "CLICKS_INSTANCE": str(tmp_path / "instance"),
        "PYTHONPATH": str(tmp_path),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(tmp_path / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "clickapp:app",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/shop/s"
    try:
        _wait_for(f"{base}/NoSuchLink", proc)
        handed_out = set()
        for i in range(CLICKS):
            response = requests.get(
                f"{base}/GraceLink1",
                params={"utm_content": f"c{i}"},
                headers={"User-Agent": UA, "Connection": "close"},
                allow_redirects=False,
                timeout=10,
            )
            assert response.status_code == 302
            token = parse_qs(urlsplit(response.headers["Location"]).query)["st"][0]
            handed_out.add(
                tokens.verify(token, secret=app.config["SHOPPABLE_SECRET_KEY"], max_age_days=7)
            )
        engine = app.extensions["shoppable"].engine
        with engine.connect() as conn:
            before = conn.scalar(sa.select(sa.func.count()).select_from(Interaction.__table__))
        assert before == 0  # all still in the workers' buffers
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 0, output
    with engine.connect() as conn:
        written = set(conn.scalars(sa.select(Interaction.__table__.c.id)))
        contents = set(conn.scalars(sa.select(Interaction.__table__.c.utm_content)))
    assert len(handed_out) == CLICKS
    assert written == handed_out
    assert contents == {f"c{i}" for i in range(CLICKS)}
    # Both workers served clicks (each flushed its own buffer on the way out).
    assert output.count("Worker exiting") >= 2, output
