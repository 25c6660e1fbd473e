"""The new order of a Checkout Session event: the webhook's hot path, in few statements.

Every paid checkout ends here once, so its round trips are what webhook ingest is made
of (issue 4's benchmark). :func:`lock_checkout` reads what a new order needs of its
checkout with one Core ``SELECT ... FOR UPDATE`` (no ORM objects, no identity map); then
on PostgreSQL two statements do the rest, with data-modifying CTEs:

1. :func:`customer_and_touches`: the customer upserted by email, the checkout's visitor
   linked to them, and the attribution touches of every visitor of that customer (the
   visitor just linked is added by hand: a CTE's writes are not visible to its own
   query);
2. :func:`write_order`: the order, its lines, history rows and credits (rows passed as
   arrays and ``unnest``-ed, so the statement's text, and the plan PostgreSQL keeps
   for it, are the same whatever the number of rows), the checkout completed, and the
   deferred events waiting for the payment made due.

SQLite has no data-modifying CTEs; there the same work is a few statements, each cheap
in-process. Anything unusual (an order already there, a checkout no longer open, no
email or visitor) is left to the general path in :mod:`.service`, which the caller
takes under the lock already held.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Column, Table, bindparam, select, update
from sqlalchemy.orm import Session

from ..checkout.models import Checkout, CheckoutLine
from ..tracking.models import Interaction
from .attribution import CREDITED_KINDS, DIMENSIONS
from .models import (
    Customer,
    CustomerVisitor,
    Order,
    OrderCredit,
    OrderEvent,
    OrderLine,
    WebhookEvent,
)

_CHECKOUT = cast(Table, Checkout.__table__)
_CHECKOUT_LINE = cast(Table, CheckoutLine.__table__)
_ORDER = cast(Table, Order.__table__)
_ORDER_LINE = cast(Table, OrderLine.__table__)
_HISTORY = cast(Table, OrderEvent.__table__)
_CREDIT = cast(Table, OrderCredit.__table__)
_CUSTOMER = cast(Table, Customer.__table__)
_VISITOR = cast(Table, CustomerVisitor.__table__)
_INTERACTION = cast(Table, Interaction.__table__)
_EVENT = cast(Table, WebhookEvent.__table__)


@dataclass(frozen=True, slots=True)
class LineSnapshot:
    variant_id: int | None
    product_id: int | None
    title: str
    sku: str | None
    unit_amount: int
    quantity: int


@dataclass(frozen=True, slots=True)
class CheckoutSnapshot:
    """What a new order needs of its checkout (read under its lock)."""

    id: int
    status: str
    currency: str
    subtotal_amount: int
    origin_interaction_id: uuid.UUID | None
    visitor_id: str | None
    channel: str | None
    post_id: int | None
    link_id: int | None
    email: str
    provider_session_id: str | None
    created_at: datetime
    #: The checkout's order, if it has one already.
    order_id: int | None
    lines: tuple[LineSnapshot, ...]


_C = _CHECKOUT.c
_LOCK_CHECKOUT = (
    select(
        _C.id,
        _C.status,
        _C.currency,
        _C.subtotal_amount,
        _C.origin_interaction_id,
        _C.visitor_id,
        _C.channel,
        _C.post_id,
        _C.link_id,
        _C.email,
        _C.provider_session_id,
        _C.created_at,
        _ORDER.c.id.label("order_id"),
        _CHECKOUT_LINE.c.variant_id,
        _CHECKOUT_LINE.c.product_id,
        _CHECKOUT_LINE.c.title,
        _CHECKOUT_LINE.c.sku,
        _CHECKOUT_LINE.c.unit_amount,
        _CHECKOUT_LINE.c.quantity,
    )
    .select_from(
        _CHECKOUT.outerjoin(_ORDER, _ORDER.c.checkout_id == _C.id).outerjoin(
            _CHECKOUT_LINE, _CHECKOUT_LINE.c.checkout_id == _C.id
        )
    )
    .where(_C.id == bindparam("checkout_id"))
    .order_by(_CHECKOUT_LINE.c.id)
    .with_for_update(of=_CHECKOUT)
)


def lock_checkout(session: Session, checkout_id: int) -> CheckoutSnapshot | None:
    """Lock checkout ``checkout_id`` (PostgreSQL; SQLite's write lock is held already by
    the claim) and read it with its lines and its order's id; None if there is none."""
    rows = session.connection().execute(_LOCK_CHECKOUT, {"checkout_id": checkout_id}).all()
    if not rows:
        return None
    first = rows[0]
    lines = tuple(
        LineSnapshot(r.variant_id, r.product_id, r.title, r.sku, r.unit_amount, r.quantity)
        for r in rows
        if r.unit_amount is not None
    )
    return CheckoutSnapshot(
        id=first.id,
        status=first.status,
        currency=first.currency,
        subtotal_amount=first.subtotal_amount,
        origin_interaction_id=first.origin_interaction_id,
        visitor_id=first.visitor_id,
        channel=first.channel,
        post_id=first.post_id,
        link_id=first.link_id,
        email=first.email,
        provider_session_id=first.provider_session_id,
        created_at=first.created_at,
        order_id=first.order_id,
        lines=lines,
    )


# -- PostgreSQL: two statements --------------------------------------------------------

_KINDS = ", ".join(f"'{kind}'" for kind in CREDITED_KINDS)

#: Customer upsert, visitor link, and the touches of every visitor of the customer.
_PG_CUSTOMER_AND_TOUCHES = f"""\
WITH c AS (
  INSERT INTO {_CUSTOMER.name} (email, email_hash, name, created_at)
  VALUES (%(email)s, %(email_hash)s, %(name)s, %(now)s)
  ON CONFLICT (email) DO UPDATE SET email = excluded.email
  RETURNING id
), v AS (
  INSERT INTO {_VISITOR.name} (visitor_id, customer_id, linked_at)
  SELECT %(visitor_id)s, c.id, %(now)s FROM c
  ON CONFLICT (visitor_id) DO UPDATE
  SET customer_id = excluded.customer_id, linked_at = excluded.linked_at
)
SELECT c.id, t.id, t.occurred_at, t.channel, t.post_id, t.link_id, t.utm_campaign, t.partner
FROM c LEFT JOIN LATERAL (
  SELECT i.id, i.occurred_at, i.channel, i.post_id, i.link_id, i.utm_campaign, i.partner
  FROM {_INTERACTION.name} i
  WHERE i.visitor_id IN (
      SELECT cv.visitor_id FROM {_VISITOR.name} cv WHERE cv.customer_id = c.id
      UNION SELECT %(visitor_id)s
    )
    AND i.kind IN ({_KINDS})
    AND i.occurred_at >= %(start)s AND i.occurred_at <= %(at)s
) t ON true"""  # noqa: S608 (names from the models; values are bound)


def customer_and_touches(
    session: Session,
    *,
    email: str,
    email_hash: str,
    name: str,
    visitor_id: str,
    now: datetime,
    start: datetime,
    at: datetime,
) -> tuple[int, list[tuple[Any, ...]]]:
    """(customer id, touch rows as ``attribution.with_origin`` takes them): see the
    module's docstring."""
    params = {
        "email": email,
        "email_hash": email_hash,
        "name": name,
        "visitor_id": visitor_id,
        "now": now,
        "start": start,
        "at": at,
    }
    rows = session.connection().exec_driver_sql(_PG_CUSTOMER_AND_TOUCHES, params).all()
    customer_id: int = rows[0][0]
    return customer_id, [tuple(r[1:]) for r in rows if r[1] is not None]


def _python_default(column: Column[Any]) -> Any:
    default = column.default
    if default is None or getattr(default, "is_sequence", False):
        return None
    if getattr(default, "is_callable", False):
        return default.arg(None)  # type: ignore[attr-defined]
    if getattr(default, "is_scalar", False):
        return default.arg  # type: ignore[attr-defined]
    return None


def _completed_values(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` plus the Python-side defaults of the columns it leaves out (as a Core
    insert would add them), so a column added later with such a default is filled."""
    full = dict(values)
    for column in table.columns:
        if column.name in full or column.primary_key:
            continue
        if column.default is not None:
            full[column.name] = _python_default(column)
    return full


def _pg_value(column: Column[Any], name: str) -> str:
    placeholder = f"%({name})s"
    return f"CAST({placeholder} AS json)" if isinstance(column.type, JSON) else placeholder


@functools.cache
def _pg_write_statement(order_columns: tuple[str, ...]) -> str:
    columns = ", ".join(order_columns)
    values = ", ".join(_pg_value(_ORDER.c[name], f"o_{name}") for name in order_columns)
    event = _EVENT.name
    return f"""\
WITH o AS (
  INSERT INTO {_ORDER.name} ({columns}) VALUES ({values}) RETURNING id
), l AS (
  INSERT INTO {_ORDER_LINE.name}
    (order_id, variant_id, product_id, title, sku, unit_amount, quantity)
  SELECT o.id, x.variant_id, x.product_id, x.title, x.sku, x.unit_amount, x.quantity
  FROM o, unnest(
    %(l_variant_id)s::int[], %(l_product_id)s::int[], %(l_title)s::text[],
    %(l_sku)s::text[], %(l_unit_amount)s::bigint[], %(l_quantity)s::int[]
  ) WITH ORDINALITY AS x(variant_id, product_id, title, sku, unit_amount, quantity, n)
  ORDER BY x.n
), h AS (
  INSERT INTO {_HISTORY.name} (order_id, kind, detail, provider_event_id, at)
  SELECT o.id, x.kind, CAST(x.detail AS json), %(provider_event_id)s, %(now)s
  FROM o, unnest(%(h_kind)s::text[], %(h_detail)s::text[]) WITH ORDINALITY AS x(kind, detail, n)
  ORDER BY x.n
), cr AS (
  INSERT INTO {_CREDIT.name}
    (order_id, model, interaction_id, amount, share, channel, post_id, link_id, campaign,
     partner)
  SELECT o.id, x.model, x.interaction_id, x.amount, x.share, x.channel, x.post_id,
    x.link_id, x.campaign, x.partner
  FROM o, unnest(
    %(c_model)s::text[], %(c_interaction_id)s::uuid[], %(c_amount)s::bigint[],
    %(c_share)s::float8[], %(c_channel)s::text[], %(c_post_id)s::int[],
    %(c_link_id)s::int[], %(c_campaign)s::text[], %(c_partner)s::text[]
  ) WITH ORDINALITY AS x(
    model, interaction_id, amount, share, channel, post_id, link_id, campaign, partner, n
  )
  ORDER BY x.n
), ck AS (
  UPDATE {_CHECKOUT.name} SET status = 'completed', completed_at = %(now)s
  WHERE id = %(checkout_id)s AND status = 'open'
  RETURNING id
), n AS (
  UPDATE {event} SET next_attempt_at = %(now)s
  WHERE id IN (
    SELECT id FROM {event}
    WHERE status = 'deferred' AND waiting_for = %(payment_id)s
    FOR UPDATE SKIP LOCKED
  )
  RETURNING id
)
SELECT o.id, (SELECT count(*) FROM ck), ARRAY(SELECT id FROM n ORDER BY id) FROM o"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class Written:
    order_id: int
    #: Whether the checkout went from open to completed (it is locked: always, here).
    completed: bool
    #: Deferred events made due (they waited for the order's payment).
    nudged: list[int]


def _json(value: Any) -> str:
    return json.dumps(value)


def write_order(
    session: Session,
    *,
    values: dict[str, Any],
    lines: Sequence[dict[str, Any]],
    history: Sequence[tuple[str, dict[str, Any]]],
    credits: Sequence[dict[str, Any]],
    checkout_id: int,
    payment_id: str | None,
    provider_event_id: str,
    now: datetime,
) -> Written:
    """Write a new order with everything that goes with it (see the module's docstring).

    ``values`` are the order's columns; ``history`` (kind, detail) pairs; ``credits``
    rows of ``attribution.credit_rows`` (their order_id is ignored). PostgreSQL only.
    """
    full = _completed_values(_ORDER, values)
    names = tuple(sorted(full))
    params: dict[str, Any] = {f"o_{name}": full[name] for name in names}
    for name in names:
        if isinstance(_ORDER.c[name].type, JSON) and full[name] is not None:
            params[f"o_{name}"] = _json(full[name])
    params.update(
        l_variant_id=[line["variant_id"] for line in lines],
        l_product_id=[line["product_id"] for line in lines],
        l_title=[line["title"] for line in lines],
        l_sku=[line["sku"] for line in lines],
        l_unit_amount=[line["unit_amount"] for line in lines],
        l_quantity=[line["quantity"] for line in lines],
        h_kind=[kind for kind, _detail in history],
        h_detail=[_json(detail) for _kind, detail in history],
        c_model=[row["model"] for row in credits],
        c_interaction_id=[row["interaction_id"] for row in credits],
        c_amount=[row["amount"] for row in credits],
        c_share=[float(row["share"]) for row in credits],
        **{f"c_{name}": [row[name] for row in credits] for name in DIMENSIONS},
        provider_event_id=provider_event_id,
        now=now,
        checkout_id=checkout_id,
        payment_id=payment_id,
    )
    row = session.connection().exec_driver_sql(_pg_write_statement(names), params).one()
    return Written(order_id=row[0], completed=row[1] == 1, nudged=list(row[2] or ()))


#: SQLite's completion of a locked, open checkout (PostgreSQL's is in the CTE).
COMPLETE_OPEN = (
    update(_CHECKOUT)
    .where(_C.id == bindparam("checkout_id"), _C.status == "open")
    .values(status="completed", completed_at=bindparam("now"))
)
