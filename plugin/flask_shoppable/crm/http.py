"""Outgoing HTTP for every sink: one ``requests.Session`` per sink, and :func:`call`.

:func:`call` turns what came back into the outbox's terms:

* 2xx: the response;
* 429, 5xx, 408, 425, a timeout or a connection error: :class:`~.errors.RetryLater`,
  with the ``Retry-After`` header (seconds or an HTTP date) when there is one;
* any other 4xx (and 3xx): :class:`~.errors.Rejected`, with the receiver's message.

Every call has a timeout (``timeout=`` or SHOPPABLE_OUTBOX_HTTP_TIMEOUT). Error texts
carry the method, the URL without its query string and the receiver's message, never a
request header (so never a token).
"""

from __future__ import annotations

import email.utils
import time
from contextvars import ContextVar
from typing import Any

import requests
from flask import Flask
from requests.adapters import HTTPAdapter

from .. import __version__
from .errors import Rejected, RetryLater

#: Statuses that mean "later", besides every 5xx.
TRANSIENT = frozenset({408, 425, 429})
#: Longest Retry-After honoured (a day); longer ones are capped.
MAX_RETRY_AFTER = 86400.0
#: The HTTP status of the last call made in this thread (the worker logs it per attempt).
LAST_STATUS: ContextVar[int | None] = ContextVar("shoppable_http_last_status", default=None)


def session(app: Flask | None = None, *, pool: int = 10) -> requests.Session:
    """A ``requests.Session`` for a sink: keep-alive pool, a User-Agent, no env proxies."""
    http = requests.Session()
    http.trust_env = False
    adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    http.headers["User-Agent"] = f"Flask-Shoppable/{__version__}"
    return http


def timeout_of(app: Flask) -> float:
    return float(app.config["SHOPPABLE_OUTBOX_HTTP_TIMEOUT"])


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def body_of(response: requests.Response) -> Any:
    """The response's JSON, else its text (first 500 characters)."""
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def message_of(body: Any) -> str:
    """The receiver's error message out of the common shapes."""
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:300]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:300]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return message_of(body[0])
    return str(body)[:300] if body else ""


def call(
    http: requests.Session, method: str, url: str, *, timeout: float, **kwargs: Any
) -> requests.Response:
    """Make the request; the response if 2xx, else RetryLater or Rejected."""
    where = f"{method} {url.split('?', 1)[0]}"
    try:
        response = http.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise RetryLater(f"{where}: no answer within {timeout:g}s") from None
    except requests.ConnectionError as exc:
        raise RetryLater(f"{where}: cannot connect ({type(exc).__name__})") from None
    except requests.RequestException as exc:
        raise RetryLater(f"{where}: {type(exc).__name__}") from None
    status = response.status_code
    LAST_STATUS.set(status)
    if 200 <= status < 300:
        return response
    body = body_of(response)
    reason = f"{where}: HTTP {status}"
    detail = message_of(body)
    if detail:
        reason = f"{reason}: {detail}"
    if status >= 500 or status in TRANSIENT:
        after = retry_after(response.headers.get("Retry-After"))
        raise RetryLater(reason, after, status=status, body=body)
    raise Rejected(reason, status=status, body=body)
