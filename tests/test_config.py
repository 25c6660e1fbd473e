"""Start-up configuration: defaults, and a failing init_app that names the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_shoppable import Shoppable, ShoppableState, db
from flask_shoppable.config import DEFAULTS, ConfigError


def _app(tmp_path: Path, **config: Any) -> Flask:
    app = Flask("host", instance_path=str(tmp_path / "instance"))
    app.config["SECRET_KEY"] = "a-host-secret-key-of-some-length"
    app.config["SHOPPABLE_STRIPE_SECRET_KEY"] = "sk_test_config_tests"
    app.config["SHOPPABLE_STRIPE_WEBHOOK_SECRET"] = "whsec_config_tests"
    app.config.update(config)
    return app


def test_embedded_default_is_sqlite_in_instance_folder(tmp_path: Path) -> None:
    app = _app(tmp_path)
    Shoppable(app)
    state = app.extensions["shoppable"]
    assert isinstance(state, ShoppableState)
    expected = tmp_path / "instance" / "shoppable.sqlite3"
    assert app.config["SHOPPABLE_DATABASE_URL"] == f"sqlite:///{expected}"
    assert state.engine.url.database == str(expected)
    with state.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    state.engine.dispose()


def test_host_database_is_the_default(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'host.db'}"
    app = _app(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    Shoppable(app)
    assert app.config["SHOPPABLE_DATABASE_URL"] == url
    app.extensions["shoppable"].engine.dispose()


def test_postgresql_urls_use_psycopg3() -> None:
    assert db.normalize_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert db.normalize_url("postgres://u@h/d").drivername == "postgresql+psycopg"
    assert db.normalize_url("postgresql+psycopg://u@h/d").drivername == "postgresql+psycopg"


def test_engine_pings_before_use(tmp_path: Path) -> None:
    app = _app(tmp_path)
    Shoppable(app)
    assert app.extensions["shoppable"].engine.pool._pre_ping is True
    app.extensions["shoppable"].engine.dispose()


def test_factory_pattern_and_defaults(tmp_path: Path) -> None:
    shop = Shoppable()
    app = _app(tmp_path)
    shop.init_app(app)
    state = app.extensions["shoppable"]
    assert state.extension is shop
    for key, setting in DEFAULTS.items():
        assert key in app.config
        if setting.default is not None and key != "SHOPPABLE_DEFAULT_CURRENCY":
            assert app.config[key] == setting.default
    state.engine.dispose()


def test_one_extension_serves_two_apps(tmp_path: Path) -> None:
    shop = Shoppable()
    first, second = _app(tmp_path / "a"), _app(tmp_path / "b", SHOPPABLE_URL_PREFIX="/store")
    shop.init_app(first)
    shop.init_app(second)
    assert first.extensions["shoppable"].engine is not second.extensions["shoppable"].engine
    assert first.test_client().get("/shop/api/openapi.json").status_code == 200
    assert second.test_client().get("/store/api/openapi.json").status_code == 200
    assert second.test_client().get("/shop/api/openapi.json").status_code == 404
    for app in (first, second):
        app.extensions["shoppable"].engine.dispose()


def test_registering_twice_is_refused(tmp_path: Path) -> None:
    app = _app(tmp_path)
    Shoppable(app)
    with pytest.raises(RuntimeError, match="already registered"):
        Shoppable(app)
    app.extensions["shoppable"].engine.dispose()


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    [
        ({"SHOPPABLE_DATABASE_URL": "not a url"}, "SHOPPABLE_DATABASE_URL", "not a database URL"),
        ({"SHOPPABLE_DATABASE_URL": "mysql://u@h/d"}, "SHOPPABLE_DATABASE_URL", "not supported"),
        ({"SHOPPABLE_URL_PREFIX": "shop"}, "SHOPPABLE_URL_PREFIX", "leading slash"),
        ({"SHOPPABLE_URL_PREFIX": "/shop/"}, "SHOPPABLE_URL_PREFIX", "no trailing slash"),
        ({"SHOPPABLE_URL_PREFIX": 5}, "SHOPPABLE_URL_PREFIX", "must be empty or a path"),
        ({"SHOPPABLE_DEFAULT_CURRENCY": "EURO"}, "SHOPPABLE_DEFAULT_CURRENCY", "unknown"),
        ({"SHOPPABLE_MAX_BODY_BYTES": 0}, "SHOPPABLE_MAX_BODY_BYTES", "positive integer"),
        ({"SHOPPABLE_MAX_BODY_BYTES": "1mb"}, "SHOPPABLE_MAX_BODY_BYTES", "positive integer"),
        ({"SHOPPABLE_API_PAGE_SIZE": True}, "SHOPPABLE_API_PAGE_SIZE", "positive integer"),
        (
            {"SHOPPABLE_API_PAGE_SIZE": 500, "SHOPPABLE_API_MAX_PAGE_SIZE": 100},
            "SHOPPABLE_API_PAGE_SIZE",
            "must not be larger",
        ),
        ({"SHOPPABLE_ENGINE_OPTIONS": []}, "SHOPPABLE_ENGINE_OPTIONS", "must be a dict"),
        ({"SHOPPABLE_DATABSE_URL": "sqlite://"}, "SHOPPABLE_DATABSE_URL", "misspelt"),
        ({"SECRET_KEY": None}, "SHOPPABLE_SECRET_KEY", "is required"),
        ({"SHOPPABLE_SECRET_KEY": "short"}, "SHOPPABLE_SECRET_KEY", "at least 16 bytes"),
        ({"SHOPPABLE_CLICK_WRITE_MODE": "fast"}, "SHOPPABLE_CLICK_WRITE_MODE", "buffered"),
        ({"SHOPPABLE_CLICK_FLUSH_SECONDS": 0}, "SHOPPABLE_CLICK_FLUSH_SECONDS", "seconds"),
        ({"SHOPPABLE_PUBLIC_URL": "shop.example"}, "SHOPPABLE_PUBLIC_URL", "absolute"),
        ({"SHOPPABLE_PUBLIC_URL": "https://a.example/"}, "SHOPPABLE_PUBLIC_URL", "trailing"),
        ({"SHOPPABLE_VISITOR_COOKIE": ""}, "SHOPPABLE_VISITOR_COOKIE", "non-empty"),
        ({"SHOPPABLE_LINK_CACHE_SECONDS": -1}, "SHOPPABLE_LINK_CACHE_SECONDS", "positive"),
    ],
)
def test_bad_settings_fail_at_init_naming_the_key(
    tmp_path: Path, config: dict[str, Any], key: str, fragment: str
) -> None:
    app = _app(tmp_path, **config)
    with pytest.raises(ConfigError, match=fragment) as info:
        Shoppable(app)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}:")
    assert "shoppable" not in app.extensions


def test_secret_key_falls_back_to_the_app_secret(tmp_path: Path) -> None:
    app = _app(tmp_path)
    Shoppable(app)
    assert app.config["SHOPPABLE_SECRET_KEY"] == b"a-host-secret-key-of-some-length"
    app.extensions["shoppable"].engine.dispose()


def test_currency_is_normalised(tmp_path: Path) -> None:
    app = _app(tmp_path, SHOPPABLE_DEFAULT_CURRENCY="eur")
    Shoppable(app)
    assert app.config["SHOPPABLE_DEFAULT_CURRENCY"] == "EUR"
    app.extensions["shoppable"].engine.dispose()


def test_empty_prefix_mounts_at_root(tmp_path: Path) -> None:
    app = _app(tmp_path, SHOPPABLE_URL_PREFIX="")
    Shoppable(app)
    assert app.test_client().get("/api/openapi.json").status_code == 200
    app.extensions["shoppable"].engine.dispose()


def test_session_is_per_app_context_and_closed_at_teardown(app: Flask) -> None:
    with app.app_context():
        first = db.session()
        assert db.session() is first
        first.execute(sa.text("select 1"))
        assert first.in_transaction()
    assert not first.in_transaction()
    with app.app_context():
        assert db.session() is not first


def test_host_error_pages_are_left_alone(tmp_path: Path) -> None:
    app = _app(tmp_path)

    @app.errorhandler(404)
    def host_not_found(error: Exception) -> tuple[str, int]:
        return "host 404 page", 404

    Shoppable(app)
    client = app.test_client()
    assert client.get("/elsewhere").get_data(as_text=True) == "host 404 page"
    api_404 = client.get("/shop/api/nothing-here")
    assert api_404.status_code == 404
    assert api_404.json["code"] == 404
    app.extensions["shoppable"].engine.dispose()
