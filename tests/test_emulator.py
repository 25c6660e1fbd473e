"""The local Stripe emulator: its API over HTTP, its hosted page, its webhook delivery."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe
from flask import Flask

from flask_shoppable._stripe_emulator.errors import StripeApiError
from flask_shoppable._stripe_emulator.forms import parse_form
from flask_shoppable.payments.signature import verify_header
from flask_shoppable.testing import ALLOW_ENV, Address, CardDeclined, StripeEmulator

# -- the bracket parameters stripe-python sends ------------------------------------------


def test_nested_parameters_are_read_back() -> None:
    body = (
        "mode=payment&line_items[0][price_data][currency]=usd"
        "&line_items[0][price_data][unit_amount]=1250"
        "&line_items[0][price_data][product_data][name]=Mug%20%26%20Saucer"
        "&line_items[0][quantity]=2&line_items[1][quantity]=1"
        "&metadata[shoppable_checkout_id]=41&metadata[empty]="
        "&shipping_options[0][shipping_rate_data][fixed_amount][amount]=500"
        "&expand[]=line_items&expand[]=payment_intent"
    )
    assert parse_form(body) == {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": "1250",
                    "product_data": {"name": "Mug & Saucer"},
                },
                "quantity": "2",
            },
            {"quantity": "1"},
        ],
        "metadata": {"shoppable_checkout_id": "41", "empty": ""},
        "shipping_options": [{"shipping_rate_data": {"fixed_amount": {"amount": "500"}}}],
        "expand": ["line_items", "payment_intent"],
    }


def test_percent_encoded_brackets_are_the_same_as_literal_ones() -> None:
    assert parse_form("metadata%5Bk%5D=v&a%5B0%5D=x") == {"metadata": {"k": "v"}, "a": ["x"]}


def test_indexes_sort_numerically() -> None:
    body = "&".join(f"a[{i}]={i}" for i in reversed(range(12)))
    assert parse_form(body) == {"a": [str(i) for i in range(12)]}


@pytest.mark.parametrize(
    "body",
    [
        "a=1&a[b]=2",  # a value and a hash
        "a[b]=2&a=1",
        "a[0]=x&a[2]=y",  # a gap
        "a[b=1",
        "[a]=1",
    ],
)
def test_malformed_parameters_are_errors(body: str) -> None:
    with pytest.raises(StripeApiError):
        parse_form(body)


# -- the API over HTTP ---------------------------------------------------------------------


def _post(emulator: StripeEmulator, path: str, data: Any, key: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {key or emulator.secret_key}", **kw.pop("headers", {})}
    return requests.post(f"{emulator.url}{path}", data=data, headers=headers, timeout=5, **kw)


def _session_form(**extra: str) -> dict[str, str]:
    form = {
        "mode": "payment",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "2500",
        "line_items[0][price_data][product_data][name]": "Tote bag",
        "line_items[0][quantity]": "2",
        "success_url": "http://shop.test/ok?id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/cancel",
    }
    form.update(extra)
    return form


def test_stripe_python_talks_to_it_directly(emulator: StripeEmulator) -> None:
    client = stripe.StripeClient(emulator.secret_key, base_addresses={"api": emulator.url})
    session = client.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 2500,
                        "product_data": {"name": "Tote bag"},
                    },
                    "quantity": 2,
                }
            ],
            "success_url": "http://shop.test/ok",
        }
    )
    assert isinstance(session, stripe.checkout.Session)
    assert session.amount_total == 5000
    assert session.total_details is not None
    assert session.total_details.amount_discount == 0
    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert [(i.description, i.quantity, i.amount_total) for i in items.data] == [
        ("Tote bag", 2, 5000)
    ]
    expanded = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["line_items"]})
    assert expanded.line_items is not None
    assert expanded.line_items.data[0].price is not None
    assert client.v1.checkout.sessions.expire(session.id).status == "expired"
    assert client.v1.accounts.retrieve_current().id == "acct_emulator"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "You did not provide an API key"),
        ({"Authorization": "Bearer sk_test_wrong_key_0000"}, "Invalid API Key provided: sk_test_"),
        ({"Authorization": "Basic c2tfdGVzdF93cm9uZzo="}, "Invalid API Key provided"),
    ],
)
def test_a_missing_or_wrong_key_is_401_in_stripes_shape(
    emulator: StripeEmulator, headers: dict[str, str], message: str
) -> None:
    response = requests.post(
        f"{emulator.url}/v1/checkout/sessions", data=_session_form(), headers=headers, timeout=5
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(message)
    assert "wrong_key_0000" not in error["message"]  # masked, as Stripe does
    assert emulator.sessions == {}


def test_basic_auth_with_the_key_as_user_is_accepted(emulator: StripeEmulator) -> None:
    response = requests.post(
        f"{emulator.url}/v1/checkout/sessions",
        data=_session_form(),
        auth=(emulator.secret_key, ""),
        timeout=5,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("change", "param", "fragment"),
    [
        ({"mode": None}, "mode", "Missing required param: mode."),
        (
            {k: None for k in _session_form() if k.startswith("line_items")},
            "line_items",
            "Missing required param: line_items.",
        ),
        (
            {"line_items[0][price_data][unit_amount]": "-1"},
            "line_items[0][price_data][unit_amount]",
            "greater than or equal to 0",
        ),
        (
            {"line_items[0][price_data][unit_amount]": "12.50"},
            "line_items[0][price_data][unit_amount]",
            "Invalid integer",
        ),
        (
            {"line_items[0][quantity]": "0"},
            "line_items[0][quantity]",
            "greater than or equal to 1",
        ),
        (
            {"line_items[0][price_data][currency]": "xyz"},
            "line_items[0][price_data][currency]",
            "Invalid currency",
        ),
        (
            {"line_items[0][price_data][product_data][name]": ""},
            "line_items[0][price_data][product_data][name]",
            "Missing required param",
        ),
        (
            {
                "line_items[1][price_data][currency]": "usd",
                "line_items[1][price_data][unit_amount]": "100",
                "line_items[1][price_data][product_data][name]": "Cap",
                "line_items[1][quantity]": "1",
            },
            "line_items",
            "same currency",
        ),
        ({"colour": "red"}, "colour", "Received unknown parameter: colour"),
        (
            {"line_items[0][price_data][colour]": "red"},
            "line_items[0][price_data][colour]",
            "unknown parameter",
        ),
        ({"success_url": "not a url"}, "success_url", "Not a valid URL"),
        ({"expires_at": str(int(time.time()) + 600)}, "expires_at", "at least 30 minutes"),
        ({"expires_at": str(int(time.time()) + 90_000)}, "expires_at", "less than 24 hours"),
        ({"metadata[" + "k" * 41 + "]": "v"}, "metadata[" + "k" * 41 + "]", "40 characters"),
        ({"metadata[k]": "v" * 501}, "metadata[k]", "500 characters"),
        (
            {"allow_promotion_codes": "true", "discounts[0][promotion_code]": "promo_x"},
            "discounts",
            "only specify one",
        ),
        (
            {"discounts[0][promotion_code]": "promo_nope"},
            "discounts[0][promotion_code]",
            "No such promotion code",
        ),
        (
            {"shipping_address_collection[allowed_countries][0]": "usa"},
            "shipping_address_collection[allowed_countries][0]",
            "Invalid country",
        ),
        (
            {
                "shipping_options[0][shipping_rate_data][display_name]": "Std",
                "shipping_options[0][shipping_rate_data][fixed_amount][amount]": "500",
                "shipping_options[0][shipping_rate_data][fixed_amount][currency]": "usd",
            },
            "shipping_options[0][shipping_rate_data][fixed_amount][currency]",
            "must match",
        ),
        (
            {"line_items[0][price_data][unit_amount]": "99999999"},
            "line_items[0][quantity]",
            "no more than",
        ),
        ({"customer_email": "nobody"}, "customer_email", "Invalid email"),
    ],
)
def test_bad_parameters_get_stripes_error_object(
    emulator: StripeEmulator, change: dict[str, str | None], param: str, fragment: str
) -> None:
    form = _session_form()
    for key, value in change.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    response = _post(emulator, "/v1/checkout/sessions", form)
    assert response.status_code in (400, 404), response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert fragment in error["message"]
    assert response.headers["Request-Id"].startswith("req_")
    assert emulator.sessions == {}


def test_an_unknown_url_is_404_in_stripes_shape(emulator: StripeEmulator) -> None:
    response = requests.get(
        f"{emulator.url}/v1/nothing",
        headers={"Authorization": f"Bearer {emulator.secret_key}"},
        timeout=5,
    )
    assert response.status_code == 404
    assert "Unrecognized request URL (GET: /v1/nothing)" in response.json()["error"]["message"]


def test_idempotency_replays_and_refuses_other_parameters(emulator: StripeEmulator) -> None:
    first = _post(
        emulator, "/v1/checkout/sessions", _session_form(), headers={"Idempotency-Key": "k"}
    )
    again = _post(
        emulator, "/v1/checkout/sessions", _session_form(), headers={"Idempotency-Key": "k"}
    )
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers

    other = _post(
        emulator,
        "/v1/checkout/sessions",
        _session_form(**{"line_items[0][quantity]": "3"}),
        headers={"Idempotency-Key": "k"},
    )
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert len(emulator.sessions) == 1


def test_concurrent_requests_with_one_key_make_one_session(emulator: StripeEmulator) -> None:
    answers: list[str] = []

    def create() -> None:
        response = _post(
            emulator, "/v1/checkout/sessions", _session_form(), headers={"Idempotency-Key": "c"}
        )
        answers.append(response.json()["id"])

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(answers)) == 1
    assert len(emulator.sessions) == 1


def test_promotion_code_lookup(emulator: StripeEmulator) -> None:
    emulator.add_promotion_code("SAVE5", amount_off=500, currency="eur")
    emulator.add_promotion_code("GONE", percent_off=50, active=False)
    headers = {"Authorization": f"Bearer {emulator.secret_key}"}
    found = requests.get(
        f"{emulator.url}/v1/promotion_codes",
        params={"code": "save5", "active": "true"},
        headers=headers,
        timeout=5,
    ).json()
    assert found["object"] == "list"
    assert [p["code"] for p in found["data"]] == ["SAVE5"]
    assert found["data"][0]["coupon"]["amount_off"] == 500
    inactive = requests.get(
        f"{emulator.url}/v1/promotion_codes",
        params={"code": "GONE", "active": "true"},
        headers=headers,
        timeout=5,
    ).json()
    assert inactive["data"] == []


# -- the hosted page -----------------------------------------------------------------------


def _open_session(emulator: StripeEmulator, **extra: str) -> dict[str, Any]:
    response = _post(emulator, "/v1/checkout/sessions", _session_form(**extra))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


SHIPPING = {
    "shipping_address_collection[allowed_countries][0]": "FR",
    "shipping_address_collection[allowed_countries][1]": "DE",
    "shipping_options[0][shipping_rate_data][display_name]": "Standard",
    "shipping_options[0][shipping_rate_data][fixed_amount][amount]": "490",
    "shipping_options[0][shipping_rate_data][fixed_amount][currency]": "eur",
    "shipping_options[1][shipping_rate_data][display_name]": "Express",
    "shipping_options[1][shipping_rate_data][fixed_amount][amount]": "1290",
    "shipping_options[1][shipping_rate_data][fixed_amount][currency]": "eur",
}


def _shopper(card: str, **extra: str) -> dict[str, str]:
    return {
        "email": "Ada@Example.com",
        "name": "Ada Lovelace",
        "line1": "12 Rue de la Paix",
        "city": "Paris",
        "postal_code": "75002",
        "country": "FR",
        "card": card,
        "method": "card",
        **extra,
    }


def test_the_page_shows_the_order_and_pays_with_4242(emulator: StripeEmulator) -> None:
    session = _open_session(emulator, customer_email="ada@example.com", **SHIPPING)
    page = requests.get(session["url"], timeout=5)
    assert page.status_code == 200
    assert "2 \u00d7 Tote bag" in page.text
    assert "50.00 EUR" in page.text
    assert "Express (12.90 EUR)" in page.text
    assert 'value="ada@example.com"' in page.text
    assert "<option value=FR selected>FR</option><option value=DE>DE</option>" in page.text

    express = emulator.session(session["id"])["shipping_options"][1]["shipping_rate"]
    paid = requests.post(
        session["url"],
        data=_shopper("4242 4242 4242 4242", shipping_rate=express),
        allow_redirects=False,
        timeout=5,
    )
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"http://shop.test/ok?id={session['id']}"

    stored = emulator.sessions[session["id"]]
    assert (stored["status"], stored["payment_status"]) == ("complete", "paid")
    assert stored["amount_total"] == 5000 + 1290
    assert stored["total_details"]["amount_shipping"] == 1290
    assert stored["customer_details"]["email"] == "Ada@Example.com"
    shipping = stored["collected_information"]["shipping_details"]
    assert shipping == {
        "name": "Ada Lovelace",
        "address": {
            "city": "Paris",
            "country": "FR",
            "line1": "12 Rue de la Paix",
            "line2": None,
            "postal_code": "75002",
            "state": None,
        },
    }
    event = emulator.last_event("checkout.session.completed")
    assert event["data"]["object"] == stored
    intent = emulator.object(stored["payment_intent"])
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 6290, "eur")
    charge = emulator.object(intent["latest_charge"])
    assert charge["payment_method_details"]["card"]["last4"] == "4242"

    again = requests.get(session["url"], timeout=5)
    assert "This payment is complete." in again.text


def test_a_declined_card_shows_the_error_and_keeps_the_session_open(
    emulator: StripeEmulator,
) -> None:
    session = _open_session(emulator)
    declined = requests.post(
        session["url"], data=_shopper("4000 0000 0000 0002"), allow_redirects=False, timeout=5
    )
    assert declined.status_code == 402
    assert "Your card was declined." in declined.text
    assert 'value="Ada Lovelace"' in declined.text  # what was typed stays
    assert emulator.sessions[session["id"]]["status"] == "open"
    assert not emulator.events

    paid = requests.post(
        session["url"], data=_shopper("4242424242424242"), allow_redirects=False, timeout=5
    )
    assert paid.status_code == 303


@pytest.mark.parametrize(
    ("card", "code", "message"),
    [
        ("4000 0000 0000 9995", "card_declined", "insufficient funds"),
        ("4000 0000 0000 0069", "expired_card", "expired"),
        ("4111 1111 1111 1111", "card_declined", "non test card"),
        ("1234", "incorrect_number", "incorrect"),
    ],
)
def test_other_test_cards(emulator: StripeEmulator, card: str, code: str, message: str) -> None:
    session = _open_session(emulator)
    with pytest.raises(CardDeclined) as info:
        emulator.pay(session["id"], card=card)
    assert info.value.code == code
    assert message in info.value.message
    assert emulator.sessions[session["id"]]["status"] == "open"


def test_the_page_refuses_a_country_it_does_not_ship_to(emulator: StripeEmulator) -> None:
    session = _open_session(emulator, **SHIPPING)
    response = requests.post(
        session["url"], data=_shopper("4242424242424242", country="US"), timeout=5
    )
    assert response.status_code == 400
    assert "does not ship to US" in response.text


def test_bank_transfer_completes_unpaid_then_settles(emulator: StripeEmulator) -> None:
    session = _open_session(emulator)
    response = requests.post(
        session["url"],
        data=_shopper("", method="bank_transfer"),
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 303
    completed = emulator.last_event("checkout.session.completed")["data"]["object"]
    assert (completed["status"], completed["payment_status"]) == ("complete", "unpaid")
    assert emulator.object(completed["payment_intent"])["status"] == "processing"

    emulator.settle(session["id"])
    settled = emulator.last_event("checkout.session.async_payment_succeeded")["data"]["object"]
    assert settled["payment_status"] == "paid"
    assert emulator.object(settled["payment_intent"])["status"] == "succeeded"
    with pytest.raises(ValueError, match="no payment waiting"):
        emulator.settle(session["id"])


def test_bank_transfer_that_fails(emulator: StripeEmulator) -> None:
    session = _open_session(emulator)
    emulator.pay(session["id"], method="bank_transfer")
    emulator.settle(session["id"], succeeded=False)
    failed = emulator.last_event("checkout.session.async_payment_failed")["data"]["object"]
    assert (failed["status"], failed["payment_status"]) == ("complete", "unpaid")
    assert emulator.object(failed["payment_intent"])["status"] == "requires_payment_method"


def test_cancel_goes_back_to_the_shop(emulator: StripeEmulator) -> None:
    session = _open_session(emulator)
    page = requests.get(session["url"], timeout=5)
    assert f'href="/pay/{session["id"]}/cancel"' in page.text
    back = requests.get(f"{session['url']}/cancel", allow_redirects=False, timeout=5)
    assert back.headers["Location"] == "http://shop.test/cancel"


def test_an_expired_session_cannot_be_paid(emulator: StripeEmulator) -> None:
    session = _open_session(emulator)
    emulator.expire(session["id"])
    page = requests.get(f"{emulator.url}/pay/{session['id']}", timeout=5)
    assert page.status_code == 410
    assert "expired" in page.text
    with pytest.raises(StripeApiError, match="expired"):
        emulator.pay(session["id"])
    assert requests.get(f"{emulator.url}/pay/cs_test_nope", timeout=5).status_code == 404


def test_sessions_past_their_expiry_are_expired_with_an_event(emulator: StripeEmulator) -> None:
    session = _open_session(emulator)
    assert emulator.ledger.expire_due(now=time.time()) == []
    later = session["expires_at"] + 1
    assert emulator.ledger.expire_due(now=later) == [session["id"]]
    assert emulator.last_event("checkout.session.expired")["data"]["object"]["id"] == session["id"]


def test_html_in_names_is_escaped(emulator: StripeEmulator) -> None:
    session = _open_session(
        emulator, **{"line_items[0][price_data][product_data][name]": "<script>x</script>"}
    )
    page = requests.get(session["url"], timeout=5).text
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def test_the_overview_page_lists_sessions_and_acts(emulator: StripeEmulator) -> None:
    session = _open_session(emulator)
    emulator.pay(session["id"])
    overview = requests.get(f"{emulator.url}/", timeout=5)
    assert overview.status_code == 200
    assert session["id"][:20] in overview.text
    refund = requests.post(
        f"{emulator.url}/emulator/{session['id']}/refund", allow_redirects=False, timeout=5
    )
    assert refund.status_code == 303
    assert emulator.refunds[0]["amount"] == 5000


# -- refunds, disputes ---------------------------------------------------------------------


def test_refunds_over_http(emulator: StripeEmulator) -> None:
    session = _open_session(emulator)
    emulator.pay(session["id"])
    intent = emulator.sessions[session["id"]]["payment_intent"]
    partial = _post(emulator, "/v1/refunds", {"payment_intent": intent, "amount": "1200"})
    assert partial.status_code == 200
    assert partial.json()["amount"] == 1200
    too_much = _post(emulator, "/v1/refunds", {"payment_intent": intent, "amount": "4000"})
    assert too_much.status_code == 400
    assert too_much.json()["error"] == {
        "type": "invalid_request_error",
        "code": "amount_too_large",
        "doc_url": "https://stripe.com/docs/error-codes/amount-too-large",
        "message": "Refund amount (40.00 EUR) is greater than unrefunded amount on charge "
        "(38.00 EUR)",
        "param": "amount",
        "request_log_url": too_much.json()["error"]["request_log_url"],
    }
    nothing = _post(emulator, "/v1/refunds", {"amount": "100"})
    assert nothing.status_code == 400
    assert "payment_intent or charge" in nothing.json()["error"]["message"]
    zero = _post(emulator, "/v1/refunds", {"payment_intent": intent, "amount": "0"})
    assert zero.json()["error"]["param"] == "amount"


def test_disputes_open_and_close(emulator: StripeEmulator) -> None:
    session = _open_session(emulator)
    emulator.pay(session["id"])
    intent = emulator.sessions[session["id"]]["payment_intent"]
    dispute = emulator.dispute(intent, reason="product_not_received")
    created = emulator.last_event("charge.dispute.created")["data"]["object"]
    assert created["id"] == dispute["id"]
    assert (created["payment_intent"], created["amount"], created["currency"]) == (
        intent,
        5000,
        "eur",
    )
    assert (created["status"], created["reason"]) == ("needs_response", "product_not_received")
    assert created["charge"] == emulator.object(intent)["latest_charge"]

    closed = emulator.close_dispute(dispute["id"], won=True)
    event = emulator.last_event("charge.dispute.closed")
    assert event["data"]["object"]["status"] == closed["status"] == "won"
    assert event["data"]["previous_attributes"] == {"status": "needs_response"}
    with pytest.raises(ValueError, match="already closed"):
        emulator.close_dispute(dispute["id"])
    refused = _post(emulator, "/v1/refunds", {"payment_intent": intent})
    assert refused.json()["error"]["code"] == "charge_disputed"


# -- webhooks ------------------------------------------------------------------------------


class _Receiver:
    """A local HTTP endpoint that answers with the statuses it is given, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, dict(self.headers)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver([500])
    yield server
    server.close()


def test_events_are_delivered_signed_and_retried_after_a_500(
    emulator: StripeEmulator, receiver: _Receiver
) -> None:
    endpoint = emulator.add_webhook(receiver.url)
    session = _open_session(emulator)
    emulator.pay(session["id"])
    [delivery] = emulator.wait_for_deliveries(timeout=5)

    assert delivery.delivered
    assert delivery.endpoint_id == endpoint.id
    assert [a.status for a in delivery.attempts] == [500, 200]
    assert len(receiver.received) == 2
    first, second = receiver.received
    assert first[0] == second[0]  # the same bytes every time
    body, headers = second
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"].startswith("Stripe/1.0")

    # Verified by Stripe's own library, and by ours, with the endpoint's secret.
    event = stripe.Webhook.construct_event(
        body, headers["Stripe-Signature"], emulator.webhook_secret
    )
    assert event.type == "checkout.session.completed"
    verify_header(body, headers["Stripe-Signature"], emulator.webhook_secret)
    envelope = json.loads(body)
    assert envelope["object"] == "event"
    assert envelope["id"].startswith("evt_")
    assert envelope["livemode"] is False
    assert envelope["api_version"] == emulator.api_version
    assert set(envelope) >= {"id", "object", "type", "created", "api_version", "data", "request"}
    assert envelope["data"]["object"]["id"] == session["id"]


def test_each_attempt_is_signed_at_its_own_time(
    emulator: StripeEmulator, receiver: _Receiver
) -> None:
    emulator.retry_delays = (1.1,)
    emulator.add_webhook(receiver.url)
    emulator.pay(_open_session(emulator)["id"])
    [delivery] = emulator.wait_for_deliveries(timeout=5)
    first, second = (a.signature.split(",")[0] for a in delivery.attempts)
    assert first != second


def test_a_receiver_that_never_answers_2xx_is_given_up(emulator: StripeEmulator) -> None:
    receiver = _Receiver([503] * 20)
    try:
        emulator.add_webhook(receiver.url)
        emulator.pay(_open_session(emulator)["id"])
        [delivery] = emulator.wait_for_deliveries(timeout=5)
    finally:
        receiver.close()
    assert delivery.state == "failed"
    assert len(delivery.attempts) == len(emulator.retry_delays) + 1
    gaps = [b.at - a.at for a, b in zip(delivery.attempts, delivery.attempts[1:], strict=False)]
    assert all(gap >= delay * 0.9 for gap, delay in zip(gaps, emulator.retry_delays, strict=True))


def test_an_unreachable_receiver_is_retried_then_given_up(emulator: StripeEmulator) -> None:
    receiver = _Receiver([])
    url = receiver.url
    receiver.close()
    emulator.add_webhook(url)
    emulator.pay(_open_session(emulator)["id"])
    [delivery] = emulator.wait_for_deliveries(timeout=5)
    assert delivery.state == "failed"
    assert all(a.status is None and a.error for a in delivery.attempts)


def test_endpoints_get_the_events_they_ask_for_with_their_secret(
    emulator: StripeEmulator,
) -> None:
    got: list[tuple[str, bytes, dict[str, str]]] = []

    def target(name: str) -> Any:
        def deliver(payload: bytes, headers: dict[str, str]) -> int:
            got.append((name, payload, headers))
            return 200

        return deliver

    emulator.add_webhook(target("all"))
    emulator.add_webhook(target("charges"), secret="whsec_other", enabled_events=["charge.*"])
    session = _open_session(emulator)
    emulator.pay(session["id"])
    emulator.refund(emulator.sessions[session["id"]]["payment_intent"], 100)
    emulator.wait_for_deliveries()
    assert [(n, json.loads(p)["type"]) for n, p, _ in got] == [
        ("all", "checkout.session.completed"),
        ("all", "charge.refunded"),
        ("charges", "charge.refunded"),
    ]
    _, payload, headers = got[2]
    verify_header(payload, headers["Stripe-Signature"], "whsec_other")


def test_paused_deliveries_wait_and_resend_duplicates(emulator: StripeEmulator) -> None:
    got: list[str] = []
    emulator.add_webhook(lambda payload, headers: got.append(json.loads(payload)["id"]) or 200)
    emulator.pause_deliveries()
    session = _open_session(emulator)
    emulator.pay(session["id"])
    time.sleep(0.1)
    assert got == []
    emulator.resume_deliveries()
    emulator.wait_for_deliveries()
    event_id = emulator.last_event()["id"]
    emulator.resend(event_id)
    emulator.wait_for_deliveries()
    assert got == [event_id, event_id]


def test_wait_for_event_matches_object_fields(emulator: StripeEmulator) -> None:
    session = _open_session(emulator)
    threading.Timer(0.1, emulator.pay, args=(session["id"],)).start()
    event = emulator.wait_for_event("checkout.session.completed", id=session["id"])
    assert event["data"]["object"]["payment_status"] == "paid"
    with pytest.raises(TimeoutError):
        emulator.wait_for_event("charge.refunded", timeout=0.1)


def test_signed_event_for_the_test_client(emulator: StripeEmulator) -> None:
    payload, header = emulator.signed_event(
        "checkout.session.completed", {"id": "cs_test_x"}, event_id="evt_fixed", created=123
    )
    event = json.loads(payload)
    assert (event["id"], event["created"], event["data"]["object"]) == (
        "evt_fixed",
        123,
        {"id": "cs_test_x"},
    )
    assert verify_header(payload, header, emulator.webhook_secret)
    _, stale = emulator.signed_event("x", {}, timestamp=int(time.time()) - 3600)
    assert stale.startswith(f"t={int(time.time()) - 3600}")
    assert emulator.events == []  # made up, not recorded


def test_webhooks_to_the_app_fixture_posts_to_the_webhook_path(
    app: Flask, emulator: StripeEmulator, webhooks_to_app: Any
) -> None:
    emulator.pay(_open_session(emulator)["id"])
    [delivery] = emulator.wait_for_deliveries()
    assert delivery.endpoint_id == webhooks_to_app.id
    assert delivery.attempts  # whatever the app answered, it was asked


# -- starting and stopping -------------------------------------------------------------------


def test_it_refuses_to_start_outside_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    production = Flask("production")
    with pytest.raises(RuntimeError, match=f"TESTING=True, pass allow=True, or set {ALLOW_ENV}=1"):
        StripeEmulator(production).start()
    with pytest.raises(RuntimeError):
        StripeEmulator().start()


def test_it_starts_for_a_testing_app_or_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    testing = Flask("tests")
    testing.config["TESTING"] = True
    with StripeEmulator(testing) as emulator:
        assert requests.get(f"{emulator.url}/health", timeout=5).text == "ok"
    monkeypatch.setenv(ALLOW_ENV, "1")
    with StripeEmulator(secret_key="sk_test_demo_other") as emulator:
        assert emulator.app_config()["SHOPPABLE_STRIPE_SECRET_KEY"] == "sk_test_demo_other"
        assert emulator.app_config()["SHOPPABLE_STRIPE_API_BASE"] == emulator.url


def test_reset_forgets_everything(emulator: StripeEmulator) -> None:
    emulator.add_webhook(lambda payload, headers: 200)
    emulator.add_promotion_code("X", percent_off=5)
    emulator.pay(_open_session(emulator)["id"])
    emulator.wait_for_deliveries()
    emulator.reset()
    assert emulator.sessions == {}
    assert emulator.events == emulator.deliveries == emulator.api_requests == []
    assert emulator.webhooks.endpoints == []


def test_the_demo_address_shape(emulator: StripeEmulator) -> None:
    """expires_at up to 24 h ahead is accepted, and the session URL is on the emulator."""
    expires = int((datetime.now(UTC) + timedelta(hours=23, minutes=59)).timestamp())
    session = _open_session(emulator, expires_at=str(expires))
    assert session["expires_at"] == expires
    assert session["url"].startswith(f"{emulator.url}/pay/cs_test_")
    assert emulator.pay(session["id"], address=Address(country="US")).startswith(
        "http://shop.test/ok"
    )
