"""Fill a migrated database with a shop's history, for the reports benchmark.

    python tests/bench/seed_reports.py DATABASE_URL [--interactions 1000000]
        [--orders 50000] [--days 365] [--end 2026-11-24] [--seed 1]

Writes ``--interactions`` interactions and ``--orders`` paid orders (each with the credits
of the five attribution models, computed by the plugin's own attribution functions) spread
evenly over the ``--days`` days before ``--end``, among 40 posts, 160 tracked links on six
channels, 12 campaigns and 10 partners. About 70% of the interactions are impressions,
24% clicks, 1% comments and 5% checkouts started; an order's touches are one to four
clicks shortly before it, about 8% of orders have no touch (direct) and about 8% are
refunded in part or in full. PostgreSQL is filled through COPY, then vacuumed and analyzed
(as autovacuum would leave a live database); SQLite through multi-row INSERTs. A progress
bar shows the way. Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import sqlalchemy as sa

from flask_shoppable import db
from flask_shoppable.attribution import MODELS, Touch, credit
from flask_shoppable.models import Interaction, Order, OrderCredit, Post, TrackedLink
from flask_shoppable.tracking import chains

CHANNELS = ("instagram", "facebook", "tiktok", "pinterest", "x", "email")
CAMPAIGNS = tuple(f"campaign-{i:02d}" for i in range(12))
PARTNERS = tuple(f"creator-{i}" for i in range(10))
POSTS = 40
LINKS = 160
LOOKBACK = timedelta(days=30)
HALF_LIFE = timedelta(days=7)
BATCH = 5000
CREDIT_COLUMNS = [
    "order_id", "model", "interaction_id", "amount", "share",
    "channel", "post_id", "link_id", "campaign", "partner",
]  # fmt: skip

#: The chain columns, in the order of chains.DIMENSIONS (channel, post, link, campaign,
#: partner).
CHAIN_PREVIOUS = tuple(prev for prev, _column in chains.DIMENSIONS.values())


def _uuid7(rng: random.Random, at: datetime) -> uuid.UUID:
    ms = int(at.timestamp() * 1000)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | rng.getrandbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return uuid.UUID(int=value)


class Writer:
    """Rows into a table: COPY on PostgreSQL, multi-row INSERT elsewhere."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def write(self, table: sa.Table, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
        if self.engine.dialect.name == "postgresql":
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                names = ", ".join(columns)
                with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                raw.commit()
            finally:
                raw.close()
            return
        stmt = sa.insert(table)
        with self.engine.begin() as conn:
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(dict(zip(columns, row, strict=True)))
                if len(batch) >= BATCH:
                    conn.execute(stmt, batch)
                    batch = []
            if batch:
                conn.execute(stmt, batch)


def _json(value: Any, postgres: bool) -> Any:
    return json.dumps(value) if postgres else value


def seed(
    engine: sa.Engine,
    *,
    interactions: int,
    orders: int,
    days: float,
    end: datetime,
    seed_value: int = 1,
    progress: Callable[[str, int], Any] | None = None,
) -> dict[str, int]:
    """Write the history; returns what was written (counts by kind, orders, credits)."""
    rng = random.Random(seed_value)
    postgres = engine.dialect.name == "postgresql"
    start = end - timedelta(days=days)
    span = (end - start).total_seconds()
    writer = Writer(engine)
    now = datetime.now(UTC)

    # Posts and links.
    posts = [
        {"id": i, "slug": f"post-{i}", "caption": f"Post {i}", "status": "published",
         "campaign": CAMPAIGNS[i % len(CAMPAIGNS)], "image_url": "", "image_alt": "",
         "published_at": start, "created_at": start, "updated_at": start}
        for i in range(1, POSTS + 1)
    ]  # fmt: skip
    links = []
    for i in range(1, LINKS + 1):
        post = posts[(i - 1) % POSTS]
        links.append(
            {"id": i, "code": f"bench{i:05d}", "channel": CHANNELS[i % len(CHANNELS)],
             "label": f"Link {i}", "utm_source": CHANNELS[i % len(CHANNELS)],
             "utm_medium": "social", "utm_campaign": post["campaign"] if i % 3 else "",
             "utm_content": "", "utm_term": "",
             "partner": PARTNERS[i % len(PARTNERS)] if i % 4 == 0 else "",
             "target": "post", "post_id": post["id"], "active": True,
             "created_at": start, "updated_at": start}
        )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(Post.__table__), posts)
        conn.execute(sa.insert(TrackedLink.__table__), links)
        if postgres:
            for table in ("shoppable_post", "shoppable_tracked_link"):
                conn.execute(
                    sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100000)")
                )

    # Interactions, in time order; the clicks are kept for the orders' touches.
    # Visitor ids as the cookie issues them (32 random hex digits, see
    # tracking.visitor.new_visitor_id), each visitor coming back about twice.
    visitor_ids = [f"{rng.getrandbits(128):032x}" for _ in range(max(interactions // 5, 1))]
    clicks: list[tuple[uuid.UUID, datetime, dict[str, Any]]] = []
    counts = {"impression": 0, "click": 0, "comment": 0, "checkout_started": 0}
    times = sorted(rng.random() * span for _ in range(interactions))
    columns = [
        "id", "kind", "occurred_at", "visitor_id", "link_id", "post_id", "channel",
        "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "partner",
        "click_ids", "referrer", "ip_hash", "ua_class", "detail",
        "chained", *CHAIN_PREVIOUS,
    ]  # fmt: skip
    # The visit chains as the worker's job leaves them (tracking.chains): per visitor and
    # dimension value, the time of the visitor's previous interaction with that value.
    last_seen: dict[tuple[str, str, Any], datetime] = {}

    def chain(visitor_id: str | None, at: datetime, values: tuple[Any, ...]) -> tuple[Any, ...]:
        if visitor_id is None:
            return (True, *[None] * len(values))  # nothing to chain
        prevs = []
        for dimension, value in zip(CHAIN_PREVIOUS, values, strict=True):
            key = (visitor_id, dimension, value)
            prevs.append(last_seen.get(key))
            last_seen[key] = at
        return (True, *prevs)

    def interaction_rows() -> Iterator[tuple[Any, ...]]:
        for n, offset in enumerate(times):
            at = start + timedelta(seconds=offset)
            roll = rng.random()
            kind = (
                "impression" if roll < 0.70
                else "click" if roll < 0.94
                else "comment" if roll < 0.95
                else "checkout_started"
            )  # fmt: skip
            counts[kind] += 1
            link = links[rng.randrange(LINKS)]
            visitor = visitor_ids[rng.randrange(len(visitor_ids))]
            if kind == "impression":
                link_id, visitor_id = None, (visitor if rng.random() < 0.2 else None)
            elif kind == "comment":
                link_id, visitor_id = None, visitor
            else:
                link_id, visitor_id = link["id"], visitor
            row_id = _uuid7(rng, at)
            if kind == "click":
                clicks.append((row_id, at, link))
            yield (
                row_id, kind, at, visitor_id, link_id, link["post_id"], link["channel"],
                link["utm_source"], "social", link["utm_campaign"], "", "", link["partner"],
                _json({}, postgres), "", "", "mobile", _json({}, postgres),
                *chain(
                    visitor_id, at,
                    (link["channel"], link["post_id"], link_id, link["utm_campaign"],
                     link["partner"]),
                ),
            )  # fmt: skip
            if progress and n % 10000 == 0:
                progress("interactions", min(10000, interactions - n))

    writer.write(Interaction.__table__, columns, interaction_rows())

    # Orders and their credits.
    order_columns = [
        "id", "status", "currency", "subtotal_amount", "discount_amount", "shipping_amount",
        "tax_amount", "total_amount", "refunded_amount", "email", "shipping_name",
        "shipping_address", "provider", "provider_session_id", "origin_interaction_id",
        "visitor_id", "channel", "post_id", "link_id", "flagged_reason", "created_at",
        "paid_at", "updated_at", "carrier", "tracking_number",
    ]  # fmt: skip
    credit_rows: list[tuple[Any, ...]] = []
    written = {"orders": 0, "credits": 0, "direct": 0}

    def order_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(1, orders + 1):
            total = rng.choice((1900, 2500, 3900, 4900, 7500, 9900, 12900, 19900))
            refunded = 0
            if rng.random() < 0.08:
                refunded = total if rng.random() < 0.5 else total // rng.choice((2, 3, 4))
            touches: list[Touch] = []
            link: dict[str, Any] | None = None
            if clicks and rng.random() >= 0.08:
                i = rng.randrange(len(clicks))
                last_at = clicks[i][1]
                k = rng.choice((1, 1, 2, 2, 3, 4))
                picked = clicks[max(0, i - k + 1) : i + 1]
                touches = [Touch(cid, at) for cid, at, _l in picked if last_at - at <= LOOKBACK]
                link = clicks[i][2]
                paid_at = last_at + timedelta(minutes=rng.randint(2, 240))
            else:
                paid_at = start + timedelta(seconds=rng.random() * span)
                written["direct"] += 1
            if paid_at >= end:
                paid_at = end - timedelta(seconds=1)
            origin = touches[-1].id if touches else None
            dims = {
                cid: (to["channel"], to["post_id"], to["id"], to["utm_campaign"] or None,
                      to["partner"] or None)
                for cid, _at, to in picked
            } if touches else {}  # fmt: skip
            for model in MODELS:
                for part in credit(
                    model, touches, total, paid_at, lookback=LOOKBACK, half_life=HALF_LIFE
                ):
                    credit_rows.append(
                        (n, model, part.touch_id, part.amount, part.share, *dims[part.touch_id])
                    )
            written["orders"] += 1
            yield (
                n, "paid", "USD", total, 0, 0, 0, total, refunded, f"c{n}@example.com", "",
                _json({}, postgres), "stripe", f"cs_bench_{n}", origin,
                None, link["channel"] if link else None, link["post_id"] if link else None,
                link["id"] if link else None, "", paid_at, paid_at, now, "", "",
            )  # fmt: skip
            if progress and n % 1000 == 0:
                progress("orders", 1000)

    writer.write(Order.__table__, order_columns, order_rows())
    written["credits"] = len(credit_rows)
    writer.write(
        OrderCredit.__table__,
        CREDIT_COLUMNS,
        iter(credit_rows),
    )
    with engine.begin() as conn:
        if postgres:
            conn.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('shoppable_order', 'id'), :n)"),
                {"n": orders + 1},
            )
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    return {**counts, **written}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="a migrated database (flask shoppable db upgrade)")
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--end", default=None, help="YYYY-MM-DD (default: tomorrow, UTC)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    end = (
        datetime.fromisoformat(args.end).replace(tzinfo=UTC)
        if args.end
        else datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        + timedelta(days=1)
    )
    engine = db.make_engine(args.database_url)
    total = args.interactions + args.orders
    try:
        with click.progressbar(length=total, label="Seeding", file=sys.stderr) as bar:
            done = seed(
                engine,
                interactions=args.interactions,
                orders=args.orders,
                days=args.days,
                end=end,
                seed_value=args.seed,
                progress=lambda _what, n: bar.update(n),
            )
    finally:
        engine.dispose()
    click.echo(", ".join(f"{k}: {v}" for k, v in done.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
