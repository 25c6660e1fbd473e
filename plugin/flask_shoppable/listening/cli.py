"""``flask shoppable listening-report``: the listening report in a terminal, as CSV or JSON."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from ..db import utcnow
from .report import COLUMNS, MAX_DAYS, listening_report


@click.command("listening-report")
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day (UTC); default 29 days before --end.",
)
@click.option(
    "--end", type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC), inclusive; default today."
)
@click.option("--post-id", type=int, help="Only this post.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@with_appcontext
def listening_report_command(start: object, end: object, post_id: int | None, fmt: str) -> None:
    """Per post and per day: comments, keyword matches, replies sent and failed, clicks on
    replied links, orders and revenue from comments."""
    last: date = end.date() if end is not None else utcnow().date()  # type: ignore[attr-defined]
    first: date = start.date() if start is not None else last - timedelta(days=29)  # type: ignore[attr-defined]
    if first > last or (last - first).days >= MAX_DAYS:
        raise click.UsageError(f"--start must be on or before --end, at most {MAX_DAYS} days apart")
    with current_app.extensions["shoppable"].session_factory() as session:
        rows = listening_report(session, first, last, post_id)
    header = ["day", "post_id", *COLUMNS, "revenue"]

    def revenue(row: dict[str, object]) -> str:
        amounts = row["revenue"]
        assert isinstance(amounts, dict)
        return " ".join(f"{amount} {currency}" for currency, amount in sorted(amounts.items()))

    if fmt == "json":
        click.echo(json.dumps([{**r, "day": r["day"].isoformat()} for r in rows], indent=2))
        return
    table = [
        [
            r["day"].isoformat(),
            "" if r["post_id"] is None else str(r["post_id"]),
            *(str(r[c]) for c in COLUMNS),
            revenue(r),
        ]
        for r in rows
    ]
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(table)
        return
    widths = [
        max(len(h), *(len(line[i]) for line in table)) if table else len(h)
        for i, h in enumerate(header)
    ]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for line in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))
    if not table:
        click.echo("(no comments in this range)")
