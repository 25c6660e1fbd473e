"""The orders settings: checked at start-up, and honoured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from flask_shoppable.config import ConfigError
from flask_shoppable.testing import StripeEmulator

from .checkout_helpers import variant
from .conftest import ApiClient, make_app
from .order_helpers import WEBHOOK, open_checkout, order_of, post_event, session_object


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("SHOPPABLE_WEBHOOK_MAX_BYTES", 0, "positive integer"),
        ("SHOPPABLE_WEBHOOK_MAX_BYTES", "512k", "positive integer"),
        ("SHOPPABLE_ATTRIBUTION_MODEL", "u_shaped", "must be one of last_touch"),
        ("SHOPPABLE_ATTRIBUTION_HALF_LIFE_DAYS", 0, "number of days"),
        ("SHOPPABLE_ATTRIBUTION_HALF_LIFE_DAYS", True, "number of days"),
        ("SHOPPABLE_ATTRIBUTION_HALF_LIFE_DAYS", 400, "number of days"),
    ],
)
def test_bad_settings_fail_at_start_naming_the_key(
    tmp_path: Path, key: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        make_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path / "instance", **{key: value})
    assert caught.value.key == key


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {
        "SHOPPABLE_WEBHOOK_MAX_BYTES": 4096,
        "SHOPPABLE_ATTRIBUTION_MODEL": "first_touch",
        "SHOPPABLE_ATTRIBUTION_HALF_LIFE_DAYS": 0.5,
    }


def test_settings_are_honoured(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    api: ApiClient,
) -> None:
    payload, header = emulator.signed_event("x.y", {"id": "x", "pad": "p" * 5000})
    big = client.post(WEBHOOK, data=payload, headers={"Stripe-Signature": header})
    assert big.status_code == 413
    assert "4096" in big.get_json()["message"]

    checkout = open_checkout(session, [(variant(session, "tee", price=900, stock=2), 1)])
    assert (
        post_event(
            client, emulator, "checkout.session.completed", session_object(checkout)
        ).status_code
        == 200
    )
    order = order_of(session, checkout)
    assert order is not None
    assert api.get(f"/orders/{order.id}").get_json()["attribution_model"] == "first_touch"
