"""What every page and redirect of the plugin shares: security headers and URLs.

Every response of the plugin's routes forbids framing (``X-Frame-Options: DENY`` and
``frame-ancestors 'none'``) unless its view called :func:`allow_framing` (the embed
card is the one that does). Absolute URLs (feeds, oEmbed, share links, Open Graph)
come from ``SHOPPABLE_PUBLIC_URL`` when set, else from the request.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request, url_for

_FRAMEABLE = "_shoppable_frameable"


def allow_framing() -> None:
    """Let the current response be shown in an iframe on any site."""
    setattr(g, _FRAMEABLE, True)


def absolute_url(endpoint: str, **values: object) -> str:
    """``url_for`` made absolute against SHOPPABLE_PUBLIC_URL (or the request's host)."""
    path = url_for(endpoint, **values)
    base = current_app.config["SHOPPABLE_PUBLIC_URL"] or request.host_url.rstrip("/")
    return f"{base}{path}"


def _is_plugin_request() -> bool:
    return (request.blueprint or "").startswith("shoppable")


#: The security headers of a response that may not be framed, for a hot path that
#: builds its response with them (and marks it with :func:`secured`).
NOT_FRAMEABLE = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
)
_SECURED = "_shoppable_secured"


def secured(response: Response) -> Response:
    """Mark a response built with :data:`NOT_FRAMEABLE` already: the after-request step
    leaves it alone (four header look-ups saved, on the tracked redirect's every click)."""
    setattr(response, _SECURED, True)
    return response


def _security_headers(response: Response) -> Response:
    if getattr(response, _SECURED, False) or not _is_plugin_request():
        return response
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if g.get(_FRAMEABLE):
        headers.pop("X-Frame-Options", None)
        headers.setdefault("Content-Security-Policy", "frame-ancestors *")
    else:
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    return response


def install(app: Flask) -> None:
    app.after_request(_security_headers)
