"""Reliability: many deliveries at once through a real HTTP server, and processes killed.

* 1,000 webhook deliveries (completions and cumulative refunds over 300 checkouts, 30%
  of them duplicates, shuffled) sent by 16 threads at once to the app served by a
  threaded Werkzeug server on 127.0.0.1, on PostgreSQL, end (after the worker has run
  until nothing is due) in exactly the right orders, refunds and revenue, to the
  minor unit.
* A worker SIGKILLed in the middle of processing an event (its writes done, not
  committed) loses nothing: the event is processed again, exactly once.
* A web process SIGKILLed after storing an event and before finishing its processing
  loses nothing either: the worker takes the event after its grace period.
"""

from __future__ import annotations

import queue
import random
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from flask_shoppable.checkout.models import Checkout
from flask_shoppable.db import utcnow
from flask_shoppable.orders import eventlog
from flask_shoppable.orders.models import (
    Customer,
    Order,
    OrderEvent,
    OrderLine,
    WebhookEvent,
)
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.worker import Worker

from .checkout_helpers import variant
from .order_helpers import WEBHOOK, charge_object, events, open_checkout, session_object
from .test_worker import ROOT, flask_command, subprocess_env

CHECKOUTS = 300
DELIVERIES = 1000
DUPLICATE_SHARE = 0.30
THREADS = 16


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app on a threaded Werkzeug server in a thread; its base URL."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _plan(
    session: Session, rng: random.Random
) -> tuple[list[tuple[str, dict[str, Any], str]], dict[int, tuple[int, int]]]:
    """The unique events, and per checkout id its (total, final refunded amount)."""
    variants = [
        variant(session, f"item-{i}", price=price, stock=None)
        for i, price in enumerate((1999, 2500, 4999, 1250, 799))
    ]
    unique: list[tuple[str, dict[str, Any], str]] = []
    expected: dict[int, tuple[int, int]] = {}
    refund_events = DELIVERIES - round(DELIVERIES * DUPLICATE_SHARE) - CHECKOUTS
    refunded_checkouts = refund_events // 2
    for n in range(CHECKOUTS):
        lines = [(v, rng.randint(1, 3)) for v in rng.sample(variants, rng.randint(1, 2))]
        checkout = open_checkout(session, lines, visitor_id=f"{n:032x}")
        shipping = rng.choice((0, 0, 495))
        total = checkout.subtotal_amount + shipping
        obj = session_object(
            checkout,
            amount_total=total,
            total_details={"amount_discount": 0, "amount_shipping": shipping, "amount_tax": 0},
            customer_details={"email": f"shopper{n % 100}@example.com", "name": f"S {n}"},
            payment_intent=f"pi_reliability_{n:04d}",
        )
        unique.append(("checkout.session.completed", obj, f"evt_done_{n}"))
        refunded = 0
        if n < refunded_checkouts:
            steps = 2 if n < refund_events - refunded_checkouts else 1
            cumulative = 0
            for step in range(steps):
                cumulative = (
                    total
                    if step == steps - 1 and n % 3 == 0
                    else min(total, cumulative + rng.randint(1, max(1, total // 3)))
                )
                charge = charge_object(
                    obj["payment_intent"],
                    total,
                    cumulative,
                    metadata={"shoppable_checkout_id": str(checkout.id)},
                )
                unique.append(("charge.refunded", charge, f"evt_refund_{n}_{step}"))
            refunded = cumulative
        expected[checkout.id] = (total, refunded)
    return unique, expected


def _send_all(base: str, emulator: StripeEmulator, deliveries: list[Any]) -> Counter[int]:
    work: queue.Queue[Any] = queue.Queue()
    for item in deliveries:
        work.put(item)
    codes: Counter[int] = Counter()
    lock = threading.Lock()

    def sender() -> None:
        with requests.Session() as http:
            while True:
                try:
                    type_, obj, event_id = work.get_nowait()
                except queue.Empty:
                    return
                payload, header = emulator.signed_event(type_, obj, event_id=event_id)
                response = http.post(
                    f"{base}{WEBHOOK}",
                    data=payload,
                    headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                    timeout=60,
                )
                with lock:
                    codes[response.status_code] += 1

    threads = [threading.Thread(target=sender) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def _drain(app: Flask, session: Session) -> None:
    """Run the worker until no event is left to process."""
    for _ in range(20):
        Worker(app).run_once(now=utcnow() + timedelta(days=1))
        session.expire_all()
        left = session.scalar(
            select(func.count()).where(WebhookEvent.status.in_(eventlog.OPEN_STATUSES))
        )
        if not left:
            return
    raise AssertionError(f"{left} events still open after the worker ran")


@pytest.mark.postgresql_only
def test_a_thousand_concurrent_deliveries_end_exact(
    app: Flask, session: Session, emulator: StripeEmulator, served: str
) -> None:
    rng = random.Random(20261124)
    unique, expected = _plan(session, rng)
    duplicates = rng.sample(unique, DELIVERIES - len(unique))
    deliveries = unique + duplicates
    assert len(deliveries) == DELIVERIES
    assert len(duplicates) == round(DELIVERIES * DUPLICATE_SHARE)
    rng.shuffle(deliveries)

    started = time.monotonic()
    codes = _send_all(served, emulator, deliveries)
    elapsed = time.monotonic() - started
    assert sum(codes.values()) == DELIVERIES
    assert set(codes) <= {200, 202, 500}, codes
    _drain(app, session)

    session.expire_all()
    orders = {o.checkout_id: o for o in session.scalars(select(Order))}
    assert len(orders) == CHECKOUTS
    for checkout_id, (total, refunded) in expected.items():
        order = orders[checkout_id]
        assert (order.status, order.total_amount, order.refunded_amount) == (
            "paid",
            total,
            refunded,
        ), checkout_id
    revenue = sum(total - refunded for total, refunded in expected.values())
    assert session.scalar(select(func.sum(Order.total_amount - Order.refunded_amount))) == revenue
    refunded_history = session.scalars(
        select(OrderEvent.detail).where(OrderEvent.kind == "refunded")
    ).all()
    assert sum(d["amount"] for d in refunded_history) == sum(r for _, r in expected.values())
    checkout_lines = session.scalar(select(func.count()).select_from(Checkout.__table__)) or 0
    assert checkout_lines == CHECKOUTS
    assert session.scalar(select(func.count()).select_from(OrderLine)) == sum(
        len(session.get(Checkout, cid).lines)  # type: ignore[union-attr]
        for cid in expected
    )
    assert session.scalar(select(func.count()).select_from(Customer)) == 100
    stored = events(session)
    assert len(stored) == len(unique)
    assert {e.status for e in stored} == {"processed"}
    print(f"\n{DELIVERIES} deliveries in {elapsed:.1f} s, answers {dict(codes)}")


# -- killed processes -------------------------------------------------------------------------


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the process ended before processing: {output}")
        if time.monotonic() > deadline:
            raise AssertionError("the process never reached the handler")
        time.sleep(0.05)


def _kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL: no handler runs, no transaction commits, nothing is flushed."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def _assert_processed_once(app: Flask, session: Session, checkout: Checkout) -> None:
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Order)) == 0
    assert session.get(Checkout, checkout.id).status == "open"  # type: ignore[union-attr]
    done = Worker(app).run_once(now=utcnow() + timedelta(minutes=5))
    assert done["webhooks"] == 1
    session.expire_all()
    (order,) = session.scalars(select(Order)).all()
    assert (order.checkout_id, order.status, order.total_amount) == (
        checkout.id,
        "paid",
        checkout.subtotal_amount,
    )
    assert session.get(Checkout, checkout.id).status == "completed"  # type: ignore[union-attr]
    (event,) = events(session)
    assert event.status == "processed"
    assert Worker(app).run_once(now=utcnow() + timedelta(days=1))["webhooks"] == 0


@pytest.mark.slow
def test_worker_killed_mid_processing_loses_nothing(
    app: Flask, session: Session, emulator: StripeEmulator, database_url: str, tmp_path: Path
) -> None:
    checkout = open_checkout(session, [(variant(session, "tee", price=2500, stock=5), 2)])
    payload, _ = emulator.signed_event("checkout.session.completed", session_object(checkout))
    eventlog.store(
        session,
        provider="stripe",
        event_id="evt_killed",
        type="checkout.session.completed",
        payload=payload.decode(),
        now=utcnow() - timedelta(hours=1),
    )
    session.commit()

    marker = tmp_path / "in-handler"
    env = subprocess_env(
        app, database_url, SLOW_HANDLER_SECONDS="60", SLOW_HANDLER_MARKER=str(marker)
    )
    with subprocess.Popen(
        flask_command("shoppable", "worker"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            _wait_for(marker, process)
        finally:
            _kill(process)
    (event,) = events(session)
    assert event.status == "received"
    _assert_processed_once(app, session, checkout)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.slow
def test_web_process_killed_mid_processing_loses_nothing(
    app: Flask, session: Session, emulator: StripeEmulator, database_url: str, tmp_path: Path
) -> None:
    checkout = open_checkout(session, [(variant(session, "tee", price=2500, stock=5), 2)])
    payload, header = emulator.signed_event("checkout.session.completed", session_object(checkout))
    marker = tmp_path / "in-handler"
    port = _free_port()
    env = subprocess_env(
        app, database_url, SLOW_HANDLER_SECONDS="60", SLOW_HANDLER_MARKER=str(marker)
    )
    answers: list[Any] = []

    def deliver() -> None:
        for _ in range(100):
            try:
                answers.append(
                    requests.post(
                        f"http://127.0.0.1:{port}{WEBHOOK}",
                        data=payload,
                        headers={"Stripe-Signature": header},
                        timeout=90,
                    )
                )
                return
            except requests.ConnectionError as exc:
                if marker.exists():
                    answers.append(exc)  # the process died while answering
                    return
                time.sleep(0.1)  # not listening yet

    with subprocess.Popen(
        flask_command("run", "--port", str(port), "--no-reload"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        sender = threading.Thread(target=deliver)
        sender.start()
        try:
            _wait_for(marker, process)
        finally:
            _kill(process)
    sender.join(timeout=30)
    assert answers
    assert isinstance(answers[0], requests.ConnectionError)
    (event,) = events(session)
    assert event.status == "received"
    _assert_processed_once(app, session, checkout)
