"""Merchant API for orders, refunds and the webhook event log.

Routes (under ``<prefix>/api``, behind API keys, see :mod:`flask_shoppable.api.base`):
``GET /orders``, ``GET /orders/<id>``, ``POST /orders/<id>/refunds``,
``POST /orders/<id>/fulfilment``, ``GET /orders/unfulfilled.csv``,
``GET /webhooks/events``, ``GET /webhooks/events/<id>``,
``POST /webhooks/events/<id>/replay``, ``GET /webhooks/rejections``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Response, current_app, url_for
from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import select

from .. import db
from ..api import abort, json_bodies_only
from ..catalog.pagination import ConfiguredPaginationBlueprint, page_of
from ..social.models import Post, TrackedLink
from . import fulfilment, processing, service
from .models import Order, WebhookEvent, WebhookRejection
from .schemas import (
    FulfilmentRequestSchema,
    FulfilmentSchema,
    OrderDetailSchema,
    OrderQuerySchema,
    OrderSchema,
    RefundHeadersSchema,
    RefundRequestSchema,
    RefundSchema,
    RejectionSchema,
    WebhookEventDetailSchema,
    WebhookEventQuerySchema,
    WebhookEventSchema,
)

P = ParamSpec("P")
R = TypeVar("R")

blp = ConfiguredPaginationBlueprint(
    "shoppable_orders", __name__, description="Orders, their attribution, refunds."
)
events_blp = ConfiguredPaginationBlueprint(
    "shoppable_webhook_events",
    __name__,
    description="The payment provider's webhook deliveries: the event log, replays, "
    "and the counters of refused deliveries.",
)


json_bodies_only(blp, when_sent=True)  # a POST without a body is let through


def _order_errors(view: Callable[P, R]) -> Callable[P, R]:
    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return view(*args, **kwargs)
        except fulfilment.FulfilmentInvalid as exc:
            abort(exc.status, exc.message, errors={"json": {k: [v] for k, v in exc.errors.items()}})
        except service.OrderError as exc:
            abort(exc.status, exc.message)

    return wrapper


@blp.route("/orders", endpoint="orders")
class Orders(MethodView):
    @blp.arguments(OrderQuerySchema, location="query")
    @blp.response(200, OrderSchema(many=True))
    @blp.paginate()
    def get(
        self, filters: dict[str, Any], pagination_parameters: PaginationParameters
    ) -> list[Order]:
        """List orders, newest first.

        Filters: status, channel, post_id, email, created_from / created_to (ISO 8601),
        flagged. Paginated like every listing (page, page_size; X-Pagination header).
        """
        return page_of(db.session(), service.select_orders(**filters), pagination_parameters)


def _origin(order: Order) -> dict[str, Any] | None:
    if order.origin_interaction_id is None:
        return None
    session = db.session()
    row = service.origin_of(session, order)
    if row is None:
        # A buffered click not written yet: what the order itself knows.
        base: dict[str, Any] = {
            "id": order.origin_interaction_id,
            "kind": None,
            "occurred_at": None,
            "recorded": False,
            "channel": order.channel,
            "post_id": order.post_id,
            "link_id": order.link_id,
        }
        base.update({f"utm_{k}": "" for k in ("source", "medium", "campaign", "content", "term")})
        base["partner"] = ""
    else:
        base = {
            "id": row.id,
            "kind": row.kind,
            "occurred_at": row.occurred_at,
            "recorded": True,
            "channel": row.channel,
            "post_id": row.post_id,
            "link_id": row.link_id,
            "utm_source": row.utm_source,
            "utm_medium": row.utm_medium,
            "utm_campaign": row.utm_campaign,
            "utm_content": row.utm_content,
            "utm_term": row.utm_term,
            "partner": row.partner,
        }
    base["post_slug"] = (
        session.scalar(select(Post.slug).where(Post.id == base["post_id"]))
        if base["post_id"]
        else None
    )
    base["link_code"] = (
        session.scalar(select(TrackedLink.code).where(TrackedLink.id == base["link_id"]))
        if base["link_id"]
        else None
    )
    return base


def order_detail(order: Order) -> dict[str, Any]:
    """Everything the API says about one order."""
    session = db.session()
    related = service.related(session, order)
    credits: dict[str, list[Any]] = {}
    for row in related["credits"]:
        credits.setdefault(row.model, []).append(row)
    model = current_app.config["SHOPPABLE_ATTRIBUTION_MODEL"]
    data = {name: getattr(order, name) for name in OrderSchema().fields}
    data.update(
        lines=order.lines,
        shipping={"name": order.shipping_name, "address": order.shipping_address or {}},
        origin=_origin(order),
        attribution_model=model,
        credit=credits.get(model, []),
        credits=credits,
        refundable_amount=service.refundable(session, order) if order.status == "paid" else 0,
        refunds=related["refunds"],
        disputes=related["disputes"],
        history=related["history"],
    )
    return data


@blp.route("/orders/unfulfilled.csv", endpoint="orders_unfulfilled")
class UnfulfilledOrders(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "CSV: order_id, paid_at, email, name, address_line1, "
                "address_line2, city, state, postal_code, country, sku, item, quantity.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self) -> Response:
        """The paid orders still to ship, for a warehouse: CSV, one row per line.

        Oldest payment first; orders refunded in full are left out. A cell a spreadsheet
        would run as a formula (starting with =, +, -, @, a tab or a carriage return) is
        prefixed with an apostrophe. Ship them with ``POST /orders/<id>/fulfilment``.
        """
        return fulfilment.warehouse_response()


@blp.route("/orders/<int:order_id>", endpoint="order")
class OrderById(MethodView):
    @blp.response(200, OrderDetailSchema)
    @blp.alt_response(404, schema="Error", description="No such id.")
    @_order_errors
    def get(self, order_id: int) -> dict[str, Any]:
        """Get an order: lines, shipping, originating interaction, credits, refunds,
        disputes and history."""
        return order_detail(service.get_order(db.session(), order_id))


@blp.route("/orders/<int:order_id>/refunds", endpoint="order_refunds")
class OrderRefunds(MethodView):
    @blp.arguments(RefundHeadersSchema, location="headers")
    @blp.arguments(RefundRequestSchema, required=False)
    @blp.response(201, RefundSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(404, schema="Error", description="No such id.")
    @blp.alt_response(
        409,
        schema="Error",
        description="More than what remains refundable, an order not paid, or the same "
        "Idempotency-Key still in progress.",
    )
    @blp.alt_response(502, schema="Error", description="The provider refused or is unreachable.")
    @_order_errors
    def post(
        self, headers: dict[str, Any], data: dict[str, Any] | None, order_id: int
    ) -> tuple[Any, int, dict[str, str]]:
        """Refund an order, fully (no amount) or partly.

        Requires an ``Idempotency-Key`` header: the same key answers the same refund
        (``Idempotent-Replayed: true``) without asking the provider again. The refund is
        "pending" until the provider's webhook confirms it; only then does the order's
        refunded_amount change.
        """
        data = data or {}
        state = current_app.extensions["shoppable"]
        with state.session_factory() as session:
            result = service.request_refund(
                session,
                state.payments,
                order_id,
                key=headers["idempotency_key"],
                amount=data.get("amount"),
                reason=data.get("reason", ""),
            )
            refund = result.refund
            if refund.status == "failed" and refund.provider_refund_id is None:
                abort(502, f"The provider did not refund: {refund.error}")
        location = url_for(".order", order_id=order_id)
        headers_out = {"Location": location}
        if result.replayed:
            headers_out["Idempotent-Replayed"] = "true"
        return refund, 201, headers_out


def fulfilment_of(order: Order) -> dict[str, Any]:
    """The order's shipment as the API answers it."""
    return {
        "order_id": order.id,
        "fulfilled_at": order.fulfilled_at,
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "tracking_url": fulfilment.tracking_url(order.carrier, order.tracking_number),
    }


@blp.route("/orders/<int:order_id>/fulfilment", endpoint="order_fulfilment")
class OrderFulfilment(MethodView):
    @blp.arguments(FulfilmentRequestSchema)
    @blp.response(200, FulfilmentSchema)
    @blp.alt_response(404, schema="Error", description="No such id.")
    @blp.alt_response(
        409, schema="Error", description="The order is not paid, or was refunded in full."
    )
    @_order_errors
    def post(self, data: dict[str, Any], order_id: int) -> dict[str, Any]:
        """Mark an order shipped, with the carrier and the parcel's tracking number.

        Posting again with other values corrects them (the first ``fulfilled_at`` stays;
        the history keeps both); the same values again change nothing. Only paid orders
        that are not refunded in full ship. Bad values answer 422 with a message per
        field.
        """
        state = current_app.extensions["shoppable"]
        with state.session_factory() as session:
            result = fulfilment.fulfil(
                session,
                order_id,
                carrier=data["carrier"],
                tracking_number=data["tracking_number"],
            )
            return fulfilment_of(result.order)


@events_blp.route("/webhooks/events", endpoint="events")
class Events(MethodView):
    @events_blp.arguments(WebhookEventQuerySchema, location="query")
    @events_blp.response(200, WebhookEventSchema(many=True))
    @events_blp.paginate()
    def get(
        self, filters: dict[str, Any], pagination_parameters: PaginationParameters
    ) -> list[WebhookEvent]:
        """The webhook event log, newest first. Filters: status, type."""
        stmt = select(WebhookEvent)
        if filters.get("status"):
            stmt = stmt.where(WebhookEvent.status == filters["status"])
        if filters.get("type"):
            stmt = stmt.where(WebhookEvent.type == filters["type"])
        stmt = stmt.order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc())
        return page_of(db.session(), stmt, pagination_parameters)


def _event(event_id: int) -> WebhookEvent:
    row = db.session().get(WebhookEvent, event_id) if 0 < event_id < 2**31 else None
    if row is None:
        abort(404, f"No webhook event {event_id}.")
    return row


def _event_detail(row: WebhookEvent) -> dict[str, Any]:
    data = {name: getattr(row, name) for name in WebhookEventSchema().fields}
    try:
        data["payload"] = json.loads(row.payload)
    except ValueError:
        data["payload"] = row.payload
    return data


@events_blp.route("/webhooks/events/<int:event_id>", endpoint="event")
class EventById(MethodView):
    @events_blp.response(200, WebhookEventDetailSchema)
    @events_blp.alt_response(404, schema="Error", description="No such id.")
    def get(self, event_id: int) -> dict[str, Any]:
        """One stored event, with its payload."""
        return _event_detail(_event(event_id))


@events_blp.route("/webhooks/events/<int:event_id>/replay", endpoint="replay")
class EventReplay(MethodView):
    @events_blp.response(200, WebhookEventDetailSchema)
    @events_blp.alt_response(404, schema="Error", description="No such id.")
    def post(self, event_id: int) -> dict[str, Any]:
        """Process a stored event again, now, whatever its status.

        Handlers are idempotent, so replaying a processed event changes nothing that is
        already right; a failed, deferred or ignored one is tried again. Answers the
        event as it is afterwards (its status says how it went).
        """
        _event(event_id)
        processing.replay(current_app._get_current_object(), event_id)  # type: ignore[attr-defined]
        session = db.session()
        session.expire_all()
        return _event_detail(_event(event_id))


@events_blp.route("/webhooks/rejections", endpoint="rejections")
class Rejections(MethodView):
    @events_blp.response(200, RejectionSchema(many=True))
    def get(self) -> list[WebhookRejection]:
        """Deliveries refused before they were stored, counted per reason.

        "signature mismatch" that keeps growing while no event is accepted means the
        configured SHOPPABLE_STRIPE_WEBHOOK_SECRET is not the endpoint's.
        """
        stmt = select(WebhookRejection).order_by(WebhookRejection.provider, WebhookRejection.reason)
        return list(db.session().scalars(stmt))
