"""``flask shoppable doctor`` on a good configuration and on broken ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from flask_shoppable.db import utcnow
from flask_shoppable.orders.models import WebhookEvent
from flask_shoppable.testing import StripeEmulator

from .conftest import make_app
from .order_helpers import WEBHOOK, events


def _doctor(app: Flask) -> tuple[int, dict[str, str]]:
    result = app.test_cli_runner().invoke(args=["shoppable", "doctor"])
    lines: dict[str, str] = {}
    for line in result.output.splitlines():
        if line.startswith(("OK", "FAIL")):
            status, _, rest = line.partition("  ")
            name, _, _detail = rest.strip().partition(":")
            lines[name] = f"{status.strip()} {line}"
    return result.exit_code, lines


def test_good_configuration(app: Flask, session: Session, emulator: StripeEmulator) -> None:
    code, lines = _doctor(app)
    assert code == 0, lines
    assert list(lines) == [
        "settings",
        "database",
        "migrations",
        "payments",
        "webhook",
        "refused deliveries",
        "webhook backlog",
    ]
    assert all(v.startswith("OK ") for v in lines.values()), lines
    assert "test mode" in lines["settings"]
    assert emulator.url in lines["payments"]
    # The self-test went through the real endpoint and is in the event log, ignored.
    (stored,) = events(session)
    assert (stored.type, stored.status) == ("shoppable.doctor.ping", "ignored")


def test_wrong_webhook_secret_shows_in_the_counters(
    app: Flask, client: FlaskClient, emulator: StripeEmulator
) -> None:
    # Stripe signs with the endpoint's real secret; the app was given another one.
    payload, header = emulator.signed_event("charge.refunded", {"id": "ch_1"}, secret="whsec_real")
    for _ in range(2):
        assert (
            client.post(WEBHOOK, data=payload, headers={"Stripe-Signature": header}).status_code
            == 400
        )
    code, lines = _doctor(app)
    assert code == 1
    line = lines["refused deliveries"]
    assert line.startswith("FAIL")
    assert "2 signature mismatch" in line
    assert "SHOPPABLE_STRIPE_WEBHOOK_SECRET" in line

    # Once deliveries are accepted again, old failures are history, not a failure.
    good, good_header = emulator.signed_event("customer.created", {"id": "cus_1"})
    assert (
        client.post(WEBHOOK, data=good, headers={"Stripe-Signature": good_header}).status_code
        == 200
    )
    code, lines = _doctor(app)
    assert code == 0, lines
    assert "2 signature mismatch" in lines["refused deliveries"]


def test_overdue_events_mean_no_worker(app: Flask, session: Session) -> None:
    session.add(
        WebhookEvent(
            provider="stripe",
            event_id="evt_old",
            type="charge.refunded",
            payload="{}",
            status="failed",
            attempts=1,
            next_attempt_at=utcnow() - timedelta(hours=1),
        )
    )
    session.commit()
    code, lines = _doctor(app)
    assert code == 1
    assert lines["webhook backlog"].startswith("FAIL")
    assert "flask shoppable worker" in lines["webhook backlog"]


@pytest.fixture
def broken_app(
    backend: str,
    fresh_database_url: Callable[[str], str],
    tmp_path: Path,
    emulator: StripeEmulator,
) -> Iterator[Flask]:
    """Not migrated, and a Stripe key the provider refuses."""
    app = make_app(
        fresh_database_url(backend),
        tmp_path / "instance",
        SHOPPABLE_STRIPE_SECRET_KEY="sk_test_not_the_right_key",
    )
    yield app
    app.extensions["shoppable"].recorder.close()
    app.extensions["shoppable"].engine.dispose()


def test_broken_configuration(broken_app: Flask) -> None:
    code, lines = _doctor(broken_app)
    assert code == 1
    assert lines["settings"].startswith("OK")
    assert lines["database"].startswith("OK")
    assert lines["migrations"].startswith("FAIL")
    assert "flask shoppable db upgrade" in lines["migrations"]
    assert lines["payments"].startswith("FAIL")
    assert "SHOPPABLE_STRIPE_SECRET_KEY" in lines["payments"]
    assert lines["webhook"].startswith("FAIL")
    assert "500" in lines["webhook"]
    assert lines["refused deliveries"].startswith("FAIL")


def test_unreachable_database_and_provider(tmp_path: Path, emulator: StripeEmulator) -> None:
    app = make_app(
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
        tmp_path / "instance",
        SHOPPABLE_STRIPE_API_BASE="http://127.0.0.1:1",
        SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES=0,
        SHOPPABLE_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}},
    )
    try:
        code, lines = _doctor(app)
    finally:
        app.extensions["shoppable"].recorder.close()
        app.extensions["shoppable"].engine.dispose()
    assert code == 1
    assert lines["database"].startswith("FAIL")
    assert "OperationalError" in lines["database"]
    assert lines["payments"].startswith("FAIL")
    assert "unreachable" in lines["payments"]
