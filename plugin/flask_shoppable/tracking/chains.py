"""Visit chains: the reports' unique visitors in one pass over a range, exactly.

A breakdown's unique visitors for a key (a channel, a post...) over ``[start, end)`` are
the visitors with an interaction of that key in the range. Counted directly, every
(key, visitor) pair of the range goes through a hash table: at a year of a million
interactions that is most of a breakdown's time.

A chain links each interaction with a visitor to the same visitor's previous interaction
with the same value of a dimension: ``prev_<dimension>_at`` is that interaction's time
(NULL for the first). A visitor has interactions of key k in the range exactly when one
of them has no previous one in the range: the first, whose ``prev`` is NULL or before
``start``. So the count is a plain ``count(*) FILTER (WHERE prev IS NULL OR prev <
start)`` over the range's rows, in the pass that counts the kinds (reports.queries).
Ties on time are broken by id, as the window functions below order them.

The worker's ``chains`` job keeps them: it takes the visitors that have unchained rows
(new, or written late with an older time) and recomputes every row of theirs in one
``UPDATE`` (window functions over the visitor's rows), so a visitor's chained rows always
chain among themselves. Rows written since stay unchained until the next run, and the
reports count those the slow way: a (key, visitor) pair with an unchained row in the
range counts when it has no chained row in the range. One job at a time (an advisory
lock on PostgreSQL; one worker on SQLite), or two runs could interleave their updates;
rows without a visitor are written chained (nothing to chain), so that "not chained" is
the few rows still to do, as the planner should estimate it.

What changes a chain outside the job unchains the visitors concerned, in the same
transaction, under the job's lock: erasure (rows lose their visitor) and the deletion of
a post (its rows' ``post_id`` goes NULL). Links are never deleted; a row's campaign,
partner and channel never change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from flask import Flask
from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    func,
    not_,
    or_,
    select,
    text,
    update,
)

from .models import Interaction

_I = cast(Table, Interaction.__table__)

#: Report dimension -> (its chain's column, the column its values are read from).
DIMENSIONS: dict[str, tuple[str, str]] = {
    "channel": ("prev_channel_at", "channel"),
    "post": ("prev_post_at", "post_id"),
    "link": ("prev_link_at", "link_id"),
    "campaign": ("prev_campaign_at", "utm_campaign"),
    "partner": ("prev_partner_at", "partner"),
}
#: Visitors rechained by one statement.
BATCH_VISITORS = 500
#: PostgreSQL advisory lock key of the job (any fixed number of the plugin's own).
_LOCK_KEY = 0x5A0B_C4A1


def unchained() -> Any:
    """The rows still to chain, as the partial index states them (so it serves)."""
    return _I.c.visitor_id.is_not(None) & not_(_I.c.chained)


def _rechain_statement() -> Any:
    order = (_I.c.occurred_at, _I.c.id)
    ranked = (
        select(
            _I.c.id.label("row_id"),
            *[
                func.lag(_I.c.occurred_at)
                .over(partition_by=(_I.c.visitor_id, _I.c[column]), order_by=order)
                .label(prev)
                for prev, column in DIMENSIONS.values()
            ],
        )
        .where(_I.c.visitor_id.in_(bindparam("visitors", expanding=True)))
        .subquery("ranked")
    )
    prevs = [prev for prev, _column in DIMENSIONS.values()]
    return (
        update(_I)
        .where(_I.c.id == ranked.c.row_id)
        .where(
            or_(
                not_(_I.c.chained),
                *[_I.c[prev].is_distinct_from(ranked.c[prev]) for prev in prevs],
            )
        )
        .values(chained=True, **{prev: ranked.c[prev] for prev in prevs})
    )


_RECHAIN = _rechain_statement()
_NEXT_VISITORS = (
    select(_I.c.visitor_id).where(unchained()).order_by(_I.c.occurred_at).limit(bindparam("limit"))
)


def rechain(connection: Connection, visitor_ids: Sequence[str]) -> int:
    """Recompute the chains of every row of ``visitor_ids``; how many rows changed."""
    if not visitor_ids:
        return 0
    result = connection.execute(_RECHAIN, {"visitors": list(visitor_ids)})
    return int(result.rowcount or 0)


def next_visitors(connection: Connection, limit: int = BATCH_VISITORS) -> list[str]:
    """Up to ``limit`` visitors with unchained rows, the oldest rows' first."""
    found: dict[str, None] = {}
    # Rows, not visitors, are limited: a visitor has a few; read enough for ``limit``.
    for (visitor_id,) in connection.execute(_NEXT_VISITORS, {"limit": limit * 4}):
        found.setdefault(visitor_id, None)
        if len(found) == limit:
            break
    return list(found)


def chain_batch(connection: Connection, limit: int = BATCH_VISITORS) -> int:
    """Chain the next ``limit`` visitors in the connection's transaction; how many.

    Returns -1 when another job holds the lock (PostgreSQL).
    """
    if connection.dialect.name == "postgresql":
        locked = connection.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}
        ).scalar()
        if not locked:
            return -1
    visitors = next_visitors(connection, limit)
    rechain(connection, visitors)
    return len(visitors)


def chain_all(connection: Connection, limit: int = BATCH_VISITORS) -> int:
    """Chain every unchained row, committing each batch; how many visitors."""
    total = 0
    while True:
        done = chain_batch(connection, limit)
        connection.commit()
        if done <= 0:
            return total
        total += done


def unchain_visitors_of(connection: Connection, condition: Any) -> None:
    """Mark unchained every row of the visitors of the rows matching ``condition``.

    For a change to those rows made outside the job (erasure, a post deleted), in the
    same transaction and before it: the job then recomputes those visitors.
    """
    if connection.dialect.name == "postgresql":
        # Wait for a job running now: its update, planned before this change, would
        # chain these rows again with what they were (held until this transaction ends).
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    visitors = select(_I.c.visitor_id).where(condition, _I.c.visitor_id.is_not(None))
    connection.execute(
        update(_I).where(_I.c.visitor_id.in_(visitors), _I.c.chained).values(chained=False)
    )


def run(app: Flask, now: datetime, should_stop: Callable[[], bool]) -> int:
    """The worker's ``chains`` job: one batch of visitors, committed; how many."""
    with app.extensions["shoppable"].engine.connect() as connection:
        done = chain_batch(connection)
        connection.commit()
    return max(done, 0)
