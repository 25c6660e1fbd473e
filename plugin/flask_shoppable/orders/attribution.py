"""An order's attribution credits under every model, from the interactions before it.

The touches are the click and comment interactions, inside the lookback window, of the
visitor who checked out and of every visitor id linked to the same customer
(``CustomerVisitor``: another device, another channel, same email). The checkout's
originating interaction is always among them, even when its row is not written yet (a
buffered click): its time is read from its id, a UUIDv7 whose first 48 bits are the
millisecond it was made.

Credits for all five models are stored (``OrderCredit``), so reports can switch model
without recomputing; ``SHOPPABLE_ATTRIBUTION_MODEL`` picks the one shown by default.
Each credit carries its touch's channel, post, link, campaign and partner, read with the
touches (an origin whose row is not written yet: the order's channel, post and link).
The arithmetic is :mod:`flask_shoppable.attribution` (pure, property-tested).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
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


#: What a touch row gives: id, time, then the dimensions a credit copies (``DIMENSIONS``).
_COLUMNS = (
    _INTERACTION.c.id,
    _INTERACTION.c.occurred_at,
    _INTERACTION.c.channel,
    _INTERACTION.c.post_id,
    _INTERACTION.c.link_id,
    _INTERACTION.c.utm_campaign,
    _INTERACTION.c.partner,
)
#: The columns of ``OrderCredit`` copied from its touch, in ``_COLUMNS``' order after id
#: and time.
DIMENSIONS = ("channel", "post_id", "link_id", "campaign", "partner")


@dataclass
class Found:
    """The touches of an order, oldest first, and each written one's dimensions."""

    touches: list[Touch]
    dimensions: dict[Any, dict[str, Any]] = field(default_factory=dict)


def _dimensions(row: tuple[Any, ...]) -> dict[str, Any]:
    """A touch row's (id, time, channel, post, link, campaign, partner) dimensions; an
    empty campaign or partner is None."""
    values = dict(zip(DIMENSIONS, row[2:], strict=True))
    values["campaign"] = values["campaign"] or None
    values["partner"] = values["partner"] or None
    return values


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
) -> Found:
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
    return with_origin(
        [tuple(row) for row in rows or ()],
        at=at,
        lookback=lookback,
        origin_id=origin_id,
        fallback=origin_fallback_at,
    )


def with_origin(
    rows: list[tuple[Any, ...]],
    *,
    at: datetime,
    lookback: timedelta,
    origin_id: uuid.UUID | None,
    fallback: datetime | None,
) -> Found:
    """The touches of ``rows`` (as ``_COLUMNS``) and the origin, oldest first, each once."""
    found: dict[Any, Touch] = {row[0]: Touch(row[0], row[1]) for row in rows}
    dimensions = {row[0]: _dimensions(row) for row in rows}
    if origin_id is not None and origin_id not in found:
        origin_at = uuid7_time(origin_id) or fallback
        if origin_at is not None and at - lookback <= origin_at:
            found[origin_id] = Touch(origin_id, min(origin_at, at))
    return Found(sorted(found.values(), key=lambda t: (t.at, str(t.id))), dimensions)


def credit_rows(
    order_id: int,
    amount: int,
    at: datetime,
    found: Found,
    *,
    order: Mapping[str, Any],
    lookback: timedelta,
    half_life: timedelta,
) -> list[dict[str, Any]]:
    """The ``OrderCredit`` rows of every model for an order of ``amount``.

    A touch whose row is not written (the origin of a buffered click) takes the order's
    ``channel``, ``post_id`` and ``link_id`` (from ``order``), no campaign, no partner.
    """
    unwritten = {
        "channel": order.get("channel"),
        "post_id": order.get("post_id"),
        "link_id": order.get("link_id"),
        "campaign": None,
        "partner": None,
    }
    rows: list[dict[str, Any]] = []
    for model in MODELS:
        for part in credit(
            model, found.touches, amount, at, lookback=lookback, half_life=half_life
        ):
            rows.append(
                {
                    "order_id": order_id,
                    "model": model,
                    "interaction_id": part.touch_id,
                    "amount": part.amount,
                    "share": part.share,
                    **found.dimensions.get(part.touch_id, unwritten),
                }
            )
    return rows


_INSERT_CREDITS = insert(cast(Table, OrderCredit.__table__))


def write_credits(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the rows in one statement (none: nothing to do)."""
    if rows:
        session.connection().execute(_INSERT_CREDITS, rows)
