"""The merchant API's outbox endpoints: health (lag, counts, failures), messages, dead letters."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.crm.outbox import enqueue
from flask_shoppable.db import utcnow
from flask_shoppable.testing import FakeWebhookReceiver

from ..conftest import ApiClient
from .helpers import config_for


@pytest.fixture
def app_config(receiver: FakeWebhookReceiver) -> dict[str, Any]:
    return config_for(receiver, sinks=["webhook"])


def _arrange(session: Session) -> dict[str, int]:
    """Messages in every state, for two sinks; their ids by name."""
    now = utcnow()
    rows = {
        "due": ("webhook", "pending", 0, "", now - timedelta(minutes=10)),
        "failing": (
            "webhook",
            "pending",
            2,
            "POST /hook: HTTP 503: down",
            now - timedelta(hours=2),
        ),
        "delivered": ("webhook", "delivered", 1, "", now - timedelta(hours=3)),
        "dead": (
            "hubspot",
            "dead",
            1,
            "POST /deals: HTTP 400: bad property",
            now - timedelta(hours=1),
        ),
    }
    ids = {}
    for name, (sink, status, attempts, error, created) in rows.items():
        enqueue(session, sink=sink, event="order.paid", key=f"k-{name}", payload={"n": name})
        session.flush()
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempts,
            "last_error": error,
            "created_at": created,
            "next_attempt_at": created if name == "due" else now + timedelta(minutes=5),
        }
        if status == "delivered":
            values["delivered_at"] = created + timedelta(seconds=2)
            values["result"] = {"status": 200}
        session.execute(
            update(OutboxMessage).where(OutboxMessage.key == f"k-{name}").values(values)
        )
        ids[name] = session.query(OutboxMessage.id).filter_by(key=f"k-{name}").scalar()
    session.commit()
    return ids


def test_health_per_sink(app: Flask, session: Session, api: ApiClient) -> None:
    ids = _arrange(session)
    response = api.get("/outbox/health")
    assert response.status_code == 200
    body = response.get_json()
    sinks = {row["sink"]: row for row in body["sinks"]}
    webhook, hubspot = sinks["webhook"], sinks["hubspot"]
    assert (webhook["pending"], webhook["delivered"], webhook["dead"]) == (2, 1, 0)
    assert webhook["failing"] == 1
    # Lag: the oldest pending message that is due (10 minutes old); the failing one waits.
    assert 590 <= webhook["lag_seconds"] <= 700
    assert webhook["last_error"] == "POST /hook: HTTP 503: down"
    assert webhook["last_error_message_id"] == ids["failing"]
    assert webhook["last_delivered_at"] is not None
    assert (hubspot["dead"], hubspot["pending"], hubspot["lag_seconds"]) == (1, 0, 0.0)
    assert hubspot["last_error"] == "POST /deals: HTTP 400: bad property"
    totals = body["totals"]
    assert (totals["pending"], totals["delivered"], totals["dead"], totals["failing"]) == (
        2,
        1,
        1,
        1,
    )


def test_health_lists_configured_sinks_when_empty(app: Flask, api: ApiClient) -> None:
    body = api.get("/outbox/health").get_json()
    sinks = {row["sink"]: row for row in body["sinks"]}
    assert "webhook" in sinks  # every registered sink shows, messages or not
    assert (sinks["webhook"]["pending"], sinks["webhook"]["dead"]) == (0, 0)
    assert body["totals"]["lag_seconds"] == 0.0


def test_messages_filters_and_dead_letters(app: Flask, session: Session, api: ApiClient) -> None:
    ids = _arrange(session)
    dead = api.get("/outbox/messages?status=dead")
    assert dead.status_code == 200
    [letter] = dead.get_json()
    assert letter["id"] == ids["dead"]
    assert letter["last_error"] == "POST /deals: HTTP 400: bad property"
    assert "payload" not in letter
    listed = api.get("/outbox/messages?sink=webhook").get_json()
    assert [m["id"] for m in listed] == sorted(
        (ids["due"], ids["failing"], ids["delivered"]), reverse=True
    )
    failing = api.get("/outbox/messages?failing=true").get_json()
    assert [m["id"] for m in failing] == [ids["failing"]]
    page = api.get("/outbox/messages?page_size=2")
    assert len(page.get_json()) == 2
    assert json.loads(page.headers["X-Pagination"])["total"] == 4
    one = api.get(f"/outbox/messages/{ids['delivered']}").get_json()
    assert one["payload"] == {"n": "delivered"}
    assert one["result"] == {"status": 200}
    assert api.get("/outbox/messages/999999").status_code == 404
    bad = api.get("/outbox/messages?status=lost")
    assert bad.status_code == 422
    assert "status" in bad.get_json()["errors"]["query"]


def test_auth_and_openapi(app: Flask, client: FlaskClient, read_auth: dict[str, str]) -> None:
    assert client.get("/shop/api/outbox/health").status_code == 401
    assert client.get("/shop/api/outbox/messages", headers=read_auth).status_code == 200
    spec = client.get("/shop/api/openapi.json").get_json()
    assert "/shop/api/outbox/health" in spec["paths"]
    assert "/shop/api/outbox/messages/{message_id}" in spec["paths"]


def test_replay_a_dead_letter(
    app: Flask, session: Session, api: ApiClient, client: FlaskClient, read_auth: dict[str, str]
) -> None:
    ids = _arrange(session)
    path = f"/outbox/messages/{ids['dead']}/replay"
    assert client.post(f"/shop/api{path}", headers=read_auth).status_code == 403
    replayed = api.post(path)
    assert replayed.status_code == 200
    body = replayed.get_json()
    assert (body["status"], body["attempts"], body["key"]) == ("pending", 0, "k-dead")
    again = api.post(path)
    assert again.status_code == 409
    assert "pending, not dead" in again.get_json()["message"]
    assert api.post("/outbox/messages/999999/replay").status_code == 404
