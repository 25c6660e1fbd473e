"""Orders pages: the list (status, shipped, channel filters; pages), one order, shipping it,
refunding it, and the warehouse's CSV of paid orders still to ship.

The order page shows what the API's ``GET /orders/<id>`` says (lines, shipping, the
interaction that brought the customer, channel, post, link, every attribution model's
credits, refunds, disputes, history). Shipping goes through
:func:`~flask_shoppable.orders.fulfilment.fulfil`; a refund through
:func:`~flask_shoppable.orders.service.request_refund`, which asks the payment provider:
the order's refunded amount changes when the provider's webhook confirms, and the page
says so. Each refund form carries a fresh idempotency key, so a double submit refunds
once.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from .. import db
from ..attribution import MODELS
from ..catalog.service import count
from ..db import utcnow
from ..money import MoneyError, parse_decimal, to_decimal_string
from ..orders import fulfilment
from ..orders.api import order_detail
from ..orders.models import ORDER_STATUSES, Order
from ..orders.service import OrderError, get_order, request_refund, select_orders
from ..social.channels import CHANNELS
from ..tracking.models import Interaction
from . import bp, login_required
from .forms import Form
from .listing import paginate
from .messages import flash

#: An order number typed in the search box ("#42" or "42").
_ORDER_NUMBER_RE = re.compile(r"#?([1-9][0-9]{0,9})")
REFUND_REASONS = (
    ("requested_by_customer", "Requested by the customer"),
    ("duplicate", "Duplicate payment"),
    ("fraudulent", "Fraudulent"),
)
MODEL_LABELS = {
    "last_touch": "Last touch",
    "first_touch": "First touch",
    "linear": "Linear",
    "time_decay": "Time decay",
    "position_based": "Position based",
}


def money(amount: int | None, currency: str) -> str:
    """``1999, "USD"`` → ``"19.99 USD"`` (a template filter)."""
    if amount is None:
        return ""
    return f"{to_decimal_string(amount, currency)} {currency}"


@bp.app_template_filter("shoppable_money")
def _money_filter(amount: int | None, currency: str) -> str:
    return money(amount, currency)


@bp.app_template_filter("shoppable_channel")
def channel_label(name: str | None) -> str:
    """A channel's name as people write it (``tiktok`` → ``TikTok``)."""
    if not name:
        return ""
    known = CHANNELS.get(name)
    return known.label if known is not None else name.replace("_", " ").capitalize()


def _channels(session: Any) -> list[str]:
    """Every channel orders came from, and the known ones."""
    seen = set(session.scalars(select(Order.channel).where(Order.channel.is_not(None)).distinct()))
    return sorted(seen | set(CHANNELS))


@bp.get("/orders")
@login_required
def orders() -> Any:
    session = db.session()
    filters: dict[str, Any] = {}
    status = request.args.get("status", "")
    if status in ORDER_STATUSES:
        filters["status"] = status
    fulfilled = request.args.get("fulfilled", "")
    if fulfilled in ("yes", "no"):
        filters["fulfilled"] = fulfilled == "yes"
    channel = request.args.get("channel", "")
    channels = _channels(session)
    if channel in channels:
        filters["channel"] = channel
    email = request.args.get("email", "").strip()[:320]
    number = _ORDER_NUMBER_RE.fullmatch(email)
    if number and session.get(Order, int(number.group(1))) is not None:
        return redirect(url_for(".orders_detail", order_id=int(number.group(1))))
    if email:
        filters["email"] = email
    page = paginate(session, select_orders(**filters))
    to_ship = count(session, fulfilment.select_unfulfilled())
    return render_template(
        "shoppable/admin/orders.html",
        orders=page.rows,
        total=page.total,
        page=page,
        args=page.args,
        status=status,
        fulfilled=fulfilled,
        channel=channel,
        email=email,
        statuses=ORDER_STATUSES,
        channels=channels,
        to_ship=to_ship,
    )


@bp.get("/orders/unfulfilled.csv")
@login_required
def orders_export() -> Response:
    """The paid orders still to ship, one row per line, for the warehouse."""
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return fulfilment.warehouse_response(f"unfulfilled-orders-{stamp}.csv")


def _credit_tables(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """Each model's credits with the touch they went to (kind, channel, time)."""
    session = db.session()
    ids = {c.interaction_id for rows in detail["credits"].values() for c in rows}
    touches: dict[uuid.UUID, Interaction] = {}
    if ids:
        touches = {
            row.id: row
            for row in session.scalars(select(Interaction).where(Interaction.id.in_(sorted(ids))))
        }
    tables = []
    for model in MODELS:
        credits = detail["credits"].get(model, [])
        tables.append(
            {
                "model": model,
                "label": MODEL_LABELS.get(model, model),
                "current": model == detail["attribution_model"],
                "rows": [
                    {"credit": c, "touch": touches.get(c.interaction_id)}
                    for c in sorted(credits, key=lambda c: str(c.interaction_id))
                ],
            }
        )
    return tables


def _render_order(
    order: Order,
    *,
    fulfil_form: Form | None = None,
    refund_form: Form | None = None,
    status: int = 200,
) -> Any:
    detail = order_detail(order)
    carrier_initial = {"carrier": order.carrier, "tracking_number": order.tracking_number}
    fulfil_form = fulfil_form or Form(None, **carrier_initial)
    refund_form = refund_form or Form(None, reason="requested_by_customer")
    refund_form.values["refund_key"] = secrets.token_urlsafe(16)
    post_slug = detail["origin"]["post_slug"] if detail["origin"] else None
    if post_slug is None and order.post_id:
        from ..social.models import Post

        post_slug = db.session().scalar(select(Post.slug).where(Post.id == order.post_id))
    pending = [r for r in detail["refunds"] if r.status in ("requested", "pending")]
    return render_template(
        "shoppable/admin/order.html",
        order=order,
        detail=detail,
        credit_tables=_credit_tables(detail),
        fulfil_form=fulfil_form,
        refund_form=refund_form,
        carriers=fulfilment.CARRIERS,
        tracking_url=fulfilment.tracking_url(order.carrier, order.tracking_number),
        reasons=REFUND_REASONS,
        reason_labels=dict(REFUND_REASONS),
        post_slug=post_slug,
        pending_refunds=pending,
        refundable=detail["refundable_amount"],
    ), status


def render_not_found(message: str) -> tuple[str, int]:
    return render_template(
        "shoppable/admin/error.html", status=404, title="Not found", message=message
    ), 404


def _order_or_404(order_id: int) -> Order:
    try:
        return get_order(db.session(), order_id)
    except OrderError as exc:
        abort(make_response(render_not_found(exc.message)))


@bp.get("/orders/<int:order_id>")
@login_required
def orders_detail(order_id: int) -> Any:
    return _render_order(_order_or_404(order_id))


@bp.post("/orders/<int:order_id>/fulfil")
@login_required
def orders_fulfil(order_id: int) -> Any:
    order = _order_or_404(order_id)
    form = Form(request.form)
    state = current_app.extensions["shoppable"]
    try:
        with state.session_factory() as session:
            result = fulfilment.fulfil(
                session,
                order.id,
                carrier=form.get("carrier"),
                tracking_number=form.get("tracking_number"),
            )
    except fulfilment.FulfilmentInvalid as exc:
        for name, message in exc.errors.items():
            form.error(name, message)
        return _render_order(order, fulfil_form=form, status=422)
    except OrderError as exc:
        form.error("_form", exc.message)
        return _render_order(order, fulfil_form=form, status=exc.status)
    shipped = result.order
    if not result.changed:
        flash("Nothing changed: the order already has this carrier and tracking number.", "info")
    else:
        flash(f"Order {order.id} marked shipped with {shipped.carrier} {shipped.tracking_number}.")
    return redirect(url_for(".orders_detail", order_id=order.id), code=303)


@bp.post("/orders/<int:order_id>/refund")
@login_required
def orders_refund(order_id: int) -> Any:
    order = _order_or_404(order_id)
    form = Form(request.form)
    amount: int | None = None
    text = form.text("amount")
    if text:
        try:
            amount = parse_decimal(text, order.currency)
        except MoneyError:
            form.error(
                "amount",
                f"Enter an amount in {order.currency} such as 12.50, or leave it empty to "
                "refund everything that is left.",
            )
        else:
            if amount == 0:
                form.error("amount", "Enter an amount above zero.")
    reason = form.text("reason")
    if reason not in {value for value, _label in REFUND_REASONS}:
        form.error("reason", "Choose a reason.")
    key = form.text("refund_key")
    if not key or len(key) > 100:
        form.error("_form", "This form has no refund key; reload the page and try again.")
    if not form.ok:
        return _render_order(order, refund_form=form, status=422)
    state = current_app.extensions["shoppable"]
    try:
        with state.session_factory() as session:
            result = request_refund(
                session,
                state.payments,
                order.id,
                key=f"admin-{key}",
                amount=amount,
                reason=reason,
            )
            refund = result.refund
    except OrderError as exc:
        form.error("amount" if exc.status == 409 else "_form", exc.message)
        return _render_order(order, refund_form=form, status=exc.status)
    if refund.status == "failed":
        form.error("_form", f"The payment provider did not refund: {refund.error}")
        return _render_order(order, refund_form=form, status=502)
    flash(
        f"Refund of {money(refund.amount, refund.currency)} requested. The order changes "
        "when the payment provider confirms it (usually within a minute).",
        "info",
    )
    return redirect(url_for(".orders_detail", order_id=order.id), code=303)
