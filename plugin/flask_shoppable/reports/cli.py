"""``flask shoppable report``: the dashboard's figures on the command line (text or CSV)."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ..attribution import MODELS
from ..money import to_decimal_string
from . import connect, export, queries

_HEADS = (
    ("impressions", "impr."),
    ("clicks", "clicks"),
    ("unique_visitors", "visitors"),
    ("checkouts_started", "checkouts"),
    ("orders", "orders"),
    ("conversion_rate", "conv."),
    ("gross_revenue", "gross"),
    ("refunded", "refunded"),
    ("net_revenue", "net"),
    ("average_order_value", "AOV"),
    ("revenue_per_click", "rev/click"),
)


def _show(name: str, value: Any, currency: str) -> str:
    if value is None:
        return "-"
    if name in export.MONEY:
        return to_decimal_string(value, currency)
    if name == "conversion_rate":
        return f"{value:.2%}"
    if name == "orders":
        return f"{value:g}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@click.command("report")
@click.option("--start", help="First day (YYYY-MM-DD) or ISO time, included. Default: 29 days ago.")
@click.option("--end", help="End, excluded (YYYY-MM-DD or ISO time). Default: tomorrow (UTC).")
@click.option(
    "--model",
    type=click.Choice(MODELS),
    help="Attribution model. Default: SHOPPABLE_ATTRIBUTION_MODEL.",
)
@click.option("--by", "dimension", type=click.Choice(queries.DIMENSIONS), help="Break down by.")
@click.option("--currency", help="Orders in this currency. Default: SHOPPABLE_DEFAULT_CURRENCY.")
@click.option("--channel", help="Only this channel's interactions and credits.")
@click.option("--post-id", type=int, help="Only this post's interactions and credits.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (the breakdown, or the days).")
@with_appcontext
def report_command(
    start: str | None,
    end: str | None,
    model: str | None,
    dimension: str | None,
    currency: str | None,
    channel: str | None,
    post_id: int | None,
    as_csv: bool,
) -> None:
    """Print the metrics for a date range: totals, or a breakdown with --by.

    Orders count by paid_at; revenue follows the model's credits; refunds are split pro
    rata. With --csv and no --by, one row per day (or hour for two days or less).
    """
    config = current_app.config
    default_start, default_end = queries.default_range()
    try:
        end_at = queries.parse_day(end) if end else default_end
        start_at = queries.parse_day(start) if start else end_at - (default_end - default_start)
        q = queries.ReportQuery(
            start=start_at,
            end=end_at,
            model=model or config["SHOPPABLE_ATTRIBUTION_MODEL"],
            currency=(currency or config["SHOPPABLE_DEFAULT_CURRENCY"]).upper(),
            channel=channel,
            post_id=post_id,
        )
        with connect() as conn:
            if dimension:
                rows = queries.breakdown(conn, q, dimension)
            elif as_csv:
                _granularity, points = queries.timeseries(conn, q)
            else:
                totals = queries.summary(conn, q)
    except queries.ReportError as exc:
        raise click.BadParameter(str(exc)) from None
    if as_csv:
        if dimension:
            click.echo(export.breakdown_csv(dimension, rows, q.currency), nl=False)
        else:
            click.echo(export.timeseries_csv(points, q.currency), nl=False)
        return
    title = (
        f"{q.start:%Y-%m-%d %H:%M} to {q.end:%Y-%m-%d %H:%M} UTC, {q.model}, {q.currency}"
        + (f", channel {q.channel}" if q.channel else "")
        + (f", post {q.post_id}" if q.post_id else "")
    )
    click.echo(title)
    if dimension:
        header = [dimension, *[h for _n, h in _HEADS]]
        body = [
            [r.label, *[_show(n, getattr(r.metrics, n), q.currency) for n, _h in _HEADS]]
            for r in rows
        ]
        click.echo(_table(header, body) if body else "(nothing in this range)")
        return
    width = max(len(h) for _n, h in _HEADS)
    for name, _head in _HEADS:
        label = name.replace("_", " ")
        click.echo(f"{label:<{width + 10}} {_show(name, getattr(totals, name), q.currency)}")
