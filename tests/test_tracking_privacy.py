"""Privacy rules (DNT, GPC, consent, IP hash) and the visitor cookie's id, as pure logic."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_shoppable.tracking import privacy, visitor

SECRET = b"0123456789abcdef-secret"


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "SHOPPABLE_HONOR_DNT": True,
        "SHOPPABLE_REQUIRE_CONSENT": False,
        "SHOPPABLE_CONSENT_COOKIE": "consent",
    }
    config.update(overrides)
    return config


def _allowed(headers: dict[str, str], **config: Any) -> bool:
    app = Flask("t")
    with app.test_request_context("/", headers=headers):
        from flask import request

        return privacy.tracking_allowed(request, _config(**config))


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),
        ({"DNT": "1"}, False),
        ({"DNT": "0"}, True),
        ({"DNT": "yes please"}, True),
        ({"Sec-GPC": "1"}, False),
        ({"Sec-GPC": " 1 "}, False),
        ({"Sec-GPC": "0"}, True),
    ],
)
def test_dnt_and_gpc(headers: dict[str, str], allowed: bool) -> None:
    assert _allowed(headers) is allowed


def test_dnt_ignored_when_not_honoured() -> None:
    assert _allowed({"DNT": "1", "Sec-GPC": "1"}, SHOPPABLE_HONOR_DNT=False)


@pytest.mark.parametrize(
    ("cookie", "allowed"),
    [
        (None, False),
        ("", False),
        ("0", False),
        ("false", False),
        ("denied", False),
        ("NO", False),
        ("1", True),
        ("yes", True),
        ("analytics,marketing", True),
    ],
)
def test_consent_cookie(cookie: str | None, allowed: bool) -> None:
    headers = {} if cookie is None else {"Cookie": f"consent={cookie}"}
    assert _allowed(headers, SHOPPABLE_REQUIRE_CONSENT=True) is allowed


def test_consent_does_not_override_dnt() -> None:
    assert not _allowed({"Cookie": "consent=1", "DNT": "1"}, SHOPPABLE_REQUIRE_CONSENT=True)


def test_ip_hash_is_keyed_and_never_the_address() -> None:
    h = privacy.ip_hash("203.0.113.7", SECRET)
    assert len(h) == 64
    assert "203" not in h
    assert h == privacy.ip_hash("203.0.113.7", SECRET)
    assert h != privacy.ip_hash("203.0.113.8", SECRET)
    assert h != privacy.ip_hash("203.0.113.7", b"another-secret-of-16+")


def test_ip_hash_normalises_addresses() -> None:
    assert privacy.ip_hash("::ffff:203.0.113.7", SECRET) == privacy.ip_hash("203.0.113.7", SECRET)
    assert privacy.ip_hash("2001:DB8:0:0::1", SECRET) == privacy.ip_hash("2001:db8::1", SECRET)


@pytest.mark.parametrize("address", [None, "", "not an address", "x" * 10_000, "\x00"])
def test_ip_hash_never_fails(address: str | None) -> None:
    result = privacy.ip_hash(address, SECRET)
    assert result == "" or len(result) == 64


def test_visitor_ids() -> None:
    ids = {visitor.new_visitor_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(visitor.is_visitor_id(i) for i in ids)
    for bad in (None, "", "abc", "G" * 32, "A" * 32, "a" * 33, "' or 1=1 --", 42):
        assert not visitor.is_visitor_id(bad)
