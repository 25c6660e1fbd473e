"""``flask shoppable worker``: retries, expired checkouts, pluggable jobs, stopping, locks."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from flask_shoppable.checkout.models import Checkout
from flask_shoppable.db import utcnow
from flask_shoppable.orders import eventlog
from flask_shoppable.orders.models import WebhookEvent
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.worker import Job, Worker, register_job, sqlite_lock

from .checkout_helpers import stock, variant
from .order_helpers import events, open_checkout, order_of, session_object

ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(app: Flask, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``flask --app tests.worker_app`` subprocess for ``app``'s setup."""
    config = app.config
    env = dict(os.environ)
    env.update(
        SHOPPABLE_DATABASE_URL=database_url,
        SHOPPABLE_STRIPE_SECRET_KEY=config["SHOPPABLE_STRIPE_SECRET_KEY"],
        SHOPPABLE_STRIPE_WEBHOOK_SECRET=config["SHOPPABLE_STRIPE_WEBHOOK_SECRET"],
        SHOPPABLE_STRIPE_API_BASE=config["SHOPPABLE_STRIPE_API_BASE"],
        INSTANCE_PATH=app.instance_path,
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def flask_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "tests.worker_app:create_app", *args]


# -- the schedule ----------------------------------------------------------------------------


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    waits = [eventlog.backoff(n, rng=rng) for n in range(1, 12)]
    for attempts, wait in enumerate(waits, start=1):
        ceiling = min(eventlog.RETRY_BASE * 2 ** (attempts - 1), eventlog.RETRY_CAP)
        assert ceiling / 2 <= wait <= ceiling
    assert waits[-1] <= eventlog.RETRY_CAP
    assert len({w.total_seconds() for w in waits[:3]}) == 3


def _failed_event(session: Session, attempts: int, due: datetime) -> WebhookEvent:
    row = WebhookEvent(
        provider="stripe",
        event_id=f"evt_{attempts}_{random.randrange(10**9)}",
        type="checkout.session.completed",
        payload='{"data": {"object": {"id": "cs_x"}}}',
        status="failed",
        attempts=attempts,
        next_attempt_at=due,
    )
    session.add(row)
    session.commit()
    return row


def test_an_event_that_keeps_failing_is_given_up(app: Flask, session: Session) -> None:
    row = _failed_event(session, eventlog.MAX_ATTEMPTS - 1, utcnow() - timedelta(seconds=1))
    # Its payload has no metadata... but is not valid for the handler either: it fails.
    session.execute(update(WebhookEvent).where(WebhookEvent.id == row.id).values(payload="{}"))
    session.commit()
    assert Worker(app).run_once()["webhooks"] == 1
    (stored,) = events(session)
    assert (stored.status, stored.attempts, stored.next_attempt_at) == (
        "failed",
        eventlog.MAX_ATTEMPTS,
        None,
    )
    assert "KeyError" in stored.last_error
    # Given up: not due any more, whatever the time.
    assert Worker(app).run_once(now=utcnow() + timedelta(days=30))["webhooks"] == 0


def test_an_interrupted_event_is_picked_up(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    """A web process that stored an event and died before processing it loses nothing."""
    checkout = open_checkout(session, [(variant(session, "tee", price=900, stock=3), 1)])
    payload, _header = emulator.signed_event("checkout.session.completed", session_object(checkout))
    stored = eventlog.store(
        session,
        provider="stripe",
        event_id="evt_lost",
        type="checkout.session.completed",
        payload=payload.decode(),
    )
    session.commit()
    assert stored.new
    assert Worker(app).run_once()["webhooks"] == 0  # within its grace period
    later = utcnow() + eventlog.RECEIVED_GRACE + timedelta(seconds=1)
    assert Worker(app).run_once(now=later)["webhooks"] == 1
    order = order_of(session, checkout)
    assert order is not None
    assert order.status == "paid"


# -- expired checkouts ---------------------------------------------------------------------


def test_expired_checkouts_are_released(app: Flask, session: Session) -> None:
    item = variant(session, "tee", price=900, stock=5)
    checkout = open_checkout(session, [(item, 2)])
    assert stock(session, item.id) == 3
    session.execute(
        update(Checkout)
        .where(Checkout.id == checkout.id)
        .values(expires_at=utcnow() - timedelta(hours=1))
    )
    session.commit()
    assert Worker(app).run_once()["checkouts"] == 1
    assert stock(session, item.id) == 5
    session.expire_all()
    assert session.get(Checkout, checkout.id).status == "expired"  # type: ignore[union-attr]
    assert Worker(app).run_once()["checkouts"] == 0


# -- jobs and the command ------------------------------------------------------------------


def test_jobs_are_pluggable(app: Flask) -> None:
    seen: list[datetime] = []

    def count(app: Flask, now: datetime, should_stop: Callable[[], bool]) -> int:
        seen.append(now)
        return 0

    register_job(app, Job("outbox", count, interval=5))
    with pytest.raises(ValueError, match="already registered"):
        register_job(app, Job("outbox", count))
    done = Worker(app).run_once()
    assert done == {"webhooks": 0, "checkouts": 0, "outbox": 0, "chains": 0}
    assert len(seen) == 1


def test_a_failing_job_does_not_stop_the_others(app: Flask) -> None:
    def boom(app: Flask, now: datetime, should_stop: Callable[[], bool]) -> int:
        raise RuntimeError("job bug")

    register_job(app, Job("boom", boom))
    assert Worker(app).run_once() == {
        "webhooks": 0,
        "checkouts": 0,
        "outbox": 0,
        "chains": 0,
        "boom": 0,
    }


def test_cli_once(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["shoppable", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "webhooks: 0, checkouts: 0" in result.output


@pytest.mark.sqlite_only  # PostgreSQL runs any number of workers
def test_second_worker_on_sqlite_is_refused(app: Flask) -> None:
    with sqlite_lock(app):
        result = app.test_cli_runner().invoke(args=["shoppable", "worker", "--once"])
    assert result.exit_code != 0
    assert "another worker is running on this SQLite database" in result.output
    assert "one worker at a time" in result.output
    result = app.test_cli_runner().invoke(args=["shoppable", "worker", "--once"])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_worker_gracefully(
    app: Flask, database_url: str, stop_signal: signal.Signals
) -> None:
    with subprocess.Popen(
        flask_command("shoppable", "worker"),
        cwd=ROOT,
        env=subprocess_env(app, database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            deadline = time.monotonic() + 30
            assert process.stdout is not None
            started = ""
            while "worker started" not in started and time.monotonic() < deadline:
                started += process.stdout.readline()
            assert "worker started" in started
            process.send_signal(stop_signal)
            output, _ = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, output
    assert "worker stopped" in output
