"""Reports: every metric, every model, against figures computed by hand.

The data is tests/reports_fixture.py (its docstring tabulates it). Each expected row
below was worked out by hand from that table, as the comments show; nothing here is
recomputed by the code under test. Metric tuples are, in order: impressions, clicks,
unique visitors, checkouts started, orders, gross, refunded, net, conversion rate,
average order value, revenue per click.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from flask_shoppable.reports import queries
from flask_shoppable.reports.queries import ReportError, ReportQuery
from flask_shoppable.tracking import chains
from flask_shoppable.tracking.models import Interaction

from . import reports_fixture as fx

MODELS = ("last_touch", "first_touch", "linear", "time_decay", "position_based")
FIELDS = (
    "impressions",
    "clicks",
    "unique_visitors",
    "checkouts_started",
    "orders",
    "gross_revenue",
    "refunded",
    "net_revenue",
    "conversion_rate",
    "average_order_value",
    "revenue_per_click",
)

# Totals, the same under every model (every order is split whole among its rows):
# impressions imp1-imp5; clicks c1 c2 c3 c4 c5 c7; visitors v1-v6; checkouts 401-405;
# orders O1-O5: gross 10000+5000+7000+3000+2000, refunded 2500+7000+1000;
# conversion 5/6; AOV 27000/5; revenue per click 16500/6.
TOTALS = (5, 6, 6, 5, 5.0, 27000, 10500, 16500, 0.833333, 5400, 2750)

# Interactions per channel: instagram imp1 imp2 imp5 / c1 c3 c5 / v1-v4 / 402 403 404;
# facebook imp3 imp4 / c2 c4 c7 / v1 v3 v6 / 401; none: 405 by v5.
_IG, _FB, _NONE = (3, 3, 4, 3), (2, 3, 3, 1), (0, 0, 1, 1)
_DIRECT = (*_NONE, 1.0, 2000, 0, 2000, None, 2000, None)  # O5, under every model
BY_CHANNEL = {
    # O2 O3 O4 to instagram, O1 to facebook.
    "last_touch": [
        ("facebook", *_FB, 1.0, 10000, 2500, 7500, 0.333333, 10000, 2500),
        ("instagram", *_IG, 3.0, 15000, 8000, 7000, 1.0, 5000, 2333),
        (None, *_DIRECT),
    ],
    # O1 (c0) O2 (cm1) O4 to instagram; O3 (c4) to facebook, fully refunded.
    "first_touch": [
        ("instagram", *_IG, 3.0, 18000, 3500, 14500, 1.0, 6000, 4833),
        (None, *_DIRECT),
        ("facebook", *_FB, 1.0, 7000, 7000, 0, 0.333333, 7000, 0),
    ],
    # instagram: 1/3+1/3 (O1) + 1 (O2) + 1/2 (O3) + 1 (O4) = 19/6 orders,
    # 3333+3333+5000+3500+3000 = 18166; refunds 833.25+833.25+3500+1000 = 6166.5;
    # facebook: 1/3 + 1/2 = 5/6, 3334+3500 = 6834, refunds 833.5+3500 = 4333.5. The two
    # halves make 10500 with the unit to the larger row: 6167 and 4333.
    # AOV 18166/(19/6) = 5736.6 and 6834/(5/6) = 8200.8; per click 11999/3, 2501/3.
    "linear": [
        ("instagram", *_IG, 3.1667, 18166, 6167, 11999, 1.055556, 5737, 4000),
        ("facebook", *_FB, 0.8333, 6834, 4333, 2501, 0.277778, 8201, 834),
        (None, *_DIRECT),
    ],
    # instagram: .2814+.3430+1+.5227+1 = 3.1471; 2814+3430+5000+3659+3000 = 17903;
    # refunds 703.5+857.5+3659+1000 = 6220. facebook: .3756+.4773, 3756+3341,
    # 939+3341. AOV 17903/3.1471 = 5688.7, 7097/0.8529 = 8321.0.
    "time_decay": [
        ("instagram", *_IG, 3.1471, 17903, 6220, 11683, 1.049033, 5689, 3894),
        ("facebook", *_FB, 0.8529, 7097, 4280, 2817, 0.2843, 8321, 939),
        (None, *_DIRECT),
    ],
    # instagram: .4+.2+1+.5+1 = 3.1; 4000+2000+5000+3500+3000; 1000+500+3500+1000.
    # facebook: .4+.5; 4000+3500; 1000+3500. AOV 17500/3.1 = 5645.2, 7500/.9 = 8333.3.
    "position_based": [
        ("instagram", *_IG, 3.1, 17500, 6000, 11500, 1.033333, 5645, 3833),
        ("facebook", *_FB, 0.9, 7500, 4500, 3000, 0.3, 8333, 1000),
        (None, *_DIRECT),
    ],
}

# Last touch: O1 -> c2 (P2, L2), O2 -> c3 (P2, L3, spring, ana), O3 -> c5 (P1, L1,
# spring), O4 -> x4 (no row: the order's P2 and L3, no campaign or partner), O5 direct.
BY_OTHER_LAST_TOUCH = {
    "post": [
        # P2: imp3 imp4 / c2 c3 c4 c7 / v1 v2 v3 v4 v6 / 401 402 404; O1 O2 O4.
        (fx.P2, 2, 4, 5, 3, 3.0, 18000, 3500, 14500, 0.75, 6000, 3625),
        (None, *_DIRECT),
        # P1: imp1 imp2 imp5 / c1 c5 / v1 v3 v4 / 403; O3.
        (fx.P1, 3, 2, 3, 1, 1.0, 7000, 7000, 0, 0.5, 7000, 0),
    ],
    "campaign": [
        # none: imp2-imp5 / c2 c4 c7 / v1-v6 / 401 405; O1 O4 O5.
        (None, 4, 3, 6, 2, 3.0, 15000, 3500, 11500, 1.0, 5000, 3833),
        # spring: imp1 / c1 c3 c5 / v1-v4 / 402 403 404; O2 O3.
        ("spring", 1, 3, 4, 3, 2.0, 12000, 7000, 5000, 0.666667, 6000, 1667),
    ],
    "link": [
        (fx.L2, 0, 3, 3, 1, 1.0, 10000, 2500, 7500, 0.333333, 10000, 2500),
        (fx.L3, 0, 1, 2, 2, 2.0, 8000, 1000, 7000, 2.0, 4000, 7000),
        # none: every impression, cm1, 405 (v2 v4 v5); O5.
        (None, 5, 0, 3, 1, 1.0, 2000, 0, 2000, None, 2000, None),
        (fx.L1, 0, 2, 2, 1, 1.0, 7000, 7000, 0, 0.5, 7000, 0),
    ],
    "partner": [
        # none: everything but c3, 402, 404; O1 O3 O4 O5.
        (None, 5, 5, 6, 3, 4.0, 22000, 10500, 11500, 0.8, 5500, 2300),
        ("ana", 0, 1, 2, 2, 1.0, 5000, 0, 5000, 1.0, 5000, 5000),
    ],
}

# Linear by partner: ana holds c3's half of O2.
BY_PARTNER_LINEAR = [
    (None, 5, 5, 6, 3, 4.5, 24500, 10500, 14000, 0.9, 5444, 2800),
    ("ana", 0, 1, 2, 2, 0.5, 2500, 0, 2500, 0.5, 5000, 2500),
]

LABELS = {
    "channel": {"instagram": "Instagram", "facebook": "Facebook", None: "(direct)"},
    "post": {fx.P1: "Summer hat", fx.P2: "Linen shirt", None: "(none)"},
    "link": {
        fx.L1: "Hat bio (instagram)",
        fx.L2: "shirt-fb (facebook)",
        fx.L3: "Ana (instagram)",
        None: "(none)",
    },
    "campaign": {"spring": "spring", None: "(none)"},
    "partner": {"ana": "ana", None: "(none)"},
}

# Last touch, per UTC day of the week.
BY_DAY = [
    (2, 1, 1, 0, 0.0, 0, 0, 0, 0.0, None, 0),  # 03-01: imp1 imp2, c1
    (1, 2, 2, 2, 2.0, 15000, 2500, 12500, 1.0, 7500, 6250),  # 03-02: O1 O2
    (1, 1, 1, 0, 0.0, 0, 0, 0, 0.0, None, 0),  # 03-03: imp4, c4
    (0, 1, 1, 1, 1.0, 7000, 7000, 0, 1.0, 7000, 0),  # 03-04: c5, 403, O3
    (1, 0, 1, 1, 1.0, 3000, 1000, 2000, None, 3000, None),  # 03-05: imp5, 404, O4
    (0, 1, 2, 1, 1.0, 2000, 0, 2000, 1.0, 2000, 2000),  # 03-06: c7, 405, O5
    (0, 0, 0, 0, 0.0, 0, 0, 0, None, None, None),  # 03-07: nothing
]


def _same(actual: dict[str, Any] | queries.Metrics, expected: tuple[Any, ...]) -> None:
    got = actual if isinstance(actual, dict) else actual.as_dict()
    values = tuple(got[name] for name in FIELDS)
    assert len(expected) == len(FIELDS)
    for name, value, want in zip(FIELDS, values, expected, strict=True):
        if isinstance(want, float):
            assert value == pytest.approx(want, abs=1e-6), (name, values, expected)
        else:
            assert value == want, (name, values, expected)
            assert type(value) is type(want) or want is None, (name, value)


@pytest.fixture(params=["unchained", "chained", "late rows"])
def loaded(app: Flask, session: Session, request: pytest.FixtureRequest) -> Flask:
    """The fixture's week, its visit chains (tracking.chains) in one of three states:
    none made yet; all made, as the worker leaves them; made before the comments and
    checkouts were written (so those, some older than chained rows, are unchained)."""
    fx.load(session)
    session.commit()
    if request.param != "unchained":
        _chain(app, later=(request.param == "late rows"))
    return app


def _chain(app: Flask, later: bool) -> None:
    table = Interaction.__table__
    with app.extensions["shoppable"].engine.connect() as conn:
        held: list[Any] = []
        if later:
            written_later = table.c.kind.in_(["comment", "checkout_started"])
            held = [dict(r) for r in conn.execute(select(table).where(written_later)).mappings()]
            conn.execute(delete(table).where(written_later))
        chains.chain_all(conn)
        if held:
            conn.execute(insert(table), held)  # (chained false, as a recorder writes them)
            conn.commit()
        chained_visits = conn.execute(
            select(func.count()).where(table.c.visitor_id.is_not(None), table.c.chained)
        ).scalar()
        unchained = conn.execute(select(func.count()).where(chains.unchained())).scalar()
    assert chained_visits
    assert unchained == len([r for r in held if r["visitor_id"]])


def _q(model: str = "last_touch", **kw: Any) -> ReportQuery:
    return ReportQuery(start=fx.START, end=fx.END, model=model, currency="USD", **kw)


def _conn(app: Flask) -> Any:
    return app.extensions["shoppable"].engine.connect()


@pytest.mark.parametrize("model", MODELS)
def test_totals_are_the_same_under_every_model(loaded: Flask, model: str) -> None:
    with _conn(loaded) as conn:
        _same(queries.summary(conn, _q(model)), TOTALS)


@pytest.mark.parametrize("model", MODELS)
def test_by_channel_under_every_model(loaded: Flask, model: str) -> None:
    with _conn(loaded) as conn:
        rows = queries.breakdown(conn, _q(model), "channel")
    assert [r.key for r in rows] == [e[0] for e in BY_CHANNEL[model]]
    for row, expected in zip(rows, BY_CHANNEL[model], strict=True):
        _same(row.metrics, expected[1:])
        assert row.label == LABELS["channel"][row.key]
    # The rows add up to the totals (orders, gross, refunded, net).
    assert sum(r.metrics.orders for r in rows) == pytest.approx(5.0)
    assert sum(r.metrics.gross_revenue for r in rows) == 27000
    assert sum(r.metrics.refunded for r in rows) == 10500


@pytest.mark.parametrize("model", MODELS)
def test_filtered_by_channel_under_every_model(loaded: Flask, model: str) -> None:
    """A channel filter gives that channel's row, and it depends on the model."""
    expected = {r[0]: r[1:] for r in BY_CHANNEL[model]}
    if model == "linear":
        # Alone, facebook's 4333.5 of refunds rounds half away from zero: 4334, so the
        # net is 6834-4334 = 2500 and per click 2500/3. (In the breakdown, the unit went
        # to instagram so that the rows add up to 10500.)
        expected["facebook"] = (*_FB, 0.8333, 6834, 4334, 2500, 0.277778, 8201, 833)
    with _conn(loaded) as conn:
        for channel in ("instagram", "facebook"):
            _same(queries.summary(conn, _q(model, channel=channel)), expected[channel])


@pytest.mark.parametrize("dimension", ["post", "campaign", "link", "partner"])
def test_other_breakdowns_last_touch(loaded: Flask, dimension: str) -> None:
    with _conn(loaded) as conn:
        rows = queries.breakdown(conn, _q(), dimension)
    expected = BY_OTHER_LAST_TOUCH[dimension]
    assert [r.key for r in rows] == [e[0] for e in expected]
    for row, want in zip(rows, expected, strict=True):
        _same(row.metrics, want[1:])
        assert row.label == LABELS[dimension][row.key]


def test_partner_breakdown_linear(loaded: Flask) -> None:
    with _conn(loaded) as conn:
        rows = queries.breakdown(conn, _q("linear"), "partner")
    assert [r.key for r in rows] == [None, "ana"]
    for row, want in zip(rows, BY_PARTNER_LINEAR, strict=True):
        _same(row.metrics, want[1:])


def test_post_filter_and_two_filters(loaded: Flask) -> None:
    with _conn(loaded) as conn:
        # P1, last touch: O3 only.
        _same(
            queries.summary(conn, _q(post_id=fx.P1)),
            (3, 2, 3, 1, 1.0, 7000, 7000, 0, 0.5, 7000, 0),
        )
        # P1, linear: c0 + c1 (1/3 each of O1) + c5 (1/2 of O3) = 7/6 orders;
        # 3333+3333+3500 = 10166; refunds 833.25*2+3500 = 5166.5 -> 5167; net 4999;
        # conversion (7/6)/2; AOV 10166/(7/6) = 8713.7; per click 4999/2 = 2499.5 -> 2500.
        _same(
            queries.summary(conn, _q("linear", post_id=fx.P1)),
            (3, 2, 3, 1, 1.1667, 10166, 5167, 4999, 0.583333, 8714, 2500),
        )
        # instagram and P2, last touch: c3, cm1, 402, 404 (v2 v4); O2 and O4.
        _same(
            queries.summary(conn, _q(channel="instagram", post_id=fx.P2)),
            (0, 1, 2, 2, 2.0, 8000, 1000, 7000, 2.0, 4000, 7000),
        )


def test_timeseries_by_day_zero_filled(loaded: Flask) -> None:
    with _conn(loaded) as conn:
        granularity, points = queries.timeseries(conn, _q())
    assert granularity == "day"
    assert [at for at, _m in points] == [fx.at(3, d) for d in range(1, 8)]
    for (_at, metrics), expected in zip(points, BY_DAY, strict=True):
        _same(metrics, expected)


def test_timeseries_by_hour_for_a_short_range(loaded: Flask) -> None:
    q = ReportQuery(start=fx.at(3, 2), end=fx.at(3, 3), model="last_touch", currency="USD")
    with _conn(loaded) as conn:
        granularity, points = queries.timeseries(conn, q)
    assert granularity == "hour"
    assert len(points) == 24
    by_hour = {at.hour: m for at, m in points}
    _same(by_hour[9], (1, 0, 0, 0, 0.0, 0, 0, 0, None, None, None))  # imp3
    # c2 10:00, 401 10:05, O1 10:10.
    _same(by_hour[10], (0, 1, 1, 1, 1.0, 10000, 2500, 7500, 1.0, 10000, 7500))
    _same(by_hour[14], (0, 0, 1, 0, 0.0, 0, 0, 0, None, None, None))  # cm1 (a comment)
    # c3 15:00, 402 15:10, O2 15:20.
    _same(by_hour[15], (0, 1, 1, 1, 1.0, 5000, 0, 5000, 1.0, 5000, 5000))
    quiet = [h for h, m in by_hour.items() if h not in (9, 10, 14, 15)]
    assert all(by_hour[h] == queries.Metrics().finish() for h in quiet)


def test_funnel(loaded: Flask) -> None:
    with _conn(loaded) as conn:
        steps = queries.funnel(conn, _q("time_decay"))
    # 5 impressions -> 6 clicks -> 5 checkouts -> 5 orders.
    assert [(s["step"], s["value"]) for s in steps] == [
        ("impressions", 5),
        ("clicks", 6),
        ("checkouts_started", 5),
        ("orders", 5.0),
    ]
    assert [s["rate"] for s in steps] == [None, 1.2, 0.833333, 1.0]
    assert [s["overall"] for s in steps] == [1.0, 1.2, 1.0, 1.0]


def test_an_empty_range_has_zeros(loaded: Flask) -> None:
    q = ReportQuery(start=fx.at(1, 1), end=fx.at(1, 8), model="linear", currency="USD")
    with _conn(loaded) as conn:
        _same(queries.summary(conn, q), (0, 0, 0, 0, 0.0, 0, 0, 0, None, None, None))
        assert queries.breakdown(conn, q, "channel") == []


def test_other_currency(loaded: Flask) -> None:
    q = ReportQuery(start=fx.START, end=fx.END, model="last_touch", currency="EUR")
    with _conn(loaded) as conn:
        # O6 (EUR 4000, c4 on facebook); interactions have no currency.
        _same(queries.summary(conn, q), (5, 6, 6, 5, 1.0, 4000, 0, 4000, 0.166667, 4000, 667))


def test_bad_queries() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ReportError, match="end must be after start"):
        ReportQuery(start=start, end=start, model="linear", currency="USD")
    with pytest.raises(ReportError, match="unknown attribution model"):
        ReportQuery(start=start, end=fx.END, model="u_shaped", currency="USD")
    with pytest.raises(ReportError, match="timezone-aware"):
        ReportQuery(start=datetime(2026, 3, 1), end=fx.END, model="linear", currency="USD")
    long = ReportQuery(
        start=start, end=datetime(2026, 5, 1, tzinfo=UTC), model="linear", currency="USD"
    )
    with pytest.raises(ReportError, match="too many hours"):
        queries.granularity_for(long, "hour")
