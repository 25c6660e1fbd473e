"""The checkout's settings: defaults, and init_app failing with the key's name when wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_shoppable import Shoppable
from flask_shoppable.config import ConfigError
from flask_shoppable.testing import EMULATOR_SECRET_KEY, EMULATOR_WEBHOOK_SECRET


def _init(tmp_path: Path, **config: Any) -> Flask:
    app = Flask("host", instance_path=str(tmp_path / "instance"))
    app.config.update(
        SECRET_KEY="a-host-secret-key-of-some-length",
        SHOPPABLE_STRIPE_SECRET_KEY=EMULATOR_SECRET_KEY,
        SHOPPABLE_STRIPE_WEBHOOK_SECRET=EMULATOR_WEBHOOK_SECRET,
    )
    app.config.update(config)
    Shoppable(app)
    app.extensions["shoppable"].engine.dispose()
    return app


def test_defaults(tmp_path: Path) -> None:
    config = _init(tmp_path).config
    assert config["SHOPPABLE_MAX_LINE_QUANTITY"] == 20
    assert config["SHOPPABLE_CHECKOUT_TTL_MINUTES"] == 30
    assert config["SHOPPABLE_ATTRIBUTION_LOOKBACK_DAYS"] == 30
    assert config["SHOPPABLE_SHIPPING_COUNTRIES"] == []
    assert config["SHOPPABLE_SHIPPING_RATES"] == {}
    assert config["SHOPPABLE_AUTOMATIC_TAX"] is False
    assert config["SHOPPABLE_ALLOW_PROMOTION_CODES"] is True


def test_shipping_is_normalised(tmp_path: Path) -> None:
    config = _init(
        tmp_path,
        SHOPPABLE_SHIPPING_COUNTRIES=("us", "CA", "US"),
        SHOPPABLE_SHIPPING_RATES={
            "usd": {"amount": 500, "free_over": 5000, "name": " Standard "},
            "EUR": [{"amount": 400, "name": "Standard"}, {"amount": 1500, "name": "Express"}],
        },
    ).config
    assert config["SHOPPABLE_SHIPPING_COUNTRIES"] == ["US", "CA"]
    assert config["SHOPPABLE_SHIPPING_RATES"] == {
        "USD": [{"amount": 500, "free_over": 5000, "name": "Standard"}],
        "EUR": [
            {"amount": 400, "free_over": None, "name": "Standard"},
            {"amount": 1500, "free_over": None, "name": "Express"},
        ],
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("SHOPPABLE_MAX_LINE_QUANTITY", 0, "positive integer"),
        ("SHOPPABLE_MAX_LINE_QUANTITY", "20", "positive integer"),
        ("SHOPPABLE_MAX_LINE_QUANTITY", 10**9, "at most 10000"),
        ("SHOPPABLE_CHECKOUT_TTL_MINUTES", 29, "from 30 to 1440"),
        ("SHOPPABLE_CHECKOUT_TTL_MINUTES", 1441, "from 30 to 1440"),
        ("SHOPPABLE_CHECKOUT_TTL_MINUTES", 45.0, "from 30 to 1440"),
        ("SHOPPABLE_ATTRIBUTION_LOOKBACK_DAYS", 0, "positive integer"),
        ("SHOPPABLE_AUTOMATIC_TAX", "yes", "True or False"),
        ("SHOPPABLE_ALLOW_PROMOTION_CODES", 1, "True or False"),
        ("SHOPPABLE_SHIPPING_COUNTRIES", "US", "list of ISO 3166-1"),
        ("SHOPPABLE_SHIPPING_COUNTRIES", ["USA"], "'USA' is not"),
        ("SHOPPABLE_SHIPPING_COUNTRIES", [1], "1 is not"),
        ("SHOPPABLE_SHIPPING_RATES", [], "must be a dict"),
        ("SHOPPABLE_SHIPPING_RATES", {"XYZ": {"amount": 1, "name": "a"}}, "unknown ISO 4217"),
        ("SHOPPABLE_SHIPPING_RATES", {"USD": {"amount": 5.0, "name": "a"}}, "whole minor units"),
        ("SHOPPABLE_SHIPPING_RATES", {"USD": {"amount": -1, "name": "a"}}, "whole minor units"),
        ("SHOPPABLE_SHIPPING_RATES", {"USD": {"amount": 1}}, "'amount' and 'name'"),
        ("SHOPPABLE_SHIPPING_RATES", {"USD": {"amount": 1, "name": ""}}, "non-empty"),
        ("SHOPPABLE_SHIPPING_RATES", {"USD": {"amount": 1, "name": "a", "free": 1}}, "unknown"),
        (
            "SHOPPABLE_SHIPPING_RATES",
            {"USD": {"amount": 1, "name": "a", "free_over": "50"}},
            "free_over",
        ),
        ("SHOPPABLE_SHIPPING_RATES", {"USD": []}, "at least one rate"),
    ],
)
def test_a_bad_setting_names_its_key(tmp_path: Path, key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _init(tmp_path, **{key: value})
    assert info.value.key == key
    assert message in str(info.value)
