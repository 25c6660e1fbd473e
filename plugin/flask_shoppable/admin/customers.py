"""Customers pages: the list (search by email; pages) and one customer's timeline.

The queries are :mod:`flask_shoppable.orders.customers`'s: a customer is everyone who
ordered, and the timeline joins their devices (visitor ids) and channels.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from .. import db
from ..orders import customers as queries
from ..orders.service import OrderError
from . import bp, login_required
from .listing import paginate
from .orders import render_not_found

#: What each kind of entry is called on the page.
KIND_LABELS = {
    "impression": "Saw",
    "click": "Clicked",
    "comment": "Commented",
    "checkout_started": "Started checkout",
    "checkout": "Checkout",
    "order": "Order",
    "refund": "Refund confirmed",
    "dispute": "Dispute",
    "fulfilled": "Shipped",
}


@bp.get("/customers")
@login_required
def customers() -> Any:
    session = db.session()
    search = request.args.get("q", "").strip()[:320]
    page = paginate(session, queries.select_customers(search or None), rows=True)
    return render_template(
        "shoppable/admin/customers.html",
        rows=page.rows,
        search=search,
        total=page.total,
        page=page,
    )


@bp.get("/customers/<int:customer_id>")
@login_required
def customers_detail(customer_id: int) -> Any:
    try:
        result = queries.timeline(db.session(), customer_id)
    except OrderError as exc:
        return render_not_found(exc.message)
    return render_template("shoppable/admin/customer.html", timeline=result, labels=KIND_LABELS)
