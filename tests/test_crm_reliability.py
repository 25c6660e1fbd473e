"""The outbox under failure, on PostgreSQL: a CRM down for a stretch, a worker killed with
SIGKILL mid-batch, two and four workers at once. Workers are real ``flask shoppable
worker`` processes; the CRM is the local fake HubSpot over HTTP.

Run alone with ``pytest -m reliability`` (about a minute); they are in the normal run too.
Most orders are written through the service layer (``crm.orders.enqueue_order_event``, the
call orders/service.py makes) to keep 500 of them cheap; some come through the signed
webhook path.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flask_shoppable.crm import orders as crm_orders
from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.db import utcnow
from flask_shoppable.orders.models import Order, OrderLine
from flask_shoppable.testing import FakeHubSpot, StripeEmulator

from .outbox_helpers import messages, paid_order
from .test_worker import ROOT, flask_command, subprocess_env

pytestmark = [pytest.mark.postgresql_only, pytest.mark.slow, pytest.mark.reliability]

TOKEN = "pat-na1-reliability"


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(TOKEN) as server:
        yield server  # type: ignore[misc]


def outbox_config(fake: FakeHubSpot, **extra: Any) -> dict[str, Any]:
    return {
        "SHOPPABLE_CRM_SINKS": ["hubspot"],
        "SHOPPABLE_HUBSPOT_ACCESS_TOKEN": TOKEN,
        "SHOPPABLE_HUBSPOT_BASE_URL": fake.url,
        "SHOPPABLE_OUTBOX_BACKOFF_SECONDS": 0.5,
        "SHOPPABLE_OUTBOX_BACKOFF_MAX_SECONDS": 2,
        "SHOPPABLE_OUTBOX_BATCH_SIZE": 20,
        **extra,
    }


@pytest.fixture
def app_config(fake: FakeHubSpot) -> dict[str, Any]:
    return outbox_config(fake, SHOPPABLE_OUTBOX_LEASE_SECONDS=3, SHOPPABLE_OUTBOX_HTTP_TIMEOUT=1)


def direct_orders(app: Flask, session: Session, count: int, start: int = 0) -> list[int]:
    """``count`` paid orders written with the ORM, each enqueued as orders/service does."""
    ids = []
    for i in range(start, start + count):
        order = Order(
            status="paid",
            currency="USD",
            subtotal_amount=2500,
            total_amount=2500,
            email=f"buyer{i}@example.com",
            shipping_name=f"Buyer {i}",
            channel="tiktok" if i % 2 else "instagram",
            paid_at=utcnow(),
            lines=[OrderLine(title=f"Tee {i}", sku=f"T-{i}", unit_amount=2500, quantity=1)],
        )
        session.add(order)
        session.flush()
        crm_orders.enqueue_order_event(session, order, "order.paid", app=app)
        ids.append(order.id)
        if len(ids) % 100 == 0:
            session.commit()
    session.commit()
    return ids


class Workers:
    """``flask shoppable worker`` subprocesses, their output in files."""

    def __init__(self, app: Flask, database_url: str, tmp: Path, config: dict[str, Any]) -> None:
        self.env = subprocess_env(app, database_url, WORKER_APP_CONFIG=json.dumps(config))
        self.tmp = tmp
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, count: int = 1) -> None:
        for _ in range(count):
            log = self.tmp / f"worker-{len(self.processes)}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    flask_command("shoppable", "worker"),
                    cwd=ROOT,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            self.processes.append((process, log))

    def output(self, index: int) -> str:
        return self.processes[index][1].read_text()

    def stop_all(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(
    app: Flask, database_url: str, tmp_path: Path, app_config: dict[str, Any]
) -> Iterator[Callable[..., Workers]]:
    made: list[Workers] = []

    def make(**config: Any) -> Workers:
        w = Workers(app, database_url, tmp_path, {**app_config, **config})
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop_all()


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def count(session: Session, *where: Any) -> int:
    session.expire_all()
    session.rollback()
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(*where)) or 0


def test_crm_down_for_a_stretch_then_every_order_arrives_once(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    fake: FakeHubSpot,
    workers: Callable[..., Workers],
) -> None:
    pool = workers()
    pool.start(2)
    # The CRM is down while the orders are paid, and stays down until the workers have
    # hit the wall for a while; then it recovers.
    fake.fail_for(600, status=503, body={"status": "error", "message": "Service Unavailable"})
    through_http = [
        paid_order(
            client,
            session,
            emulator,
            handle=f"item-{i}",
            visitor=f"{i:032d}",
            email=f"s{i}@example.com",
        )[0].id
        for i in range(5)
    ]
    ids = through_http + direct_orders(app, session, 495)
    wait_for(lambda: len(fake.received) >= 100, 30, "the workers to meet the outage")
    fake.recover()
    wait_for(lambda: count(session, OutboxMessage.status == "delivered") == 500, 60, "500 orders")

    assert sorted(int(k) for k in fake.deals) == sorted(ids)  # each order once, none missing
    assert len(fake.contacts) == 500
    assert len(fake.associations) == 500
    rows = messages(session)
    assert {m.key for m in rows} == {f"{i}:order.paid:1" for i in ids}
    assert max(m.attempts for m in rows) > 1  # the stretch made some retry
    assert sum(r.path.endswith("/batch/upsert") for r in fake.received) > 1000
    for i in through_http:
        assert fake.deals[str(i)]["properties"]["shoppable_channel"] == "instagram"


def test_a_worker_killed_mid_batch_loses_nothing(
    app: Flask, session: Session, fake: FakeHubSpot, workers: Callable[..., Workers]
) -> None:
    ids = direct_orders(app, session, 150)
    fake.latency = 0.01
    pool = workers()
    pool.start(1)
    wait_for(lambda: len(fake.deals) >= 30, 30, "the worker to deliver some")
    victim = pool.processes[0][0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    claimed = count(session, OutboxMessage.claimed_by.is_not(None))
    assert claimed > 0  # it died holding part of a batch
    assert count(session, OutboxMessage.status == "delivered") < 150

    fake.latency = 0.0
    pool.start(1)  # its lease on the dead worker's batch ends after 3 s
    wait_for(lambda: count(session, OutboxMessage.status == "delivered") == 150, 45, "the rest")
    assert sorted(int(k) for k in fake.deals) == sorted(ids)
    assert len(fake.contacts) == 150
    resent = [m for m in messages(session) if m.attempts > 1]
    assert 0 < len(resent) <= 20  # the killed worker's batch, sent again with the same key
    assert all(fake.writes[("deals", str(m.order_id))] >= 1 for m in resent)


@pytest.mark.parametrize("worker_count", [2, 4])
def test_parallel_workers_never_claim_the_same_message(
    app: Flask,
    session: Session,
    fake: FakeHubSpot,
    workers: Callable[..., Workers],
    worker_count: int,
) -> None:
    ids = direct_orders(app, session, 200)
    fake.latency = 0.002
    pool = workers(SHOPPABLE_OUTBOX_LEASE_SECONDS=120, SHOPPABLE_OUTBOX_HTTP_TIMEOUT=20)
    pool.start(worker_count)
    wait_for(lambda: count(session, OutboxMessage.status == "delivered") == 200, 50, "200 orders")
    pool.stop_all()

    rows = messages(session)
    assert all(m.attempts == 1 for m in rows)  # no message was taken twice
    assert all(fake.writes[("deals", str(i))] == 1 for i in ids)
    assert len(fake.deals) == 200
    per_worker = [pool.output(i).count("outbox delivery ") for i in range(worker_count)]
    assert sum(per_worker) == 200
    assert sum(1 for n in per_worker if n) >= 2  # the work was shared
