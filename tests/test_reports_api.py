"""The reports API and ``flask shoppable report``: on the hand-computed week of
tests/reports_fixture.py (the figures are those of tests/test_reports.py)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from . import reports_fixture as fx
from .conftest import ApiClient

WEEK = {"start": "2026-03-01", "end": "2026-03-08"}


@pytest.fixture
def loaded(app: Flask, session: Session) -> Flask:
    fx.load(session)
    return app


def test_summary(loaded: Flask, api: ApiClient) -> None:
    response = api.get("/reports/summary", query_string={**WEEK, "model": "linear"})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["start"].startswith("2026-03-01T00:00:00")
    assert (body["model"], body["currency"]) == ("linear", "USD")
    assert body["filters"] == {"channel": None, "post_id": None}
    assert body["metrics"] == {
        "impressions": 5,
        "clicks": 6,
        "unique_visitors": 6,
        "checkouts_started": 5,
        "orders": 5.0,
        "gross_revenue": 27000,
        "refunded": 10500,
        "net_revenue": 16500,
        "conversion_rate": 0.833333,
        "average_order_value": 5400,
        "revenue_per_click": 2750,
    }


def test_summary_defaults_to_the_configured_model(loaded: Flask, api: ApiClient) -> None:
    # Instagram under last touch (the default): O2 O3 O4.
    response = api.get("/reports/summary", query_string={**WEEK, "channel": "instagram"})
    assert response.json["model"] == "last_touch"
    metrics = response.json["metrics"]
    assert (metrics["orders"], metrics["gross_revenue"], metrics["refunded"]) == (3.0, 15000, 8000)


def test_breakdown_json_and_csv(loaded: Flask, api: ApiClient) -> None:
    response = api.get("/reports/by/channel", query_string={**WEEK, "model": "position_based"})
    assert response.status_code == 200
    rows = response.json["rows"]
    assert [(r["key"], r["label"], r["orders"], r["net_revenue"]) for r in rows] == [
        ("instagram", "Instagram", 3.1, 11500),
        ("facebook", "Facebook", 0.9, 3000),
        (None, "(direct)", 1.0, 2000),
    ]
    response = api.get(
        "/reports/by/link", query_string={**WEEK, "model": "last_touch", "format": "csv"}
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert (
        "shoppable-link-2026-03-01-2026-03-08-last_touch.csv"
        in response.headers["Content-Disposition"]
    )
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0][:4] == ["link", "label", "currency", "impressions"]
    assert table[1] == [
        str(fx.L2), "shirt-fb (facebook)", "USD",
        "0", "3", "3", "1", "1.0", "0.333333", "100.00", "25.00", "75.00", "100.00", "25.00",
    ]  # fmt: skip
    assert table[3][:2] == ["", "(none)"]
    assert len(table) == 5


def test_csv_cells_never_start_a_formula(loaded: Flask, api: ApiClient, session: Session) -> None:
    from flask_shoppable.models import Interaction

    session.add(
        Interaction(
            id=fx.uid(7777),
            kind="click",
            occurred_at=fx.at(3, 3, 3),
            channel="x",
            utm_campaign="=HYPERLINK(1)",
        )
    )
    session.commit()
    response = api.get("/reports/by/campaign", query_string={**WEEK, "format": "csv"})
    keys = [row[0] for row in csv.reader(io.StringIO(response.get_data(as_text=True)))]
    assert "'=HYPERLINK(1)" in keys
    assert "=HYPERLINK(1)" not in keys


def test_timeseries_and_funnel(loaded: Flask, api: ApiClient) -> None:
    response = api.get("/reports/timeseries", query_string=WEEK)
    assert response.status_code == 200
    assert response.json["granularity"] == "day"
    points = response.json["points"]
    assert [p["at"][:10] for p in points] == [f"2026-03-0{d}" for d in range(1, 8)]
    assert [p["net_revenue"] for p in points] == [0, 12500, 0, 0, 2000, 2000, 0]
    response = api.get(
        "/reports/timeseries",
        query_string={"start": "2026-03-02", "end": "2026-03-03", "format": "csv"},
    )
    lines = response.get_data(as_text=True).splitlines()
    assert len(lines) == 25  # header + 24 hours
    assert lines[11].startswith("2026-03-02T10:00:00+00:00,USD,0,1,1,1,1.0,1.0,100.00,25.00")
    response = api.get("/reports/funnel", query_string={**WEEK, "model": "first_touch"})
    assert [(s["step"], s["value"]) for s in response.json["steps"]] == [
        ("impressions", 5),
        ("clicks", 6),
        ("checkouts_started", 5),
        ("orders", 5),
    ]


@pytest.mark.parametrize(
    ("path", "query", "status", "words"),
    [
        ("/reports/summary", {"start": "2026-03-08", "end": "2026-03-01"}, 422, "after start"),
        ("/reports/summary", {"model": "u_shaped"}, 422, "Must be one of"),
        ("/reports/summary", {"start": "yesterday"}, 422, "Not a date"),
        ("/reports/summary", {"currency": "XXY"}, 422, "Unknown ISO 4217"),
        ("/reports/by/country", WEEK, 404, "No dimension 'country'"),
        ("/reports/by/channel", {**WEEK, "format": "xml"}, 422, "Must be one of"),
        (
            "/reports/timeseries",
            {"start": "2026-01-01", "end": "2026-03-01", "granularity": "hour"},
            422,
            "too many hours",
        ),
    ],
)
def test_bad_queries_are_422_or_404(
    loaded: Flask, api: ApiClient, path: str, query: dict[str, str], status: int, words: str
) -> None:
    response = api.get(path, query_string=query)
    assert response.status_code == status, response.json
    assert words in str(response.json)


def test_auth_and_scope(loaded: Flask, client: FlaskClient, read_auth: dict[str, str]) -> None:
    assert client.get("/shop/api/reports/summary").status_code == 401
    response = client.get("/shop/api/reports/by/post", headers=read_auth, query_string=WEEK)
    assert response.status_code == 200
    assert client.post("/shop/api/reports/summary", headers=read_auth).status_code == 405


def test_openapi_documents_the_reports(loaded: Flask, client: FlaskClient) -> None:
    spec = client.get("/shop/api/openapi.json").json
    for path in ("summary", "by/{dimension}", "timeseries", "funnel"):
        assert f"/shop/api/reports/{path}" in spec["paths"]
    params = {p["name"] for p in spec["paths"]["/shop/api/reports/summary"]["get"]["parameters"]}
    assert {"start", "end", "model", "currency", "channel", "post_id"} <= params


def test_reports_read_the_replica_url(
    database_url: str, tmp_path: Any, session: Session, loaded: Flask
) -> None:
    """SHOPPABLE_REPORTS_DATABASE_URL: reports read there (here, the same database)."""
    from flask_shoppable import reports

    from .conftest import make_app

    replica = make_app(database_url, tmp_path / "r", SHOPPABLE_REPORTS_DATABASE_URL=database_url)
    try:
        with replica.app_context():
            engine = reports.engine()
            assert engine is not replica.extensions["shoppable"].engine
            with reports.connect() as conn:
                q = reports.ReportQuery(start=fx.START, end=fx.END, model="linear", currency="USD")
                assert reports.summary(conn, q).gross_revenue == 27000
    finally:
        reports.dispose(replica)
        replica.extensions["shoppable"].recorder.close()
        replica.extensions["shoppable"].engine.dispose()


def test_a_replica_of_another_backend_is_refused(database_url: str, tmp_path: Any) -> None:
    from flask_shoppable.config import ConfigError

    from .conftest import make_app

    other = "mysql://x@localhost/y"
    with pytest.raises(ConfigError, match="SHOPPABLE_REPORTS_DATABASE_URL"):
        make_app(database_url, tmp_path / "bad", SHOPPABLE_REPORTS_DATABASE_URL=other)


def test_cli_totals(loaded: Flask) -> None:
    runner = loaded.test_cli_runner()
    result = runner.invoke(
        args=["shoppable", "report", "--start", "2026-03-01", "--end", "2026-03-08"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2026-03-01 00:00 to 2026-03-08 00:00 UTC, last_touch, USD"
    shown = {line[:20].strip(): line[20:].strip() for line in lines[1:]}
    assert shown == {
        "impressions": "5",
        "clicks": "6",
        "unique visitors": "6",
        "checkouts started": "5",
        "orders": "5",
        "conversion rate": "83.33%",
        "gross revenue": "270.00",
        "refunded": "105.00",
        "net revenue": "165.00",
        "average order value": "54.00",
        "revenue per click": "27.50",
    }


def test_cli_breakdown_text_and_csv(loaded: Flask) -> None:
    runner = loaded.test_cli_runner()
    week = ["--start", "2026-03-01", "--end", "2026-03-08"]
    result = runner.invoke(
        args=["shoppable", "report", *week, "--model", "linear", "--by", "channel"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == [
        "channel", "impr.", "clicks", "visitors", "checkouts", "orders", "conv.", "gross",
        "refunded", "net", "AOV", "rev/click",
    ]  # fmt: skip
    assert lines[2].split() == [
        "Instagram", "3", "3", "4", "3", "3.1667", "105.56%", "181.66", "61.67", "119.99",
        "57.37", "40.00",
    ]  # fmt: skip
    assert lines[4].split()[:2] == ["(direct)", "0"]
    result = runner.invoke(
        args=["shoppable", "report", *week, "--by", "partner", "--model", "linear", "--csv"]
    )
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.output)))
    assert [row[0] for row in table] == ["partner", "", "ana"]
    assert table[2][3:] == [
        "0", "1", "2", "2", "0.5", "0.5", "25.00", "0.00", "25.00", "50.00", "25.00",
    ]  # fmt: skip
    result = runner.invoke(args=["shoppable", "report", *week, "--csv"])
    assert len(result.output.splitlines()) == 8  # header + 7 days


def test_cli_refuses_a_bad_range(loaded: Flask) -> None:
    runner = loaded.test_cli_runner()
    result = runner.invoke(
        args=["shoppable", "report", "--start", "2026-03-08", "--end", "2026-03-01"]
    )
    assert result.exit_code == 2
    assert "end must be after start" in result.output


def test_report_connections_get_more_work_mem_and_no_jit_for_their_transaction(
    app: Flask,
) -> None:
    from sqlalchemy import text

    from flask_shoppable import reports

    engine = app.extensions["shoppable"].engine
    if engine.dialect.name != "postgresql":
        with app.app_context(), reports.connect() as conn:
            assert conn.execute(text("select 1")).scalar() == 1
        return

    def settings(conn: Any) -> tuple[Any, Any]:
        return conn.execute(text("SHOW work_mem")).scalar(), conn.execute(text("SHOW jit")).scalar()

    with engine.connect() as plain:
        default = settings(plain)
    with app.app_context(), reports.connect() as conn:
        assert settings(conn) == (reports.WORK_MEM, "off")
    # Back in the pool, the connection has the server's settings again.
    with engine.connect() as plain:
        assert settings(plain) == default
