"""The checkout service on SQLite and PostgreSQL: pricing, holding and giving back stock.

The HTTP tests (test_checkout_http.py) go through the views; these call the service
the webhook processing and the worker call, with sessions of their own, and read the
database to check what it holds.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flask_shoppable.checkout import cart as carts
from flask_shoppable.checkout import service
from flask_shoppable.checkout.cart import LineRequest
from flask_shoppable.checkout.errors import CheckoutError
from flask_shoppable.checkout.models import Checkout, CheckoutLine
from flask_shoppable.db import utcnow

from . import checkout_helpers as h

MAX = 20


def _open(session: Session, *lines: tuple[int, int], **details: Any) -> Checkout:
    cart = carts.price(session, [LineRequest(v, q) for v, q in lines], MAX)
    return service.open_checkout(
        session,
        cart,
        service.CheckoutDetails(**details),
        expires_at=utcnow() + timedelta(minutes=30),
    )


def _error(session: Session, lines: list[LineRequest]) -> CheckoutError:
    with pytest.raises(CheckoutError) as info:
        carts.price(session, lines, MAX)
    return info.value


# --- quantities and ids --------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, "0", "-3", 21, 10**9, "1000000000", "9" * 80])
def test_quantity_out_of_bounds(value: object) -> None:
    with pytest.raises(CheckoutError) as info:
        carts.parse_quantity(value, MAX)
    assert info.value.status == 400
    assert info.value.code == "invalid_quantity"
    assert "at least 1" in info.value.message or "at most 20" in info.value.message


@pytest.mark.parametrize("value", ["abc", "", " ", "1.5", 2.0, 1.5, True, None, [1], "1e3", "0x10"])
def test_quantity_not_a_whole_number(value: object) -> None:
    with pytest.raises(CheckoutError) as info:
        carts.parse_quantity(value, MAX)
    assert (info.value.status, info.value.code) == (400, "invalid_quantity")
    assert "whole number" in info.value.message


@pytest.mark.parametrize(("value", "expected"), [(1, 1), ("7", 7), (" 20 ", 20), ("+3", 3)])
def test_quantity_accepted(value: object, expected: int) -> None:
    assert carts.parse_quantity(value, MAX) == expected


@pytest.mark.parametrize("value", ["abc", "", 0, -4, True, 1.0, None])
def test_bad_variant_id(value: object) -> None:
    with pytest.raises(CheckoutError) as info:
        carts.parse_variant_id(value)
    assert (info.value.status, info.value.code) == (400, "invalid_variant")


# --- pricing against the database ----------------------------------------------------


def test_prices_come_from_the_database_and_duplicates_merge(session: Session) -> None:
    shirt = h.variant(session, "shirt", price=2500, stock=10)
    mug = h.variant(session, "mug", price=1250, stock=None, requires_shipping=False)
    cart = carts.price(
        session, [LineRequest(shirt.id, 2), LineRequest(mug.id, 1), LineRequest(shirt.id, 3)], MAX
    )
    assert cart.currency == "USD"
    assert [(line.variant_id, line.quantity, line.unit_amount) for line in cart.lines] == [
        (shirt.id, 5, 2500),
        (mug.id, 1, 1250),
    ]
    assert cart.subtotal == 5 * 2500 + 1250
    assert cart.requires_shipping
    assert [line.tracked for line in cart.lines] == [True, False]
    assert cart.lines[0].title == "Shirt"


def test_merged_quantity_over_the_maximum(session: Session) -> None:
    shirt = h.variant(session, "shirt", stock=None)
    error = _error(session, [LineRequest(shirt.id, 15), LineRequest(shirt.id, 6)])
    assert (error.status, error.code) == (400, "invalid_quantity")
    assert "21" in error.message


def test_empty_cart(session: Session) -> None:
    error = _error(session, [])
    assert (error.status, error.code) == (400, "empty_cart")


def test_unknown_variant(session: Session) -> None:
    error = _error(session, [LineRequest(987654, 1)])
    assert (error.status, error.code) == (422, "unknown_variant")
    assert "987654" in error.message
    error = _error(session, [LineRequest(2**40, 1)])
    assert error.code == "unknown_variant"


def test_inactive_variant_and_product(session: Session) -> None:
    off = h.variant(session, "retired-tee", active=False)
    error = _error(session, [LineRequest(off.id, 1)])
    assert (error.status, error.code) == (422, "unavailable")
    assert "Retired Tee is no longer available" in error.message
    hidden = h.product(session, "hidden-hat", {}, active=False).variants[0]
    assert _error(session, [LineRequest(hidden.id, 1)]).code == "unavailable"


def test_another_currency_is_named(session: Session) -> None:
    usd = h.variant(session, "shirt", currency="USD")
    eur = h.variant(session, "euro-scarf", currency="EUR")
    error = _error(session, [LineRequest(usd.id, 1), LineRequest(eur.id, 1)])
    assert (error.status, error.code) == (422, "currency_mismatch")
    assert "Euro Scarf" in error.message
    assert "EUR" in error.message
    assert "USD" in error.message


def test_sold_out_and_not_enough(session: Session) -> None:
    gone = h.variant(session, "gone", stock=0)
    error = _error(session, [LineRequest(gone.id, 1)])
    assert (error.status, error.code) == (409, "out_of_stock")
    assert error.message == "Gone is sold out."
    few = h.variant(session, "few", stock=2)
    error = _error(session, [LineRequest(few.id, 3)])
    assert error.message.startswith("Only 2 of Few left")


def test_variant_title_in_line(session: Session) -> None:
    item = h.product(session, "tee", {"options": ["M"]}, {"options": ["L"]}, options=["Size"])
    cart = carts.price(session, [LineRequest(item.variants[1].id, 1)], MAX)
    assert cart.lines[0].title == "Tee - L"


# --- holding and giving back -----------------------------------------------------------


def test_open_holds_stock_and_writes_lines(session: Session) -> None:
    shirt = h.variant(session, "shirt", stock=10)
    mug = h.variant(session, "mug", stock=None)
    checkout = _open(session, (shirt.id, 3), (mug.id, 2), email="a@example.com")
    assert h.stock(session, shirt.id) == 7
    assert h.stock(session, mug.id) is None
    [row] = h.checkouts(session)
    assert row.id == checkout.id
    assert (row.status, row.currency, row.subtotal_amount) == ("open", "USD", 3 * 2500 + 2 * 2500)
    assert [(line.variant_id, line.quantity, line.reserved) for line in row.lines] == [
        (shirt.id, 3, 3),
        (mug.id, 2, 0),
    ]


def test_a_line_that_ran_out_leaves_nothing_behind(session: Session, app: Flask) -> None:
    first = h.variant(session, "first", stock=5)
    second = h.variant(session, "second", stock=5)
    cart = carts.price(session, [LineRequest(first.id, 2), LineRequest(second.id, 4)], MAX)
    # Someone else buys the second between pricing and holding.
    with app.extensions["shoppable"].session_factory() as other:
        _open(other, (second.id, 3))
    with pytest.raises(CheckoutError) as info:
        service.open_checkout(
            session, cart, service.CheckoutDetails(), expires_at=utcnow() + timedelta(hours=1)
        )
    assert (info.value.status, info.value.code) == (409, "out_of_stock")
    assert "Only 2 of Second left" in info.value.message
    assert h.stock(session, first.id) == 5
    assert h.stock(session, second.id) == 2
    assert len(h.checkouts(session)) == 1  # the other shopper's
    assert session.scalar(select(func.count()).select_from(CheckoutLine)) == 1


def test_release_gives_stock_back_exactly_once(session: Session) -> None:
    shirt = h.variant(session, "shirt", stock=10)
    checkout = _open(session, (shirt.id, 4))
    assert h.stock(session, shirt.id) == 6
    assert service.release(session, checkout, "expired") is True
    session.commit()
    assert h.stock(session, shirt.id) == 10
    assert service.release(session, checkout, "expired") is False
    assert service.release(session, checkout, "provider_error") is False
    session.commit()
    assert h.stock(session, shirt.id) == 10
    [row] = h.checkouts(session)
    assert (row.status, row.release_reason) == ("expired", "expired")
    assert row.released_at is not None


def test_release_for_a_failure_marks_it_failed(session: Session) -> None:
    shirt = h.variant(session, "shirt", stock=3)
    checkout = _open(session, (shirt.id, 3))
    assert h.stock(session, shirt.id) == 0
    assert service.release(session, checkout, service.PROVIDER_ERROR)
    session.commit()
    assert h.stock(session, shirt.id) == 3
    assert h.checkouts(session)[0].status == "failed"


def test_complete_keeps_the_stock_and_is_idempotent(session: Session) -> None:
    shirt = h.variant(session, "shirt", stock=10)
    checkout = _open(session, (shirt.id, 2))
    assert service.complete(session, checkout).changed
    session.commit()
    assert not service.complete(session, checkout).changed
    # A completed, paid checkout is never released by an expiry.
    assert not service.release(session, checkout, "expired")
    session.commit()
    assert h.stock(session, shirt.id) == 8
    row = h.checkouts(session)[0]
    assert row.status == "completed"
    assert row.completed_at is not None


def test_an_async_payment_that_failed_releases_a_completed_checkout(session: Session) -> None:
    shirt = h.variant(session, "shirt", stock=10)
    checkout = _open(session, (shirt.id, 2))
    service.complete(session, checkout)
    session.commit()
    assert service.release(session, checkout, service.PAYMENT_FAILED)
    assert not service.release(session, checkout, service.PAYMENT_FAILED)
    session.commit()
    assert h.stock(session, shirt.id) == 10
    assert h.checkouts(session)[0].status == "failed"


def test_complete_after_release_takes_the_stock_again(session: Session) -> None:
    shirt = h.variant(session, "shirt", stock=5)
    mug = h.variant(session, "mug", stock=5)
    checkout = _open(session, (shirt.id, 2), (mug.id, 3))
    service.release(session, checkout, "expired")
    session.commit()
    # Meanwhile, another shopper buys most of the mugs.
    _open(session, (mug.id, 4))
    result = service.complete(session, checkout)
    session.commit()
    assert result.changed
    assert result.oversold == (service.Oversold(mug.id, 3),)
    assert h.stock(session, shirt.id) == 3
    assert h.stock(session, mug.id) == 1
    row = h.checkouts(session)[0]
    assert row.status == "completed"
    assert row.released_at is None
    assert [line.reserved for line in row.lines] == [2, 0]


def test_release_expired_sweeps_only_what_expired_past_the_grace(session: Session) -> None:
    shirt = h.variant(session, "shirt", stock=10)
    old = _open(session, (shirt.id, 1))
    recent = _open(session, (shirt.id, 2))
    live = _open(session, (shirt.id, 3))
    done = _open(session, (shirt.id, 4))
    service.complete(session, done)
    now = utcnow()
    session.execute(
        Checkout.__table__.update()
        .where(Checkout.id.in_([old.id, done.id]))
        .values(expires_at=now - timedelta(minutes=10))
    )
    session.execute(
        Checkout.__table__.update()
        .where(Checkout.id == recent.id)
        .values(expires_at=now - timedelta(minutes=1))
    )
    session.commit()
    assert h.stock(session, shirt.id) == 0
    assert service.release_expired(session, now) == 1
    assert service.release_expired(session, now) == 0
    assert h.stock(session, shirt.id) == 1
    statuses = {row.id: row.status for row in h.checkouts(session)}
    assert statuses == {old.id: "expired", recent.id: "open", live.id: "open", done.id: "completed"}
    assert service.release_expired(session, now + timedelta(minutes=5)) == 1
    assert h.stock(session, shirt.id) == 3


# --- concurrency (PostgreSQL: real row locks between real connections) -----------------


def _race(count: int, work: Any) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.postgresql_only
def test_fifty_concurrent_checkouts_for_ten_units(app: Flask, session: Session) -> None:
    shirt = h.variant(session, "shirt", stock=10)
    factory = app.extensions["shoppable"].session_factory

    def buy(_index: int) -> int:
        with factory() as own:
            return _open(own, (shirt.id, 1)).id

    results = _race(50, buy)
    made = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, CheckoutError)]
    assert len(made) == 10
    assert len(refused) == 40, [r for r in results if not isinstance(r, int | CheckoutError)]
    assert all(r.status == 409 for r in refused)
    assert h.stock(session, shirt.id) == 0
    assert len(h.checkouts(session)) == 10

    # Releasing every one of them, twice each and all at once, gives back exactly 10.
    def give_back(index: int) -> bool:
        with factory() as own:
            checkout = own.get(Checkout, made[index % 10])
            assert checkout is not None
            done = service.release(own, checkout, "expired")
            own.commit()
            return done

    released = _race(20, give_back)
    assert sorted(released) == [False] * 10 + [True] * 10
    assert h.stock(session, shirt.id) == 10
