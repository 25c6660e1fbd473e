"""The listening report: per post and per day, what comments brought.

Columns: comments (all, linked or not), keyword matches, replies sent, replies failed,
clicks on replied links, orders and revenue from comments (paid orders whose
originating interaction is the comment, revenue per currency in minor units, refunds
not deducted). Days are UTC days of the comment; an order counts on its comment's day.
Comments on media linked to no post are reported under ``post_id: null``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ..orders.models import Order
from .models import Comment

COLUMNS = (
    "comments",
    "keyword_matches",
    "replies_sent",
    "replies_failed",
    "clicks",
    "orders",
)
MAX_DAYS = 366


def listening_report(
    session: Session, start: date, end: date, post_id: int | None = None
) -> list[dict[str, Any]]:
    """Rows ``{post_id, day, comments, ..., orders, revenue: {currency: amount}}`` for
    the days from ``start`` to ``end`` (inclusive), ordered by day then post."""
    low = datetime.combine(start, time.min, UTC)
    high = datetime.combine(end + timedelta(days=1), time.min, UTC)
    stmt = select(
        Comment.id,
        Comment.post_id,
        Comment.created_at,
        Comment.keyword,
        Comment.reply_status,
        Comment.clicks,
    ).where(Comment.created_at >= low, Comment.created_at < high)
    orders = (
        select(
            Comment.id,
            Order.currency,
            func.count(Order.id).label("orders"),
            func.sum(Order.total_amount).label("revenue"),
        )
        .join(
            Order,
            and_(Order.origin_interaction_id == Comment.interaction_id, Order.paid_at.is_not(None)),
        )
        .where(Comment.created_at >= low, Comment.created_at < high)
        .group_by(Comment.id, Order.currency)
    )
    if post_id is not None:
        stmt = stmt.where(Comment.post_id == post_id)
        orders = orders.where(Comment.post_id == post_id)
    rows: dict[tuple[date, int | None], dict[str, Any]] = {}
    day_of: dict[int, tuple[date, int | None]] = {}

    def row_for(day: date, post: int | None) -> dict[str, Any]:
        key = (day, post)
        if key not in rows:
            rows[key] = {"post_id": post, "day": day, **dict.fromkeys(COLUMNS, 0), "revenue": {}}
        return rows[key]

    for c in session.execute(stmt):
        day = c.created_at.astimezone(UTC).date()
        day_of[c.id] = (day, c.post_id)
        row = row_for(day, c.post_id)
        row["comments"] += 1
        row["keyword_matches"] += 1 if c.keyword else 0
        row["replies_sent"] += 1 if c.reply_status == "sent" else 0
        row["replies_failed"] += 1 if c.reply_status == "failed" else 0
        row["clicks"] += c.clicks
    revenue: dict[tuple[date, int | None], dict[str, int]] = defaultdict(dict)
    for o in session.execute(orders):
        key = day_of.get(o.id)
        if key is None:
            continue
        row = row_for(*key)
        row["orders"] += o.orders
        revenue[key][o.currency] = revenue[key].get(o.currency, 0) + int(o.revenue or 0)
    for key, amounts in revenue.items():
        rows[key]["revenue"] = amounts
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1] is None, k[1] or 0))]
