"""Benchmark of the outbox: draining messages into the local fake HubSpot.

    python tests/bench/outbox.py [--messages 10000] [--workers 1,4] [--threads 4]

On PostgreSQL (a throwaway database made at SHOPPABLE_BENCH_POSTGRES_URL, default the
local server, dropped at the end):

* writes ``--messages`` paid orders and one ``order.paid`` HubSpot message each (a
  realistic payload: two lines, a customer, attribution with five models' credits);
* runs the fake HubSpot in a process of its own (a fresh one per measurement);
* bare: ``--threads`` threads in this process make the same HTTP calls as the HubSpot
  sink (contact upsert, deal upsert, association: the sink's own ``deliver``, one
  ``requests.Session`` per thread), with no database and no outbox;
* outbox: N ``flask shoppable worker`` processes (N in ``--workers``) drain the same
  messages: claims, HTTP calls, marks; the clock starts when every worker is up and the
  messages are made due at once, and stops when the last one is delivered;
* prints messages/s of each and the ratio of each worker count against the bare loop
  (run before and after the workers; the baseline is the mean of the two).

Goal (issue 5): 4 workers >= 0.70 of the bare loop with 4 threads. The benchmark reports;
it does not fail a build (machines differ). This file is also the app the workers run
(``outbox:bench_app``).
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "SHOPPABLE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TOKEN = "bench-hubspot-token"
GOAL_RATIO = 0.70


def settings(database_url: str, hubspot_url: str) -> dict[str, Any]:
    return {
        "SECRET_KEY": "bench-secret-key-0123456789",
        "SHOPPABLE_DATABASE_URL": database_url,
        "SHOPPABLE_STRIPE_SECRET_KEY": "sk_test_bench",
        "SHOPPABLE_STRIPE_WEBHOOK_SECRET": "whsec_bench",
        "SHOPPABLE_STRIPE_API_BASE": "http://127.0.0.1:9",
        "SHOPPABLE_CRM_SINKS": ["hubspot"],
        "SHOPPABLE_HUBSPOT_ACCESS_TOKEN": TOKEN,
        "SHOPPABLE_HUBSPOT_BASE_URL": hubspot_url,
    }


def bench_app() -> Any:
    """The app the worker processes run (settings from the environment)."""
    from flask import Flask

    from flask_shoppable import Shoppable

    app = Flask("bench_outbox", instance_path=os.environ["BENCH_INSTANCE"])
    app.config.update(settings(os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_HUBSPOT_URL"]))
    Shoppable(app)
    return app


# --- data ---------------------------------------------------------------------------------


def payload(order_id: int) -> dict[str, Any]:
    """An order.paid payload shaped as crm.payload.order_payload makes it."""
    credits = {
        model: [
            {
                "interaction": str(uuid.UUID(int=order_id)),
                "kind": "click",
                "channel": "instagram",
                "post_id": 3,
                "link_id": 5,
                "campaign": "summer",
                "amount": 8900,
                "share": 1.0,
            }
        ]
        for model in ("last_touch", "first_touch", "linear", "time_decay", "position_based")
    }
    return {
        "event": "order.paid",
        "order": {
            "id": order_id,
            "status": "paid",
            "currency": "USD",
            "subtotal_amount": 8400,
            "discount_amount": 0,
            "shipping_amount": 500,
            "tax_amount": 0,
            "total_amount": 8900,
            "refunded_amount": 0,
            "net_amount": 8900,
            "dispute_status": None,
            "provider": "stripe",
            "provider_payment_id": f"pi_{order_id:024d}",
            "created_at": "2026-11-24T12:00:00+00:00",
            "paid_at": "2026-11-24T12:00:05+00:00",
        },
        "lines": [
            {
                "product_id": 1,
                "variant_id": 2,
                "sku": "LS-M",
                "title": "Linen shirt - M",
                "unit_amount": 4200,
                "quantity": 2,
                "total_amount": 8400,
            }
        ],
        "customer": {
            "id": order_id,
            "email": f"buyer{order_id}@example.com",
            "email_hash": "0" * 64,
            "name": f"Buyer {order_id}",
            "created_at": "2026-11-24T12:00:05+00:00",
            "orders_before": 0,
        },
        "checkout": {"id": order_id, "user_agent": "Mozilla/5.0", "client_ip": "203.0.113.9"},
        "attribution": {
            "channel": "instagram",
            "post": {"id": 3, "slug": "summer-linen", "campaign": "summer", "caption": "Linen"},
            "link": {"id": 5, "code": "ab12cd", "label": "bio", "channel": "instagram"},
            "campaign": "summer",
            "partner": "",
            "interaction_kind": "click",
            "interaction": None,
            "first_touch": credits["first_touch"][0],
            "last_touch": credits["last_touch"][0],
            "model": "last_touch",
            "credits": credits,
        },
    }


class Database:
    def __init__(self) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.name = f"shoppable_bench_outbox_{uuid.uuid4().hex[:8]}"
        self.admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.url = str(
            sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=self.name).render_as_string(False)
        )
        from flask_shoppable import schema

        self.engine = sa.create_engine(self.url)
        schema.upgrade(self.engine, "heads")

    def fill(self, count: int) -> None:
        """``count`` paid orders and their HubSpot messages, not due yet."""
        from datetime import UTC, datetime, timedelta

        from flask_shoppable.crm.models import OutboxMessage
        from flask_shoppable.orders.models import Order

        sa = self.sa
        now = datetime.now(UTC)
        later = now + timedelta(days=1)
        with self.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE shoppable_outbox_message, shoppable_order CASCADE"))
            for start in range(1, count + 1, 1000):
                ids = range(start, min(start + 1000, count + 1))
                conn.execute(
                    sa.insert(Order.__table__),
                    [
                        {
                            "id": i,
                            "status": "paid",
                            "currency": "USD",
                            "subtotal_amount": 8400,
                            "discount_amount": 0,
                            "shipping_amount": 500,
                            "tax_amount": 0,
                            "total_amount": 8900,
                            "refunded_amount": 0,
                            "email": f"buyer{i}@example.com",
                            "shipping_name": f"Buyer {i}",
                            "shipping_address": {},
                            "provider": "stripe",
                            "flagged_reason": "",
                            "created_at": now,
                            "updated_at": now,
                            "paid_at": now,
                            "channel": "instagram",
                        }
                        for i in ids
                    ],
                )
                conn.execute(
                    sa.insert(OutboxMessage.__table__),
                    [
                        {
                            "sink": "hubspot",
                            "event": "order.paid",
                            "key": f"{i}:order.paid:1",
                            "payload": payload(i),
                            "status": "pending",
                            "attempts": 0,
                            "next_attempt_at": later,
                            "last_error": "",
                            "order_id": i,
                            "created_at": now,
                        }
                        for i in ids
                    ],
                )
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE shoppable_outbox_message"))

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.sa.text("UPDATE shoppable_outbox_message SET next_attempt_at = now()")
            )

    def delivered(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                self.sa.text(
                    "SELECT count(*) FROM shoppable_outbox_message WHERE status = 'delivered'"
                )
            ).scalar_one()

    def not_delivered(self) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    self.sa.text(
                        "SELECT status, count(*), max(last_error) FROM shoppable_outbox_message "
                        "WHERE status <> 'delivered' GROUP BY status"
                    )
                )
            )

    def drop(self) -> None:
        self.engine.dispose()
        with self.admin.connect() as conn:
            conn.execute(self.sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


# --- the fake, the bare loop, the workers -------------------------------------------------


class Fake:
    """The fake HubSpot in a process of its own."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask_shoppable._fakes.hubspot",
                "--port",
                "0",
                "--quiet",
                "--token",
                TOKEN,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.url = line.split(" on ", 1)[1].split(" ", 1)[0]

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=10)


def bare(url: str, count: int, threads: int) -> float:
    """Messages/s of ``threads`` threads making the sink's HTTP calls, no database."""
    from flask_shoppable.crm.http import session
    from flask_shoppable.crm.hubspot import HubSpotSink
    from flask_shoppable.crm.sinks import Message

    work: queue.SimpleQueue[Message] = queue.SimpleQueue()
    for i in range(1, count + 1):
        work.put(Message(i, "hubspot", "order.paid", f"{i}:order.paid:1", payload(i), 1))
    errors: list[BaseException] = []

    def run() -> None:
        sink = HubSpotSink(
            base=f"{url}/crm/v3",
            token=TOKEN,
            order_id_property="shoppable_order_id",
            pipeline="default",
            paid_stage="closedwon",
            refunded_stage="closedlost",
            timeout=10.0,
            http=session(),
        )
        try:
            while True:
                try:
                    message = work.get_nowait()
                except queue.Empty:
                    return
                sink.deliver(message)
        except BaseException as exc:
            errors.append(exc)
        finally:
            sink.http.close()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"the bare loop failed: {errors[0]!r}")
    return count / elapsed


def outbox(db: Database, url: str, count: int, workers: int, workdir: Path) -> float:
    """Messages/s of ``workers`` worker processes draining ``count`` messages."""
    env = dict(
        os.environ,
        BENCH_DATABASE_URL=db.url,
        BENCH_HUBSPOT_URL=url,
        BENCH_INSTANCE=str(workdir),
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    )
    logs = [workdir / f"worker-{workers}-{i}.log" for i in range(workers)]
    processes = []
    for log in logs:
        with log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "flask",
                        "--app",
                        "outbox:bench_app",
                        "shoppable",
                        "worker",
                    ],
                    cwd=HERE,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        deadline = time.monotonic() + 60
        while not all("worker started" in log.read_text() for log in logs):
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start:\n" + logs[0].read_text()[-2000:])
            time.sleep(0.1)
        db.release()
        started = time.perf_counter()
        while db.delivered() < count:
            if time.perf_counter() - started > 1800:
                raise RuntimeError(f"not drained: {db.not_delivered()}")
            time.sleep(0.05)
        return count / (time.perf_counter() - started)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Outbox drain vs a bare HTTP loop.")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", default="1,4", help="comma-separated worker counts")
    parser.add_argument("--threads", type=int, default=4, help="threads of the bare loop")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    db = Database()
    results: dict[str, float] = {}
    bare_runs: list[float] = []

    def run_bare() -> None:
        fake = Fake()
        try:
            bare_runs.append(bare(fake.url, args.messages, args.threads))
        finally:
            fake.stop()

    try:
        with tempfile.TemporaryDirectory() as tmp:
            run_bare()
            for n in counts:
                db.fill(args.messages)
                fake = Fake()
                try:
                    results[f"outbox, {n} worker{'s' if n > 1 else ''}"] = outbox(
                        db, fake.url, args.messages, n, Path(tmp)
                    )
                finally:
                    fake.stop()
            run_bare()  # before and after: the baseline is their mean (a busy machine drifts)
    finally:
        db.drop()
    base = sum(bare_runs) / len(bare_runs)
    runs = " / ".join(f"{r:.0f}" for r in bare_runs)
    print(f"\nOutbox drain into the fake HubSpot, {args.messages} messages, PostgreSQL")
    print(f"{'':28} {'messages/s':>11} {'vs bare':>8}")
    print(f"{f'bare loop, {args.threads} threads':28} {base:11.0f} {1:8.2f}   (runs {runs})")
    for name, rate in results.items():
        print(f"{name:28} {rate:11.0f} {rate / base:8.2f}")
    four = results.get("outbox, 4 workers")
    if four is not None:
        verdict = "met" if four / base >= GOAL_RATIO else "not met"
        print(f"goal: 4 workers >= {GOAL_RATIO:.2f} of the bare loop: {verdict}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "plugin"))
    raise SystemExit(main())
