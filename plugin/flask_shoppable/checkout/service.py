"""The life of a checkout: opened with its stock held, then completed or released.

* :func:`open_checkout` takes the stock of every line and writes the checkout and its
  lines in ONE transaction: either all of it is committed or none (a line that runs
  out rolls back the units already taken for the others).
* :func:`attach_session` stores the provider's session id and URL once it exists.
* :func:`complete` (webhook: the session completed) keeps the stock taken.
* :func:`release` (webhook: the session expired or the payment failed; the provider
  call failed; the worker found it expired) gives the stock back, exactly once: the
  status change is a conditional UPDATE (``WHERE released_at IS NULL``), so of two
  concurrent releases only one matches a row and only that one adds the stock back.
* :func:`release_expired` is the worker's sweep for checkouts whose session expired
  and whose webhook never came.

``complete`` and ``release`` do not commit: the webhook processing that calls them
commits once with the order. ``open_checkout``, ``attach_session`` and
``release_expired`` commit (they are whole steps of their own).

Stock is taken in variant-id order, so two checkouts that share variants lock the rows
in the same order and cannot deadlock on PostgreSQL.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..db import utcnow
from ..payments.base import ProviderSession
from . import reservations
from .cart import Cart, out_of_stock
from .models import Checkout, CheckoutLine

log = logging.getLogger("flask_shoppable.checkout")

#: The reason :func:`release` records when a session expired; its status is "expired".
EXPIRED = "expired"
#: The reason for a payment that failed after the session completed (an async method):
#: the only reason that may release a completed checkout.
PAYMENT_FAILED = "payment_failed"
#: The reason when the provider refused or could not be reached while opening a session.
PROVIDER_ERROR = "provider_error"
#: How long after its expiry the worker waits for the provider's webhook before it
#: releases a checkout itself (the webhook normally comes within seconds).
RELEASE_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class CheckoutDetails:
    """Who opened the checkout and where they came from (nothing here is a price)."""

    origin_interaction_id: uuid.UUID | None = None
    interaction_id: uuid.UUID | None = None
    visitor_id: str | None = None
    post_id: int | None = None
    link_id: int | None = None
    channel: str | None = None
    email: str = ""
    promotion_code: str = ""
    user_agent: str = ""
    client_ip: str = ""


@dataclass(frozen=True)
class Oversold:
    """A line whose stock could not be taken again when a released checkout completed."""

    variant_id: int
    quantity: int


@dataclass(frozen=True)
class Completion:
    """What :func:`complete` did: ``changed`` is False when it was already completed."""

    changed: bool
    oversold: tuple[Oversold, ...] = ()


def open_checkout(
    session: Session,
    cart: Cart,
    details: CheckoutDetails,
    *,
    expires_at: datetime,
    provider: str = "stripe",
) -> Checkout:
    """Hold the cart's stock and write the checkout, committed together or not at all.

    Raises :class:`~.errors.CheckoutError` (409) when a line's stock ran out since the
    cart was priced; the database is then as it was.
    """
    try:
        reserved: dict[int, int] = {}
        for line in sorted(cart.lines, key=lambda item: item.variant_id):
            if not line.tracked:
                reserved[line.variant_id] = 0
                continue
            taken = reservations.take(session, line.variant_id, line.quantity)
            if not taken.ok:
                raise out_of_stock(line.title, taken.available or 0)
            reserved[line.variant_id] = taken.reserved
        checkout = Checkout(
            status="open",
            provider=provider,
            provider_url="",
            currency=cart.currency,
            subtotal_amount=cart.subtotal,
            origin_interaction_id=details.origin_interaction_id,
            interaction_id=details.interaction_id,
            visitor_id=details.visitor_id,
            post_id=details.post_id,
            link_id=details.link_id,
            channel=details.channel,
            email=details.email[:320],
            promotion_code=details.promotion_code[:100],
            user_agent=details.user_agent[:500],
            client_ip=details.client_ip[:45],
            created_at=utcnow(),
            expires_at=expires_at,
            release_reason="",
        )
        checkout.lines = [
            CheckoutLine(
                variant_id=line.variant_id,
                product_id=line.product_id,
                title=line.title,
                sku=line.sku,
                unit_amount=line.unit_amount,
                quantity=line.quantity,
                reserved=reserved[line.variant_id],
                requires_shipping=line.requires_shipping,
            )
            for line in cart.lines
        ]
        session.add(checkout)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return checkout


def attach_session(session: Session, checkout: Checkout, provider_session: ProviderSession) -> None:
    """Store the provider's session id and URL on the checkout, and commit."""
    checkout.provider_session_id = provider_session.id
    checkout.provider_url = provider_session.url[:2000]
    session.commit()


def _line_holds(session: Session, checkout_id: int) -> list[tuple[int, int, int | None]]:
    """(line id, reserved, variant id) of each line, as the database has them now."""
    rows = session.execute(
        select(CheckoutLine.id, CheckoutLine.reserved, CheckoutLine.variant_id)
        .where(CheckoutLine.checkout_id == checkout_id)
        .order_by(CheckoutLine.variant_id)
    )
    return [(row.id, row.reserved, row.variant_id) for row in rows]


def release(
    session: Session, checkout: Checkout, reason: str, *, now: datetime | None = None
) -> bool:
    """Give the checkout's held stock back, once; True if this call did it.

    The status becomes "expired" for :data:`EXPIRED`, else "failed". An open checkout
    is released for any reason; a completed one only for :data:`PAYMENT_FAILED` (an
    async payment that failed after the session completed). Anything else (already
    released, completed and paid) is left as it is and answers False. Does not commit.
    """
    now = now or utcnow()
    status = "expired" if reason == EXPIRED else "failed"
    releasable = ("open", "completed") if reason == PAYMENT_FAILED else ("open",)
    result = session.execute(
        update(Checkout)
        .where(
            Checkout.id == checkout.id,
            Checkout.released_at.is_(None),
            Checkout.status.in_(releasable),
        )
        .values(status=status, released_at=now, release_reason=reason[:40])
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(checkout, ["status", "released_at", "release_reason", "completed_at"])
        return False
    for _line_id, held, variant_id in _line_holds(session, checkout.id):
        if variant_id is not None and held > 0:
            reservations.give_back(session, variant_id, held)
    set_committed_value(checkout, "status", status)
    set_committed_value(checkout, "released_at", now)
    set_committed_value(checkout, "release_reason", reason[:40])
    log.info("checkout %s released (%s)", checkout.id, reason)
    return True


def complete(session: Session, checkout: Checkout, *, now: datetime | None = None) -> Completion:
    """Mark the checkout completed, keeping the stock it holds. Does not commit.

    Idempotent: a completed checkout answers ``Completion(changed=False)``. A checkout
    released before its payment was confirmed (the worker's sweep or an expiry raced
    the payment) takes its stock again; a line whose stock has gone meanwhile is
    reported in ``oversold`` (its ``reserved`` becomes 0) for the order to flag.
    """
    now = now or utcnow()
    opened = session.execute(
        update(Checkout)
        .where(Checkout.id == checkout.id, Checkout.status == "open")
        .values(status="completed", completed_at=now)
        .execution_options(synchronize_session=False)
    )
    if opened.rowcount == 1:  # type: ignore[attr-defined]
        set_committed_value(checkout, "status", "completed")
        set_committed_value(checkout, "completed_at", now)
        return Completion(changed=True)

    revived = session.execute(
        update(Checkout)
        .where(
            Checkout.id == checkout.id,
            Checkout.status.in_(("expired", "failed")),
            Checkout.released_at.is_not(None),
        )
        .values(status="completed", completed_at=now, released_at=None)
        .execution_options(synchronize_session=False)
    )
    if revived.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(checkout, ["status", "released_at", "release_reason", "completed_at"])
        return Completion(changed=False)
    oversold: list[Oversold] = []
    for line_id, held, variant_id in _line_holds(session, checkout.id):
        if variant_id is None or held <= 0:
            continue
        if not reservations.take(session, variant_id, held).ok:
            oversold.append(Oversold(variant_id, held))
            session.execute(
                update(CheckoutLine)
                .where(CheckoutLine.id == line_id)
                .values(reserved=0)
                .execution_options(synchronize_session=False)
            )
    session.expire(checkout)
    if oversold:
        log.warning("checkout %s completed after release; oversold %s", checkout.id, oversold)
    return Completion(changed=True, oversold=tuple(oversold))


def release_expired(
    session: Session, now: datetime | None = None, *, grace: timedelta = RELEASE_GRACE
) -> int:
    """Release every open checkout that expired more than ``grace`` ago; how many.

    Each checkout is released and committed in its own transaction. On PostgreSQL the
    row is claimed with ``FOR UPDATE SKIP LOCKED`` so any number of workers can sweep
    at once without waiting on each other; the conditional release makes a double
    release harmless on either backend.
    """
    now = now or utcnow()
    cutoff = now - grace
    postgres = session.get_bind().dialect.name == "postgresql"
    released = 0
    skipped: set[int] = set()
    while True:
        stmt = (
            select(Checkout)
            .where(Checkout.status == "open", Checkout.expires_at < cutoff)
            .order_by(Checkout.expires_at, Checkout.id)
            .limit(1)
        )
        if skipped:
            stmt = stmt.where(Checkout.id.not_in(skipped))
        if postgres:
            stmt = stmt.with_for_update(skip_locked=True, of=Checkout)
        checkout = session.scalars(stmt).first()
        if checkout is None:
            session.rollback()
            return released
        try:
            if release(session, checkout, EXPIRED, now=now):
                released += 1
            else:
                skipped.add(checkout.id)
            session.commit()
        except Exception:
            session.rollback()
            skipped.add(checkout.id)
            log.exception("releasing expired checkout %s failed", checkout.id)
