"""Small pieces the built-in sinks share: settings checks, money in major units, payload reading.

The payload a sink gets is :func:`crm.payload.order_payload`'s (see that module): ``order``,
``lines``, ``customer`` and ``attribution``. The helpers here read it in one place, so a
change of its shape touches this file only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from ..config import ConfigError
from ..money import to_decimal_string

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def required_str(config: Mapping[str, Any], key: str, sink: str) -> str:
    """``config[key]`` as a non-empty string, or ConfigError naming the key."""
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, f"is required when {sink!r} is in SHOPPABLE_CRM_SINKS")
    return value.strip()


def base_url(config: Mapping[str, Any], key: str, sink: str, *, path_allowed: bool) -> str:
    """An absolute https URL (http only for this machine, as the tests' fakes are)."""
    value = required_str(config, key, sink)
    parts = urlsplit(value)
    local = parts.hostname in _LOCAL_HOSTS
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(key, f"must be an absolute https:// URL, got {value!r}")
    if parts.scheme == "http" and not local:
        raise ConfigError(key, f"must use https:// (http is only for 127.0.0.1), got {value!r}")
    if parts.query or parts.fragment or (not path_allowed and parts.path not in ("", "/")):
        raise ConfigError(key, f"must be a base address without path or query, got {value!r}")
    return value.rstrip("/") if not path_allowed else value


def api_version(config: Mapping[str, Any], key: str) -> str:
    """A versioned API path segment such as ``v21.0`` (Graph) or ``v62.0`` (Salesforce)."""
    value = config.get(key)
    if not isinstance(value, str) or not re.fullmatch(r"v\d+\.\d+", value):
        raise ConfigError(key, f"must be a version such as v21.0, got {value!r}")
    return value


def major(amount: int, currency: str) -> float:
    """Minor units to a JSON number in major units: ``(1999, "USD")`` → ``19.99``."""
    return float(Decimal(to_decimal_string(int(amount), currency)))


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp from the payload (aware, UTC), or None."""
    if not value:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def order_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    order: dict[str, Any] = payload.get("order") or {}
    return order


def customer_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    customer: dict[str, Any] = payload.get("customer") or {}
    return customer


def attribution_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    attribution: dict[str, Any] = payload.get("attribution") or {}
    return attribution


def lines_of(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = payload.get("lines") or []
    return lines


def touch_of(attribution: Mapping[str, Any]) -> dict[str, Any]:
    """The originating interaction's fields (UTM, click ids, time), or {}."""
    touch: dict[str, Any] = attribution.get("interaction") or {}
    return touch


def post_id_of(attribution: Mapping[str, Any]) -> int | None:
    post = attribution.get("post") or {}
    return post.get("id") if isinstance(post, dict) else None


def link_id_of(attribution: Mapping[str, Any]) -> int | None:
    link = attribution.get("link") or {}
    return link.get("id") if isinstance(link, dict) else None


def utm_of(attribution: Mapping[str, Any], field: str) -> str:
    """A UTM field of the originating touch, else of its tracked link."""
    link = attribution.get("link") or {}
    return str(touch_of(attribution).get(field) or (link.get(field) if link else "") or "")


def campaign_of(attribution: Mapping[str, Any]) -> dict[str, str]:
    """Segment's ``context.campaign`` (name, source, medium, term, content) from the UTM fields."""
    fields = {
        "name": utm_of(attribution, "utm_campaign") or attribution.get("campaign"),
        "source": utm_of(attribution, "utm_source") or attribution.get("channel"),
        "medium": utm_of(attribution, "utm_medium"),
        "term": utm_of(attribution, "utm_term"),
        "content": utm_of(attribution, "utm_content"),
    }
    return {k: str(v) for k, v in fields.items() if v}


def source_label(attribution: Mapping[str, Any]) -> str:
    """A one-line description of where a sale came from: ``instagram / post 3 / summer``."""
    post_id = post_id_of(attribution)
    parts = [
        attribution.get("channel") or "direct",
        f"post {post_id}" if post_id else "",
        attribution.get("campaign") or "",
    ]
    return " / ".join(str(p) for p in parts if p)
