"""Merchant API for reports: the dashboard's figures as JSON or CSV.

Routes (under ``<prefix>/api``, behind API keys with the ``read`` scope, see
:mod:`flask_shoppable.api.base`): ``GET /reports/summary``, ``GET /reports/by/<dimension>``
(channel, post, campaign, link, partner), ``GET /reports/timeseries``,
``GET /reports/funnel``. Every one takes ``start``, ``end`` (half-open, UTC), ``model``,
``currency``, ``channel`` and ``post_id``; the breakdowns and the time series also
``format=csv``. How each metric is counted: :mod:`.queries`.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError

from ..api import abort
from . import connect, export, queries
from .schemas import (
    BreakdownSchema,
    ExportQuerySchema,
    FunnelSchema,
    ReportQuerySchema,
    SummarySchema,
    TimeseriesQuerySchema,
    TimeseriesSchema,
    with_defaults,
)

blp = Blueprint(
    "shoppable_reports",
    __name__,
    description="The metrics: impressions, clicks, visitors, checkouts, orders and revenue "
    "for a range and an attribution model, in total, by dimension, over time, as a funnel.",
)


def _query(args: dict[str, Any]) -> tuple[queries.ReportQuery, dict[str, Any]]:
    try:
        filled = with_defaults(args)
        q = queries.ReportQuery(
            start=filled["start"],
            end=filled["end"],
            model=filled["model"],
            currency=filled["currency"],
            channel=filled.get("channel"),
            post_id=filled.get("post_id"),
        )
    except ValidationError as exc:
        abort(422, "The query is not valid.", errors={"query": exc.messages})
    except queries.ReportError as exc:
        abort(422, str(exc))
    head = {
        "start": q.start,
        "end": q.end,
        "model": q.model,
        "currency": q.currency,
        "filters": {"channel": q.channel, "post_id": q.post_id},
    }
    return q, head


def _csv(text: str, name: str) -> Response:
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blp.route("/reports/summary", endpoint="summary")
class Summary(MethodView):
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, SummarySchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Totals for the range: every metric."""
        q, head = _query(args)
        with connect() as conn:
            return {**head, "metrics": queries.summary(conn, q).as_dict()}


@blp.route("/reports/by/<dimension>", endpoint="breakdown")
class Breakdown(MethodView):
    @blp.arguments(ExportQuerySchema, location="query")
    @blp.response(200, BreakdownSchema)
    @blp.alt_response(404, schema="Error", description="No such dimension.")
    def get(self, args: dict[str, Any], dimension: str) -> Any:
        """Every metric per channel, post, campaign, link or partner.

        Rows by net revenue, highest first. The row with key null holds the direct
        orders (no credited touch under the model) and the touches without a value
        for the dimension. ``format=csv`` answers a CSV file instead.
        """
        if dimension not in queries.DIMENSIONS:
            abort(404, f"No dimension {dimension!r}: use one of {', '.join(queries.DIMENSIONS)}.")
        fmt = args.pop("format")
        q, head = _query(args)
        with connect() as conn:
            rows = queries.breakdown(conn, q, dimension)
        if fmt == "csv":
            text = export.breakdown_csv(dimension, rows, q.currency)
            return _csv(text, export.filename(dimension, q.start, q.end, q.model))
        return {**head, "dimension": dimension, "rows": [r.as_dict() for r in rows]}


@blp.route("/reports/timeseries", endpoint="timeseries")
class Timeseries(MethodView):
    @blp.arguments(TimeseriesQuerySchema, location="query")
    @blp.response(200, TimeseriesSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Every metric per UTC hour or day of the range, buckets without data as zeros.

        ``format=csv`` answers a CSV file instead.
        """
        fmt = args.pop("format")
        granularity = args.pop("granularity", None)
        q, head = _query(args)
        try:
            with connect() as conn:
                granularity, points = queries.timeseries(conn, q, granularity)
        except queries.ReportError as exc:
            abort(422, str(exc))
        if fmt == "csv":
            text = export.timeseries_csv(points, q.currency)
            return _csv(text, export.filename(f"by-{granularity}", q.start, q.end, q.model))
        return {
            **head,
            "granularity": granularity,
            "points": [{"at": at, **m.as_dict()} for at, m in points],
        }


@blp.route("/reports/funnel", endpoint="funnel")
class Funnel(MethodView):
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, FunnelSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """impressions -> clicks -> checkouts started -> orders, with each step's rate."""
        q, head = _query(args)
        with connect() as conn:
            return {**head, "steps": queries.funnel(conn, q)}
