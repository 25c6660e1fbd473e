"""One customer's timeline across channels and devices, and the customer list."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from flask_shoppable.checkout.models import Checkout
from flask_shoppable.db import utcnow
from flask_shoppable.orders import customers, fulfilment
from flask_shoppable.testing import StripeEmulator
from flask_shoppable.tracking.models import Interaction, new_id

from .checkout_helpers import variant
from .ops_helpers import post_with_link, webhook_order
from .order_helpers import charge_object, open_checkout, post_event

PHONE = "a" * 32
LAPTOP = "b" * 32
STRANGER = "c" * 32


def _touch(session: Session, kind: str, minutes_ago: int, **values: object) -> Interaction:
    row = Interaction(
        id=new_id(), kind=kind, occurred_at=utcnow() - timedelta(minutes=minutes_ago), **values
    )
    session.add(row)
    session.commit()
    return row


def test_timeline_joins_devices_channels_checkouts_and_orders(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    post, link = post_with_link(session, "summer", "igsummer01")
    tee = variant(session, "tee", price=2000, stock=20)

    comment = _touch(
        session,
        "comment",
        300,
        channel="facebook",
        post_id=post.id,
        detail={"text": "Is it in blue?"},
    )
    seen = _touch(
        session,
        "impression",
        200,
        visitor_id=PHONE,
        channel="instagram",
        post_id=post.id,
        ua_class="instagram-app",
    )
    click = _touch(
        session,
        "click",
        190,
        visitor_id=PHONE,
        channel="instagram",
        post_id=post.id,
        link_id=link.id,
        ua_class="instagram-app",
        utm_campaign="summer",
    )
    later = _touch(session, "click", 60, visitor_id=LAPTOP, channel="tiktok", ua_class="desktop")
    _touch(session, "click", 50, visitor_id=STRANGER, channel="tiktok", ua_class="desktop")

    first = webhook_order(
        client,
        session,
        emulator,
        [(tee, 1)],
        email="Ada@Example.com",
        name="Ada",
        visitor_id=PHONE,
        origin_id=click.id,
        channel="instagram",
        post_id=post.id,
        link_id=link.id,
    )
    # The second purchase, from the laptop, came from the Facebook comment; its checkout
    # recorded a checkout_started interaction that the timeline shows as the checkout.
    started = _touch(session, "checkout_started", 0, visitor_id=LAPTOP, ua_class="desktop")
    second = webhook_order(
        client,
        session,
        emulator,
        [(tee, 2)],
        email="ada@example.com",
        name="Ada",
        visitor_id=LAPTOP,
        origin_id=comment.id,
        channel="facebook",
        post_id=post.id,
    )
    session.execute(
        Checkout.__table__.update()
        .where(Checkout.id == second.checkout_id)
        .values(interaction_id=started.id, created_at=started.occurred_at)
    )
    session.commit()
    # An abandoned checkout on the phone, after both orders.
    open_checkout(session, [(tee, 1)], visitor_id=PHONE, channel="instagram")
    charge = charge_object(second.provider_payment_id, 4000, 1500)
    assert post_event(client, emulator, "charge.refunded", charge).status_code == 200
    fulfilment.fulfil(session, first.id, carrier="UPS", tracking_number="1Z0001")

    session.expire_all()
    result = customers.timeline(session, first.customer_id)
    assert result.customer.email == "ada@example.com"
    assert result.visitors == [PHONE, LAPTOP]
    assert result.truncated is False
    kinds = [(e.kind, e.ref) for e in result.entries]
    assert kinds[:4] == [
        ("comment", comment.id),
        ("impression", seen.id),
        ("click", click.id),
        ("click", later.id),
    ]
    assert [k for k, _ in kinds[4:]] == [
        "checkout",
        "order",
        "checkout",
        "order",
        "checkout",
        "refund",
        "fulfilled",
    ]
    assert kinds[4] == ("checkout", first.checkout_id)
    assert kinds[5] == ("order", first.id)
    assert kinds[6] == ("checkout", second.checkout_id)
    assert kinds[7] == ("order", second.id)
    times = [e.at for e in result.entries]
    assert times == sorted(times)
    # No stranger's touch, and the started checkout is not listed twice.
    assert started.id not in {e.ref for e in result.entries}
    assert len(result.entries) == 11

    by_ref = {(e.kind, e.ref): e for e in result.entries}
    assert by_ref[("comment", comment.id)].detail == {"text": "Is it in blue?"}
    assert by_ref[("comment", comment.id)].channel == "facebook"
    assert by_ref[("click", click.id)].post_slug == "summer"
    assert by_ref[("click", click.id)].link_code == "igsummer01"
    assert by_ref[("click", click.id)].device == "instagram-app"
    assert by_ref[("checkout", second.checkout_id)].device == "desktop"
    assert by_ref[("order", second.id)].amount == 4000
    assert by_ref[("order", second.id)].detail["items"] == ["2 \u00d7 Tee"]
    refund = by_ref[("refund", second.id)]
    assert (refund.amount, refund.currency) == (1500, "USD")
    assert by_ref[("fulfilled", first.id)].detail == {
        "carrier": "UPS",
        "tracking_number": "1Z0001",
    }
    assert result.channels == ["facebook", "instagram", "tiktok"]
    assert result.devices == ["desktop", "instagram-app"]
    assert result.orders == 2
    assert result.net_amount_by_currency == {"USD": 2000 + 4000 - 1500}


def test_timeline_keeps_the_newest_interactions(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    for minutes in range(10, 0, -1):
        _touch(session, "impression", minutes, visitor_id=PHONE, channel="instagram")
    order = webhook_order(
        client, session, emulator, [(variant(session, "tee"), 1)], visitor_id=PHONE
    )
    result = customers.timeline(session, order.customer_id, limit=4)
    assert result.truncated is True
    impressions = [e for e in result.entries if e.kind == "impression"]
    assert len(impressions) == 4
    assert impressions[0].at > utcnow() - timedelta(minutes=5)
    assert [e.kind for e in result.entries][-2:] == ["checkout", "order"]


def test_customer_list_searches_by_email(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    tee = variant(session, "tee", price=1000, stock=50)
    for email in ("ada@example.com", "grace@navy.test", "ada_b@example.com"):
        webhook_order(client, session, emulator, [(tee, 1)], email=email)
    webhook_order(client, session, emulator, [(tee, 2)], email="ada@example.com")

    def emails(search: str | None) -> list[tuple[str, int, int]]:
        rows = session.execute(customers.select_customers(search)).all()
        assert all(type(r.net) is int for r in rows)  # not PostgreSQL's Decimal
        return [(r.Customer.email, r.orders, r.net) for r in rows]

    assert emails(None) == [
        ("ada_b@example.com", 1, 1000),
        ("grace@navy.test", 1, 1000),
        ("ada@example.com", 2, 3000),
    ]
    assert emails("  ADA@") == [("ada@example.com", 2, 3000)]
    # "_" and "%" are matched literally, not as wildcards.
    assert emails("ada_") == [("ada_b@example.com", 1, 1000)]
    assert emails("%") == []
    assert emails("navy") == [("grace@navy.test", 1, 1000)]
