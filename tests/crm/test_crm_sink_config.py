"""A sink in SHOPPABLE_CRM_SINKS with a missing token or bad URL fails init_app, naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flask_shoppable.config import ConfigError

from ..conftest import make_app

GOOD: dict[str, dict[str, Any]] = {
    "salesforce": {
        "SHOPPABLE_SALESFORCE_DOMAIN": "https://acme.my.salesforce.com",
        "SHOPPABLE_SALESFORCE_CLIENT_ID": "3MVG9id",
        "SHOPPABLE_SALESFORCE_CLIENT_SECRET": "secret",
    },
    "webhook": {
        "SHOPPABLE_WEBHOOK_SINK_URL": "https://hooks.example.com/shop",
        "SHOPPABLE_WEBHOOK_SINK_SECRET": "a-long-enough-shared-secret",
    },
    "segment": {"SHOPPABLE_SEGMENT_WRITE_KEY": "wk_123"},
    "meta_capi": {
        "SHOPPABLE_META_PIXEL_ID": "1234567890",
        "SHOPPABLE_META_CAPI_TOKEN": "EAAGtoken",
        "SHOPPABLE_PUBLIC_URL": "https://shop.example.com",
    },
}

BAD = [
    ("salesforce", {"SHOPPABLE_SALESFORCE_DOMAIN": None}, "SHOPPABLE_SALESFORCE_DOMAIN"),
    (
        "salesforce",
        {"SHOPPABLE_SALESFORCE_DOMAIN": "http://acme.my.salesforce.com"},
        "SHOPPABLE_SALESFORCE_DOMAIN",
    ),
    (
        "salesforce",
        {"SHOPPABLE_SALESFORCE_DOMAIN": "https://acme.my.salesforce.com/services"},
        "SHOPPABLE_SALESFORCE_DOMAIN",
    ),
    (
        "salesforce",
        {"SHOPPABLE_SALESFORCE_CLIENT_SECRET": ""},
        "SHOPPABLE_SALESFORCE_CLIENT_SECRET",
    ),
    ("salesforce", {"SHOPPABLE_SALESFORCE_API_VERSION": "62"}, "SHOPPABLE_SALESFORCE_API_VERSION"),
    (
        "webhook",
        {"SHOPPABLE_WEBHOOK_SINK_URL": "ftp://x.example.com"},
        "SHOPPABLE_WEBHOOK_SINK_URL",
    ),
    ("webhook", {"SHOPPABLE_WEBHOOK_SINK_URL": "hooks.example.com"}, "SHOPPABLE_WEBHOOK_SINK_URL"),
    ("webhook", {"SHOPPABLE_WEBHOOK_SINK_SECRET": "short"}, "SHOPPABLE_WEBHOOK_SINK_SECRET"),
    ("segment", {"SHOPPABLE_SEGMENT_WRITE_KEY": None}, "SHOPPABLE_SEGMENT_WRITE_KEY"),
    ("segment", {"SHOPPABLE_SEGMENT_URL": "api.segment.io"}, "SHOPPABLE_SEGMENT_URL"),
    ("meta_capi", {"SHOPPABLE_META_CAPI_TOKEN": None}, "SHOPPABLE_META_CAPI_TOKEN"),
    ("meta_capi", {"SHOPPABLE_META_PIXEL_ID": "pixel"}, "SHOPPABLE_META_PIXEL_ID"),
    ("meta_capi", {"SHOPPABLE_PUBLIC_URL": None}, "SHOPPABLE_PUBLIC_URL"),
]


def _app(tmp_path: Path, sink: str, **config: Any) -> Any:
    url = f"sqlite:///{tmp_path / 'config.sqlite3'}"
    return make_app(url, tmp_path, SHOPPABLE_CRM_SINKS=[sink], **{**GOOD[sink], **config})


@pytest.mark.parametrize("sink", list(GOOD))
def test_a_configured_sink_is_registered(tmp_path: Path, sink: str) -> None:
    app = _app(tmp_path, sink)
    try:
        registered = app.extensions["shoppable"].extra["sinks"]
        assert registered[sink].name == sink
        secrets = ("secret", "a-long-enough-shared-secret", "wk_123", "EAAGtoken")
        assert not any(f"'{value}'" in repr(registered[sink]) for value in secrets)
    finally:
        app.extensions["shoppable"].recorder.close()
        app.extensions["shoppable"].engine.dispose()


@pytest.mark.parametrize(("sink", "override", "key"), BAD)
def test_a_misconfigured_sink_fails_at_start_naming_the_key(
    tmp_path: Path, sink: str, override: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        _app(tmp_path, sink, **override)
    assert raised.value.key == key
