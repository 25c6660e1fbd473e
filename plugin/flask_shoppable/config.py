"""Configuration: every key the plugin reads, its default, and the checks at start-up.

``DEFAULTS`` is the one list of keys (the README's table is made from it, and a test
keeps the two in step). :func:`load` fills the defaults into ``app.config`` and checks
every value, so a missing or inconsistent setting fails ``init_app`` with a message
naming the key, never the first request.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy.exc import ArgumentError

from .db import normalize_url
from .money import CURRENCY_EXPONENTS


class ConfigError(RuntimeError):
    """A setting that is missing or inconsistent."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class Setting:
    default: Any
    doc: str


#: Every key the plugin reads. A ``None`` default is computed at start-up (see doc).
DEFAULTS: dict[str, Setting] = {
    "SHOPPABLE_DATABASE_URL": Setting(
        None,
        "SQLAlchemy URL of the plugin's database. Defaults to the host's "
        "SQLALCHEMY_DATABASE_URI when set, else SQLite in the instance folder "
        "(shoppable.sqlite3). PostgreSQL (postgresql://...) is the production engine.",
    ),
    "SHOPPABLE_ENGINE_OPTIONS": Setting({}, "Extra keyword arguments for create_engine."),
    "SHOPPABLE_URL_PREFIX": Setting("/shop", "Where the plugin's routes are mounted."),
    "SHOPPABLE_DEFAULT_CURRENCY": Setting(
        "USD", "ISO 4217 currency used when an import or the demo names none."
    ),
    "SHOPPABLE_MAX_BODY_BYTES": Setting(
        1024 * 1024, "Largest request body the plugin's routes accept (413 above it)."
    ),
    "SHOPPABLE_API_PAGE_SIZE": Setting(50, "Default page size of API listings."),
    "SHOPPABLE_API_MAX_PAGE_SIZE": Setting(200, "Largest page size an API client may ask for."),
    "SHOPPABLE_API_KEY_TOUCH_SECONDS": Setting(
        60, "An API key's last_used_at is written at most once per this many seconds."
    ),
    "SHOPPABLE_API_TITLE": Setting("Flask-Shoppable", "Title of the OpenAPI document."),
    "SHOPPABLE_API_DOCS": Setting(
        True, "Serve the interactive API docs page (Swagger UI, served locally) at /api/docs."
    ),
}

#: flask-smorest reads its own settings under this prefix; the plugin writes them itself.
SMOREST_PREFIX = "SHOPPABLE_SMOREST_"

_PREFIX_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(key, f"must be a positive integer, got {value!r}")
    return value


def load(app: Flask) -> None:
    """Fill in defaults and check every ``SHOPPABLE_*`` key of ``app.config``."""
    config = app.config
    for key, setting in DEFAULTS.items():
        default = setting.default
        config.setdefault(key, dict(default) if isinstance(default, dict) else default)

    unknown = sorted(
        k
        for k in config
        if k.startswith("SHOPPABLE_") and k not in DEFAULTS and not k.startswith(SMOREST_PREFIX)
    )
    if unknown:
        raise ConfigError(unknown[0], "is not a Flask-Shoppable setting (misspelt?)")

    if config["SHOPPABLE_DATABASE_URL"] is None:
        host_url = config.get("SQLALCHEMY_DATABASE_URI")
        if host_url:
            config["SHOPPABLE_DATABASE_URL"] = host_url
        else:
            os.makedirs(app.instance_path, exist_ok=True)
            path = os.path.join(app.instance_path, "shoppable.sqlite3")
            config["SHOPPABLE_DATABASE_URL"] = f"sqlite:///{path}"
    try:
        url = normalize_url(config["SHOPPABLE_DATABASE_URL"])
    except (ArgumentError, ValueError, TypeError) as exc:
        raise ConfigError("SHOPPABLE_DATABASE_URL", f"is not a database URL ({exc})") from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            "SHOPPABLE_DATABASE_URL",
            f"backend {backend!r} is not supported: use sqlite or postgresql",
        )

    if not isinstance(config["SHOPPABLE_ENGINE_OPTIONS"], dict):
        raise ConfigError("SHOPPABLE_ENGINE_OPTIONS", "must be a dict")

    prefix = config["SHOPPABLE_URL_PREFIX"]
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        raise ConfigError(
            "SHOPPABLE_URL_PREFIX",
            "must be empty or a path such as /shop (leading slash, no trailing slash), "
            f"got {prefix!r}",
        )

    currency = config["SHOPPABLE_DEFAULT_CURRENCY"]
    if not isinstance(currency, str) or currency.upper() not in CURRENCY_EXPONENTS:
        raise ConfigError("SHOPPABLE_DEFAULT_CURRENCY", f"unknown ISO 4217 currency {currency!r}")
    config["SHOPPABLE_DEFAULT_CURRENCY"] = currency.upper()

    for key in (
        "SHOPPABLE_MAX_BODY_BYTES",
        "SHOPPABLE_API_PAGE_SIZE",
        "SHOPPABLE_API_MAX_PAGE_SIZE",
        "SHOPPABLE_API_KEY_TOUCH_SECONDS",
    ):
        _positive_int(key, config[key])
    if config["SHOPPABLE_API_PAGE_SIZE"] > config["SHOPPABLE_API_MAX_PAGE_SIZE"]:
        raise ConfigError(
            "SHOPPABLE_API_PAGE_SIZE", "must not be larger than SHOPPABLE_API_MAX_PAGE_SIZE"
        )
