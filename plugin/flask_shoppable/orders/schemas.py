"""Marshmallow schemas of the orders API: what it reads and what it answers.

Money is integer minor units in the order's currency (``total_amount: 1999`` with
``currency: "USD"`` is 19.99 USD), as everywhere in the plugin.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from ..attribution import MODELS
from ..money import MAX_AMOUNT
from .models import ORDER_STATUSES, WEBHOOK_STATUSES


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _QueryBoolean(fields.Boolean):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={"true", "1"}, falsy={"false", "0"}, **kwargs)


class _Time(fields.AwareDateTime):
    """An ISO 8601 time; one without a zone is taken as UTC."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)


class OrderQuerySchema(Schema):
    """Filters of ``GET /orders``."""

    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    channel = fields.String(validate=validate.Length(min=1, max=20))
    post_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    email = fields.String(
        validate=validate.Length(min=1, max=320),
        metadata={"description": "The customer's email (case and surrounding spaces ignored)."},
    )
    created_from = _Time(metadata={"description": "Orders created at or after this time."})
    created_to = _Time(metadata={"description": "Orders created before this time."})
    flagged = _QueryBoolean(
        metadata={"description": "Only orders whose event disagreed with their checkout."}
    )
    fulfilled = _QueryBoolean(
        metadata={"description": "true: shipped orders; false: orders not shipped yet."}
    )

    @validates_schema
    def _range(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("created_from"), data.get("created_to")
        if start is not None and end is not None and end <= start:
            raise ValidationError({"created_to": ["Must be after created_from."]})


class OrderLineSchema(Schema):
    id = fields.Integer()
    variant_id = fields.Integer(allow_none=True)
    product_id = fields.Integer(allow_none=True)
    title = fields.String()
    sku = fields.String(allow_none=True)
    unit_amount = fields.Integer()
    quantity = fields.Integer()
    total_amount = fields.Integer()


class OrderSchema(Schema):
    """An order as listed."""

    id = fields.Integer()
    status = fields.String(metadata={"description": "pending, paid or payment_failed."})
    currency = fields.String()
    subtotal_amount = fields.Integer()
    discount_amount = fields.Integer()
    shipping_amount = fields.Integer()
    tax_amount = fields.Integer()
    total_amount = fields.Integer(metadata={"description": "What the customer was charged."})
    refunded_amount = fields.Integer(
        metadata={"description": "Refunds the provider confirmed (its webhook)."}
    )
    net_amount = fields.Integer(metadata={"description": "total_amount - refunded_amount."})
    dispute_status = fields.String(allow_none=True)
    flagged_reason = fields.String(
        metadata={"description": "Set when the provider's event disagreed with the checkout."}
    )
    email = fields.String()
    customer_id = fields.Integer(allow_none=True)
    channel = fields.String(allow_none=True)
    post_id = fields.Integer(allow_none=True)
    link_id = fields.Integer(allow_none=True)
    origin_interaction_id = fields.UUID(allow_none=True)
    checkout_id = fields.Integer(allow_none=True)
    provider = fields.String()
    provider_session_id = fields.String(allow_none=True)
    provider_payment_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    paid_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()
    fulfilled_at = fields.DateTime(
        allow_none=True, metadata={"description": "When it shipped; null: not shipped yet."}
    )
    carrier = fields.String(metadata={"description": "The shipment's carrier ('' until shipped)."})
    tracking_number = fields.String(metadata={"description": "'' until shipped."})


class ShippingSchema(Schema):
    name = fields.String()
    address = fields.Dict(keys=fields.String(), values=fields.String())


class OriginSchema(Schema):
    """The interaction (click or comment) that brought the customer."""

    id = fields.UUID()
    kind = fields.String(allow_none=True)
    occurred_at = fields.DateTime(allow_none=True)
    recorded = fields.Boolean(
        metadata={"description": "False while a buffered click is not written yet."}
    )
    channel = fields.String(allow_none=True)
    post_id = fields.Integer(allow_none=True)
    post_slug = fields.String(allow_none=True)
    link_id = fields.Integer(allow_none=True)
    link_code = fields.String(allow_none=True)
    utm_source = fields.String()
    utm_medium = fields.String()
    utm_campaign = fields.String()
    utm_content = fields.String()
    utm_term = fields.String()
    partner = fields.String()


class CreditSchema(Schema):
    interaction_id = fields.UUID()
    amount = fields.Integer(
        metadata={"description": "Minor units; a model's credits sum to the total."}
    )
    share = fields.Float(metadata={"description": "Fraction of one conversion."})


class RefundSchema(Schema):
    id = fields.Integer()
    order_id = fields.Integer()
    amount = fields.Integer()
    currency = fields.String()
    status = fields.String(
        metadata={
            "description": "requested (not yet sent), pending (the provider accepted it; "
            "the order changes when its webhook confirms), succeeded, failed, canceled."
        }
    )
    reason = fields.String()
    error = fields.String(metadata={"description": "The provider's refusal, when failed."})
    provider_refund_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    confirmed_at = fields.DateTime(allow_none=True)


class DisputeSchema(Schema):
    id = fields.Integer()
    provider_dispute_id = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    status = fields.String()
    reason = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class OrderEventSchema(Schema):
    kind = fields.String()
    detail = fields.Dict()
    provider_event_id = fields.String(allow_none=True)
    at = fields.DateTime()


class OrderDetailSchema(OrderSchema):
    """An order with everything about it."""

    lines = fields.List(fields.Nested(OrderLineSchema))
    shipping = fields.Nested(ShippingSchema)
    origin = fields.Nested(OriginSchema, allow_none=True)
    attribution_model = fields.String(
        metadata={"description": "The model of `credit` (SHOPPABLE_ATTRIBUTION_MODEL)."}
    )
    credit = fields.List(
        fields.Nested(CreditSchema),
        metadata={"description": "Credits under attribution_model; empty when unattributed."},
    )
    credits = fields.Dict(
        keys=fields.String(validate=validate.OneOf(MODELS)),
        values=fields.List(fields.Nested(CreditSchema)),
        metadata={"description": "Credits under every model."},
    )
    refundable_amount = fields.Integer(
        metadata={"description": "What may still be refunded (pending refunds counted)."}
    )
    refunds = fields.List(fields.Nested(RefundSchema))
    disputes = fields.List(fields.Nested(DisputeSchema))
    history = fields.List(fields.Nested(OrderEventSchema))


class RefundRequestSchema(_Strict):
    """``POST /orders/<id>/refunds``: leave amount out to refund everything that is left."""

    amount = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_AMOUNT),
        metadata={"description": "Minor units; default: what remains refundable."},
    )
    reason = fields.String(validate=validate.Length(max=100), load_default="")


class RefundHeadersSchema(Schema):
    """The client's key: the same key answers the same refund, never a second one."""

    class Meta:
        unknown = "exclude"

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Required; e.g. a UUID made by the client per refund."},
    )


class WebhookEventQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(WEBHOOK_STATUSES))
    type = fields.String(validate=validate.Length(min=1, max=100))


class WebhookEventSchema(Schema):
    id = fields.Integer()
    provider = fields.String()
    event_id = fields.String()
    type = fields.String()
    status = fields.String(
        metadata={"description": "received, processed, ignored, deferred or failed."}
    )
    attempts = fields.Integer()
    last_error = fields.String(metadata={"description": "The last failure's traceback."})
    reason = fields.String(metadata={"description": "Why it was ignored or deferred."})
    waiting_for = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    received_at = fields.DateTime()
    processed_at = fields.DateTime(allow_none=True)


class WebhookEventDetailSchema(WebhookEventSchema):
    payload = fields.Raw(metadata={"description": "The event as received (parsed JSON)."})


class RejectionSchema(Schema):
    provider = fields.String()
    reason = fields.String()
    count = fields.Integer()
    first_at = fields.DateTime()
    last_at = fields.DateTime()


class FulfilmentRequestSchema(_Strict):
    """``POST /orders/<id>/fulfilment``: the parcel's carrier and tracking number."""

    carrier = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "The carrier's name, e.g. UPS, DHL, Royal Mail."},
    )
    tracking_number = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "4 to 40 letters, digits or dashes; spaces are removed and "
            "letters upper-cased."
        },
    )


class FulfilmentSchema(Schema):
    """The order's shipment as recorded."""

    order_id = fields.Integer()
    fulfilled_at = fields.DateTime(metadata={"description": "When it was first marked shipped."})
    carrier = fields.String()
    tracking_number = fields.String()
    tracking_url = fields.String(
        allow_none=True, metadata={"description": "The carrier's tracking page, when known."}
    )
