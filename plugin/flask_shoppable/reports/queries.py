"""The metrics: SQLAlchemy Core queries for a date range and an attribution model.

Every figure is for the half-open range ``[start, end)`` (UTC) and one currency. How
each metric is defined (the README's "Reports" section says the same):

- **impressions**, **clicks**, **checkouts started**: interactions of that kind whose
  ``occurred_at`` is in the range (comments are credited touches, not clicks).
- **unique visitors**: distinct non-NULL visitor ids among the range's interactions of
  every kind (embed impressions carry no visitor id, so they add none).
- **orders**: paid orders (``status = 'paid'``) whose ``paid_at`` is in the range, in
  the order's currency only. Under a model, each order is split between its credited
  touches by their ``share`` (``OrderCredit``, computed at purchase): under linear, an
  order with two touches counts 0.5 for each touch's channel. An order with no credit
  under the model (no click or comment in its lookback) counts whole under the NULL key
  ("direct"). So the rows of a breakdown add up to the total.
- **gross revenue**: the model's credit amounts (which sum exactly to the order's
  ``total_amount``); a direct order's whole total.
- **refunded**: the order's confirmed ``refunded_amount``, counted against the order's
  ``paid_at`` (a cohort view, not the refund's date), split pro rata by credit amount
  (``credit * refunded / total``), summed exactly per row and rounded to the minor unit
  (half away from zero) once per row; **net** = gross - refunded.
- **conversion rate** = orders / clicks; **average order value** = gross / orders;
  **revenue per click** = net / clicks (money rounded to the minor unit; None when the
  divisor is zero).
- The dimensions of a credit are those of its touch (the interaction row): channel,
  post, link, ``utm_campaign``, ``partner``, copied onto the credit at purchase, so a
  breakdown reads the credits without joining them to the interactions. An origin
  whose row was not written at purchase (a buffered click) takes the order's channel,
  post and link, and no campaign or partner. A touch without a value for the
  dimension (a storefront link has no post, a link without a campaign) and every
  direct order fall under the NULL key, labelled "(direct)" for channel and "(none)"
  for the others.
- Filters (channel, post) select interactions with that value and credits whose touch
  has it; direct orders match no filter.
- Time buckets are UTC days, or UTC hours for ranges of two days or less.

What a report reads: the range's interactions through the time index (which carries
the report columns, so a range costs what its rows cost, not the whole history), kinds
counted per key and unique visitors from the rows with a visitor only (the daily series
on PostgreSQL instead scans the index once per day, a LATERAL subquery per bucket with
FILTERed counts and ``count(DISTINCT visitor_id)``: see ``_interaction_series``; an
unfiltered breakdown counts the unique visitors of chained rows in the kinds' pass, from
their visit chains, see tracking.chains); the range's paid orders and their credits,
without the interactions (a credit carries its touch's dimensions). The README's
"Figures measured" gives the times at 100k and 1M interactions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Integer,
    Select,
    Table,
    and_,
    case,
    column,
    exists,
    func,
    lateral,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
    values,
)
from sqlalchemy import (
    cast as sql_cast,
)

from ..attribution import MODELS
from ..db import UTCDateTime
from ..orders.models import Order, OrderCredit
from ..social.models import Post, TrackedLink
from ..tracking import chains
from ..tracking.models import Interaction

DIMENSIONS = ("channel", "post", "campaign", "link", "partner")
GRANULARITIES = ("hour", "day")
#: Ranges up to this long are bucketed by hour, longer ones by day.
HOURLY_UP_TO = timedelta(days=2)
#: The longest range a time series is drawn for, per granularity (bounded work).
MAX_BUCKETS = {"hour": 24 * 31, "day": 366 * 5}

_I = cast(Table, Interaction.__table__)
_O = cast(Table, Order.__table__)
_C = cast(Table, OrderCredit.__table__)


class ReportError(ValueError):
    """A report asked for something it cannot give (a bad range or model)."""


@dataclass(frozen=True)
class ReportQuery:
    """What a report is about: the range, the model, the currency and the filters."""

    start: datetime
    end: datetime
    model: str
    currency: str
    channel: str | None = None
    post_id: int | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ReportError(f"{name} must be timezone-aware")
            object.__setattr__(self, name, value.astimezone(UTC))
        if self.end <= self.start:
            raise ReportError("end must be after start")
        if self.model not in MODELS:
            raise ReportError(
                f"unknown attribution model {self.model!r}: choose from {', '.join(MODELS)}"
            )


@dataclass
class Metrics:
    """Every metric of one row (a total, a breakdown row or a time bucket)."""

    impressions: int = 0
    clicks: int = 0
    unique_visitors: int = 0
    checkouts_started: int = 0
    orders: float = 0.0
    gross_revenue: int = 0
    refunded: int = 0
    net_revenue: int = 0
    conversion_rate: float | None = None
    average_order_value: int | None = None
    revenue_per_click: int | None = None

    def finish(self) -> Metrics:
        """Compute the derived metrics from the counted ones (orders shown to 4 places)."""
        orders = round(self.orders, 9)
        self.net_revenue = self.gross_revenue - self.refunded
        self.conversion_rate = round(orders / self.clicks, 6) if self.clicks else None
        self.average_order_value = (
            _round_half_away(self.gross_revenue / orders) if orders > 0 else None
        )
        self.revenue_per_click = (
            _round_half_away(self.net_revenue / self.clicks) if self.clicks else None
        )
        self.orders = round(orders, 4)
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Row:
    """One row of a breakdown: the dimension's key (None: direct/none), its label, metrics."""

    key: Any
    label: str
    metrics: Metrics = field(default_factory=Metrics)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, **self.metrics.as_dict()}


def _round_half_away(value: float) -> int:
    # Sums of exact fractions carry float noise; settle it before rounding.
    value = round(value, 6)
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def parse_day(value: str | date | datetime) -> datetime:
    """A date (its UTC midnight) or an ISO time (UTC when it has no zone)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ReportError(f"{value!r} is not a date (YYYY-MM-DD) or ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def default_range(now: datetime | None = None, days: int = 30) -> tuple[datetime, datetime]:
    """The last ``days`` whole UTC days up to and including today."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    end = datetime.combine(today + timedelta(days=1), time(), UTC)
    return end - timedelta(days=days), end


# --- building blocks -------------------------------------------------------------


def _interaction_dim(dimension: str, table: Table = _I) -> ColumnElement[Any]:
    return {
        "channel": table.c.channel,
        "post": table.c.post_id,
        "link": table.c.link_id,
        "campaign": func.nullif(table.c.utm_campaign, ""),
        "partner": func.nullif(table.c.partner, ""),
    }[dimension]


def _credit_dim(dimension: str) -> ColumnElement[Any]:
    """The credited touch's value, copied onto the credit at purchase."""
    return {
        "channel": _C.c.channel,
        "post": _C.c.post_id,
        "link": _C.c.link_id,
        "campaign": _C.c.campaign,
        "partner": _C.c.partner,
    }[dimension]


def _bucket(column: Any, granularity: str, dialect: str) -> ColumnElement[Any]:
    """The UTC day or hour a time column falls in.

    PostgreSQL: ``date_trunc`` of the UTC wall time (a timestamp; much cheaper per row
    than formatting text); SQLite, which stores UTC times as 'YYYY-MM-DD HH:MM:SS.ffffff':
    the text's first 10 or 13 characters.
    """
    if dialect == "postgresql":
        return func.date_trunc(granularity, func.timezone("UTC", column))
    return func.substr(column, 1, 13 if granularity == "hour" else 10)


def _filters(q: ReportQuery, dim: Any) -> list[ColumnElement[bool]]:
    """Conditions for the query's filters; ``dim(name)`` gives a dimension's column."""
    where: list[ColumnElement[bool]] = []
    if q.channel is not None:
        where.append(dim("channel") == q.channel)
    if q.post_id is not None:
        where.append(dim("post") == q.post_id)
    return where


def _interaction_select(
    q: ReportQuery,
    keys: list[tuple[str, ColumnElement[Any]]],
    chained: str | None = None,
) -> Select[Any]:
    """Counts of the range's interactions grouped by ``keys`` (label, expression).

    Two parts in one statement, added up per keys: the kinds, a plain count per keys
    over every row; the unique visitors, over the rows with a visitor only (embed
    impressions, most of the rows, carry none), grouped per (keys, visitor) and then
    per keys. Both hash; a ``count(DISTINCT ...)`` would sort the rows.

    ``chained``, a dimension (the one key of an unfiltered breakdown): its visit chains
    count the unique visitors of the chained rows in the kinds' pass, without hashing
    them (see tracking.chains); the second part then groups only the unchained rows, of
    (key, visitor) pairs that have no chained row in the range.
    """
    in_range = (
        _I.c.occurred_at >= q.start,
        _I.c.occurred_at < q.end,
        *_filters(q, _interaction_dim),
    )
    exprs = [expr for _name, expr in keys]
    labelled = [expr.label(name) for name, expr in keys]

    def kind_count(kind: str) -> ColumnElement[int]:
        return func.sum(case((_I.c.kind == kind, 1), else_=0))

    zero = literal(0)
    first_visits: ColumnElement[Any] = zero
    visitor_rows = [*in_range, _I.c.visitor_id.is_not(None)]
    if chained is not None:
        prev = _I.c[chains.DIMENSIONS[chained][0]]
        first_visits = func.sum(
            case(
                (
                    and_(
                        _I.c.visitor_id.is_not(None),
                        _I.c.chained,
                        or_(prev.is_(None), prev < q.start),
                    ),
                    1,
                ),
                else_=0,
            )
        )
        other = _I.alias("chained_row")
        visitor_rows = [
            *in_range,
            chains.unchained(),
            ~exists().where(
                other.c.visitor_id == _I.c.visitor_id,
                other.c.chained,
                other.c.occurred_at >= q.start,
                other.c.occurred_at < q.end,
                _interaction_dim(chained, other).is_not_distinct_from(_interaction_dim(chained)),
            ),
        ]
    kinds = select(
        *labelled,
        kind_count("impression").label("impressions"),
        kind_count("click").label("clicks"),
        kind_count("checkout_started").label("checkouts_started"),
        first_visits.label("unique_visitors"),
    ).where(*in_range)
    per_visitor = (
        select(*labelled, _I.c.visitor_id)
        .where(*visitor_rows)
        .group_by(*exprs, _I.c.visitor_id)
        .subquery("per_visitor")
    )
    per_keys = [per_visitor.c[name] for name, _expr in keys]
    visitors = select(
        *per_keys,
        zero.label("impressions"),
        zero.label("clicks"),
        zero.label("checkouts_started"),
        func.count().label("unique_visitors"),
    ).select_from(per_visitor)
    if keys:
        kinds = kinds.group_by(*exprs)
        visitors = visitors.group_by(*per_keys)
    both = union_all(kinds, visitors).subquery("counted")
    cols = [both.c[name] for name, _expr in keys]
    stmt = select(
        *cols,
        *[
            func.coalesce(func.sum(both.c[name]), 0).label(name)
            for name in ("impressions", "clicks", "checkouts_started", "unique_visitors")
        ],
    )
    if cols:
        stmt = stmt.group_by(*cols)
    return stmt


def _interaction_series(q: ReportQuery, buckets: list[datetime], step: timedelta) -> Select[Any]:
    """PostgreSQL, daily series: the interaction counts per bucket, one index range scan each.

    The bucket edges come from Python (``_buckets``, clipped to the range), as a VALUES
    list ``(i, lo, hi)``; per bucket a LATERAL subquery reads ``[lo, hi)`` through the
    time index (it carries the report columns) and counts the kinds with FILTERed counts
    and the unique visitors with ``count(DISTINCT ...)``: a small sort of one day's
    visitor ids (about 1,200 at the benchmark's density), compared bytewise (COLLATE "C":
    the same equality as any deterministic collation, cheaper than the database's). No
    per-row ``date_trunc`` and no hash over the whole range: a year at 1M interactions
    went from about 670 to 300 ms. Hourly buckets (a few hundred rows each) keep the
    grouped query, which was a millisecond or two faster for them.
    """
    edges = [(i, max(at, q.start), min(at + step, q.end)) for i, at in enumerate(buckets)]
    bounds = values(
        column("i", Integer),
        column("lo", UTCDateTime()),
        column("hi", UTCDateTime()),
        name="bounds",
    ).data(edges)

    def kind_count(kind: str) -> ColumnElement[int]:
        return func.count().filter(_I.c.kind == kind)

    counted = lateral(
        select(
            kind_count("impression").label("impressions"),
            kind_count("click").label("clicks"),
            kind_count("checkout_started").label("checkouts_started"),
            func.count(_I.c.visitor_id.collate("C").distinct()).label("unique_visitors"),
        ).where(
            _I.c.occurred_at >= bounds.c.lo,
            _I.c.occurred_at < bounds.c.hi,
            *_filters(q, _interaction_dim),
        ),
        name="counted",
    )
    return select(bounds.c.i, counted).select_from(bounds.join(counted, true()))


def _attributed(q: ReportQuery, dimensions: Iterable[str]) -> Any:
    """The range's paid orders as (paid_at, weight, gross, refunded, dims...) parts.

    One part per credit of the model, plus one whole part per order without credit;
    for totals (no dimension, no filter) simply one whole part per order.
    """
    dims = list(
        dict.fromkeys(
            [*dimensions, *(["channel"] if q.channel else []), *(["post"] if q.post_id else [])]
        )
    )
    paid = (
        _O.c.status == "paid",
        _O.c.paid_at >= q.start,
        _O.c.paid_at < q.end,
        _O.c.currency == q.currency,
    )
    if not dims:
        # Totals need no credit: under every model an order's shares add up to one
        # whole order and its credits to its total. One pass over the orders alone.
        return (
            select(
                _O.c.paid_at.label("paid_at"),
                sql_cast(literal(1.0), Float).label("weight"),
                _O.c.total_amount.label("gross"),
                sql_cast(_O.c.refunded_amount, Float).label("refunded"),
            )
            .where(*paid)
            .subquery("attributed")
        )
    share_of_refund = case(
        (
            _O.c.total_amount > 0,
            sql_cast(_C.c.amount, Float) * _O.c.refunded_amount / _O.c.total_amount,
        ),
        else_=literal(0.0),
    )
    credited = (
        select(
            _O.c.paid_at.label("paid_at"),
            _C.c.share.label("weight"),
            _C.c.amount.label("gross"),
            share_of_refund.label("refunded"),
            *[_credit_dim(d).label(d) for d in dims],
        )
        .select_from(_O.join(_C, and_(_C.c.order_id == _O.c.id, _C.c.model == q.model)))
        .where(*paid)
    )
    has_credit = exists().where(_C.c.order_id == _O.c.id, _C.c.model == q.model)
    direct = select(
        _O.c.paid_at.label("paid_at"),
        sql_cast(literal(1.0), Float).label("weight"),
        _O.c.total_amount.label("gross"),
        sql_cast(_O.c.refunded_amount, Float).label("refunded"),
        *[null().label(d) for d in dims],
    ).where(*paid, ~has_credit)
    return union_all(credited, direct).subquery("attributed")


def _order_select(q: ReportQuery, keys: list[tuple[str, Any]], parts: Any) -> Select[Any]:
    cols = [expr.label(name) for name, expr in keys]
    stmt = select(
        *cols,
        func.coalesce(func.sum(parts.c.weight), 0.0).label("orders"),
        func.coalesce(func.sum(parts.c.gross), 0).label("gross"),
        func.coalesce(func.sum(parts.c.refunded), 0.0).label("refunded"),
    ).where(*_filters(q, lambda d: parts.c[d]))
    if cols:
        stmt = stmt.group_by(*[expr for _name, expr in keys])
    return stmt


def _add_interactions(m: Metrics, row: Any) -> None:
    m.impressions = int(row.impressions or 0)
    m.clicks = int(row.clicks or 0)
    m.checkouts_started = int(row.checkouts_started or 0)
    m.unique_visitors = int(row.unique_visitors or 0)


def _add_orders(m: Metrics, row: Any) -> float:
    """Set the order metrics; returns the exact (unrounded) refunded amount."""
    m.orders = float(row.orders or 0)
    m.gross_revenue = int(row.gross or 0)
    exact = float(row.refunded or 0)
    m.refunded = _round_half_away(exact)
    return exact


def _settle_refunds(parts: list[tuple[Metrics, float]]) -> None:
    """Round the rows' exact refunded amounts so that they add up to the rounded total.

    Largest remainder: each row is rounded down, then the units left over go to the
    largest fractional parts (ties to the larger amount).
    """
    exact = [(m, round(value, 6)) for m, value in parts]
    total = _round_half_away(sum(value for _m, value in exact))
    floors = [math.floor(value) for _m, value in exact]
    left = total - sum(floors)
    ranked = sorted(
        range(len(exact)), key=lambda i: (exact[i][1] - floors[i], exact[i][1]), reverse=True
    )
    for i, (m, _value) in enumerate(exact):
        m.refunded = floors[i]
    for i in ranked[: max(left, 0)]:
        exact[i][0].refunded += 1


# --- the reports -----------------------------------------------------------------


def summary(conn: Connection, q: ReportQuery) -> Metrics:
    """The totals for the range (two queries)."""
    m = Metrics()
    _add_interactions(m, conn.execute(_interaction_select(q, [])).one())
    _add_orders(m, conn.execute(_order_select(q, [], _attributed(q, []))).one())
    return m.finish()


def breakdown(conn: Connection, q: ReportQuery, dimension: str) -> list[Row]:
    """The metrics per value of ``dimension``, by net revenue then clicks (three queries)."""
    if dimension not in DIMENSIONS:
        raise ReportError(f"unknown dimension {dimension!r}: choose from {', '.join(DIMENSIONS)}")
    rows: dict[Any, Row] = {}

    def row(key: Any) -> Row:
        if key not in rows:
            rows[key] = Row(key, "")
        return rows[key]

    # Unfiltered, the dimension's visit chains count its unique visitors; a filter (a
    # channel, a post) cuts chains that run across its values, so it counts them all.
    chained = dimension if q.channel is None and q.post_id is None else None
    keys = [("key", _interaction_dim(dimension))]
    for r in conn.execute(_interaction_select(q, keys, chained)):
        _add_interactions(row(r.key).metrics, r)
    parts = _attributed(q, [dimension])
    refunds = [
        (row(r.key).metrics, _add_orders(row(r.key).metrics, r))
        for r in conn.execute(_order_select(q, [("key", parts.c[dimension])], parts))
    ]
    _settle_refunds(refunds)
    labels = _labels(conn, dimension, [k for k in rows if k is not None])
    for key, found in rows.items():
        found.label = labels.get(key, str(key)) if key is not None else _NONE_LABEL[dimension]
        found.metrics.finish()
    return sorted(
        rows.values(),
        key=lambda r: (
            -r.metrics.net_revenue,
            -r.metrics.orders,
            -r.metrics.clicks,
            r.key is None,
            str(r.key),
        ),
    )


_NONE_LABEL = {
    "channel": "(direct)",
    "post": "(none)",
    "campaign": "(none)",
    "link": "(none)",
    "partner": "(none)",
}


def _labels(conn: Connection, dimension: str, keys: list[Any]) -> dict[Any, str]:
    """Readable names: a post's caption or slug, a link's label or code and channel."""
    if not keys:
        return {}
    if dimension == "post":
        post = cast(Table, Post.__table__)
        found = conn.execute(
            select(post.c.id, post.c.slug, post.c.caption).where(post.c.id.in_(keys))
        )
        return {r.id: _clip(r.caption) or r.slug for r in found}
    if dimension == "link":
        link = cast(Table, TrackedLink.__table__)
        found = conn.execute(
            select(link.c.id, link.c.code, link.c.label, link.c.channel).where(link.c.id.in_(keys))
        )
        return {r.id: f"{r.label or r.code} ({r.channel})" for r in found}
    if dimension == "channel":
        from ..social.channels import CHANNELS

        return {k: CHANNELS[k].label if k in CHANNELS else str(k) for k in keys}
    return {k: str(k) for k in keys}


def _clip(text: str, limit: int = 60) -> str:
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "\u2026"


def granularity_for(q: ReportQuery, asked: str | None = None) -> str:
    """The bucket size: hours for short ranges, days otherwise (or the one asked for)."""
    granularity = asked or ("hour" if q.end - q.start <= HOURLY_UP_TO else "day")
    if granularity not in GRANULARITIES:
        raise ReportError(f"unknown granularity {granularity!r}: choose hour or day")
    if len(_buckets(q, granularity)) > MAX_BUCKETS[granularity]:
        raise ReportError(
            f"the range has too many {granularity}s for a time series "
            f"(at most {MAX_BUCKETS[granularity]})"
        )
    return granularity


def _buckets(q: ReportQuery, granularity: str) -> list[datetime]:
    step = timedelta(hours=1) if granularity == "hour" else timedelta(days=1)
    first = q.start.replace(minute=0, second=0, microsecond=0)
    if granularity == "day":
        first = first.replace(hour=0)
    out = []
    at = first
    while at < q.end:
        out.append(at)
        at += step
        if len(out) > MAX_BUCKETS[granularity]:
            break
    return out


def _bucket_start(value: str | datetime) -> datetime:
    if isinstance(value, datetime):  # PostgreSQL: a UTC wall time
        return value.replace(tzinfo=UTC)
    if len(value) == 13:  # 'YYYY-MM-DD HH'
        return datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=UTC)
    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)


def timeseries(
    conn: Connection, q: ReportQuery, granularity: str | None = None
) -> tuple[str, list[tuple[datetime, Metrics]]]:
    """Metrics per UTC hour or day of the range, every bucket present (two queries)."""
    granularity = granularity_for(q, granularity)
    dialect = conn.dialect.name
    series: dict[datetime, Metrics] = {at: Metrics() for at in _buckets(q, granularity)}
    if dialect == "postgresql" and granularity == "day":
        buckets = list(series)
        for r in conn.execute(_interaction_series(q, buckets, timedelta(days=1))):
            _add_interactions(series[buckets[r.i]], r)
    else:
        key = [("bucket", _bucket(_I.c.occurred_at, granularity, dialect))]
        for r in conn.execute(_interaction_select(q, key)):
            _add_interactions(series.setdefault(_bucket_start(r.bucket), Metrics()), r)
    parts = _attributed(q, [])
    key = [("bucket", _bucket(parts.c.paid_at, granularity, dialect))]
    refunds = []
    for r in conn.execute(_order_select(q, key, parts)):
        m = series.setdefault(_bucket_start(r.bucket), Metrics())
        refunds.append((m, _add_orders(m, r)))
    _settle_refunds(refunds)
    return granularity, [(at, m.finish()) for at, m in sorted(series.items())]


FUNNEL_STEPS = ("impressions", "clicks", "checkouts_started", "orders")


def funnel(conn: Connection, q: ReportQuery, totals: Metrics | None = None) -> list[dict[str, Any]]:
    """impressions -> clicks -> checkouts started -> orders, with each step's rate.

    ``rate`` is the step over the one before (None for the first, or after a zero);
    ``overall`` the step over the first.
    """
    m = totals or summary(conn, q)
    values = [m.impressions, m.clicks, m.checkouts_started, m.orders]
    steps = []
    for i, (name, value) in enumerate(zip(FUNNEL_STEPS, values, strict=True)):
        before = values[i - 1] if i else None
        steps.append(
            {
                "step": name,
                "value": value,
                "rate": round(value / before, 6) if before else None,
                "overall": round(value / values[0], 6) if values[0] else None,
            }
        )
    return steps


def metrics_fields() -> list[str]:
    """The metric names, in the order reports show them."""
    return list(Metrics.__dataclass_fields__)


def as_mapping(rows: Iterable[Row]) -> Mapping[Any, Row]:
    return {r.key: r for r in rows}
