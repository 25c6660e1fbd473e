"""Stripe's webhook signature scheme: every failure has its own reason (pure unit tests)."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
import stripe

from flask_shoppable.payments.base import SIGNATURE_REASONS, SignatureError
from flask_shoppable.payments.signature import (
    DEFAULT_TOLERANCE,
    compute_signature,
    parse_header,
    sign_header,
    verify_header,
)

SECRET = "whsec_test_signature_secret"
PAYLOAD = b'{\n  "id": "evt_1",\n  "object": "event",\n  "type": "checkout.session.completed"\n}'
NOW = 1_700_000_000


def _reason(payload: bytes, header: str | None, secret: str = SECRET, now: float = NOW) -> str:
    with pytest.raises(SignatureError) as info:
        verify_header(payload, header, secret, now=now)
    assert info.value.reason in SIGNATURE_REASONS
    return info.value.reason


def test_signature_is_hmac_sha256_of_timestamp_dot_payload() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + PAYLOAD, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, NOW, PAYLOAD) == expected
    assert sign_header(SECRET, PAYLOAD, NOW) == f"t={NOW},v1={expected}"


def test_a_good_header_verifies_and_returns_its_timestamp() -> None:
    assert verify_header(PAYLOAD, sign_header(SECRET, PAYLOAD, NOW), SECRET, now=NOW) == NOW


def test_stripe_python_accepts_what_we_sign_and_we_accept_what_it_signs() -> None:
    """Cross-check with Stripe's own library: the two schemes are the same."""
    now = int(time.time())
    header = sign_header(SECRET, PAYLOAD, now)
    assert stripe.WebhookSignature.verify_header(PAYLOAD.decode(), header, SECRET, 300)
    theirs = stripe.WebhookSignature._compute_signature(f"{now}.{PAYLOAD.decode()}", SECRET)
    assert verify_header(PAYLOAD, f"t={now},v1={theirs}", SECRET) == now


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(header: str | None) -> None:
    assert _reason(PAYLOAD, header) == "missing header"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "v1=abc",  # no timestamp
        "t=,v1=abc",
        "t=12ab,v1=abc",
        f"t={NOW},t={NOW},v1=abc",  # two timestamps
        f"t={NOW};v1=abc",
        f"t={NOW},,v1=abc",
        f"t={NOW},=abc",
    ],
)
def test_malformed_header(header: str) -> None:
    assert _reason(PAYLOAD, header) == "malformed header"


def test_no_v1_signature() -> None:
    v0 = compute_signature(SECRET, NOW, PAYLOAD)
    assert _reason(PAYLOAD, f"t={NOW},v0={v0}") == "no v1 signature"


@pytest.mark.parametrize("offset", [DEFAULT_TOLERANCE + 1, -(DEFAULT_TOLERANCE + 1), 86_400])
def test_timestamp_outside_tolerance_either_way(offset: int) -> None:
    header = sign_header(SECRET, PAYLOAD, NOW)
    assert _reason(PAYLOAD, header, now=NOW + offset) == "timestamp outside tolerance"


@pytest.mark.parametrize("offset", [DEFAULT_TOLERANCE, -DEFAULT_TOLERANCE, 0])
def test_timestamp_at_the_edge_of_tolerance_is_accepted(offset: int) -> None:
    header = sign_header(SECRET, PAYLOAD, NOW)
    assert verify_header(PAYLOAD, header, SECRET, now=NOW + offset) == NOW


def test_a_stale_header_is_refused_before_its_signature_is_looked_at() -> None:
    """A replay of a genuine old delivery says "tolerance", not "mismatch"."""
    header = sign_header(SECRET, PAYLOAD, NOW - 3600)
    assert _reason(PAYLOAD, header) == "timestamp outside tolerance"


def test_wrong_secret_and_modified_body_are_mismatches() -> None:
    header = sign_header(SECRET, PAYLOAD, NOW)
    assert _reason(PAYLOAD, header, secret="whsec_another") == "signature mismatch"
    assert _reason(PAYLOAD + b" ", header) == "signature mismatch"
    assert _reason(PAYLOAD.replace(b"evt_1", b"evt_2"), header) == "signature mismatch"


def test_the_timestamp_is_signed_too() -> None:
    signature = compute_signature(SECRET, NOW, PAYLOAD)
    assert _reason(PAYLOAD, f"t={NOW + 1},v1={signature}") == "signature mismatch"


def test_any_one_of_several_v1_signatures_is_enough() -> None:
    """While a secret is rolled Stripe signs with both: one v1 per secret."""
    good = compute_signature(SECRET, NOW, PAYLOAD)
    other = compute_signature("whsec_old", NOW, PAYLOAD)
    assert verify_header(PAYLOAD, f"t={NOW},v1={other},v1={good}", SECRET, now=NOW) == NOW
    assert verify_header(PAYLOAD, f"t={NOW},v1={good},v1={other}", SECRET, now=NOW) == NOW
    assert verify_header(PAYLOAD, f"t={NOW},v0=zz,v1={good},scheme=x", SECRET, now=NOW)
    assert _reason(PAYLOAD, f"t={NOW},v1={other},v1={'0' * 64}") == "signature mismatch"


def test_several_secrets_on_our_side() -> None:
    header = sign_header(["whsec_new", SECRET], PAYLOAD, NOW)
    assert header.count("v1=") == 2
    assert verify_header(PAYLOAD, header, ["whsec_unrelated", SECRET], now=NOW) == NOW
    assert _reason(PAYLOAD, header, secret="whsec_unrelated") == "signature mismatch"


def test_non_ascii_in_a_forged_header_is_a_mismatch_not_a_crash() -> None:
    assert _reason(PAYLOAD, f"t={NOW},v1=\u00e9\u00e9\u00e9") == "signature mismatch"


def test_whitespace_around_elements_is_tolerated() -> None:
    signature = compute_signature(SECRET, NOW, PAYLOAD)
    assert verify_header(PAYLOAD, f" t={NOW} , v1={signature} ", SECRET, now=NOW) == NOW


def test_parse_header_returns_timestamp_and_every_v1() -> None:
    assert parse_header(f"t={NOW},v1=a,v0=b,v1=c") == (NOW, ["a", "c"])


def test_the_error_message_carries_reason_and_detail() -> None:
    error = SignatureError("signature mismatch", "wrong secret")
    assert error.reason == "signature mismatch"
    assert str(error) == "signature mismatch: wrong secret"
    assert str(SignatureError("missing header")) == "missing header"
