"""CSRF protection for every admin form: a signed double-submit token.

The browser holds a random nonce in an HttpOnly, SameSite=Lax cookie scoped to the admin
path. A form's token is HMAC-SHA256(SHOPPABLE_SECRET_KEY, nonce + the signed-in session),
so it is bound to this browser and this sign-in (signing in makes a new nonce and a new
session, so tokens from before no longer work). Every request other than GET, HEAD and
OPTIONS to an admin URL must carry it, as the form field ``csrf_token`` or the header
``X-CSRF-Token``; it is compared in constant time. A missing or forged token gets a 400 page
(:func:`.views.csrf_failed`).

Templates put ``{{ csrf_field() }}`` (from ``shoppable/admin/_forms.html``) in every form,
or ``shoppable_csrf_token()`` where they need the value (e.g. a ``fetch`` header).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app, g, request

NONCE_COOKIE = "shoppable_admin_csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _nonce() -> str:
    """This browser's nonce: the cookie's, or a new one (set on the response)."""
    nonce = g.get("_shoppable_csrf_nonce")
    if nonce:
        return str(nonce)
    nonce = request.cookies.get(NONCE_COOKIE, "")
    if not nonce or len(nonce) > 100:
        nonce = rotate()
    g._shoppable_csrf_nonce = nonce
    return nonce


def rotate() -> str:
    """A new nonce for this browser (at sign-in and sign-out); set on the response."""
    nonce = secrets.token_urlsafe(24)
    g._shoppable_csrf_nonce = nonce
    g._shoppable_csrf_set_cookie = nonce
    return nonce


def _binding() -> str:
    from .auth import current_merchant

    merchant = g.get("_shoppable_admin_merchant")
    if merchant is None and request.cookies.get(NONCE_COOKIE):
        merchant = current_merchant()
    if merchant is None:
        return ""
    return f"{merchant.source}:{merchant.session_id or merchant.id}:{merchant.email}"


def _token_for(nonce: str, binding: str) -> str:
    secret = current_app.config["SHOPPABLE_SECRET_KEY"]
    message = f"admin-csrf|{nonce}|{binding}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def token() -> str:
    """The token this browser's forms must send back."""
    return _token_for(_nonce(), _binding())


def check() -> bool:
    """True when the request carries the right token (always True for safe methods)."""
    if request.method in SAFE_METHODS:
        return True
    nonce = request.cookies.get(NONCE_COOKIE, "")
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not nonce or not sent or len(sent) > 200:
        return False
    expected = _token_for(nonce, _binding())
    return hmac.compare_digest(expected.encode(), sent.encode())
