"""Benchmark of the dashboard's report queries on PostgreSQL, at 100k and 1M interactions.

    python tests/bench/reports.py [--sizes 100000,1000000] [--repeat 5]
                                  [--use SIZE=URL ...] [--keep]

For each size, a throwaway database is created at SHOPPABLE_BENCH_POSTGRES_URL (default:
the local server), migrated and filled by tests/bench/seed_reports.py at the same density
(about 2,740 interactions and 137 orders a day, with the credits of every model): 100k
interactions are 36.5 days of history, 1M are 365 days. So a 30-day range covers the same
rows at both sizes, and its time shows whether it grows with the total history; the
365-day range covers everything. ``--use SIZE=URL`` reads an already seeded database
instead (nothing created or dropped); ``--keep`` keeps the created ones.

Each view is what one request runs, on a warm connection, the median of ``--repeat``
runs: summary (the KPI tiles and the funnel), time series, each breakdown, and the whole
dashboard page (summary, time series and the five breakdowns). ``bare`` is a plain
``count(*)`` of the range's interactions, the floor any report over them pays. Goal
(issue 6): every dashboard view under 300 ms at 1M, the 30-day times flat from 100k to 1M.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed_reports

from flask_shoppable import db, reports, schema
from flask_shoppable.attribution import MODELS
from flask_shoppable.reports import queries

POSTGRES_ADMIN_URL = os.environ.get(
    "SHOPPABLE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PER_DAY = 1_000_000 / 365
ORDERS_PER_INTERACTION = 0.05
END = datetime(2026, 11, 24, tzinfo=UTC)
GOAL_MS = 300.0


def _views(conn: sa.Connection, q: queries.ReportQuery) -> dict[str, Callable[[], Any]]:
    interactions = sa.Table("shoppable_interaction", sa.MetaData(), autoload_with=conn)
    bare = (
        sa.select(sa.func.count())
        .select_from(interactions)
        .where(interactions.c.occurred_at >= q.start, interactions.c.occurred_at < q.end)
    )

    def dashboard() -> None:
        queries.summary(conn, q)
        queries.timeseries(conn, q)
        for dimension in queries.DIMENSIONS:
            queries.breakdown(conn, q, dimension)

    views: dict[str, Callable[[], Any]] = {
        "bare": lambda: conn.execute(bare).scalar(),
        "summary": lambda: queries.summary(conn, q),
        "timeseries": lambda: queries.timeseries(conn, q),
    }
    for dimension in queries.DIMENSIONS:
        views[f"by {dimension}"] = lambda d=dimension: queries.breakdown(conn, q, d)
    views["dashboard"] = dashboard
    return views


def _time(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm: plans cached, pages in memory
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - began) * 1000)
    return statistics.median(runs)


class Database:
    def __init__(self, size: int, url: str | None) -> None:
        self.size = size
        self.name: str | None = None
        self.admin = sa.create_engine(
            POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        if url:
            self.url = url
            return
        self.name = f"shoppable_bench_reports_{size}_{uuid.uuid4().hex[:6]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.url = (
            sa.engine.make_url(POSTGRES_ADMIN_URL)
            .set(database=self.name)
            .render_as_string(hide_password=False)
        )
        engine = db.make_engine(self.url)
        try:
            schema.upgrade(engine)
            days = size / PER_DAY
            began = time.perf_counter()
            import click

            with click.progressbar(length=size, label=f"Seeding {size:,}", file=sys.stderr) as bar:
                done = seed_reports.seed(
                    engine,
                    interactions=size,
                    orders=int(size * ORDERS_PER_INTERACTION),
                    days=days,
                    end=END,
                    progress=lambda what, n: bar.update(n if what == "interactions" else 0),
                )
            print(
                f"seeded {size:,} interactions over {days:.1f} days in "
                f"{time.perf_counter() - began:.0f} s: {done}",
                file=sys.stderr,
            )
        finally:
            engine.dispose()

    def drop(self) -> None:
        if self.name:
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def run(
    sizes: list[int],
    repeat: int,
    use: dict[int, str],
    keep: bool,
    ranges: tuple[int, ...] = (30, 365),
    models: tuple[str, ...] = MODELS,
) -> list[dict[str, Any]]:
    results = []
    for size in sizes:
        database = Database(size, use.get(size))
        try:
            engine = db.make_engine(database.url)
            with reports.prepare(engine.connect()) as conn:
                for days in ranges:
                    for model in models:
                        q = queries.ReportQuery(
                            start=END - timedelta(days=days), end=END, model=model, currency="USD"
                        )
                        row: dict[str, Any] = {"size": size, "range": days, "model": model}
                        for name, fn in _views(conn, q).items():
                            row[name] = _time(fn, repeat)
                        conn.rollback()
                        reports.prepare(conn)  # as each request's connection is
                        results.append(row)
                        print(_line(row), file=sys.stderr)
            engine.dispose()
        finally:
            if not keep:
                database.drop()
            elif database.name:
                print(f"kept {database.url}", file=sys.stderr)
    return results


_COLUMNS = ["bare", "summary", "timeseries", *[f"by {d}" for d in queries.DIMENSIONS]]


def _line(row: dict[str, Any]) -> str:
    cells = [f"{row['size']:,}", f"{row['range']} d", row["model"]]
    cells += [f"{row[c]:.0f}" for c in _COLUMNS]
    worst = max(row[c] for c in _COLUMNS[1:])
    cells += [f"{row['dashboard']:.0f}", "met" if worst < GOAL_MS else "missed"]
    return "| " + " | ".join(cells) + " |"


def table(results: list[dict[str, Any]]) -> str:
    head = ["interactions", "range", "model", *_COLUMNS, "whole page", "each view < 300 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [_line(r) for r in results]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--use", action="append", default=[], help="SIZE=URL: a seeded database")
    parser.add_argument("--keep", action="store_true", help="keep the databases created")
    parser.add_argument("--ranges", default="30,365", help="range lengths in days")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    use = {int(k): v for k, v in (item.split("=", 1) for item in args.use)}
    ranges = tuple(int(d) for d in args.ranges.split(","))
    models = tuple(m for m in args.models.split(",") if m in MODELS)
    results = run(sizes, args.repeat, use, args.keep, ranges, models)
    print(f"Milliseconds per view (median of {args.repeat}), PostgreSQL:")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
