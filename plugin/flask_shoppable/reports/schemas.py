"""Marshmallow schemas of the reports API: the query it reads and the figures it answers.

Money is integer minor units of ``currency``; ``orders`` may be fractional under the
linear, time_decay and position_based models (an order split between touches).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..attribution import MODELS
from ..money import CURRENCY_EXPONENTS
from .queries import GRANULARITIES, default_range

#: The longest range a report covers.
MAX_RANGE_DAYS = 366 * 5


class DayOrTime(fields.Field):
    """A date (its UTC midnight) or an ISO 8601 time (UTC when it has no zone)."""

    default_error_messages = {"invalid": "Not a date (YYYY-MM-DD) or ISO 8601 time."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise self.make_error("invalid") from None
        if len(value.strip()) == 10:
            return datetime.combine(date.fromisoformat(value.strip()), time(), UTC)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def _jsonschema_type_mapping(self) -> dict[str, Any]:
        return {"type": "string"}


class ReportQuerySchema(Schema):
    """The range, model, currency and filters every report takes."""

    start = DayOrTime(
        metadata={
            "description": "Start of the range, included: a date (UTC midnight) or an ISO "
            "8601 time. Default: 29 days before today (UTC).",
            "type": "string",
            "example": "2026-03-01",
        }
    )
    end = DayOrTime(
        metadata={
            "description": "End of the range, excluded (2026-04-01 for all of March). "
            "Default: tomorrow (UTC), so the range ends with today.",
            "type": "string",
            "example": "2026-04-01",
        }
    )
    model = fields.String(
        validate=validate.OneOf(MODELS),
        metadata={"description": "Attribution model. Default: SHOPPABLE_ATTRIBUTION_MODEL."},
    )
    currency = fields.String(
        validate=validate.Length(equal=3),
        metadata={
            "description": "Orders in this currency only. Default: SHOPPABLE_DEFAULT_CURRENCY."
        },
    )
    channel = fields.String(
        validate=validate.Length(min=1, max=20),
        metadata={"description": "Only interactions and credits of this channel."},
    )
    post_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "Only interactions and credits of this post."},
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        currency = data.get("currency")
        if currency is not None and currency.upper() not in CURRENCY_EXPONENTS:
            raise ValidationError({"currency": [f"Unknown ISO 4217 currency {currency!r}."]})
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None:
            if end <= start:
                raise ValidationError({"end": ["Must be after start."]})
            if (end - start).days > MAX_RANGE_DAYS:
                raise ValidationError({"end": [f"The range is at most {MAX_RANGE_DAYS} days."]})


class ExportQuerySchema(ReportQuerySchema):
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(("json", "csv")),
        metadata={"description": "json (default) or csv (a file to download)."},
    )


class TimeseriesQuerySchema(ExportQuerySchema):
    granularity = fields.String(
        validate=validate.OneOf(GRANULARITIES),
        metadata={"description": "hour or day. Default: hour up to 2 days, else day."},
    )


def with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Fill in the range, model and currency left out (from the app's settings)."""
    config = current_app.config
    out = dict(data)
    if "start" not in out or "end" not in out:
        start, end = default_range()
        if "end" in out:
            start = out["end"] - (end - start)
        out.setdefault("start", start)
        out.setdefault("end", end)
    if out["end"] <= out["start"]:
        raise ValidationError({"end": ["Must be after start."]})
    out.setdefault("model", config["SHOPPABLE_ATTRIBUTION_MODEL"])
    out["currency"] = out.get("currency", config["SHOPPABLE_DEFAULT_CURRENCY"]).upper()
    return out


class MetricsSchema(Schema):
    impressions = fields.Integer()
    clicks = fields.Integer()
    unique_visitors = fields.Integer(
        metadata={"description": "Distinct visitor ids of the range's interactions."}
    )
    checkouts_started = fields.Integer()
    orders = fields.Float(
        metadata={"description": "Paid orders (by paid_at), split by the model's shares."}
    )
    gross_revenue = fields.Integer(metadata={"description": "Minor units of currency."})
    refunded = fields.Integer(metadata={"description": "Refunds of those orders, pro rata."})
    net_revenue = fields.Integer()
    conversion_rate = fields.Float(allow_none=True, metadata={"description": "orders / clicks"})
    average_order_value = fields.Integer(
        allow_none=True, metadata={"description": "gross_revenue / orders"}
    )
    revenue_per_click = fields.Integer(
        allow_none=True, metadata={"description": "net_revenue / clicks"}
    )


class _Filters(Schema):
    channel = fields.String(allow_none=True)
    post_id = fields.Integer(allow_none=True)


class _Report(Schema):
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    model = fields.String()
    currency = fields.String()
    filters = fields.Nested(_Filters)


class SummarySchema(_Report):
    metrics = fields.Nested(MetricsSchema)


class RowSchema(MetricsSchema):
    key = fields.Raw(
        allow_none=True,
        metadata={
            "description": "The value (channel name, post or link id...); null: "
            "direct orders and touches without one."
        },
    )
    label = fields.String()


class BreakdownSchema(_Report):
    dimension = fields.String()
    rows = fields.List(fields.Nested(RowSchema))


class PointSchema(MetricsSchema):
    at = fields.AwareDateTime(metadata={"description": "The bucket's start (UTC)."})


class TimeseriesSchema(_Report):
    granularity = fields.String()
    points = fields.List(fields.Nested(PointSchema))


class StepSchema(Schema):
    step = fields.String()
    value = fields.Float()
    rate = fields.Float(allow_none=True, metadata={"description": "This step / the one before."})
    overall = fields.Float(allow_none=True, metadata={"description": "This step / the first."})


class FunnelSchema(_Report):
    steps = fields.List(fields.Nested(StepSchema))
