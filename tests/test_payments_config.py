"""Stripe settings: required, well-formed, checked at init_app naming the key; the provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_shoppable import Shoppable
from flask_shoppable.config import ConfigError
from flask_shoppable.payments.base import PaymentProvider
from flask_shoppable.payments.stripe import LIBRARY_API_VERSION, StripeProvider
from flask_shoppable.testing import StripeEmulator

GOOD = {
    "SHOPPABLE_STRIPE_SECRET_KEY": "sk_test_abc123",
    "SHOPPABLE_STRIPE_WEBHOOK_SECRET": "whsec_abc123",
}


def _app(tmp_path: Path, **config: Any) -> Flask:
    app = Flask("host", instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY="a-host-secret-key-of-some-length", **GOOD)
    app.config.update(config)
    return app


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    [
        ({"SHOPPABLE_STRIPE_SECRET_KEY": None}, "SHOPPABLE_STRIPE_SECRET_KEY", "is required"),
        ({"SHOPPABLE_STRIPE_SECRET_KEY": ""}, "SHOPPABLE_STRIPE_SECRET_KEY", "is required"),
        ({"SHOPPABLE_STRIPE_SECRET_KEY": "pk_test_abc"}, "SHOPPABLE_STRIPE_SECRET_KEY", "sk_test_"),
        ({"SHOPPABLE_STRIPE_SECRET_KEY": "whsec_abc"}, "SHOPPABLE_STRIPE_SECRET_KEY", "sk_test_"),
        ({"SHOPPABLE_STRIPE_SECRET_KEY": 42}, "SHOPPABLE_STRIPE_SECRET_KEY", "int"),
        ({"SHOPPABLE_STRIPE_WEBHOOK_SECRET": None}, "SHOPPABLE_STRIPE_WEBHOOK_SECRET", "required"),
        (
            {"SHOPPABLE_STRIPE_WEBHOOK_SECRET": "sk_test_abc"},
            "SHOPPABLE_STRIPE_WEBHOOK_SECRET",
            "whsec_",
        ),
        ({"SHOPPABLE_STRIPE_API_BASE": "api.stripe.com"}, "SHOPPABLE_STRIPE_API_BASE", "absolute"),
        ({"SHOPPABLE_STRIPE_API_BASE": None}, "SHOPPABLE_STRIPE_API_BASE", "absolute"),
        (
            {
                "SHOPPABLE_STRIPE_SECRET_KEY": "sk_live_abc",
                "SHOPPABLE_STRIPE_API_BASE": "http://127.0.0.1:12111",
            },
            "SHOPPABLE_STRIPE_API_BASE",
            "only sent over https",
        ),
        ({"SHOPPABLE_STRIPE_API_VERSION": "latest"}, "SHOPPABLE_STRIPE_API_VERSION", "version"),
        ({"SHOPPABLE_STRIPE_TIMEOUT": 0}, "SHOPPABLE_STRIPE_TIMEOUT", "seconds"),
        ({"SHOPPABLE_STRIPE_TIMEOUT": "5"}, "SHOPPABLE_STRIPE_TIMEOUT", "seconds"),
        ({"SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES": -1}, "SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES", "0"),
        (
            {"SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES": True},
            "SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES",
            "integer",
        ),
    ],
)
def test_bad_stripe_settings_fail_at_init_naming_the_key(
    tmp_path: Path, config: dict[str, Any], key: str, fragment: str
) -> None:
    app = _app(tmp_path, **config)
    with pytest.raises(ConfigError, match=fragment) as info:
        Shoppable(app)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}:")
    assert "shoppable" not in app.extensions


def test_a_bad_key_is_not_echoed_whole(tmp_path: Path) -> None:
    app = _app(tmp_path, SHOPPABLE_STRIPE_SECRET_KEY="pk_live_0123456789abcdefSECRETPART")
    with pytest.raises(ConfigError) as info:
        Shoppable(app)
    assert "SECRETPART" not in str(info.value)


@pytest.mark.parametrize("key", ["sk_test_abc", "sk_live_abc", "rk_test_abc", "rk_live_abc"])
def test_secret_and_restricted_keys_are_accepted(tmp_path: Path, key: str) -> None:
    app = _app(tmp_path, SHOPPABLE_STRIPE_SECRET_KEY=key)
    Shoppable(app)
    app.extensions["shoppable"].engine.dispose()


def test_defaults_and_the_provider_of_the_app(tmp_path: Path) -> None:
    app = _app(tmp_path, SHOPPABLE_STRIPE_API_BASE="http://127.0.0.1:12111/")
    Shoppable(app)
    state = app.extensions["shoppable"]
    provider = state.payments
    assert isinstance(provider, StripeProvider)
    assert isinstance(provider, PaymentProvider)
    assert provider.name == "stripe"
    assert app.config["SHOPPABLE_STRIPE_API_BASE"] == "http://127.0.0.1:12111"
    assert provider.api_base == "http://127.0.0.1:12111"
    assert provider.api_version == LIBRARY_API_VERSION
    assert app.config["SHOPPABLE_STRIPE_TIMEOUT"] == 20
    assert app.config["SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES"] == 2
    state.engine.dispose()


def test_each_app_has_its_own_client(tmp_path: Path) -> None:
    """No stripe-python globals: two apps with two keys in one process stay apart."""
    shop = Shoppable()
    first = _app(tmp_path / "a")
    second = _app(tmp_path / "b", SHOPPABLE_STRIPE_SECRET_KEY="sk_test_other")
    shop.init_app(first)
    shop.init_app(second)
    one, two = first.extensions["shoppable"].payments, second.extensions["shoppable"].payments
    assert one.client is not two.client
    assert one.client._requestor.api_key == "sk_test_abc123"
    assert two.client._requestor.api_key == "sk_test_other"
    for app in (first, second):
        app.extensions["shoppable"].engine.dispose()


def test_the_test_apps_point_at_the_emulator(app: Flask, emulator: StripeEmulator) -> None:
    assert app.config["SHOPPABLE_STRIPE_API_BASE"] == emulator.url
    assert app.config["SHOPPABLE_STRIPE_SECRET_KEY"] == emulator.secret_key
    assert app.config["SHOPPABLE_STRIPE_WEBHOOK_SECRET"] == emulator.webhook_secret
