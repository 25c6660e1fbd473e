"""The first-party visitor cookie: a random id that ties one browser's interactions.

:func:`current_visitor` answers, once per request, the visitor id to record: the
cookie's when it holds a valid id, a fresh one when it is absent or not a valid id (a
cookie someone edited is replaced, never trusted or echoed), or ``None`` when the
request may not be tracked (see :mod:`.privacy`). A fresh id is set on the response by
:func:`set_cookie`, an ``after_app_request`` step the tracking blueprint installs, so
any plugin view (the redirect, the embed's impression) can ask for a visitor.

The cookie is HttpOnly (no script reads it), SameSite=Lax (sent on the top-level
navigation a tracked link is), Secure under HTTPS, and lives
``SHOPPABLE_VISITOR_COOKIE_DAYS``. It holds nothing but the random id.
"""

from __future__ import annotations

import re

from flask import Response, current_app, g, request

from .privacy import tracking_allowed
from .randomness import token_bytes

_VISITOR_KEY = "_shoppable_visitor"
_NEW_VISITOR_KEY = "_shoppable_new_visitor"
_UNSET = object()
_ID_RE = re.compile(r"[0-9a-f]{32}")
#: A cookie name that needs no quoting (RFC 6265 token characters).
_TOKEN_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


def new_visitor_id() -> str:
    """32 lowercase hex characters: 128 random bits from the OS's CSPRNG."""
    return token_bytes(16).hex()


def is_visitor_id(value: object) -> bool:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def current_visitor() -> str | None:
    """The visitor id for this request, issuing one if allowed; ``None`` if not tracked."""
    ctx_globals = g._get_current_object()  # type: ignore[attr-defined]
    cached = ctx_globals.get(_VISITOR_KEY, _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    config = current_app.config
    visitor: str | None
    if not tracking_allowed(request, config):
        visitor = None
    else:
        # No Cookie header (a first click, an in-app browser): skip parsing cookies.
        existing = (
            request.cookies.get(config["SHOPPABLE_VISITOR_COOKIE"])
            if "HTTP_COOKIE" in request.environ
            else None
        )
        if is_visitor_id(existing):
            visitor = existing
        else:
            visitor = new_visitor_id()
            setattr(ctx_globals, _NEW_VISITOR_KEY, visitor)
    setattr(ctx_globals, _VISITOR_KEY, visitor)
    return visitor


def set_cookie(response: Response) -> Response:
    """After-request step: set the cookie when this request issued a new visitor id."""
    visitor = g.get(_NEW_VISITOR_KEY)
    if visitor is None:
        return response
    config = current_app.config
    name = config["SHOPPABLE_VISITOR_COOKIE"]
    max_age = config["SHOPPABLE_VISITOR_COOKIE_DAYS"] * 86400
    secure = request.is_secure
    if _TOKEN_RE.fullmatch(name):
        # Written by hand: the id is hex and the name a plain token, so nothing needs
        # quoting, and this runs on every first click (Werkzeug's version costs more).
        # Max-Age without Expires: every browser in use reads Max-Age (RFC 6265).
        header = f"{name}={visitor}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"
        response.headers.add("Set-Cookie", (header + "; Secure") if secure else header)
        return response
    response.set_cookie(
        name, visitor, max_age=max_age, path="/", secure=secure, httponly=True, samesite="Lax"
    )
    return response
