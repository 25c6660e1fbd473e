"""Flash messages for the merchant pages, independent of the host app's session.

The host's Flask session may be unconfigured (the plugin only requires
SHOPPABLE_SECRET_KEY) or shared with its own pages, so the admin keeps its messages in a
short-lived cookie of its own, signed with SHOPPABLE_SECRET_KEY and scoped to the admin
path. ``flash("Saved.")`` queues a message for the next page; the base layout shows and
clears them (``shoppable_admin_messages()`` in templates).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "shoppable_admin_flash"
CATEGORIES = ("success", "error", "info")
_MAX = 10


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(
        current_app.config["SHOPPABLE_SECRET_KEY"], salt="shoppable-admin-flash"
    )


def flash(message: str, category: str = "success") -> None:
    """Show ``message`` on the next admin page (category: success, error or info)."""
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {CATEGORIES}")
    pending: list[list[str]] = g.setdefault("_shoppable_flash_out", [])
    pending.append([category, message[:500]])
    del pending[:-_MAX]


def _incoming() -> list[list[str]]:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return []
    try:
        data: Any = _serializer().loads(raw)
    except BadSignature:
        return []
    if not isinstance(data, list):
        return []
    return [m for m in data if isinstance(m, list) and len(m) == 2 and m[0] in CATEGORIES]


def messages() -> list[tuple[str, str]]:
    """Messages to show on this page: those from the last request and this one's own.

    Calling it marks the incoming ones as shown (the cookie is cleared).
    """
    g._shoppable_flash_shown = True
    shown = [(c, m) for c, m in _incoming()]
    shown += [(c, m) for c, m in g.pop("_shoppable_flash_out", [])]
    return shown


def save(response: Any) -> Any:
    """after_request: write queued messages to the cookie, or clear the shown ones."""
    from .views import cookie_options

    pending = g.get("_shoppable_flash_out")
    if pending:
        carried = [] if g.get("_shoppable_flash_shown") else _incoming()
        value = _serializer().dumps((carried + pending)[-_MAX:])
        response.set_cookie(COOKIE, value, **cookie_options())
    elif g.get("_shoppable_flash_shown") and request.cookies.get(COOKIE):
        response.delete_cookie(COOKIE, **cookie_options(deleting=True))
    return response
