"""Fulfilment: the merchant shipped an order (carrier, tracking number), and the warehouse's
list of what is still to ship.

:func:`fulfil` records the shipment on the order (``fulfilled_at``, ``carrier``,
``tracking_number``) with a line in its history, under the order's row lock, and
commits; it sends no signal. Fulfilling again with other values corrects the carrier or
tracking number (history ``fulfilment_updated``) and keeps the first ``fulfilled_at``;
the same values again change nothing. Only paid orders that are not refunded in full
ship.

:func:`warehouse_csv` writes the paid, unfulfilled orders (one row per line, oldest
payment first) for a warehouse: every text cell that a spreadsheet would read as a
formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
prefixed with an apostrophe, so an address typed as ``=HYPERLINK(...)`` stays text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Response, current_app, stream_with_context
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import Order, OrderEvent
from .service import OrderError, _lock_order_for_refund

#: Offered in the form; any other carrier name may be typed.
CARRIERS = (
    "UPS",
    "USPS",
    "FedEx",
    "DHL",
    "Royal Mail",
    "Canada Post",
    "Australia Post",
    "La Poste",
    "PostNL",
    "DPD",
    "GLS",
)
#: Tracking pages of the common carriers ({} is the tracking number).
TRACKING_URLS = {
    "ups": "https://www.ups.com/track?tracknum={}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={}",
    "royal mail": "https://www.royalmail.com/track-your-item#/tracking-results/{}",
    "canada post": "https://www.canadapost-postescanada.ca/track-reperage/en#/details/{}",
    "postnl": "https://jouw.postnl.nl/track-and-trace/{}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{}",
}
CARRIER_MAX = 100
_TRACKING_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{3,39}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
#: Leading characters a spreadsheet takes as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
WAREHOUSE_COLUMNS = (
    "order_id",
    "paid_at",
    "email",
    "name",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "sku",
    "item",
    "quantity",
)


class FulfilmentInvalid(OrderError):
    """Bad carrier or tracking number: ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(422, " ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Shipment:
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class FulfilResult:
    order: Order
    #: False when the order already had exactly this carrier and tracking number.
    changed: bool


def clean(carrier: Any, tracking_number: Any) -> Shipment:
    """The carrier (trimmed) and tracking number (spaces removed, upper-cased), checked.

    Raises :class:`FulfilmentInvalid` naming each bad field.
    """
    errors: dict[str, str] = {}
    carrier_text = " ".join(str(carrier or "").split())
    if not carrier_text:
        errors["carrier"] = "Choose or type the carrier that ships the parcel."
    elif len(carrier_text) > CARRIER_MAX or _CONTROL_RE.search(str(carrier)):
        errors["carrier"] = f"A carrier name is at most {CARRIER_MAX} plain characters."
    number = "".join(str(tracking_number or "").split()).upper()
    if not number:
        errors["tracking_number"] = "Enter the tracking number the carrier gave you."
    elif not _TRACKING_RE.fullmatch(number):
        errors["tracking_number"] = (
            "A tracking number is 4 to 40 letters, digits or dashes (spaces are ignored)."
        )
    if errors:
        raise FulfilmentInvalid(errors)
    return Shipment(carrier_text, number)


def tracking_url(carrier: str, tracking_number: str) -> str | None:
    """The carrier's tracking page for the number, when the carrier is a known one."""
    pattern = TRACKING_URLS.get(carrier.strip().lower())
    if not pattern or not tracking_number:
        return None
    return pattern.format(quote(tracking_number, safe=""))


def fulfil(
    session: Session,
    order_id: int,
    *,
    carrier: Any,
    tracking_number: Any,
    now: datetime | None = None,
) -> FulfilResult:
    """Mark an order shipped with ``carrier`` and ``tracking_number``; commits.

    404 for an unknown order, 409 for one that is not paid or is refunded in full, 422
    (:class:`FulfilmentInvalid`) for a bad carrier or tracking number.
    """
    shipment = clean(carrier, tracking_number)
    now = now or utcnow()
    if not 0 < order_id < 2**31:
        raise OrderError(404, f"No order {order_id}.")
    try:
        order = _lock_order_for_refund(session, order_id)
        if order.status != "paid":
            raise OrderError(409, f"Order {order.id} is {order.status}; only paid orders ship.")
        if order.total_amount > 0 and order.refunded_amount >= order.total_amount:
            raise OrderError(409, f"Order {order.id} was refunded in full; nothing to ship.")
        same = (order.carrier, order.tracking_number) == (
            shipment.carrier,
            shipment.tracking_number,
        )
        if order.fulfilled_at is not None and same:
            session.rollback()
            return FulfilResult(order, changed=False)
        detail: dict[str, Any] = {
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
        }
        if order.fulfilled_at is None:
            kind = "fulfilled"
            order.fulfilled_at = now
        else:
            kind = "fulfilment_updated"
            detail["previous"] = {
                "carrier": order.carrier,
                "tracking_number": order.tracking_number,
            }
        order.carrier = shipment.carrier
        order.tracking_number = shipment.tracking_number
        order.updated_at = now
        session.add(OrderEvent(order_id=order.id, kind=kind, detail=detail, at=now))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return FulfilResult(order, changed=True)


def select_unfulfilled() -> Select[tuple[Order]]:
    """Paid orders not shipped yet and not refunded in full, oldest payment first."""
    return (
        select(Order)
        .where(
            Order.status == "paid",
            Order.fulfilled_at.is_(None),
            (Order.refunded_amount < Order.total_amount) | (Order.total_amount == 0),
        )
        .order_by(Order.paid_at, Order.id)
    )


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def warehouse_rows(session: Session, batch: int = 500) -> Iterator[tuple[Any, ...]]:
    """One row per line of every unfulfilled paid order (see :data:`WAREHOUSE_COLUMNS`)."""
    stmt = select_unfulfilled().execution_options(yield_per=batch)
    for order in session.scalars(stmt):
        address = order.shipping_address or {}
        head = (
            order.id,
            order.paid_at.isoformat(timespec="seconds") if order.paid_at else "",
            order.email,
            order.shipping_name,
            *(
                address.get(k, "")
                for k in ("line1", "line2", "city", "state", "postal_code", "country")
            ),
        )
        for line in order.lines:
            yield (*head, line.sku or "", line.title, line.quantity)


def warehouse_csv(session: Session) -> Iterator[str]:
    """The warehouse export as CSV text, in chunks (a header, then about 100 rows each)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(WAREHOUSE_COLUMNS)
    for count, row in enumerate(warehouse_rows(session), start=1):
        writer.writerow([safe_cell(cell) for cell in row])
        if count % 100 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def warehouse_response(filename: str = "unfulfilled-orders.csv") -> Response:
    """The warehouse export as a streamed CSV download (its own session, closed at the end);
    for the merchant API and the admin page alike."""
    factory = current_app.extensions["shoppable"].session_factory

    def generate() -> Iterator[str]:
        with factory() as session:
            yield from warehouse_csv(session)

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
