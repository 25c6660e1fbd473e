"""CSV of a breakdown or a time series: what the API, the dashboard and the CLI export.

One header row, then one row per value (or bucket). Money columns are decimal amounts
of the report's currency (``100.00``), counts are integers, orders keep their fraction;
text cells that a spreadsheet would read as a formula are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..money import to_decimal_string
from ..orders.fulfilment import safe_cell
from .queries import Metrics, Row

MONEY = ("gross_revenue", "refunded", "net_revenue", "average_order_value", "revenue_per_click")
COLUMNS = (
    "impressions",
    "clicks",
    "unique_visitors",
    "checkouts_started",
    "orders",
    "conversion_rate",
    "gross_revenue",
    "refunded",
    "net_revenue",
    "average_order_value",
    "revenue_per_click",
)


def _cells(m: Metrics, currency: str) -> list[Any]:
    values = m.as_dict()
    out: list[Any] = []
    for name in COLUMNS:
        value = values[name]
        if value is None:
            out.append("")
        elif name in MONEY:
            out.append(to_decimal_string(value, currency))
        else:
            out.append(value)
    return out


def _text(rows: Iterable[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


def breakdown_csv(dimension: str, rows: Iterable[Row], currency: str) -> str:
    """The breakdown as CSV: dimension key, label, currency, then the metrics."""
    lines: list[list[Any]] = [[dimension, "label", "currency", *COLUMNS]]
    for row in rows:
        key = "" if row.key is None else row.key
        lines.append(
            [safe_cell(key), safe_cell(row.label), currency, *_cells(row.metrics, currency)]
        )
    return _text(lines)


def timeseries_csv(points: Iterable[tuple[datetime, Metrics]], currency: str) -> str:
    """The time series as CSV: the bucket's start (UTC, ISO 8601), currency, metrics."""
    lines: list[list[Any]] = [["start", "currency", *COLUMNS]]
    for at, metrics in points:
        lines.append([at.isoformat(), currency, *_cells(metrics, currency)])
    return _text(lines)


def filename(kind: str, start: datetime, end: datetime, model: str) -> str:
    """A download name such as ``shoppable-channel-2026-03-01-2026-03-08-linear.csv``."""
    return f"shoppable-{kind}-{start:%Y-%m-%d}-{end:%Y-%m-%d}-{model}.csv"
