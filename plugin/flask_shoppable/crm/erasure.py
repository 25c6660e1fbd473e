"""Erasure: ``flask shoppable forget EMAIL`` anonymises one customer everywhere.

What goes (in one transaction; nothing half-erased stays):

* the customer: email (NULL), its hash, name; ``erased_at`` set; its visitor links;
* their orders: email, shipping name and address, visitor id (totals, currency, channel,
  post, link, campaign and attribution credits stay, so the reports still add up);
* their checkouts: email, user agent, client IP, visitor id;
* their interactions (those of their visitors and the ones behind their orders): visitor
  id, IP hash, referrer, ad click ids (the kind, time, channel, post, link and UTM fields
  stay: they say which post sold, not who bought);
* the provider's stored webhook bodies that carried them (Stripe's events name the email,
  name and address): replaced by ``{"erased": true}`` once processed;
* the outbox: the personal fields of every message about their orders (pending ones are
  still delivered, anonymised; delivered ones keep no copy);
* whatever the other capabilities registered with :func:`register_eraser` (listening: the
  social identities and comment texts).

Then, for every CRM sink in ``SHOPPABLE_CRM_SINKS`` whose sink says ``supports_erasure``
(HubSpot: its GDPR delete of the contact; the signed webhook: a ``customer.erase`` event),
a ``customer.erase`` message is queued with the key ``erase:<sha256 of the email>``, so
asking twice queues one request.

An eraser is ``fn(session, target) -> int`` (how many rows it changed), where ``target``
is the :class:`Target` found up front: the email, its hash, and the ids of the customer's
rows. It must only update in ``session`` (no commit).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from ..checkout.models import Checkout
from ..db import utcnow
from ..orders.models import Customer, CustomerVisitor, Order, WebhookEvent
from ..orders.service import email_hash, normalize_email
from ..tracking import chains
from ..tracking.models import Interaction
from .models import OutboxMessage
from .outbox import enqueue

ERASE_EVENT = "customer.erase"


@dataclass
class Target:
    """Who is being erased, and the ids of their rows (found before anything changes)."""

    email: str
    email_hash: str
    customer_ids: list[int] = field(default_factory=list)
    order_ids: list[int] = field(default_factory=list)
    checkout_ids: list[int] = field(default_factory=list)
    visitor_ids: list[str] = field(default_factory=list)
    interaction_ids: list[uuid.UUID] = field(default_factory=list)
    provider_refs: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.customer_ids or self.order_ids or self.checkout_ids)


Eraser = Callable[[Session, Target], int]

#: name -> eraser, in the order they run. Capabilities add theirs with register_eraser.
ERASERS: dict[str, Eraser] = {}


def register_eraser(name: str, eraser: Eraser | None = None) -> Any:
    """Add an eraser (also usable as a decorator: ``@register_eraser("social")``)."""

    def add(fn: Eraser) -> Eraser:
        ERASERS[name] = fn
        return fn

    return add(eraser) if eraser is not None else add


@dataclass
class Report:
    email_hash: str
    found: bool
    #: eraser name -> rows changed.
    counts: dict[str, int] = field(default_factory=dict)
    #: sinks an erasure request was queued for (new ones only).
    requests: list[str] = field(default_factory=list)


def find_target(session: Session, email: str) -> Target:
    email = normalize_email(email)
    hashed = email_hash(email)
    target = Target(email=email, email_hash=hashed)
    target.customer_ids = list(
        session.scalars(
            select(Customer.id).where(or_(Customer.email == email, Customer.email_hash == hashed))
        )
    )
    order_filter = Order.email == email
    if target.customer_ids:
        order_filter = or_(order_filter, Order.customer_id.in_(target.customer_ids))
    orders = session.execute(
        select(
            Order.id,
            Order.checkout_id,
            Order.visitor_id,
            Order.origin_interaction_id,
            Order.provider_session_id,
            Order.provider_payment_id,
        ).where(order_filter)
    ).all()
    target.order_ids = [o.id for o in orders]
    checkout_filter = Checkout.email == email
    order_checkouts = [o.checkout_id for o in orders if o.checkout_id]
    if order_checkouts:
        checkout_filter = or_(checkout_filter, Checkout.id.in_(order_checkouts))
    checkouts = session.execute(
        select(
            Checkout.id,
            Checkout.visitor_id,
            Checkout.interaction_id,
            Checkout.origin_interaction_id,
            Checkout.provider_session_id,
        ).where(checkout_filter)
    ).all()
    target.checkout_ids = [c.id for c in checkouts]
    visitors = set()
    if target.customer_ids:
        visitors.update(
            session.scalars(
                select(CustomerVisitor.visitor_id).where(
                    CustomerVisitor.customer_id.in_(target.customer_ids)
                )
            )
        )
    visitors.update(o.visitor_id for o in orders if o.visitor_id)
    visitors.update(c.visitor_id for c in checkouts if c.visitor_id)
    target.visitor_ids = sorted(visitors)
    interactions = {o.origin_interaction_id for o in orders if o.origin_interaction_id}
    for c in checkouts:
        interactions.update(i for i in (c.interaction_id, c.origin_interaction_id) if i)
    target.interaction_ids = sorted(interactions)
    refs = {o.provider_session_id for o in orders} | {o.provider_payment_id for o in orders}
    refs |= {c.provider_session_id for c in checkouts}
    target.provider_refs = sorted(r for r in refs if r)
    return target


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


@register_eraser("customers")
def erase_customers(session: Session, target: Target) -> int:
    if not target.customer_ids:
        return 0
    session.execute(
        CustomerVisitor.__table__.delete().where(
            CustomerVisitor.customer_id.in_(target.customer_ids)
        )
    )
    values = {"email": None, "email_hash": "", "name": "", "erased_at": utcnow()}
    return _update_by_ids(session, Customer, target.customer_ids, values)


def _update_by_ids(session: Session, model: Any, ids: list[Any], values: dict[str, Any]) -> int:
    """``UPDATE model SET values WHERE id IN ids``, in bounded IN lists; rows changed."""
    changed = 0
    for chunk in _chunks(ids):
        result = session.execute(
            update(model)
            .where(model.id.in_(chunk))
            .values(values)
            .execution_options(synchronize_session=False)
        )
        changed += int(result.rowcount or 0)
    return changed


@register_eraser("orders")
def erase_orders(session: Session, target: Target) -> int:
    values = {"email": "", "shipping_name": "", "shipping_address": {}, "visitor_id": None}
    return _update_by_ids(session, Order, target.order_ids, values)


@register_eraser("checkouts")
def erase_checkouts(session: Session, target: Target) -> int:
    values = {"email": "", "user_agent": "", "client_ip": "", "visitor_id": None}
    return _update_by_ids(session, Checkout, target.checkout_ids, values)


@register_eraser("interactions")
def erase_interactions(session: Session, target: Target) -> int:
    conditions = []
    if target.visitor_ids:
        conditions.append(Interaction.visitor_id.in_(target.visitor_ids))
    if target.interaction_ids:
        conditions.append(Interaction.id.in_(target.interaction_ids))
    if not conditions:
        return 0
    # The visitors' other rows keep their visitor: their chains change (tracking.chains).
    chains.unchain_visitors_of(session.connection(), or_(*conditions))
    result = session.execute(
        update(Interaction)
        .where(or_(*conditions))
        .values(visitor_id=None, ip_hash="", referrer="", click_ids={}, chained=True)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


@register_eraser("webhook_events")
def erase_webhook_events(session: Session, target: Target) -> int:
    """The provider's raw bodies naming the customer, once processed (or ignored)."""
    changed = 0
    for ref in target.provider_refs:
        result = session.execute(
            update(WebhookEvent)
            .where(
                and_(
                    WebhookEvent.payload.contains(f'"{ref}"'),
                    WebhookEvent.status.in_(("processed", "ignored")),
                )
            )
            .values(payload='{"erased": true}')
            .execution_options(synchronize_session=False)
        )
        changed += int(result.rowcount or 0)
    return changed


def anonymise_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """An outbox payload without the personal fields (totals and attribution kept)."""
    clean = dict(payload)
    if isinstance(clean.get("customer"), dict):
        clean["customer"] = {**clean["customer"], "email": "", "email_hash": "", "name": ""}
    if isinstance(clean.get("checkout"), dict):
        clean["checkout"] = {**clean["checkout"], "user_agent": "", "client_ip": ""}
    attribution = clean.get("attribution")
    if isinstance(attribution, dict) and isinstance(attribution.get("interaction"), dict):
        interaction = {**attribution["interaction"], "click_ids": {}}
        clean["attribution"] = {**attribution, "interaction": interaction}
    clean.pop("social", None)
    if "email" in clean:
        clean["email"] = ""
    clean["erased"] = True
    return clean


def scrub_request(session: Session, message_id: int) -> None:
    """Forget the email an erasure request carried, once delivered (a sink's on_delivered)."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.event == ERASE_EVENT)
        .values(payload={"email": "", "erased": True})
        .execution_options(synchronize_session=False)
    )


@register_eraser("outbox")
def erase_outbox(session: Session, target: Target) -> int:
    changed = 0
    for ids in _chunks(target.order_ids):
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.order_id.in_(ids)))
        for row in rows:
            row.payload = anonymise_payload(row.payload or {})
            changed += 1
    # Erasure requests already delivered carried the email: keep no copy of it.
    for row in session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.event == ERASE_EVENT,
            OutboxMessage.key == f"erase:{target.email_hash}",
            OutboxMessage.status != "pending",
        )
    ):
        row.payload = {"email": "", "erased": True}
    session.flush()
    return changed


def queue_requests(session: Session, app: Flask, target: Target) -> list[str]:
    """A ``customer.erase`` message for each enabled sink that supports erasure."""
    from .sinks import crm_sinks

    queued = []
    for sink in crm_sinks(app):
        if not getattr(sink, "supports_erasure", False):
            continue
        if enqueue(
            session,
            sink=sink.name,
            event=ERASE_EVENT,
            key=f"erase:{target.email_hash}",
            payload={"email": target.email},
        ):
            queued.append(sink.name)
    return queued


def forget(app: Flask, session: Session, email: str) -> Report:
    """Anonymise the customer with ``email`` and queue the sinks' erasure requests; commits."""
    if "@" not in (email or ""):
        raise ValueError(f"{email!r} is not an email address")
    target = find_target(session, email)
    report = Report(email_hash=target.email_hash, found=target.found)
    for name, eraser in list(ERASERS.items()):
        report.counts[name] = eraser(session, target)
    if target.found:
        report.requests = queue_requests(session, app, target)
    session.commit()
    return report


@click.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def forget_command(email: str, yes: bool) -> None:
    """Erase the customer with EMAIL: anonymise their records, ask the CRMs to delete them."""
    if "@" not in email:
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="EMAIL")
    if not yes:
        click.confirm(
            f"Anonymise every record of {email} (cannot be undone)?", abort=True, err=True
        )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with app.extensions["shoppable"].session_factory() as session:
        report = forget(app, session, email)
    if not report.found:
        click.echo(f"No customer, order or checkout with {email}; nothing else named them.")
    changed = ", ".join(f"{name}: {count}" for name, count in report.counts.items())
    click.echo(f"Erased ({changed}).")
    if report.requests:
        click.echo(f"Erasure requested from: {', '.join(report.requests)} (sent by the worker).")
