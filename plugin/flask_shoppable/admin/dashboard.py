"""The dashboard: the metrics that matter, for a date range and an attribution model.

A thin view over :mod:`flask_shoppable.reports` (the same queries as the API and the
CLI): KPI tiles, a time-series chart drawn here as inline SVG (no script, no CDN), the
funnel, and breakdowns by channel and post plus one of campaign, link or partner
(``?by=``), each with a CSV export (``/dashboard/export.csv``).

The form's dates are whole UTC days and ``to`` is included (the queries take ``end``
excluded: the day after ``to``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Response, current_app, render_template, request, url_for

from .. import reports
from ..attribution import MODELS
from ..money import to_decimal_string
from ..reports import export, queries
from . import bp, login_required
from .orders import MODEL_LABELS

#: Shown side by side on every dashboard.
ALWAYS = ("channel", "post")
#: One of these in the third table (tabs).
MORE = ("campaign", "link", "partner")
DIMENSION_LABELS = {
    "channel": "Channel",
    "post": "Post",
    "campaign": "Campaign",
    "link": "Link",
    "partner": "Partner",
}
PRESETS = (7, 30, 90, 365)
#: The longest range the page accepts (days).
MAX_DAYS = 366 * 3


@dataclass
class Choice:
    """The page's inputs, read from the query string (errors keep the defaults)."""

    first: date
    last: date
    model: str
    more: str
    currency: str
    errors: dict[str, str]

    @property
    def query(self) -> queries.ReportQuery:
        return queries.ReportQuery(
            start=datetime.combine(self.first, time(), UTC),
            end=datetime.combine(self.last + timedelta(days=1), time(), UTC),
            model=self.model,
            currency=self.currency,
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        out = {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "model": self.model,
            "by": self.more,
        }
        out.update(changes)
        return out


def _day(name: str, errors: dict[str, str]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        errors[name] = "Use a date such as 2026-03-31."
        return None


def read_choice() -> Choice:
    config = current_app.config
    errors: dict[str, str] = {}
    today = datetime.now(UTC).date()
    last = _day("to", errors) or today
    first = _day("from", errors) or last - timedelta(days=29)
    if first > last:
        errors["to"] = "Must be on or after the start."
        first, last = today - timedelta(days=29), today
    elif (last - first).days >= MAX_DAYS:
        errors["from"] = f"Pick at most {MAX_DAYS} days."
        first = last - timedelta(days=29)
    model = request.args.get("model") or config["SHOPPABLE_ATTRIBUTION_MODEL"]
    if model not in MODELS:
        errors["model"] = "Pick one of the models."
        model = config["SHOPPABLE_ATTRIBUTION_MODEL"]
    more = request.args.get("by") or MORE[0]
    if more not in MORE:
        more = MORE[0]
    currency = config["SHOPPABLE_DEFAULT_CURRENCY"]
    return Choice(first, last, model, more, currency, errors)


#: Rows of a breakdown table before "Show all".
ROWS_SHOWN = 10


def _money(amount: int | None, currency: str) -> str:
    """``3024250, "USD"`` → ``"30,242.50 USD"``; None → an em dash."""
    if amount is None:
        return "\u2014"
    whole, dot, fraction = to_decimal_string(amount, currency).partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}{dot}{fraction} {currency}"


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


def chart(
    points: list[tuple[datetime, queries.Metrics]], granularity: str, currency: str
) -> dict[str, Any]:
    """Geometry of the SVG chart: net revenue as bars, clicks as a line, in a 720x240 box."""
    width, height, left, bottom, top = 720.0, 240.0, 56.0, 28.0, 12.0
    plot_w, plot_h = width - left - 8, height - bottom - top
    n = max(len(points), 1)
    step = plot_w / n
    top_money = max([m.net_revenue for _at, m in points] + [1])
    top_clicks = max([m.clicks for _at, m in points] + [1])
    fmt = "%d %b %H:00" if granularity == "hour" else "%d %b %Y"
    bars, line = [], []
    for i, (at, m) in enumerate(points):
        h = plot_h * max(m.net_revenue, 0) / top_money
        x = left + i * step
        title = (
            f"{at.strftime(fmt)}: {to_decimal_string(m.net_revenue, currency)} {currency} net, "
            f"{m.orders:g} orders, {m.clicks} clicks"
        )
        bars.append(Bar(x + step * 0.15, top + plot_h - h, max(step * 0.7, 1.0), h, title))
        line.append(f"{x + step / 2:.1f},{top + plot_h - plot_h * m.clicks / top_clicks:.1f}")
    ticks = sorted({0, n // 2, n - 1}) if points else []
    labels = [
        {
            "x": left + i * step + step / 2,
            "text": points[i][0].strftime("%H:00" if granularity == "hour" else "%d %b"),
        }
        for i in ticks
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "top": top,
        "plot_w": plot_w,
        "plot_h": plot_h,
        "base": top + plot_h,
        "bars": bars,
        "line": " ".join(line),
        "labels": labels,
        "top_money": to_decimal_string(top_money, currency) if points else "0",
        "top_clicks": top_clicks,
    }


@bp.get("/")
@bp.get("/dashboard")
@login_required
def dashboard() -> Any:
    choice = read_choice()
    q = choice.query
    with reports.connect() as conn:
        totals = queries.summary(conn, q)
        granularity, points = queries.timeseries(conn, q)
        tables = {d: queries.breakdown(conn, q, d) for d in (*ALWAYS, choice.more)}
    return render_template(
        "shoppable/admin/dashboard.html",
        choice=choice,
        totals=totals,
        funnel=queries.funnel(conn, q, totals),
        granularity=granularity,
        points=points,
        chart=chart(points, granularity, q.currency),
        tables=tables,
        always=ALWAYS,
        more=MORE,
        models=MODELS,
        model_labels=MODEL_LABELS,
        dimension_labels=DIMENSION_LABELS,
        presets=PRESETS,
        today=datetime.now(UTC).date(),
        timedelta=timedelta,
        money=lambda amount: _money(amount, q.currency),
        expanded=request.args.get("all", ""),
        rows_shown=ROWS_SHOWN,
        export_url=lambda **kw: url_for(".dashboard_export", **choice.args(**kw)),
    )


@bp.get("/dashboard/export.csv")
@login_required
def dashboard_export() -> Response:
    """A breakdown (``by=`` any dimension) or, with ``by=day``, the time series, as CSV."""
    choice = read_choice()
    q = choice.query
    by = request.args.get("by", "channel")
    with reports.connect() as conn:
        if by == "day":
            granularity, points = queries.timeseries(conn, q)
            text = export.timeseries_csv(points, q.currency)
            name = export.filename(f"by-{granularity}", q.start, q.end, q.model)
        elif by in queries.DIMENSIONS:
            text = export.breakdown_csv(by, queries.breakdown(conn, q, by), q.currency)
            name = export.filename(by, q.start, q.end, q.model)
        else:
            return Response(f"No breakdown by {by!r}.", status=404, mimetype="text/plain")
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
