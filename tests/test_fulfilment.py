"""Fulfilment through the merchant API, and the warehouse's CSV of orders still to ship."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.orders import fulfilment
from flask_shoppable.orders.models import Order, OrderEvent
from flask_shoppable.testing import Address, StripeEmulator

from .checkout_helpers import product, variant
from .conftest import ApiClient
from .ops_helpers import paid_order, webhook_order
from .order_helpers import charge_object, post_event


@pytest.fixture
def app_config() -> dict[str, object]:
    """The emulator's page collects a shipping address (US only)."""
    return {"SHOPPABLE_SHIPPING_COUNTRIES": ["US"]}


def _history(session: Session, order_id: int) -> list[tuple[str, dict]]:
    session.expire_all()
    rows = session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    )
    return [(r.kind, r.detail) for r in rows]


def test_fulfil_records_the_shipment_once(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    order = paid_order(app, client, session, emulator, [(variant(session, "tee"), 1)])
    body = {"carrier": " UPS ", "tracking_number": "1z 999 aa1 01 2345 6784"}
    response = api.post(f"/orders/{order.id}/fulfilment", json=body)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["carrier"] == "UPS"
    assert answer["tracking_number"] == "1Z999AA10123456784"
    assert answer["tracking_url"] == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    first_at = answer["fulfilled_at"]
    assert first_at is not None

    # The same shipment again: nothing changes, no second history line.
    again = api.post(f"/orders/{order.id}/fulfilment", json=body)
    assert again.status_code == 200
    assert again.get_json()["fulfilled_at"] == first_at
    assert [k for k, _ in _history(session, order.id)] == ["paid", "fulfilled"]

    # A correction keeps the first time and says what it replaced.
    fixed = api.post(
        f"/orders/{order.id}/fulfilment", json={"carrier": "DHL", "tracking_number": "JD0146"}
    )
    assert fixed.status_code == 200
    assert fixed.get_json()["fulfilled_at"] == first_at
    history = _history(session, order.id)
    assert [k for k, _ in history] == ["paid", "fulfilled", "fulfilment_updated"]
    assert history[-1][1]["previous"] == {
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
    }

    detail = api.get(f"/orders/{order.id}").get_json()
    assert (detail["carrier"], detail["tracking_number"]) == ("DHL", "JD0146")
    assert detail["fulfilled_at"] == first_at
    assert [o["id"] for o in api.get("/orders?fulfilled=true").get_json()] == [order.id]
    assert api.get("/orders?fulfilled=false").get_json() == []


def test_fulfil_refuses_bad_values_field_by_field(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    order = webhook_order(client, session, emulator, [(variant(session, "tee"), 1)])
    response = api.post(
        f"/orders/{order.id}/fulfilment", json={"carrier": "  ", "tracking_number": "=1+2"}
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]
    assert set(errors) == {"carrier", "tracking_number"}
    assert "letters, digits or dashes" in errors["tracking_number"][0]

    missing = api.post(f"/orders/{order.id}/fulfilment", json={"carrier": "UPS"})
    assert missing.status_code == 422
    assert "tracking_number" in missing.get_json()["errors"]["json"]
    unknown = api.post(
        f"/orders/{order.id}/fulfilment",
        json={"carrier": "UPS", "tracking_number": "ABCD1", "note": "x"},
    )
    assert unknown.status_code == 422
    assert (
        api.post(
            "/orders/999/fulfilment", json={"carrier": "UPS", "tracking_number": "ABCD1"}
        ).status_code
        == 404
    )
    session.expire_all()
    assert session.get(Order, order.id).fulfilled_at is None


def test_fulfil_refuses_orders_that_must_not_ship(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator, api: ApiClient
) -> None:
    order = webhook_order(client, session, emulator, [(variant(session, "tee", price=2500), 1)])
    # Refunded in full from the provider's dashboard: nothing to ship.
    charge = charge_object(order.provider_payment_id, 2500, 2500)
    assert post_event(client, emulator, "charge.refunded", charge).status_code == 200
    body = {"carrier": "UPS", "tracking_number": "ABCD1234"}
    response = api.post(f"/orders/{order.id}/fulfilment", json=body)
    assert response.status_code == 409
    assert "refunded in full" in response.get_json()["message"]

    session.execute(
        Order.__table__.update().where(Order.id == order.id).values(status="payment_failed")
    )
    session.commit()
    refused = api.post(f"/orders/{order.id}/fulfilment", json=body)
    assert refused.status_code == 409
    assert "only paid orders ship" in refused.get_json()["message"]


def test_fulfil_needs_the_write_scope(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    read_auth: dict[str, str],
) -> None:
    order = webhook_order(client, session, emulator, [(variant(session, "tee"), 1)])
    body = {"carrier": "UPS", "tracking_number": "ABCD1234"}
    assert client.post(f"/shop/api/orders/{order.id}/fulfilment", json=body).status_code == 401
    response = client.post(f"/shop/api/orders/{order.id}/fulfilment", json=body, headers=read_auth)
    assert response.status_code == 403
    spec = client.get("/shop/api/openapi.json").get_json()
    operation = spec["paths"]["/shop/api/orders/{order_id}/fulfilment"]["post"]
    assert set(operation["responses"]) >= {"200", "404", "409", "422"}


# -- the warehouse export --------------------------------------------------------------


def _csv(session: Session) -> list[list[str]]:
    text = "".join(fulfilment.warehouse_csv(session))
    return list(csv.reader(io.StringIO(text)))


def test_warehouse_csv_lists_unfulfilled_paid_lines(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    shirt = product(
        session,
        "shirt",
        {"sku": "SHIRT-S", "options": ["S"]},
        {"sku": "SHIRT-M", "options": ["M"]},
    )
    cap = variant(session, "cap", sku="CAP-1")
    first = paid_order(
        app,
        client,
        session,
        emulator,
        [(shirt.variants[0], 2), (cap, 1)],
        email="ada@example.com",
        name="Ada Lovelace",
        address=Address(
            line1="12 St James's Square",
            city="London",
            postal_code="SW1Y 4JH",
            country="US",
            state="NY",
        ),
    )
    shipped = webhook_order(client, session, emulator, [(shirt.variants[1], 1)])
    fulfilment.fulfil(session, shipped.id, carrier="UPS", tracking_number="1Z1234")
    evil = webhook_order(
        client,
        session,
        emulator,
        [(shirt.variants[1], 3)],
        email="mallory@example.com",
        name='=HYPERLINK("http://evil.test","x")',
        address={
            "line1": "+1 Formula Road",
            "line2": "@SUM(A1:A2)",
            "city": "-2+3",
            "postal_code": "\t99",
            "country": "US",
        },
    )

    rows = _csv(session)
    assert rows[0] == list(fulfilment.WAREHOUSE_COLUMNS)
    body = rows[1:]
    assert [(r[0], r[10], r[12]) for r in body] == [
        (str(first.id), "SHIRT-S", "2"),
        (str(first.id), "CAP-1", "1"),
        (str(evil.id), "SHIRT-M", "3"),
    ]
    assert body[0][2:10] == [
        "ada@example.com",
        "Ada Lovelace",
        "12 St James's Square",
        "",
        "London",
        "NY",
        "SW1Y 4JH",
        "US",
    ]
    assert body[0][1] == first.paid_at.isoformat(timespec="seconds")
    assert body[1][11] == "Cap"
    # Every cell a spreadsheet would run as a formula is text.
    assert body[2][3:8] == [
        '\'=HYPERLINK("http://evil.test","x")',
        "'+1 Formula Road",
        "'@SUM(A1:A2)",
        "'-2+3",
        "",
    ]
    assert body[2][8] == "'\t99"


def test_warehouse_csv_leaves_out_refunded_and_unpaid(
    app: Flask, client: FlaskClient, session: Session, emulator: StripeEmulator
) -> None:
    tee = variant(session, "tee", price=2000, sku="TEE")
    refunded = webhook_order(client, session, emulator, [(tee, 1)])
    partly = webhook_order(client, session, emulator, [(tee, 2)])
    for order, amount in ((refunded, 2000), (partly, 1000)):
        charge = charge_object(order.provider_payment_id, order.total_amount, amount)
        assert post_event(client, emulator, "charge.refunded", charge).status_code == 200
    rows = _csv(session)
    assert [r[0] for r in rows[1:]] == [str(partly.id)]


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@x", "\tx", "\rx"])
def test_safe_cell_prefixes_formula_starts(cell: str) -> None:
    assert fulfilment.safe_cell(cell) == "'" + cell
    assert fulfilment.safe_cell("plain " + cell) == "plain " + cell
    assert fulfilment.safe_cell(-1) == -1


def test_warehouse_csv_through_the_api(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    api: ApiClient,
    read_auth: dict[str, str],
) -> None:
    tee = variant(session, "tee", sku="TEE-1")
    order = webhook_order(client, session, emulator, [(tee, 2)], email="=cmd@example.com")
    shipped = webhook_order(client, session, emulator, [(tee, 1)])
    fulfilment.fulfil(session, shipped.id, carrier="UPS", tracking_number="1Z1234")
    response = client.get("/shop/api/orders/unfulfilled.csv", headers=read_auth)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(fulfilment.WAREHOUSE_COLUMNS)
    assert [(r[0], r[2], r[10], r[12]) for r in rows[1:]] == [
        (str(order.id), "'=cmd@example.com", "TEE-1", "2")
    ]
    assert client.get("/shop/api/orders/unfulfilled.csv").status_code == 401
    spec = client.get("/shop/api/openapi.json").get_json()
    assert "text/csv" in str(spec["paths"]["/shop/api/orders/unfulfilled.csv"]["get"])
