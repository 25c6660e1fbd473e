"""An order's attribution credits under every model, from the interactions before it.

The touches are the click and comment interactions, inside the lookback window, of the
visitor who checked out and of every visitor id linked to the same customer
(``CustomerVisitor``: another device, another channel, same email). The checkout's
originating interaction is always among them, even when its row is not written yet (a
buffered click): its time is read from its id, a UUIDv7 whose first 48 bits are the
millisecond it was made.

Credits for all five models are stored (``OrderCredit``), so reports can switch model
without recomputing; ``SHOPPABLE_ATTRIBUTION_MODEL`` picks the one shown by default.
The arithmetic is :mod:`flask_shoppable.attribution` (pure, property-tested).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from ..attribution import MODELS, Touch, credit
from ..tracking.models import Interaction
from .models import CustomerVisitor, OrderCredit

#: Interaction kinds that earn credit (impressions and checkout starts do not).
CREDITED_KINDS = ("click", "comment")


def uuid7_time(value: uuid.UUID) -> datetime | None:
    """The creation time embedded in a UUIDv7, or None for another version."""
    if value.version != 7:
        return None
    return datetime.fromtimestamp((value.int >> 80) / 1000, UTC)


def settings(config: Any) -> tuple[timedelta, timedelta]:
    """(lookback, half life) from the app's config."""
    lookback = timedelta(days=config["SHOPPABLE_ATTRIBUTION_LOOKBACK_DAYS"])
    half_life = timedelta(days=config["SHOPPABLE_ATTRIBUTION_HALF_LIFE_DAYS"])
    return lookback, half_life


def touches(
    session: Session,
    *,
    at: datetime,
    lookback: timedelta,
    visitor_ids: Iterable[str | None] = (),
    customer_id: int | None = None,
    origin_id: uuid.UUID | None = None,
    origin_fallback_at: datetime | None = None,
) -> list[Touch]:
    """The touches before ``at`` that may earn credit, oldest first (one query)."""
    visitors = sorted({v for v in visitor_ids if v})
    matches: list[Any] = []
    if visitors:
        matches.append(Interaction.visitor_id.in_(visitors))
    if customer_id is not None:
        linked = select(CustomerVisitor.visitor_id).where(
            CustomerVisitor.customer_id == customer_id
        )
        matches.append(Interaction.visitor_id.in_(linked))
    if origin_id is not None:
        matches.append(Interaction.id == origin_id)
    found: dict[Any, Touch] = {}
    if matches:
        rows = session.execute(
            select(Interaction.id, Interaction.occurred_at).where(
                Interaction.kind.in_(CREDITED_KINDS),
                Interaction.occurred_at >= at - lookback,
                Interaction.occurred_at <= at,
                or_(*matches),
            )
        )
        found = {row.id: Touch(row.id, row.occurred_at) for row in rows}
    if origin_id is not None and origin_id not in found:
        origin_at = uuid7_time(origin_id) or origin_fallback_at
        if origin_at is not None:
            found[origin_id] = Touch(origin_id, min(origin_at, at))
    return sorted(found.values(), key=lambda t: (t.at, str(t.id)))


def credit_rows(
    order_id: int,
    amount: int,
    at: datetime,
    found: list[Touch],
    *,
    lookback: timedelta,
    half_life: timedelta,
) -> list[dict[str, Any]]:
    """The ``OrderCredit`` rows of every model for an order of ``amount``."""
    rows: list[dict[str, Any]] = []
    for model in MODELS:
        for part in credit(model, found, amount, at, lookback=lookback, half_life=half_life):
            rows.append(
                {
                    "order_id": order_id,
                    "model": model,
                    "interaction_id": part.touch_id,
                    "amount": part.amount,
                    "share": part.share,
                }
            )
    return rows


def write_credits(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the rows in one statement (none: nothing to do)."""
    if rows:
        session.execute(insert(OrderCredit), rows)
