"""The benchmark's seeder (tests/bench/seed_reports.py) on both backends: what it writes
is what the reports count."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask

from flask_shoppable.reports import queries

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))

import seed_reports

END = datetime(2026, 6, 1, tzinfo=UTC)


def test_seeded_history_is_what_the_reports_count(app: Flask) -> None:
    engine = app.extensions["shoppable"].engine
    done = seed_reports.seed(engine, interactions=3000, orders=150, days=30, end=END)
    assert sum(done[k] for k in ("impression", "click", "comment", "checkout_started")) == 3000
    assert done["orders"] == 150
    q = queries.ReportQuery(start=END - timedelta(days=31), end=END, model="linear", currency="USD")
    with engine.connect() as conn:
        totals = queries.summary(conn, q)
        rows = queries.breakdown(conn, q, "channel")
    assert (totals.impressions, totals.clicks) == (done["impression"], done["click"])
    assert totals.checkouts_started == done["checkout_started"]
    assert totals.orders == 150
    # Every model's credits add up to the orders' totals: the rows add up to the totals.
    assert sum(r.metrics.gross_revenue for r in rows) == totals.gross_revenue
    assert sum(r.metrics.refunded for r in rows) == totals.refunded
    assert round(sum(r.metrics.orders for r in rows), 2) == 150
    direct = next(r for r in rows if r.key is None)
    assert direct.metrics.orders >= done["direct"]
