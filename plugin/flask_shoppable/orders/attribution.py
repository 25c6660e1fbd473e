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
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, insert, literal, select
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


_INTERACTION = cast(Table, Interaction.__table__)
_VISITORS = cast(Table, CustomerVisitor.__table__)


def _in_window(stmt: Select[Any]) -> Select[Any]:
    return stmt.where(
        # A fixed list of bound values: an "expanding" IN would be rewritten per call.
        _INTERACTION.c.kind.in_([literal(kind) for kind in CREDITED_KINDS]),
        _INTERACTION.c.occurred_at >= bindparam("start"),
        _INTERACTION.c.occurred_at <= bindparam("at"),
    )


_COLUMNS = (_INTERACTION.c.id, _INTERACTION.c.occurred_at)
#: The touches of a customer: of every visitor id linked to them (the visitor who is
#: buying is linked before this runs). A plain semi-join on indexed columns: an OR with
#: the visitor or the origin id would make PostgreSQL scan every interaction.
_CUSTOMER_TOUCHES = _in_window(
    select(*_COLUMNS).where(
        _INTERACTION.c.visitor_id.in_(
            select(_VISITORS.c.visitor_id).where(
                _VISITORS.c.customer_id == bindparam("customer_id")
            )
        )
    )
)
#: The touches of one visitor (a purchase without an email: no customer to join).
_VISITOR_TOUCHES = _in_window(
    select(*_COLUMNS).where(_INTERACTION.c.visitor_id == bindparam("visitor_id"))
)


def touches(
    session: Session,
    *,
    at: datetime,
    lookback: timedelta,
    visitor_id: str | None = None,
    customer_id: int | None = None,
    origin_id: uuid.UUID | None = None,
    origin_fallback_at: datetime | None = None,
) -> list[Touch]:
    """The touches before ``at`` that may earn credit, oldest first (at most one query).

    ``customer_id`` (whose linked visitors include ``visitor_id``) takes precedence over
    ``visitor_id``. The origin is added by its id and the time in it (a UUIDv7): the
    same instant as its row, which may not be written yet (a buffered click) or belong
    to no visitor (a shopper who opted out of tracking).
    """
    params = {"start": at - lookback, "at": at}
    if customer_id is not None:
        rows = session.connection().execute(
            _CUSTOMER_TOUCHES, {**params, "customer_id": customer_id}
        )
    elif visitor_id:
        rows = session.connection().execute(_VISITOR_TOUCHES, {**params, "visitor_id": visitor_id})
    else:
        rows = None
    found = [(row.id, row.occurred_at) for row in rows or ()]
    return with_origin(
        found, at=at, lookback=lookback, origin_id=origin_id, fallback=origin_fallback_at
    )


def with_origin(
    rows: list[tuple[Any, datetime]],
    *,
    at: datetime,
    lookback: timedelta,
    origin_id: uuid.UUID | None,
    fallback: datetime | None,
) -> list[Touch]:
    """The touches of ``rows`` (id, occurred_at) and the origin, oldest first, each once."""
    found: dict[Any, Touch] = {touch_id: Touch(touch_id, occurred) for touch_id, occurred in rows}
    if origin_id is not None and origin_id not in found:
        origin_at = uuid7_time(origin_id) or fallback
        if origin_at is not None and at - lookback <= origin_at:
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


_INSERT_CREDITS = insert(cast(Table, OrderCredit.__table__))


def write_credits(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the rows in one statement (none: nothing to do)."""
    if rows:
        session.connection().execute(_INSERT_CREDITS, rows)
