"""Publishing posts to the channels: connected accounts, publications, scheduling.

:func:`setup` wires it into an app at ``init_app``: it checks the publishing settings
(a bad one raises :class:`~flask_shoppable.config.ConfigError` naming the key) and
registers the five outbox sinks ``publish_instagram``, ``publish_facebook``,
``publish_pinterest``, ``publish_linkedin`` and ``publish_x`` (:mod:`.sinks`). The
merchant API is :mod:`.api`; the rules are :mod:`.service`.

Scheduling: a publication's outbox message carries ``not_before`` = its ``publish_at``,
so the worker's outbox job delivers it when due; no job of its own is needed.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from ..config import ConfigError

_URL_RE = re.compile(r"^https?://[^/\s]+$")
_LINKEDIN_VERSION_RE = re.compile(r"^\d{6}(\.\d{2})?$")


def check_config(config: Any) -> None:
    """The publishing settings; ConfigError naming the key that is wrong."""
    from . import crypto

    try:
        keys = crypto.parse_keys(config["SHOPPABLE_TOKEN_KEYS"])
        config["SHOPPABLE_TOKEN_KEYS"] = keys
        crypto.build(config)
    except (TypeError, ValueError) as exc:
        raise ConfigError("SHOPPABLE_TOKEN_KEYS", str(exc)) from None
    for key in ("SHOPPABLE_PINTEREST_API_URL", "SHOPPABLE_LINKEDIN_API_URL", "SHOPPABLE_X_API_URL"):
        value = config[key]
        if not isinstance(value, str) or not _URL_RE.match(value.rstrip("/")):
            raise ConfigError(key, f"must be an absolute http(s) base URL, got {value!r}")
        config[key] = value.rstrip("/")
    version = config["SHOPPABLE_LINKEDIN_VERSION"]
    if not isinstance(version, str) or not _LINKEDIN_VERSION_RE.match(version):
        raise ConfigError(
            "SHOPPABLE_LINKEDIN_VERSION", f"must be a version as YYYYMM (202610), got {version!r}"
        )
    for key in ("SHOPPABLE_PUBLISH_TIMEOUT", "SHOPPABLE_INSTAGRAM_POLL_SECONDS"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(key, f"must be a number of seconds, got {value!r}")
    if config["SHOPPABLE_PUBLISH_TIMEOUT"] <= 0:
        raise ConfigError("SHOPPABLE_PUBLISH_TIMEOUT", "must be more than 0 seconds")
    if not isinstance(config["SHOPPABLE_PUBLISH_LOCAL_IMAGES"], bool):
        raise ConfigError("SHOPPABLE_PUBLISH_LOCAL_IMAGES", "must be True or False")
    polls = config["SHOPPABLE_INSTAGRAM_POLLS"]
    if isinstance(polls, bool) or not isinstance(polls, int) or not 1 <= polls <= 60:
        raise ConfigError("SHOPPABLE_INSTAGRAM_POLLS", f"must be an integer 1 to 60, got {polls!r}")


def setup(app: Flask) -> None:
    from ..crm import register_sink
    from .sinks import SINKS

    check_config(app.config)
    for sink in SINKS:
        register_sink(app, sink(app))
