"""The signed attribution token: round trip, tampering, expiry, keys, garbage."""

from __future__ import annotations

import time
import uuid

import pytest
from flask import Flask

from flask_shoppable.tracking import tokens
from flask_shoppable.tracking.models import new_id

SECRET = b"0123456789abcdef-secret"
OTHER = b"fedcba9876543210-secret"
DAY = 86400


def test_round_trip() -> None:
    iid = new_id()
    token = tokens.sign(iid, secret=SECRET)
    assert len(token) == tokens.TOKEN_LENGTH
    assert token.isascii()
    assert all(c.isalnum() or c in "-_" for c in token)  # safe in a URL as is
    assert tokens.verify(token, secret=SECRET, max_age_days=7) == iid


def test_every_flipped_character_is_rejected() -> None:
    iid = uuid.uuid4()
    token = tokens.sign(iid, secret=SECRET)
    for i, c in enumerate(token):
        flipped = "A" if c != "A" else "B"
        tampered = token[:i] + flipped + token[i + 1 :]
        # The last character carries 2 unused bits; a change there that decodes to the
        # same bytes is the same token, anything else must fail.
        if tampered != token and _same_bytes(tampered, token):
            continue
        assert tokens.verify(tampered, secret=SECRET, max_age_days=7) is None, i


def _same_bytes(a: str, b: str) -> bool:
    import base64

    return base64.urlsafe_b64decode(a + "=") == base64.urlsafe_b64decode(b + "=")


def test_expiry() -> None:
    iid = new_id()
    now = time.time()
    token = tokens.sign(iid, secret=SECRET, now=now - 7 * DAY + 60)
    assert tokens.verify(token, secret=SECRET, max_age_days=7, now=now) == iid
    old = tokens.sign(iid, secret=SECRET, now=now - 7 * DAY - 60)
    assert tokens.verify(old, secret=SECRET, max_age_days=7, now=now) is None


def test_token_from_the_future_is_rejected() -> None:
    now = time.time()
    token = tokens.sign(new_id(), secret=SECRET, now=now + 3600)
    assert tokens.verify(token, secret=SECRET, max_age_days=7, now=now) is None
    slight = tokens.sign(new_id(), secret=SECRET, now=now + 10)
    assert tokens.verify(slight, secret=SECRET, max_age_days=7, now=now) is not None


def test_wrong_key() -> None:
    token = tokens.sign(new_id(), secret=SECRET)
    assert tokens.verify(token, secret=OTHER, max_age_days=7) is None


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        12345,
        b"bytes",
        "",
        "x",
        "A" * 44,
        "A" * 43,
        "A" * 45,
        "!" * 44,
        "é" * 44,
        "\x00" * 44,
        "a" * 10_000,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
    ],
)
def test_garbage_is_none_never_an_error(garbage: object) -> None:
    assert tokens.verify(garbage, secret=SECRET, max_age_days=7) is None


def test_uses_the_app_config() -> None:
    app = Flask("t")
    app.config.update(SHOPPABLE_SECRET_KEY=SECRET, SHOPPABLE_TOKEN_MAX_AGE_DAYS=1)
    iid = new_id()
    with app.app_context():
        token = tokens.sign(iid)
        assert tokens.verify(token) == iid
        stale = tokens.sign(iid, now=time.time() - 2 * DAY)
        assert tokens.verify(stale) is None
    assert tokens.verify(token, secret=SECRET, max_age_days=1) == iid


def test_derived_keys_differ_per_purpose() -> None:
    assert tokens.derive_key(SECRET, "token") != tokens.derive_key(SECRET, "ip-hash")


@pytest.mark.parametrize("key", [b"", b"k", b"0123456789abcdef" * 4, b"x" * 65, b"y" * 200])
@pytest.mark.parametrize("message", [b"", b"m", b"203.0.113.7", bytes(range(256)) * 3])
def test_prepared_hmac_equals_the_standard_one(key: bytes, message: bytes) -> None:
    import hmac

    assert tokens.Hmac(key).digest(message) == hmac.digest(key, message, "sha256")
