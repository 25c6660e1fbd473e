"""The outbox: order events written in the order's transaction, once per (sink, key).

Paid, refunded and disputed orders come in as signed Stripe webhooks through the Flask
test client (the real ingest path); the messages are read back from the database.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from flask_shoppable.config import ConfigError
from flask_shoppable.crm import outbox, sinks
from flask_shoppable.crm.errors import Rejected
from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.crm.sinks import Message
from flask_shoppable.db import utcnow
from flask_shoppable.testing import StripeEmulator

from .conftest import make_app
from .order_helpers import charge_object, post_event
from .outbox_helpers import messages, paid_order, run_outbox


class RecordingSink:
    """A sink that keeps what it is given (no network: the worker tests use fake HubSpot)."""

    events = ("order.paid", "order.refunded", "order.disputed")

    def __init__(self, name: str) -> None:
        self.name = name
        self.delivered: list[Message] = []

    def deliver(self, message: Message) -> dict[str, Any]:
        self.delivered.append(message)
        return {"ok": message.key}


def recording_sink(app: Flask) -> RecordingSink:
    return RecordingSink("recorder")


def paid_only_sink(app: Flask) -> RecordingSink:
    sink = RecordingSink("paid_only")
    sink.events = ("order.paid",)
    return sink


@pytest.fixture(autouse=True)
def test_sinks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sinks.FACTORIES, "recorder", f"{__name__}:recording_sink")
    monkeypatch.setitem(sinks.FACTORIES, "paid_only", f"{__name__}:paid_only_sink")


@pytest.fixture
def app_config(test_sinks: None) -> dict[str, Any]:
    return {"SHOPPABLE_CRM_SINKS": ["recorder", "paid_only"]}


def test_paid_order_writes_one_message_per_sink_in_its_transaction(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    order, obj = paid_order(client, session, emulator)
    rows = messages(session)
    assert [(m.sink, m.event, m.key, m.status) for m in rows] == [
        ("recorder", "order.paid", f"{order.id}:order.paid:1", "pending"),
        ("paid_only", "order.paid", f"{order.id}:order.paid:1", "pending"),
    ]
    payload = rows[0].payload
    assert payload == rows[1].payload
    assert payload["order"]["id"] == order.id
    assert (payload["order"]["total_amount"], payload["order"]["currency"]) == (8400, "USD")
    assert (payload["lines"][0]["sku"], payload["lines"][0]["quantity"]) == ("LINEN-SHIRT-1", 2)
    assert payload["customer"]["email"] == "shopper@example.com"
    attribution = payload["attribution"]
    assert attribution["channel"] == "instagram"
    assert attribution["post"]["slug"] == "linen-shirt-drop"
    assert attribution["campaign"] == "summer"
    assert attribution["interaction_kind"] == "click"
    assert attribution["interaction"]["click_ids"] == {"fbclid": "IwAR-test"}
    assert attribution["last_touch"]["channel"] == "instagram"
    assert sum(c["amount"] for c in attribution["credits"]["linear"]) == 8400
    assert set(attribution["credits"]) == {
        "last_touch",
        "first_touch",
        "linear",
        "time_decay",
        "position_based",
    }
    assert rows[0].order_id == order.id

    # The same event again (a redelivery with another id): still one message per sink.
    again = post_event(client, emulator, "checkout.session.completed", obj, event_id="evt_again")
    assert again.status_code == 200
    assert len(messages(session)) == 2


def test_refunds_and_disputes_are_new_versions(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    order, obj = paid_order(client, session, emulator)
    pi = obj["payment_intent"]
    for refunded in (1000, 1000, 8400):
        response = post_event(
            client, emulator, "charge.refunded", charge_object(pi, 8400, refunded)
        )
        assert response.status_code == 200
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "payment_intent": pi,
        "amount": 8400,
        "currency": "usd",
        "status": "needs_response",
        "reason": "fraudulent",
    }
    assert post_event(client, emulator, "charge.dispute.created", dispute).status_code == 200
    keys = [(m.sink, m.key) for m in messages(session)]
    assert keys == [
        ("recorder", f"{order.id}:order.paid:1"),
        ("paid_only", f"{order.id}:order.paid:1"),
        ("recorder", f"{order.id}:order.refunded:1000"),
        ("recorder", f"{order.id}:order.refunded:8400"),
        ("recorder", f"{order.id}:order.disputed:needs_response"),
    ]
    refund = messages(session)[3].payload
    assert refund["event"] == "order.refunded"
    assert (refund["order"]["refunded_amount"], refund["order"]["net_amount"]) == (8400, 0)


def test_enqueue_is_a_no_op_for_a_known_key_and_follows_the_transaction(
    app: Flask, session: Session
) -> None:
    args = {"sink": "recorder", "event": "order.paid", "key": "k-1", "payload": {"a": 1}}
    assert outbox.enqueue(session, **args) is True
    assert outbox.enqueue(session, **args) is False
    session.rollback()
    assert messages(session) == []
    assert outbox.enqueue(session, **args) is True
    session.commit()
    assert outbox.enqueue(session, **{**args, "payload": {"a": 2}}) is False
    session.commit()
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert messages(session)[0].payload == {"a": 1}


def test_no_crm_sinks_by_default(database_url: str, tmp_path: Any) -> None:
    bare = make_app(database_url, tmp_path / "bare")
    try:
        assert bare.config["SHOPPABLE_CRM_SINKS"] == []
        assert sinks.crm_sinks(bare) == []
    finally:
        bare.extensions["shoppable"].recorder.close()
        bare.extensions["shoppable"].engine.dispose()


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"SHOPPABLE_CRM_SINKS": ["hubspott"]}, "SHOPPABLE_CRM_SINKS", "unknown sink 'hubspott'"),
        ({"SHOPPABLE_CRM_SINKS": "recorder"}, None, None),
        ({"SHOPPABLE_OUTBOX_MAX_ATTEMPTS": 0}, "SHOPPABLE_OUTBOX_MAX_ATTEMPTS", "integer"),
        ({"SHOPPABLE_OUTBOX_HTTP_TIMEOUT": "10"}, "SHOPPABLE_OUTBOX_HTTP_TIMEOUT", "seconds"),
        (
            {"SHOPPABLE_OUTBOX_LEASE_SECONDS": 5, "SHOPPABLE_OUTBOX_HTTP_TIMEOUT": 10},
            "SHOPPABLE_OUTBOX_LEASE_SECONDS",
            "twice",
        ),
    ],
)
def test_settings_are_checked_at_start_up(
    database_url: str, tmp_path: Any, config: dict[str, Any], key: str | None, words: str | None
) -> None:
    if key is None:
        app = make_app(database_url, tmp_path / "ok", **config)
        assert app.config["SHOPPABLE_CRM_SINKS"] == ["recorder"]
        assert [s.name for s in sinks.crm_sinks(app)] == ["recorder"]
        app.extensions["shoppable"].recorder.close()
        app.extensions["shoppable"].engine.dispose()
        return
    with pytest.raises(ConfigError) as raised:
        make_app(database_url, tmp_path / "bad", **config)
    assert raised.value.key == key
    assert words in str(raised.value)


class HookedSink(RecordingSink):
    """Rejects messages asking for it; its hooks write in the transaction of the mark."""

    def deliver(self, message: Message) -> dict[str, Any]:
        if message.payload.get("reject"):
            raise Rejected("HTTP 422: no such thing")
        return super().deliver(message)

    def on_delivered(self, session: Session, message: Message, result: Any) -> None:
        outbox.enqueue(
            session, sink="audit", event="delivered", key=message.key, payload={"r": result}
        )

    def on_dead(self, session: Session, message: Message, reason: str) -> None:
        outbox.enqueue(session, sink="audit", event="dead", key=message.key, payload={"r": reason})


def hooked_sink(app: Flask) -> HookedSink:
    return HookedSink("hooked")


def test_hooks_run_in_the_transaction_that_marks_the_message(
    database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sinks.FACTORIES, "hooked", f"{__name__}:hooked_sink")
    app = make_app(database_url, tmp_path / "h", SHOPPABLE_CRM_SINKS=["hooked"])
    try:
        with app.extensions["shoppable"].session_factory() as session:
            session.execute(delete(OutboxMessage))
            outbox.enqueue(session, sink="hooked", event="x", key="ok", payload={})
            outbox.enqueue(session, sink="hooked", event="x", key="bad", payload={"reject": 1})
            session.commit()
            assert run_outbox(app) == 2
            rows = {(m.sink, m.key): m for m in messages(session)}
            assert rows[("hooked", "ok")].status == "delivered"
            assert rows[("hooked", "ok")].result == {"ok": "ok"}
            assert rows[("hooked", "bad")].status == "dead"
            assert rows[("hooked", "bad")].last_error == "HTTP 422: no such thing"
            assert rows[("audit", "ok")].payload == {"r": {"ok": "ok"}}
            assert rows[("audit", "bad")].payload == {"r": "HTTP 422: no such thing"}
            # No sink named "audit" is registered: its messages wait, untouched.
            assert (rows[("audit", "ok")].status, rows[("audit", "ok")].attempts) == ("pending", 0)
    finally:
        app.extensions["shoppable"].recorder.close()
        app.extensions["shoppable"].engine.dispose()


def test_no_message_without_the_order_a_failed_transaction_leaves_neither(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flask_shoppable.crm import orders as crm_orders
    from flask_shoppable.orders.models import Order
    from flask_shoppable.worker import Worker, jobs_for

    real = crm_orders.enqueue
    written: list[str] = []

    def second_fails(session: Session, **kwargs: Any) -> bool:
        if written:
            raise RuntimeError("the database went away mid-transaction")
        written.append(kwargs["sink"])
        return real(session, **kwargs)

    # The order and its first message are written, then the same transaction fails.
    monkeypatch.setattr(crm_orders, "enqueue", second_fails)
    with pytest.raises(AssertionError):
        paid_order(client, session, emulator)
    assert written == ["recorder"]
    assert session.scalars(select(Order)).all() == []
    assert messages(session) == []

    # The stored event is retried by the worker: the order and its messages, together.
    monkeypatch.setattr(crm_orders, "enqueue", real)
    webhooks = next(j for j in jobs_for(app) if j.name == "webhooks")
    Worker(app, jobs=[webhooks]).run_once(utcnow() + timedelta(hours=1))
    [order] = session.scalars(select(Order)).all()
    assert [(m.sink, m.key) for m in messages(session)] == [
        ("recorder", f"{order.id}:order.paid:1"),
        ("paid_only", f"{order.id}:order.paid:1"),
    ]
