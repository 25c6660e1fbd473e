"""Orders: made from checkouts when the provider says so, refunded, disputed.

The webhook handlers (:mod:`.processing`) call :func:`record_session`,
:func:`expire_session`, :func:`apply_charge_refunds` and :func:`record_dispute` inside
the event's transaction; none of them commits. Each is idempotent and converges
whatever the order of delivery:

* an order's status only moves forward: pending → paid, pending → payment_failed;
* a refund takes the charge's cumulative ``amount_refunded``: the order's refunded
  amount becomes ``max(current, amount_refunded)``, capped at the total, so
  duplicates and reordered deliveries end at the same figure;
* a dispute's status never goes back from a closed one (won, lost) to an open one.

Rows are locked in one order everywhere (checkout, then order, then customer), so two
events of one purchase processed at once wait for each other instead of deadlocking.

Merchant-side refunds (:func:`request_refund`) ask the provider and record a Refund
"pending"; the order's refunded amount changes only when ``charge.refunded`` confirms.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload, lazyload

from .. import signals
from ..checkout import service as checkout_service
from ..checkout.models import Checkout
from ..crm import orders as crm_orders
from ..db import utcnow
from ..tracking.models import Interaction
from . import attribution, eventlog, fastpath
from .models import (
    Customer,
    CustomerVisitor,
    Dispute,
    Order,
    OrderEvent,
    OrderLine,
    Refund,
)

if TYPE_CHECKING:
    from ..payments.base import PaymentProvider
    from .processing import Context

log = logging.getLogger("flask_shoppable.orders")

#: A Checkout Session's payment_status → the order's status.
SESSION_PAYMENT_STATUS = {"paid": "paid", "no_payment_required": "paid", "unpaid": "pending"}
#: Provider refund statuses → the Refund row's.
REFUND_STATUS = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
}
#: Dispute statuses by how far along they are; a status never replaces a later one.
DISPUTE_RANK = {
    "warning_needs_response": 1,
    "needs_response": 1,
    "warning_under_review": 2,
    "under_review": 2,
    "warning_closed": 3,
    "won": 3,
    "lost": 3,
    "prevented": 3,
}
#: Refund rows that count against what may still be refunded.
OUTSTANDING_REFUND = ("requested", "pending")
#: A "requested" refund younger than this is taken to be in flight in another request.
REFUND_IN_FLIGHT = timedelta(seconds=60)


class OrderError(Exception):
    """A merchant request the orders service refuses: ``status`` as HTTP would say it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- small helpers ------------------------------------------------------------------


def normalize_email(email: str | None) -> str:
    """Trimmed and lower-cased (the whole address: providers treat it so in practice)."""
    return (email or "").strip().lower()[:320]


def email_hash(email: str) -> str:
    """SHA-256 hex of the normalised email, for matching without the address."""
    return hashlib.sha256(normalize_email(email).encode("utf-8")).hexdigest()


def _id(value: Any) -> str | None:
    """A provider reference that may be an id or an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _amount(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _history(
    ctx: Context | None, order: Order, kind: str, detail: dict[str, Any], session: Session
) -> None:
    session.connection().execute(
        _INSERT_HISTORY,
        [
            {
                "order_id": order.id,
                "kind": kind,
                "detail": detail,
                "provider_event_id": ctx.event_id if ctx else None,
                "at": ctx.now if ctx else utcnow(),
            }
        ],
    )


def _flag(ctx: Context, order: Order, reason: str) -> None:
    """Record a discrepancy on the order: never ignored, always visible."""
    log.warning("order %s flagged: %s (event %s)", order.id, reason, ctx.event_id)
    current = order.flagged_reason or ""
    if reason not in current:
        order.flagged_reason = (f"{current}; {reason}" if current else reason)[:500]
    _history(ctx, order, "flagged", {"reason": reason}, ctx.session)


def _lock_order(stmt: Select[Order]) -> Select[Order]:
    """Lock the order's row and read it afresh (never a stale copy from the session)."""
    return (
        stmt.with_for_update(of=Order)
        .options(lazyload(Order.lines))
        .execution_options(populate_existing=True)
    )


# -- checkout sessions ----------------------------------------------------------------
#
# A new order is the hot path (every paid checkout): it is written with prebuilt Core
# statements on the session's connection (no unit of work, no statement built per
# event), about a dozen round trips in all. Existing orders (a delayed payment settling,
# a duplicate) go through the ORM.

_ORDER = cast(Table, Order.__table__)
_ORDER_LINE = cast(Table, OrderLine.__table__)
_HISTORY = cast(Table, OrderEvent.__table__)
_CUSTOMER = cast(Table, Customer.__table__)
_VISITOR = cast(Table, CustomerVisitor.__table__)

_INSERT_ORDER = insert(_ORDER).returning(_ORDER.c.id)
_INSERT_LINES = insert(_ORDER_LINE)
_INSERT_HISTORY = insert(_HISTORY)
_FLAG_ORDER = (
    update(_ORDER)
    .where(_ORDER.c.id == bindparam("order_id"))
    .values(flagged_reason=bindparam("p_flagged_reason"), updated_at=bindparam("now"))
)
_SELECT_CHECKOUT = (
    select(Checkout, _ORDER.c.id)
    .outerjoin(_ORDER, _ORDER.c.checkout_id == Checkout.id)
    .where(Checkout.id == bindparam("checkout_id"))
    .options(joinedload(Checkout.lines))
    .with_for_update(of=Checkout)
    .execution_options(populate_existing=True)
)


@functools.cache
def _upserts(dialect: str) -> tuple[Any, Any]:
    """(customer by email, visitor link) upserts for a dialect, built once."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    customer_insert = make(_CUSTOMER).values(
        email=bindparam("p_email"),
        email_hash=bindparam("p_email_hash"),
        name=bindparam("p_name"),
        created_at=bindparam("now"),
    )
    customer = customer_insert.on_conflict_do_update(
        index_elements=["email"], set_={"email": customer_insert.excluded.email}
    ).returning(_CUSTOMER.c.id)
    visitor_insert = make(_VISITOR).values(
        visitor_id=bindparam("p_visitor_id"),
        customer_id=bindparam("p_customer_id"),
        linked_at=bindparam("now"),
    )
    visitor = visitor_insert.on_conflict_do_update(
        index_elements=["visitor_id"],
        set_={
            "customer_id": visitor_insert.excluded.customer_id,
            "linked_at": visitor_insert.excluded.linked_at,
        },
    )
    return customer, visitor


def _history_row(ctx: Context, order_id: int, kind: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "kind": kind,
        "detail": detail,
        "provider_event_id": ctx.event_id,
        "at": ctx.now,
    }


def _checkout_id(obj: dict[str, Any]) -> int:
    """The id of the checkout a session names (its metadata).

    Raises :class:`~.processing.Ignored` for a session that is not this shop's.
    """
    from .processing import Ignored

    metadata = obj.get("metadata") or {}
    raw = metadata.get("shoppable_checkout_id") if isinstance(metadata, dict) else None
    if not raw:
        raise Ignored(
            f"session {obj.get('id')} carries no shoppable_checkout_id metadata: "
            "not a Flask-Shoppable checkout"
        )
    try:
        checkout_id = int(raw)
    except (TypeError, ValueError):
        raise Ignored(f"session {obj.get('id')} names checkout {raw!r}, not an id") from None
    if not 0 < checkout_id < 2**31:
        raise Ignored(f"session {obj.get('id')} names checkout {raw!r}, not an id")
    return checkout_id


def _checkout_of_session(
    ctx: Context, obj: dict[str, Any], checkout_id: int | None = None
) -> tuple[Checkout, Order | None]:
    """The checkout a session names, locked, with its order (locked too) if there is one.

    Raises :class:`~.processing.Ignored` for a session that is not this shop's.
    """
    from .processing import Ignored

    if checkout_id is None:
        checkout_id = _checkout_id(obj)
    row = ctx.session.execute(_SELECT_CHECKOUT, {"checkout_id": checkout_id}).unique().first()
    if row is None:
        raise Ignored(f"session {obj.get('id')} names checkout {checkout_id}, which is unknown")
    checkout, order_id = row
    if order_id is None:
        return checkout, None
    order = ctx.session.get(
        Order,
        order_id,
        options=[lazyload(Order.lines)],
        with_for_update=True,
        populate_existing=True,
    )
    return checkout, order


def _customer(ctx: Context, email: str, name: str) -> int:
    """The id of the customer with this (normalised) email, created if new."""
    customer, _visitor = _upserts(ctx.session.get_bind().dialect.name)
    params = {
        "p_email": email,
        "p_email_hash": email_hash(email),
        "p_name": name[:300],
        "now": ctx.now,
    }
    customer_id: int = ctx.session.connection().execute(customer, params).scalar_one()
    return customer_id


def link_visitor(session: Session, visitor_id: str, customer_id: int, now: datetime) -> None:
    """Join a visitor id to a customer (the latest purchase from a browser wins)."""
    _customer_stmt, visitor = _upserts(session.get_bind().dialect.name)
    params = {"p_visitor_id": visitor_id, "p_customer_id": customer_id, "now": now}
    session.connection().execute(visitor, params)


def _shipping(obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    collected = obj.get("collected_information") or {}
    details = (collected.get("shipping_details") if isinstance(collected, dict) else None) or (
        obj.get("shipping_details") or {}
    )
    if not isinstance(details, dict):
        return "", {}
    address = details.get("address") or {}
    if not isinstance(address, dict):
        address = {}
    keys = ("line1", "line2", "city", "state", "postal_code", "country")
    clean = {k: str(address[k])[:200] for k in keys if address.get(k)}
    return str(details.get("name") or "")[:300], clean


def _origin_labels(ctx: Context, checkout: Checkout) -> dict[str, Any]:
    """Channel, post and link of the order: the checkout's, else its origin's row."""
    labels = {"channel": checkout.channel, "post_id": checkout.post_id, "link_id": checkout.link_id}
    if checkout.origin_interaction_id is not None and labels["channel"] is None:
        origin = ctx.session.execute(
            select(Interaction.channel, Interaction.post_id, Interaction.link_id).where(
                Interaction.id == checkout.origin_interaction_id
            )
        ).first()
        if origin is not None:
            labels = {
                "channel": origin.channel,
                "post_id": labels["post_id"] or origin.post_id,
                "link_id": labels["link_id"] or origin.link_id,
            }
    return labels


def _order_values(
    ctx: Context, checkout: Checkout, obj: dict[str, Any], status: str
) -> dict[str, Any]:
    """The new order's columns, from the session event and its checkout."""
    details = obj.get("customer_details") or {}
    if not isinstance(details, dict):
        details = {}
    email = normalize_email(details.get("email") or obj.get("customer_email") or checkout.email)
    totals = obj.get("total_details") or {}
    if not isinstance(totals, dict):
        totals = {}
    subtotal = _amount(obj.get("amount_subtotal", checkout.subtotal_amount), "amount_subtotal")
    total = _amount(obj.get("amount_total", subtotal), "amount_total")
    name, address = _shipping(obj)
    return {
        "checkout_id": checkout.id,
        "customer_id": None,
        "status": status,
        "currency": str(obj.get("currency") or checkout.currency).upper()[:3],
        "subtotal_amount": subtotal,
        "discount_amount": _amount(totals.get("amount_discount", 0) or 0, "amount_discount"),
        "shipping_amount": _amount(totals.get("amount_shipping", 0) or 0, "amount_shipping"),
        "tax_amount": _amount(totals.get("amount_tax", 0) or 0, "amount_tax"),
        "total_amount": total,
        "refunded_amount": 0,
        "dispute_status": None,
        "email": email,
        "shipping_name": name,
        "shipping_address": address,
        "provider": ctx.provider,
        "provider_session_id": _id(obj.get("id")),
        "provider_payment_id": _id(obj.get("payment_intent")),
        "origin_interaction_id": checkout.origin_interaction_id,
        "visitor_id": checkout.visitor_id,
        "flagged_reason": "",
        "created_at": ctx.now,
        "updated_at": ctx.now,
        "paid_at": ctx.now if status == "paid" else None,
        **_origin_labels(ctx, checkout),
    }


def _discrepancies(checkout: Checkout, obj: dict[str, Any]) -> list[str]:
    """How a session disagrees with its checkout (amount, currency, session id)."""
    found = []
    currency = str(obj.get("currency") or "").upper()
    subtotal = obj.get("amount_subtotal")
    if currency != checkout.currency:
        found.append(f"currency {currency or '?'} in the event, {checkout.currency} in checkout")
    if subtotal != checkout.subtotal_amount:
        found.append(
            f"amount_subtotal {subtotal} in the event, {checkout.subtotal_amount} in the checkout"
        )
    session_id = _id(obj.get("id"))
    if checkout.provider_session_id and session_id != checkout.provider_session_id:
        found.append(
            f"session {session_id} names checkout {checkout.id}, whose session is "
            f"{checkout.provider_session_id}"
        )
    return found


def _credits(
    ctx: Context,
    order_id: int,
    amount: int,
    paid_at: datetime,
    customer_id: int | None,
    checkout: Checkout,
    labels: Mapping[str, Any],
) -> None:
    """Write the order's credits under every model (one query for the touches, one insert).

    ``labels``: the order's channel, post_id and link_id (an unwritten origin's).
    """
    lookback, half_life = attribution.settings(ctx.config)
    found = attribution.touches(
        ctx.session,
        at=paid_at,
        lookback=lookback,
        visitor_id=checkout.visitor_id,
        customer_id=customer_id,
        origin_id=checkout.origin_interaction_id,
        origin_fallback_at=checkout.created_at,
    )
    rows = attribution.credit_rows(
        order_id, amount, paid_at, found, order=labels, lookback=lookback, half_life=half_life
    )
    attribution.write_credits(ctx.session, rows)


def _detached_order(order_id: int, values: dict[str, Any], checkout: Checkout) -> Order:
    """The order just written, as an object for the signal's listeners (not in a session)."""
    order = Order(id=order_id, **values)
    order.lines = [OrderLine(order_id=order_id, **line) for line in _line_values(checkout)]
    return order


def _line_values(checkout: Checkout) -> list[dict[str, Any]]:
    return [
        {
            "variant_id": line.variant_id,
            "product_id": line.product_id,
            "title": line.title,
            "sku": line.sku,
            "unit_amount": line.unit_amount,
            "quantity": line.quantity,
        }
        for line in checkout.lines
    ]


def _create_order(ctx: Context, checkout: Checkout, obj: dict[str, Any], status: str) -> int:
    """Write a new order with its lines, customer, credits and history; its id."""
    conn = ctx.session.connection()
    values = _order_values(ctx, checkout, obj, status)
    email = values["email"]
    if email:
        details = obj.get("customer_details") or {}
        name = str(details.get("name") or "") if isinstance(details, dict) else ""
        values["customer_id"] = _customer(ctx, email, name)
        if checkout.visitor_id:
            link_visitor(ctx.session, checkout.visitor_id, values["customer_id"], ctx.now)
    flags = _discrepancies(checkout, obj)
    values["flagged_reason"] = "; ".join(flags)[:500]
    order_id: int = conn.execute(_INSERT_ORDER, values).scalar_one()
    conn.execute(_INSERT_LINES, [{"order_id": order_id, **v} for v in _line_values(checkout)])
    history = [_history_row(ctx, order_id, status, {"event": ctx.event_type})]
    for reason in flags:
        log.warning("order %s flagged: %s (event %s)", order_id, reason, ctx.event_id)
        history.append(_history_row(ctx, order_id, "flagged", {"reason": reason}))
    conn.execute(_INSERT_HISTORY, history)
    if status == "paid":
        _credits(
            ctx, order_id, values["total_amount"], ctx.now, values["customer_id"], checkout, values
        )
        _announce_paid(ctx, order_id, values, checkout)
    if values["provider_payment_id"]:
        ctx.nudged.extend(eventlog.nudge(ctx.session, values["provider_payment_id"], ctx.now))
    log.info("order %s created %s from checkout %s", order_id, status, checkout.id)
    ctx.created = (order_id, values["flagged_reason"])
    return order_id


def _announce_paid(ctx: Context, order_id: int, values: dict[str, Any], checkout: Checkout) -> None:
    """A new paid order to the CRM outbox and to ``order_paid``: each only when a CRM
    sink is configured or a receiver connected (no work, no round trip otherwise)."""
    if crm_orders.enabled(ctx.app):
        paid = _detached_order(order_id, values, checkout)
        crm_orders.enqueue_order_event(ctx.session, paid, "order.paid", app=ctx.app)
    if signals.order_paid.receivers:
        order = _detached_order(order_id, values, checkout)
        ctx.signals.append((signals.order_paid, {"order": order}))


def _create_order_fast(
    ctx: Context, snapshot: fastpath.CheckoutSnapshot, obj: dict[str, Any], status: str
) -> int:
    """A new pending or paid order of an open checkout (locked), completing it.

    The webhook's hot path (see :mod:`.fastpath`): on PostgreSQL, with an email and a
    visitor, two statements write everything; elsewhere :func:`_create_order` does, and
    one UPDATE completes the checkout.
    """
    checkout = cast(Checkout, snapshot)
    postgres = ctx.session.get_bind().dialect.name == "postgresql"
    values = _order_values(ctx, checkout, obj, status) if postgres else {}
    email = values.get("email")
    if not (postgres and email and snapshot.visitor_id):
        order_id = _create_order(ctx, checkout, obj, status)
        completed = ctx.session.connection().execute(
            fastpath.COMPLETE_OPEN, {"checkout_id": snapshot.id, "now": ctx.now}
        )
        if completed.rowcount != 1:  # type: ignore[attr-defined]
            raise RuntimeError(f"checkout {snapshot.id} changed under its lock")
        return order_id
    assert snapshot.visitor_id is not None
    details = obj.get("customer_details") or {}
    name = str(details.get("name") or "") if isinstance(details, dict) else ""
    lookback, half_life = attribution.settings(ctx.config)
    customer_id, rows = fastpath.customer_and_touches(
        ctx.session,
        email=email,
        email_hash=email_hash(email),
        name=name[:300],
        visitor_id=snapshot.visitor_id,
        now=ctx.now,
        start=ctx.now - lookback,
        at=ctx.now,
    )
    values["customer_id"] = customer_id
    flags = _discrepancies(checkout, obj)
    values["flagged_reason"] = "; ".join(flags)[:500]
    credits: list[dict[str, Any]] = []
    if status == "paid":
        touches = attribution.with_origin(
            rows,
            at=ctx.now,
            lookback=lookback,
            origin_id=snapshot.origin_interaction_id,
            fallback=snapshot.created_at,
        )
        credits = attribution.credit_rows(
            0,
            values["total_amount"],
            ctx.now,
            touches,
            order=values,
            lookback=lookback,
            half_life=half_life,
        )
    written = fastpath.write_order(
        ctx.session,
        values=values,
        lines=_line_values(checkout),
        history=[(status, {"event": ctx.event_type})]
        + [("flagged", {"reason": reason}) for reason in flags],
        credits=credits,
        checkout_id=snapshot.id,
        payment_id=values["provider_payment_id"],
        provider_event_id=ctx.event_id,
        now=ctx.now,
    )
    if not written.completed:
        raise RuntimeError(f"checkout {snapshot.id} changed under its lock")
    order_id = written.order_id
    for reason in flags:
        log.warning("order %s flagged: %s (event %s)", order_id, reason, ctx.event_id)
    if status == "paid":
        _announce_paid(ctx, order_id, values, checkout)
    ctx.nudged.extend(written.nudged)
    log.info("order %s created %s from checkout %s", order_id, status, snapshot.id)
    ctx.created = (order_id, values["flagged_reason"])
    return order_id


def _advance(
    ctx: Context, order: Order, status: str, obj: dict[str, Any], checkout: Checkout
) -> None:
    """Move an existing order forward (pending → paid or payment_failed), never back."""
    if not (order.status == "pending" and status in ("paid", "payment_failed")):
        if order.status != status:
            log.info(
                "order %s stays %s: %s (%s) came after it",
                order.id,
                order.status,
                ctx.event_type,
                ctx.event_id,
            )
        return
    order.status = status
    order.updated_at = ctx.now
    payment_id = _id(obj.get("payment_intent"))
    if payment_id and not order.provider_payment_id:
        order.provider_payment_id = payment_id
        ctx.nudged.extend(eventlog.nudge(ctx.session, payment_id, ctx.now))
    _history(ctx, order, status, {"event": ctx.event_type}, ctx.session)
    if status == "paid":
        order.paid_at = order.paid_at or ctx.now
        ctx.session.flush()
        labels = {"channel": order.channel, "post_id": order.post_id, "link_id": order.link_id}
        _credits(
            ctx, order.id, order.total_amount, order.paid_at, order.customer_id, checkout, labels
        )
        crm_orders.enqueue_order_event(ctx.session, order, "order.paid", app=ctx.app)
        ctx.signals.append((signals.order_paid, {"order": order}))


def record_session(
    ctx: Context, obj: dict[str, Any], status: str, *, complete_checkout: bool
) -> None:
    """Create or move forward the order of a Checkout Session event.

    ``status`` is what the event says (pending, paid, payment_failed). A new order copies
    the checkout's lines and takes the session's totals, customer and shipping; a known
    one only moves forward. The checkout is completed (stock kept) while the order is
    pending or paid, and released when its payment failed.
    """
    checkout_id = _checkout_id(obj)
    if complete_checkout and status in ("pending", "paid"):
        # The usual case, a new order of an open checkout, in few statements; anything
        # else (an order there already, a checkout released or completed) below, with
        # the ORM, under the lock this takes.
        snapshot = fastpath.lock_checkout(ctx.session, checkout_id)
        if snapshot is not None and snapshot.order_id is None and snapshot.status == "open":
            _create_order_fast(ctx, snapshot, obj, status)
            return
    checkout, order = _checkout_of_session(ctx, obj, checkout_id)
    if order is None:
        order_id = _create_order(ctx, checkout, obj, status)
        current = status
    else:
        _advance(ctx, order, status, obj, checkout)
        order_id, current = order.id, order.status

    if current in ("pending", "paid") and complete_checkout:
        completion = checkout_service.complete(ctx.session, checkout, now=ctx.now)
        if completion.oversold:
            gone = ", ".join(f"{o.quantity} of variant {o.variant_id}" for o in completion.oversold)
            _flag_id(ctx, order_id, order, f"oversold: the stock of {gone} was gone")
    elif current == "payment_failed":
        reason = checkout_service.PAYMENT_FAILED
        checkout_service.release(ctx.session, checkout, reason, now=ctx.now)


def _flag_id(ctx: Context, order_id: int, order: Order | None, reason: str) -> None:
    """Flag an order known by id (created with Core) or object (loaded with the ORM)."""
    if order is not None:
        _flag(ctx, order, reason)
        return
    log.warning("order %s flagged: %s (event %s)", order_id, reason, ctx.event_id)
    previous = ctx.created[1] if ctx.created and ctx.created[0] == order_id else ""
    combined = (f"{previous}; {reason}" if previous else reason)[:500]
    conn = ctx.session.connection()
    conn.execute(_FLAG_ORDER, {"order_id": order_id, "p_flagged_reason": combined, "now": ctx.now})
    conn.execute(_INSERT_HISTORY, [_history_row(ctx, order_id, "flagged", {"reason": reason})])


def expire_session(ctx: Context, obj: dict[str, Any]) -> None:
    """The session expired unpaid: give the checkout's stock back (once)."""
    checkout, order = _checkout_of_session(ctx, obj)
    if order is not None:
        log.info("session %s expired; checkout %s has an order", obj.get("id"), checkout.id)
        return
    checkout_service.release(ctx.session, checkout, checkout_service.EXPIRED, now=ctx.now)


# -- charges: refunds and disputes ------------------------------------------------------


def _order_of_payment(ctx: Context, payment_id: str | None) -> Order | None:
    if payment_id is None:
        return None
    return ctx.session.scalars(
        _lock_order(select(Order).where(Order.provider_payment_id == payment_id)).limit(1)
    ).first()


def apply_charge_refunds(ctx: Context, charge: dict[str, Any]) -> None:
    """``charge.refunded``: the order's refunded amount follows the charge's cumulative one."""
    from .processing import Ignored, NotYetKnown

    payment_id = _id(charge.get("payment_intent"))
    order = _order_of_payment(ctx, payment_id)
    if order is None:
        metadata = charge.get("metadata") or {}
        ours = isinstance(metadata, dict) and metadata.get("shoppable_checkout_id")
        if not ours or payment_id is None:
            raise Ignored(
                f"charge {charge.get('id')} matches no order and carries no "
                "shoppable_checkout_id metadata: not a Flask-Shoppable payment"
            )
        raise NotYetKnown(
            f"no order yet for payment {payment_id} (checkout {ours}): waiting for its "
            "checkout.session.completed",
            waiting_for=payment_id,
        )
    currency = str(charge.get("currency") or "").upper()
    if currency and currency != order.currency:
        _flag(ctx, order, f"refund in {currency} on an order in {order.currency}")
    cumulative = _amount(charge.get("amount_refunded", 0), "amount_refunded")
    if cumulative > order.total_amount:
        _flag(
            ctx,
            order,
            f"amount_refunded {cumulative} exceeds the order total {order.total_amount}",
        )
    _confirm_refund_rows(ctx, order, charge)
    new_total = min(max(order.refunded_amount, cumulative), order.total_amount)
    delta = new_total - order.refunded_amount
    if delta > 0:
        order.refunded_amount = new_total
        order.updated_at = ctx.now
        _history(
            ctx,
            order,
            "refunded",
            {"amount": delta, "refunded_amount": new_total, "charge": charge.get("id")},
            ctx.session,
        )
        crm_orders.enqueue_order_event(ctx.session, order, "order.refunded", app=ctx.app)
        ctx.signals.append((signals.order_refunded, {"order": order, "amount": delta}))


def _confirm_refund_rows(ctx: Context, order: Order, charge: dict[str, Any]) -> None:
    """Bring the order's Refund rows in line with the refunds the charge lists."""
    refunds = charge.get("refunds")
    listed = refunds.get("data") if isinstance(refunds, dict) else None
    rows = list(
        ctx.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
    )
    by_provider = {r.provider_refund_id: r for r in rows if r.provider_refund_id}
    by_id = {r.id: r for r in rows}
    if isinstance(listed, list):
        for item in listed:
            if not isinstance(item, dict) or not _id(item.get("id")):
                continue
            status = REFUND_STATUS.get(str(item.get("status")), "pending")
            row = by_provider.get(item["id"])
            if row is None:
                metadata = item.get("metadata") or {}
                ours = metadata.get("shoppable_refund_id") if isinstance(metadata, dict) else None
                candidate = by_id.get(int(ours)) if ours and str(ours).isdigit() else None
                if candidate is not None and candidate.provider_refund_id is None:
                    row = candidate
                    row.provider_refund_id = item["id"]
            if row is None:
                refund_amount = _amount(item.get("amount"), "refund amount")
                if refund_amount == 0:
                    continue
                row = Refund(
                    order_id=order.id,
                    provider_refund_id=item["id"],
                    amount=refund_amount,
                    currency=str(item.get("currency") or order.currency).upper()[:3],
                    status=status,
                    reason=str(item.get("reason") or "")[:100],
                    error="",
                    created_at=ctx.now,
                    confirmed_at=ctx.now if status == "succeeded" else None,
                )
                ctx.session.add(row)
                by_provider[item["id"]] = row
                continue
            if row.status != status and row.status not in ("succeeded", "failed", "canceled"):
                row.status = status
                if status == "succeeded":
                    row.confirmed_at = ctx.now
        return
    # The charge does not list its refunds (recent API versions leave them out):
    # confirm our pending ones, oldest first, as far as the cumulative amount covers.
    cumulative = charge.get("amount_refunded", 0)
    confirmed = sum(r.amount for r in rows if r.status == "succeeded")
    for row in rows:
        if row.status == "pending" and confirmed + row.amount <= cumulative:
            row.status = "succeeded"
            row.confirmed_at = ctx.now
            confirmed += row.amount


def record_dispute(ctx: Context, dispute: dict[str, Any]) -> None:
    """``charge.dispute.*``: the Dispute row and the order's dispute status."""
    from .processing import Ignored, NotYetKnown

    payment_id = _id(dispute.get("payment_intent"))
    dispute_id = _id(dispute.get("id"))
    if dispute_id is None:
        raise ValueError("the dispute has no id")
    order = _order_of_payment(ctx, payment_id)
    if order is None:
        if payment_id is None:
            raise Ignored(f"dispute {dispute_id} names no payment intent: not ours")
        raise NotYetKnown(
            f"no order yet for payment {payment_id} of dispute {dispute_id}", waiting_for=payment_id
        )
    status = str(dispute.get("status") or "needs_response")[:40]
    row = ctx.session.scalars(
        select(Dispute).where(Dispute.provider_dispute_id == dispute_id)
    ).first()
    if row is None:
        row = Dispute(
            order_id=order.id,
            provider_dispute_id=dispute_id,
            amount=_amount(dispute.get("amount", 0), "dispute amount"),
            currency=str(dispute.get("currency") or order.currency).upper()[:3],
            status=status,
            reason=str(dispute.get("reason") or "")[:100],
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        ctx.session.add(row)
    elif DISPUTE_RANK.get(status, 1) >= DISPUTE_RANK.get(row.status, 1) and row.status != status:
        row.status = status
        row.amount = _amount(dispute.get("amount", row.amount), "dispute amount")
        row.updated_at = ctx.now
    else:
        return
    if order.dispute_status != row.status:
        order.dispute_status = row.status
        order.updated_at = ctx.now
        _history(
            ctx,
            order,
            "dispute",
            {"dispute": dispute_id, "status": row.status, "amount": row.amount},
            ctx.session,
        )
        crm_orders.enqueue_order_event(ctx.session, order, "order.disputed", app=ctx.app)


# -- the merchant's side ---------------------------------------------------------------


def get_order(session: Session, order_id: int) -> Order:
    order = session.get(Order, order_id) if 0 < order_id < 2**31 else None
    if order is None:
        raise OrderError(404, f"No order {order_id}.")
    return order


def outstanding(session: Session, order: Order) -> int:
    """Refunds asked for and not yet confirmed (they count against the remainder)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.order_id == order.id, Refund.status.in_(OUTSTANDING_REFUND)
        )
    )
    return int(total or 0)


def refundable(session: Session, order: Order) -> int:
    """What may still be refunded: total, less confirmed and asked-for and unconfirmed."""
    return max(0, order.total_amount - order.refunded_amount - outstanding(session, order))


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    #: True when the Idempotency-Key had been used: the stored answer, no provider call.
    replayed: bool


def _lock_order_for_refund(session: Session, order_id: int) -> Order:
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's deferred transactions cannot wait for the write lock once they have
        # read; take it first, so two refund requests for one order run one at a time.
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        order = session.get(Order, order_id, populate_existing=True)
    else:
        order = session.scalars(_lock_order(select(Order).where(Order.id == order_id))).first()
    if order is None:
        raise OrderError(404, f"No order {order_id}.")
    return order


def request_refund(
    session: Session,
    provider: PaymentProvider,
    order_id: int,
    *,
    key: str,
    amount: int | None,
    reason: str = "",
    now: datetime | None = None,
) -> RefundResult:
    """Ask the provider to refund ``amount`` (None: the rest) of an order, once per key.

    The same ``key`` answers the stored refund without calling the provider again. The
    amount may not exceed what remains once confirmed and requested refunds are counted
    (409). The Refund row is written "requested" and committed before the provider call,
    then "pending" (or "failed", with the provider's message) after it; the order's
    refunded amount changes only when the provider's ``charge.refunded`` confirms.
    """
    now = now or utcnow()
    if not 0 < order_id < 2**31:
        raise OrderError(404, f"No order {order_id}.")
    try:
        order = _lock_order_for_refund(session, order_id)
        existing = session.scalars(
            select(Refund).where(Refund.order_id == order.id, Refund.client_key == key)
        ).first()
        if existing is not None:
            session.rollback()
            return _replay(session, provider, order, existing, amount, now)
        if order.status != "paid":
            raise OrderError(409, f"Order {order.id} is {order.status}; only paid orders refund.")
        if not order.provider_payment_id:
            raise OrderError(409, f"Order {order.id} has no provider payment to refund.")
        remainder = refundable(session, order)
        wanted = remainder if amount is None else amount
        if wanted <= 0:
            raise OrderError(409, f"Order {order.id} has nothing left to refund.")
        if wanted > remainder:
            raise OrderError(
                409,
                f"Order {order.id} can be refunded at most {remainder} more "
                f"({order.currency} minor units, counting refunds not yet confirmed).",
            )
        refund = Refund(
            order_id=order.id,
            amount=wanted,
            currency=order.currency,
            status="requested",
            reason=reason[:100],
            client_key=key,
            error="",
            created_at=now,
        )
        session.add(refund)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return RefundResult(_call_provider(session, provider, order, refund), replayed=False)


def _replay(
    session: Session,
    provider: PaymentProvider,
    order: Order,
    refund: Refund,
    amount: int | None,
    now: datetime,
) -> RefundResult:
    if amount is not None and amount != refund.amount:
        raise OrderError(
            422,
            f"This Idempotency-Key was used for a refund of {refund.amount}; "
            "use a new key for a different refund.",
        )
    if refund.status == "requested":
        # The first request is still talking to the provider, or died doing so.
        if now - refund.created_at < REFUND_IN_FLIGHT:
            raise OrderError(409, "A refund with this Idempotency-Key is still in progress.")
        return RefundResult(_call_provider(session, provider, order, refund), replayed=True)
    return RefundResult(refund, replayed=True)


def _call_provider(
    session: Session, provider: PaymentProvider, order: Order, refund: Refund
) -> Refund:
    from ..payments.base import PaymentError

    assert order.provider_payment_id is not None
    try:
        answer = provider.refund(
            order.provider_payment_id,
            refund.amount,
            f"shoppable-refund-{refund.id}",
            {"shoppable_order_id": str(order.id), "shoppable_refund_id": str(refund.id)},
        )
    except PaymentError as exc:
        _record_answer(session, refund, status="failed", error=exc.message[:500])
        log.warning("refund %s of order %s refused: %s", refund.id, order.id, exc.message)
        return refund
    # "pending" whatever the provider said: the order follows its webhook, not this answer.
    status = "failed" if answer.status in ("failed", "canceled") else "pending"
    _record_answer(session, refund, status=status, provider_refund_id=answer.id)
    if refund.status == "pending" and answer.status == "succeeded":
        _settle_if_confirmed(session, order.id, refund)
    log.info("refund %s of order %s requested (%s)", refund.id, order.id, answer.id)
    return refund


def _settle_if_confirmed(session: Session, order_id: int, refund: Refund) -> None:
    """Confirm ``refund`` when the provider's webhook already came and counted it.

    A ``charge.refunded`` that does not list its refunds confirms the "pending" rows its
    cumulative amount covers; one processed while this refund was still "requested" (the
    provider sends it at once) raised the order's refunded amount without confirming the
    row. The refund succeeded (the provider said so) and is covered: it is confirmed here,
    under the order's lock, so that nothing stays pending for ever.
    """
    try:
        order = _lock_order_for_refund(session, order_id)
        confirmed = session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.order_id == order_id, Refund.status == "succeeded"
            )
        )
        if order.refunded_amount >= int(confirmed or 0) + refund.amount:
            session.execute(
                update(Refund)
                .where(Refund.id == refund.id, Refund.status == "pending")
                .values(status="succeeded", confirmed_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.refresh(refund)


def _record_answer(session: Session, refund: Refund, **values: Any) -> None:
    """Write the provider's answer on a refund still "requested", then read the row back.

    The provider's webhook may have been processed in the meantime (it is sent at once,
    and may arrive before this request commits): it has then matched the row by its
    ``shoppable_refund_id`` metadata and confirmed it, which this answer must not undo.
    """
    session.execute(
        update(Refund)
        .where(Refund.id == refund.id, Refund.status == "requested")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(refund)


def select_orders(
    *,
    status: str | None = None,
    channel: str | None = None,
    post_id: int | None = None,
    email: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    flagged: bool | None = None,
    fulfilled: bool | None = None,
) -> Select[Order]:
    """Orders matching the filters, newest first."""
    stmt = select(Order)
    if status:
        stmt = stmt.where(Order.status == status)
    if channel:
        stmt = stmt.where(Order.channel == channel)
    if post_id is not None:
        stmt = stmt.where(Order.post_id == post_id)
    if email:
        stmt = stmt.where(Order.email == normalize_email(email))
    if created_from is not None:
        stmt = stmt.where(Order.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Order.created_at < created_to)
    if flagged is True:
        stmt = stmt.where(Order.flagged_reason != "")
    elif flagged is False:
        stmt = stmt.where(Order.flagged_reason == "")
    if fulfilled is not None:
        stmt = stmt.where(
            Order.fulfilled_at.is_not(None) if fulfilled else Order.fulfilled_at.is_(None)
        )
    return stmt.order_by(Order.created_at.desc(), Order.id.desc())


def origin_of(session: Session, order: Order) -> Interaction | None:
    if order.origin_interaction_id is None:
        return None
    return session.get(Interaction, order.origin_interaction_id)


def related(session: Session, order: Order) -> Mapping[str, list[Any]]:
    """The order's credits, refunds, disputes and history, for the API."""
    from .models import OrderCredit

    return {
        "credits": list(
            session.scalars(
                select(OrderCredit)
                .where(OrderCredit.order_id == order.id)
                .order_by(OrderCredit.model, OrderCredit.id)
            )
        ),
        "refunds": list(
            session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
        ),
        "disputes": list(
            session.scalars(
                select(Dispute).where(Dispute.order_id == order.id).order_by(Dispute.id)
            )
        ),
        "history": list(
            session.scalars(
                select(OrderEvent)
                .where(OrderEvent.order_id == order.id)
                .order_by(OrderEvent.at, OrderEvent.id)
            )
        ),
    }
