"""StripeProvider through the real stripe-python client, over HTTP, against the emulator."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from flask_shoppable.payments.base import (
    PaymentError,
    ProviderEvent,
    SessionLine,
    SessionRequest,
    ShippingOption,
    SignatureError,
)
from flask_shoppable.payments.stripe import StripeProvider, event_from_payload
from flask_shoppable.testing import StripeEmulator

METADATA = {
    "shoppable_checkout_id": "41",
    "shoppable_interaction_id": "",
    "shoppable_visitor_id": "v-123",
    "shoppable_post_id": "7",
}


@pytest.fixture
def provider(emulator: StripeEmulator) -> StripeProvider:
    return StripeProvider(
        emulator.secret_key,
        emulator.webhook_secret,
        api_base=emulator.url,
        max_network_retries=0,
    )


def _request(**changes: Any) -> SessionRequest:
    req = SessionRequest(
        checkout_id=41,
        currency="USD",
        lines=[
            SessionLine("Linen shirt (M / Blue)", 4800, 2, "USD"),
            SessionLine("Enamel mug", 1500, 1, "USD"),
        ],
        success_url="http://shop.test/shop/checkout/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://shop.test/shop/checkout/cancel?checkout=41",
        expires_at=datetime.now(UTC) + timedelta(minutes=45),
        idempotency_key="checkout-41",
        metadata=METADATA,
    )
    return replace(req, **changes)


def _sent(emulator: StripeEmulator, path: str = "/v1/checkout/sessions") -> dict[str, Any]:
    request = next(r for r in reversed(emulator.api_requests) if r["path"] == path)
    return request["params"]  # type: ignore[no-any-return]


def _paid_intent(emulator: StripeEmulator, provider: StripeProvider, **changes: Any) -> str:
    session = provider.create_session(_request(**changes))
    emulator.pay(session.id)
    return str(emulator.sessions[session.id]["payment_intent"])


# -- checkout sessions ---------------------------------------------------------------------


def test_create_session_sends_what_stripe_expects(
    provider: StripeProvider, emulator: StripeEmulator
) -> None:
    req = _request(customer_email="ada@example.com")
    session = provider.create_session(req)

    assert session.id.startswith("cs_test_")
    assert session.url == f"{emulator.url}/pay/{session.id}"
    assert session.expires_at == req.expires_at.replace(microsecond=0)
    sent = _sent(emulator)
    assert sent["mode"] == "payment"
    assert sent["line_items"] == [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": "4800",
                "product_data": {"name": "Linen shirt (M / Blue)"},
            },
            "quantity": "2",
        },
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": "1500",
                "product_data": {"name": "Enamel mug"},
            },
            "quantity": "1",
        },
    ]
    assert sent["metadata"] == METADATA
    assert sent["payment_intent_data"] == {"metadata": METADATA}
    assert sent["client_reference_id"] == "41"
    assert sent["customer_email"] == "ada@example.com"
    assert sent["expires_at"] == str(int(req.expires_at.timestamp()))
    assert sent["allow_promotion_codes"] == "true"
    assert "discounts" not in sent
    assert "shipping_address_collection" not in sent
    assert emulator.api_requests[-1]["idempotency_key"] == "checkout-41"

    stored = provider.retrieve_session(session.id)
    assert isinstance(stored, dict)
    assert stored["amount_subtotal"] == stored["amount_total"] == 2 * 4800 + 1500
    assert stored["currency"] == "usd"
    assert stored["status"] == "open"
    assert stored["payment_status"] == "unpaid"
    assert stored["metadata"] == METADATA
    assert stored["client_reference_id"] == "41"
    assert stored["customer_email"] == "ada@example.com"
    assert stored["expires_at"] == int(req.expires_at.timestamp())
    json.dumps(stored)  # a plain dict all the way down


def test_shipping_tax_and_promotion_switches(
    provider: StripeProvider, emulator: StripeEmulator
) -> None:
    req = _request(
        shipping_countries=("us", "CA"),
        shipping_options=(
            ShippingOption("Standard", 500, "USD"),
            ShippingOption("Express", 1500, "USD"),
        ),
        automatic_tax=True,
        allow_promotion_codes=False,
    )
    session = provider.create_session(req)
    sent = _sent(emulator)
    assert sent["shipping_address_collection"] == {"allowed_countries": ["US", "CA"]}
    assert sent["shipping_options"][1] == {
        "shipping_rate_data": {
            "type": "fixed_amount",
            "display_name": "Express",
            "fixed_amount": {"amount": "1500", "currency": "usd"},
        }
    }
    assert sent["automatic_tax"] == {"enabled": "true"}
    assert sent["allow_promotion_codes"] == "false"

    emulator.set_tax_rate("CA", 1000)
    rates = emulator.session(session.id)["shipping_options"]
    emulator.pay(session.id, shipping_rate=rates[1]["shipping_rate"], address=_address("CA"))
    paid = provider.retrieve_session(session.id)
    goods = 2 * 4800 + 1500
    assert paid["total_details"] == {
        "amount_discount": 0,
        "amount_shipping": 1500,
        "amount_tax": (goods + 1500) // 10,
    }
    assert paid["amount_total"] == goods + 1500 + (goods + 1500) // 10
    assert paid["collected_information"]["shipping_details"]["address"]["country"] == "CA"
    assert paid["shipping_cost"]["shipping_rate"] == rates[1]["shipping_rate"]


def _address(country: str) -> Any:
    from flask_shoppable.testing import Address

    return Address(line1="1 Main St", city="Town", postal_code="A1A 1A1", country=country)


def test_a_retried_create_returns_the_same_session(
    provider: StripeProvider, emulator: StripeEmulator
) -> None:
    # One request sent twice, as a retry resends the checkout's stored parameters (two
    # _request() calls may fall in different seconds and differ in expires_at).
    req = _request()
    first = provider.create_session(req)
    again = provider.create_session(req)
    assert again == first
    assert len(emulator.sessions) == 1


def test_the_same_key_with_other_parameters_is_refused(provider: StripeProvider) -> None:
    provider.create_session(_request())
    with pytest.raises(PaymentError) as info:
        provider.create_session(_request(lines=[SessionLine("Enamel mug", 1500, 3, "USD")]))
    assert info.value.code == "idempotency_error"
    assert "idempotency key" in info.value.message


def test_a_known_promotion_code_becomes_a_discount(
    provider: StripeProvider, emulator: StripeEmulator
) -> None:
    promo = emulator.add_promotion_code("SPRING10", percent_off=10)
    session = provider.create_session(_request(promotion_code="spring10"))
    sent = _sent(emulator)
    assert sent["discounts"] == [{"promotion_code": promo["id"]}]
    assert "allow_promotion_codes" not in sent  # Stripe takes one or the other
    stored = provider.retrieve_session(session.id)
    goods = 2 * 4800 + 1500
    assert stored["total_details"]["amount_discount"] == goods // 10
    assert stored["amount_total"] == goods - goods // 10
    lookup = _sent(emulator, "/v1/promotion_codes")
    assert lookup == {"code": "spring10", "active": "true", "limit": "1"}


@pytest.mark.parametrize("active", [True, False])
def test_an_unknown_or_inactive_promotion_code_is_a_clear_error(
    provider: StripeProvider, emulator: StripeEmulator, active: bool
) -> None:
    emulator.add_promotion_code("OLD", amount_off=500, currency="usd", active=False)
    code = "NOPE" if active else "OLD"
    with pytest.raises(PaymentError) as info:
        provider.create_session(_request(promotion_code=code))
    assert info.value.code == "promotion_code_invalid"
    assert info.value.param == "promotion_code"
    assert info.value.message == f"The promotion code {code!r} is not valid or has expired."
    assert emulator.sessions == {}


def test_stripe_refusals_become_payment_errors(provider: StripeProvider) -> None:
    too_soon = datetime.now(UTC) + timedelta(minutes=5)
    with pytest.raises(PaymentError) as info:
        provider.create_session(_request(expires_at=too_soon, idempotency_key="k2"))
    assert info.value.status == 400
    assert info.value.param == "expires_at"
    assert "at least 30 minutes" in info.value.message

    negative = [SessionLine("Mug", -1, 1, "USD")]
    with pytest.raises(PaymentError) as info:
        provider.create_session(_request(lines=negative, idempotency_key="k3"))
    assert info.value.param == "line_items[0][price_data][unit_amount]"

    with pytest.raises(PaymentError, match="at least one line"):
        provider.create_session(_request(lines=[], idempotency_key="k4"))


def test_retrieve_an_unknown_session(provider: StripeProvider) -> None:
    with pytest.raises(PaymentError) as info:
        provider.retrieve_session("cs_test_nope")
    assert info.value.status == 404
    assert info.value.code == "resource_missing"


def test_expire_a_session(provider: StripeProvider, emulator: StripeEmulator) -> None:
    session = provider.create_session(_request())
    provider.expire_session(session.id)
    stored = provider.retrieve_session(session.id)
    assert stored["status"] == "expired"
    assert stored["url"] is None
    event = emulator.last_event("checkout.session.expired")
    assert event["data"]["object"]["id"] == session.id
    assert event["data"]["object"]["metadata"] == METADATA
    assert event["request"]["id"].startswith("req_")

    with pytest.raises(PaymentError, match="can be expired"):
        provider.expire_session(session.id)


# -- refunds -------------------------------------------------------------------------------


def test_partial_then_full_refund(provider: StripeProvider, emulator: StripeEmulator) -> None:
    intent = _paid_intent(emulator, provider)
    total = 2 * 4800 + 1500

    first = provider.refund(intent, 1500, "refund-1", {"shoppable_refund_id": "1"})
    assert first.id.startswith("re_")
    assert (first.status, first.amount, first.currency) == ("succeeded", 1500, "USD")
    event = emulator.last_event("charge.refunded")
    charge = event["data"]["object"]
    assert charge["payment_intent"] == intent
    assert (charge["amount"], charge["amount_refunded"], charge["refunded"]) == (total, 1500, False)
    assert event["data"]["previous_attributes"] == {"amount_refunded": 0, "refunded": False}
    assert charge["metadata"] == METADATA
    assert event["request"]["idempotency_key"] == "refund-1"
    assert emulator.refunds[0]["metadata"] == {"shoppable_refund_id": "1"}

    rest = provider.refund(intent, None, "refund-2")
    assert rest.amount == total - 1500
    charge = emulator.last_event("charge.refunded")["data"]["object"]
    assert (charge["amount_refunded"], charge["refunded"]) == (total, True)


def test_a_retried_refund_refunds_once(provider: StripeProvider, emulator: StripeEmulator) -> None:
    intent = _paid_intent(emulator, provider)
    first = provider.refund(intent, 1000, "refund-key")
    again = provider.refund(intent, 1000, "refund-key")
    assert again == first
    assert len(emulator.refunds) == 1
    assert len([e for e in emulator.events if e["type"] == "charge.refunded"]) == 1


def test_refunding_more_than_remains_is_refused(
    provider: StripeProvider, emulator: StripeEmulator
) -> None:
    intent = _paid_intent(emulator, provider)
    provider.refund(intent, 10_000, "r1")
    with pytest.raises(PaymentError) as info:
        provider.refund(intent, 2000, "r2")
    assert info.value.code == "amount_too_large"
    assert info.value.param == "amount"
    assert "greater than unrefunded amount" in info.value.message
    provider.refund(intent, None, "r3")
    with pytest.raises(PaymentError) as info:
        provider.refund(intent, 1, "r4")
    assert info.value.code == "charge_already_refunded"
    assert sum(r["amount"] for r in emulator.refunds) == 2 * 4800 + 1500


def test_refund_of_an_unknown_or_unsettled_payment(
    provider: StripeProvider, emulator: StripeEmulator
) -> None:
    with pytest.raises(PaymentError) as info:
        provider.refund("pi_unknown", 100, "r1")
    assert (info.value.status, info.value.code) == (404, "resource_missing")

    session = provider.create_session(_request())
    emulator.pay(session.id, method="bank_transfer")
    intent = emulator.sessions[session.id]["payment_intent"]
    with pytest.raises(PaymentError, match="does not have a successful charge"):
        provider.refund(intent, 100, "r2")


# -- failures reaching Stripe ---------------------------------------------------------------


def test_a_wrong_key_is_an_authentication_error(emulator: StripeEmulator) -> None:
    wrong = StripeProvider("sk_test_wrong_key_1234", emulator.webhook_secret, api_base=emulator.url)
    with pytest.raises(PaymentError) as info:
        wrong.create_session(_request())
    assert info.value.status == 401
    assert "SHOPPABLE_STRIPE_SECRET_KEY" in info.value.message
    assert "sk_test_wrong" not in info.value.message
    assert emulator.sessions == {}


def test_an_unreachable_stripe_is_a_payment_error_without_status() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = StripeProvider(
        "sk_test_abc", "whsec_abc", api_base=f"http://127.0.0.1:{port}", max_network_retries=0
    )
    with pytest.raises(PaymentError) as info:
        provider.create_session(_request())
    assert info.value.status is None
    assert "could not be reached" in info.value.message


def test_a_pinned_api_version_is_sent(emulator: StripeEmulator) -> None:
    pinned = StripeProvider(
        emulator.secret_key,
        emulator.webhook_secret,
        api_base=emulator.url,
        api_version="2025-03-31.basil",
    )
    pinned.create_session(_request())
    assert emulator.api_requests[-1]["stripe_version"] == "2025-03-31.basil"
    assert pinned.api_version == "2025-03-31.basil"


# -- events --------------------------------------------------------------------------------


def test_parse_an_event_the_emulator_made(
    provider: StripeProvider, emulator: StripeEmulator
) -> None:
    session = provider.create_session(_request())
    emulator.pay(session.id)
    event = emulator.last_event("checkout.session.completed")
    payload, header = emulator.event_payload(event["id"])

    parsed = provider.parse_event(payload, header)
    assert isinstance(parsed, ProviderEvent)
    assert (parsed.id, parsed.type, parsed.created) == (
        event["id"],
        "checkout.session.completed",
        event["created"],
    )
    assert parsed.object["id"] == session.id
    assert parsed.object["payment_status"] == "paid"
    assert parsed.object["customer_details"]["email"] == "test.shopper@example.com"

    with pytest.raises(SignatureError) as info:
        provider.parse_event(payload.replace(b"paid", b"PAID"), header)
    assert info.value.reason == "signature mismatch"
    with pytest.raises(SignatureError) as info:
        provider.parse_event(payload, None)
    assert info.value.reason == "missing header"


def test_make_test_event_round_trips(provider: StripeProvider) -> None:
    payload, header = provider.make_test_event("shoppable.test", {"id": "obj_1", "n": 1})
    event = provider.parse_event(payload, header)
    assert event.type == "shoppable.test"
    assert event.object == {"id": "obj_1", "n": 1}
    assert json.loads(payload)["api_version"] == provider.api_version


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"object": "charge", "id": "ch_1"}', "not an event"),
        (b'{"type": "x", "created": 1, "data": {"object": {}}}', "no id"),
        (b'{"id": "evt_1", "created": 1, "data": {"object": {}}}', "no type"),
        (b'{"id": "evt_1", "type": "x", "data": {"object": {}}}', "no created"),
        (b'{"id": "evt_1", "type": "x", "created": 1, "data": {}}', "no data.object"),
    ],
)
def test_a_signed_body_that_is_not_an_event(body: bytes, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        event_from_payload(body)


def test_the_apps_provider_talks_to_the_emulator(app: Flask, emulator: StripeEmulator) -> None:
    provider = app.extensions["shoppable"].payments
    session = provider.create_session(_request())
    assert session.id in emulator.sessions
    assert provider.retrieve_session(session.id)["id"] == session.id
