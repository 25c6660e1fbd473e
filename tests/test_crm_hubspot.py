"""The HubSpot sink and the worker's outbox job, against the local fake HubSpot over HTTP.

Orders are paid through signed Stripe webhooks posted to the app (the real ingest path);
the worker's "outbox" job delivers them to :class:`FakeHubSpot`, which checks the token,
paths and payload shapes as HubSpot does. SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from flask_shoppable.config import ConfigError
from flask_shoppable.crm import hubspot
from flask_shoppable.db import utcnow
from flask_shoppable.testing import FakeHubSpot, StripeEmulator

from .conftest import make_app
from .order_helpers import charge_object, post_event
from .outbox_helpers import messages, paid_order, run_outbox

TOKEN = "pat-na1-test-0123456789"


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(TOKEN) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def app_config(fake: FakeHubSpot) -> dict[str, Any]:
    return {
        "SHOPPABLE_CRM_SINKS": ["hubspot"],
        "SHOPPABLE_HUBSPOT_ACCESS_TOKEN": TOKEN,
        "SHOPPABLE_HUBSPOT_BASE_URL": fake.url,
        "SHOPPABLE_OUTBOX_HTTP_TIMEOUT": 0.5,
        "SHOPPABLE_OUTBOX_BACKOFF_SECONDS": 5,
    }


def test_paid_order_reaches_hubspot_with_its_channel_and_post(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    fake: FakeHubSpot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    order, _ = paid_order(client, session, emulator)
    [message] = messages(session)
    assert (message.sink, message.status) == ("hubspot", "pending")
    assert fake.received == []  # nothing leaves before the worker runs

    with caplog.at_level(logging.INFO, logger="flask_shoppable.outbox"):
        assert run_outbox(app) == 1

    contact = fake.contacts["shopper@example.com"]["properties"]
    assert contact["firstname"] == "Sam"
    assert contact["lastname"] == "Shopper"
    assert contact["shoppable_latest_channel"] == "instagram"
    assert contact["shoppable_first_channel"] == "instagram"
    assert contact["shoppable_latest_post"] == str(order.post_id)
    assert contact["shoppable_latest_campaign"] == "summer"
    deal = fake.deals[str(order.id)]["properties"]
    assert deal["dealname"] == f"Order #{order.id}"
    assert deal["amount"] == "84.00"
    assert deal["deal_currency_code"] == "USD"
    assert deal["dealstage"] == "closedwon"
    assert deal["shoppable_channel"] == "instagram"
    assert deal["shoppable_post"] == "linen-shirt-drop"
    assert deal["shoppable_interaction_kind"] == "click"
    assert fake.contact_of_deal(str(order.id))["properties"]["email"] == "shopper@example.com"
    upsert = fake.requests_to("/crm/v3/objects/deals/batch/upsert")[0]
    assert upsert.headers["Authorization"] == f"Bearer {TOKEN}"
    assert upsert.json["inputs"][0]["idProperty"] == "shoppable_order_id"
    assert upsert.json["inputs"][0]["id"] == str(order.id)

    [message] = messages(session)
    assert message.status == "delivered"
    assert message.attempts == 1
    assert message.result == {
        "contact_id": fake.contacts["shopper@example.com"]["id"],
        "deal_id": fake.deals[str(order.id)]["id"],
    }
    [line] = [r.getMessage() for r in caplog.records if "outbox delivery" in r.getMessage()]
    assert f"key={order.id}:order.paid:1" in line
    assert "sink=hubspot" in line
    assert "attempt=1 outcome=delivered status=200" in line
    assert "duration_ms=" in line
    assert TOKEN not in caplog.text


def test_refunds_update_the_deal_and_a_resend_keeps_one_record(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, fake: FakeHubSpot
) -> None:
    order, obj = paid_order(client, session, emulator)
    pi = obj["payment_intent"]
    post_event(client, emulator, "charge.refunded", charge_object(pi, 8400, 2000))
    assert run_outbox(app) == 2  # paid, then the partial refund (in order)
    deal = fake.deals[str(order.id)]["properties"]
    assert (deal["amount"], deal["dealstage"]) == ("64.00", "closedwon")
    assert deal["shoppable_refunded_amount"] == "20.00"

    post_event(client, emulator, "charge.refunded", charge_object(pi, 8400, 8400))
    assert run_outbox(app) == 1
    deal = fake.deals[str(order.id)]["properties"]
    assert (deal["amount"], deal["dealstage"]) == ("0.00", "closedlost")

    # A forced resend of the paid message: HubSpot keeps one deal, one contact.
    result = app.test_cli_runner().invoke(
        args=["shoppable", "outbox", "replay", str(messages(session)[0].id)]
    )
    assert result.exit_code == 0, result.output
    assert "1 message queued again." in result.output
    assert run_outbox(app) == 1
    assert len(fake.deals) == 1
    assert len(fake.contacts) == 1
    assert fake.writes[("deals", str(order.id))] == 4
    assert len(fake.associations) == 1


def test_a_bad_record_is_dead_lettered_and_the_others_go_on(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, fake: FakeHubSpot
) -> None:
    bad, _ = paid_order(client, session, emulator, handle="first", email="sam@@invalid")
    good, _ = paid_order(client, session, emulator, handle="second", visitor="c" * 32)
    assert run_outbox(app) == 2
    by_order = {m.order_id: m for m in messages(session)}
    assert by_order[bad.id].status == "dead"
    assert "HTTP 400" in by_order[bad.id].last_error
    assert "INVALID_EMAIL" in by_order[bad.id].last_error
    assert by_order[good.id].status == "delivered"
    assert str(good.id) in fake.deals
    assert str(bad.id) not in fake.deals

    runner = app.test_cli_runner()
    listed = runner.invoke(args=["shoppable", "outbox", "list", "--status", "dead"])
    assert listed.exit_code == 0
    assert f"{bad.id}:order.paid:1" in listed.output
    assert f"{good.id}:order.paid:1" not in listed.output
    replay = runner.invoke(args=["shoppable", "outbox", "replay", "--dead", "--sink", "hubspot"])
    assert "1 message queued again." in replay.output
    assert run_outbox(app) == 1  # sent again, refused again
    [again] = [m for m in messages(session) if m.order_id == bad.id]
    assert (again.status, again.attempts) == ("dead", 1)


def test_429_waits_as_told_without_counting_an_attempt(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, fake: FakeHubSpot
) -> None:
    paid_order(client, session, emulator)
    fake.rate_limit(1, policy="TEN_SECONDLY_ROLLING", retry_after=30)
    before = utcnow()
    assert run_outbox(app) == 1
    [message] = messages(session)
    assert message.status == "pending"
    assert message.attempts == 0
    assert "HTTP 429" in message.last_error
    assert before + timedelta(seconds=30) <= message.next_attempt_at
    assert message.next_attempt_at <= utcnow() + timedelta(seconds=32)
    assert run_outbox(app) == 0  # not due yet
    assert run_outbox(app, hours=0.01) == 1  # 36 s later
    assert messages(session)[0].status == "delivered"
    assert messages(session)[0].attempts == 1


def test_429_policy_names_give_the_delay(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, fake: FakeHubSpot
) -> None:
    paid_order(client, session, emulator)
    fake.rate_limit(1, policy="TEN_SECONDLY_ROLLING")
    before = utcnow()
    run_outbox(app)
    wait = (messages(session)[0].next_attempt_at - before).total_seconds()
    assert 10 <= wait <= 12
    fake.rate_limit(1, policy="DAILY")
    run_outbox(app, hours=0.01)
    at = messages(session)[0].next_attempt_at
    assert messages(session)[0].attempts == 0
    assert (at.minute, at.second) == (0, 0) or at.minute == 0  # the next full hour (+ jitter)
    assert at > utcnow()


def test_timeouts_and_5xx_back_off_then_dead_letter(
    database_url: str, tmp_path: Path, client: FlaskClient, emulator: StripeEmulator
) -> None:
    with FakeHubSpot(TOKEN) as fake:
        app = make_app(
            database_url,
            tmp_path / "i",
            SHOPPABLE_CRM_SINKS=["hubspot"],
            SHOPPABLE_HUBSPOT_ACCESS_TOKEN=TOKEN,
            SHOPPABLE_HUBSPOT_BASE_URL=fake.url,
            SHOPPABLE_OUTBOX_HTTP_TIMEOUT=0.3,
            SHOPPABLE_OUTBOX_MAX_ATTEMPTS=3,
            SHOPPABLE_OUTBOX_BACKOFF_SECONDS=60,
        )
        try:
            with app.extensions["shoppable"].session_factory() as session:
                _timeouts_then_dead(app, app.test_client(), session, emulator, fake)
        finally:
            app.extensions["shoppable"].recorder.close()
            app.extensions["shoppable"].engine.dispose()


def _timeouts_then_dead(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, fake: FakeHubSpot
) -> None:
    from .conftest import _empty_tables

    _empty_tables(app.extensions["shoppable"].engine)
    paid_order(client, session, emulator)
    fake.fail(1, delay=1.0)
    start = utcnow()
    run_outbox(app)
    [message] = messages(session)
    assert (message.status, message.attempts) == ("pending", 1)
    assert "no answer within 0.3s" in message.last_error
    wait = (message.next_attempt_at - start).total_seconds()
    assert 30 <= wait <= 61  # 60 s, half of it jittered
    fake.fail(5, status=503, body={"status": "error", "message": "Service Unavailable"})
    run_outbox(app, hours=1)
    [message] = messages(session)
    assert (message.status, message.attempts) == ("pending", 2)
    assert "HTTP 503: Service Unavailable" in message.last_error
    run_outbox(app, hours=3)
    [message] = messages(session)
    assert (message.status, message.attempts) == ("dead", 3)
    assert message.last_error.startswith("gave up after 3 attempts")
    assert fake.deals == {}


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({}, "SHOPPABLE_HUBSPOT_ACCESS_TOKEN"),
        (
            {"SHOPPABLE_HUBSPOT_ACCESS_TOKEN": TOKEN, "SHOPPABLE_HUBSPOT_BASE_URL": "api.hubapi"},
            "SHOPPABLE_HUBSPOT_BASE_URL",
        ),
        (
            {"SHOPPABLE_HUBSPOT_ACCESS_TOKEN": TOKEN, "SHOPPABLE_HUBSPOT_PATH_PREFIX": "crm/v3"},
            "SHOPPABLE_HUBSPOT_PATH_PREFIX",
        ),
    ],
)
def test_a_misconfigured_hubspot_fails_at_start_up(
    database_url: str, tmp_path: Path, config: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        make_app(database_url, tmp_path / "bad", SHOPPABLE_CRM_SINKS=["hubspot"], **config)
    assert raised.value.key == key


def test_policy_delay() -> None:
    from datetime import UTC, datetime

    assert hubspot.policy_delay("TEN_SECONDLY_ROLLING") == 10.0
    assert hubspot.policy_delay("SECONDLY") == 1.0
    assert hubspot.policy_delay("DAILY", datetime(2026, 1, 1, 23, 15, tzinfo=UTC)) == 45 * 60
    assert hubspot.policy_delay("SOMETHING_NEW") is None


@pytest.mark.slow
def test_sigterm_finishes_the_call_in_flight_and_releases_the_batch(
    app: Flask, database_url: str, session: Session, fake: FakeHubSpot, tmp_path: Path
) -> None:
    import json
    import signal
    import subprocess
    import time

    from sqlalchemy import select

    from flask_shoppable.crm.models import OutboxMessage

    from .test_crm_reliability import direct_orders
    from .test_worker import ROOT, flask_command, subprocess_env

    direct_orders(app, session, 20)
    fake.latency = 0.2
    config = {
        "SHOPPABLE_CRM_SINKS": ["hubspot"],
        "SHOPPABLE_HUBSPOT_ACCESS_TOKEN": TOKEN,
        "SHOPPABLE_HUBSPOT_BASE_URL": fake.url,
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            flask_command("shoppable", "worker"),
            cwd=ROOT,
            env=subprocess_env(app, database_url, WORKER_APP_CONFIG=json.dumps(config)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not fake.deals and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.deals, log.read_text()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert "worker stopped" in log.read_text()
    session.expire_all()
    rows = list(session.scalars(select(OutboxMessage)))
    delivered = [m for m in rows if m.status == "delivered"]
    waiting = [m for m in rows if m.status == "pending"]
    assert len(delivered) == len(fake.deals)  # the call in flight was finished and marked
    assert waiting  # the rest of the batch was given back...
    assert all(m.claimed_by is None for m in rows)
    assert all(m.attempts == 0 for m in waiting)  # ...without counting an attempt
    assert all(m.next_attempt_at <= utcnow() for m in waiting)  # due again at once
