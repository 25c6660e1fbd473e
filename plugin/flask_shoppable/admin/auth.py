"""Who is signed in to the merchant pages, and how they got there.

Two ways, one at a time:

- **Merchant accounts** (the default): ``flask shoppable create-merchant EMAIL`` makes an
  account (password hashed with scrypt); the person signs in at ``/shop/admin/sign-in``.
  The browser then holds a random session id in an HttpOnly, SameSite=Lax cookie (Secure
  under HTTPS) scoped to the admin path; the database keeps its SHA-256
  (:class:`~.models.AdminSession`). Signing in always makes a new id (no fixation);
  signing out deletes the row. A session idle for ``SHOPPABLE_ADMIN_IDLE_MINUTES`` or
  older than ``SHOPPABLE_ADMIN_SESSION_HOURS`` ends. Failed sign-ins are counted per
  (email, client address); after ``SHOPPABLE_ADMIN_LOGIN_ATTEMPTS`` within
  ``SHOPPABLE_ADMIN_LOGIN_WINDOW_MINUTES`` that pair is refused until the window passes.
  The messages never say whether an email has an account.

- **The host app's own authentication**: set ``SHOPPABLE_ADMIN_AUTH`` to a callable (or
  its import path, ``"myapp.auth:shop_admin"``). It is called with no arguments during
  each admin request and returns the signed-in merchant's identity (any object; its
  ``str()`` is shown, an ``email`` or ``id`` attribute is used when present), ``None`` for
  "not allowed" (a 403 page), or a response (e.g. a redirect to the host's sign-in page),
  which is returned as is. The plugin's sign-in page and accounts are then unused.

Every admin view is wrapped in :func:`login_required`; the blueprint also checks before
every request (a page someone forgets to wrap is still protected).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..db import utcnow
from .models import AdminSession, LoginFailure, MerchantUser

F = TypeVar("F", bound=Callable[..., Any])

SESSION_COOKIE = "shoppable_admin"
#: A session's last_seen_at is written at most this often (not on every request).
TOUCH_SECONDS = 60
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
HASH_METHOD = "scrypt"
_PUBLIC_ATTR = "_shoppable_admin_public"
_DUMMY_HASH: str | None = None


@dataclass(frozen=True)
class Merchant:
    """The identity behind an admin request."""

    id: str
    email: str
    #: "account" (a MerchantUser) or "host" (SHOPPABLE_ADMIN_AUTH).
    source: str
    #: The AdminSession's cookie value (accounts only): CSRF tokens are bound to it.
    session_id: str = ""

    def __str__(self) -> str:
        return self.email or self.id


class AuthError(Exception):
    """A refused sign-in or account change; ``message`` is safe to show."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class RateLimited(AuthError):
    pass


# --- passwords and accounts ------------------------------------------------------------


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=HASH_METHOD)


def password_problem(password: str) -> str | None:
    if len(password) < PASSWORD_MIN:
        return f"Use at least {PASSWORD_MIN} characters."
    if len(password) > PASSWORD_MAX:
        return f"Use at most {PASSWORD_MAX} characters."
    return None


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    if not email or len(email) > 320 or email.count("@") != 1:
        return "Enter an email address such as you@example.com."
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email):
        return "Enter an email address such as you@example.com."
    return None


def create_merchant(session: Session, email: str, password: str) -> MerchantUser:
    """Create an account; raise :class:`AuthError` for a bad or taken email or weak password."""
    email = normalize_email(email)
    problem = email_problem(email)
    if problem:
        raise AuthError(problem, "email")
    problem = password_problem(password)
    if problem:
        raise AuthError(problem, "password")
    if session.scalar(select(MerchantUser.id).where(MerchantUser.email == email)) is not None:
        raise AuthError(f"A merchant account for {email} already exists.", "email")
    user = MerchantUser(email=email, password_hash=hash_password(password))
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise AuthError(f"A merchant account for {email} already exists.", "email") from None
    return user


def set_password(session: Session, user: MerchantUser, password: str) -> None:
    """Change a password and end every session of that account."""
    problem = password_problem(password)
    if problem:
        raise AuthError(problem, "password")
    user.password_hash = hash_password(password)
    session.execute(delete(AdminSession).where(AdminSession.merchant_id == user.id))
    session.commit()


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def _failure_key(email: str, remote_addr: str) -> str:
    secret = current_app.config["SHOPPABLE_SECRET_KEY"]
    text = f"admin-login|{email}|{remote_addr}".encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()


def authenticate(session: Session, email: str, password: str, remote_addr: str) -> MerchantUser:
    """The account for these credentials, or :class:`AuthError` / :class:`RateLimited`.

    The work done is the same whether or not the email has an account (a dummy hash is
    checked), and so is the message.
    """
    config = current_app.config
    email = normalize_email(email)
    key = _failure_key(email, remote_addr)
    window = timedelta(minutes=config["SHOPPABLE_ADMIN_LOGIN_WINDOW_MINUTES"])
    now = utcnow()
    since = now - window
    failures = session.scalar(
        select(func.count()).where(LoginFailure.key == key, LoginFailure.at > since)
    )
    if failures is not None and failures >= config["SHOPPABLE_ADMIN_LOGIN_ATTEMPTS"]:
        oldest = session.scalar(
            select(func.min(LoginFailure.at)).where(
                LoginFailure.key == key, LoginFailure.at > since
            )
        )
        minutes = 1
        if oldest is not None:
            minutes = max(1, int(((oldest + window) - now).total_seconds() // 60) + 1)
        raise RateLimited(
            f"Too many attempts. Wait {minutes} minute{'s' if minutes != 1 else ''} "
            "and try again, or reset the password with flask shoppable create-merchant."
        )
    user = session.scalar(select(MerchantUser).where(MerchantUser.email == email))
    stored = user.password_hash if user is not None else _dummy_hash()
    ok = check_password_hash(stored, password)
    if user is None or not ok or not user.active:
        session.execute(delete(LoginFailure).where(LoginFailure.at <= since))
        session.add(LoginFailure(key=key, at=now))
        session.commit()
        raise AuthError("That email and password do not match an account.")
    session.execute(delete(LoginFailure).where(LoginFailure.key == key))
    user.last_login_at = now
    session.commit()
    return user


# --- sessions --------------------------------------------------------------------------


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(session: Session, user: MerchantUser) -> str:
    """A new session for ``user``; returns the cookie value (never stored in clear)."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    # Sessions left to expire (never signed out) are swept here, at each sign-in.
    config = current_app.config
    idle = timedelta(minutes=config["SHOPPABLE_ADMIN_IDLE_MINUTES"])
    lifetime = timedelta(hours=config["SHOPPABLE_ADMIN_SESSION_HOURS"])
    session.execute(
        delete(AdminSession).where(
            (AdminSession.last_seen_at < now - idle) | (AdminSession.created_at < now - lifetime)
        )
    )
    session.add(
        AdminSession(
            id_hash=_digest(session_id), merchant_id=user.id, created_at=now, last_seen_at=now
        )
    )
    session.commit()
    return session_id


def end_session(session: Session, session_id: str) -> None:
    session.execute(delete(AdminSession).where(AdminSession.id_hash == _digest(session_id)))
    session.commit()


def _expired(row: AdminSession, now: datetime) -> bool:
    config = current_app.config
    idle = timedelta(minutes=config["SHOPPABLE_ADMIN_IDLE_MINUTES"])
    lifetime = timedelta(hours=config["SHOPPABLE_ADMIN_SESSION_HOURS"])
    return now - row.last_seen_at > idle or now - row.created_at > lifetime


def session_merchant(session: Session, session_id: str) -> Merchant | None:
    """The merchant of a cookie's session id, or None (unknown, expired, inactive)."""
    if not session_id or len(session_id) > 100:
        return None
    row = session.get(AdminSession, _digest(session_id))
    if row is None:
        return None
    now = utcnow()
    if _expired(row, now) or not row.merchant.active:
        session.delete(row)
        session.commit()
        g._shoppable_admin_expired = True
        return None
    if (now - row.last_seen_at).total_seconds() >= TOUCH_SECONDS:
        row.last_seen_at = now
        session.commit()
    return Merchant(
        id=str(row.merchant.id), email=row.merchant.email, source="account", session_id=session_id
    )


# --- the host's hook -------------------------------------------------------------------


def resolve_hook(value: Any) -> Callable[[], Any] | None:
    """``SHOPPABLE_ADMIN_AUTH`` as a callable: itself, or imported from ``"module:attr"``."""
    if value is None or callable(value):
        return value
    if not isinstance(value, str) or ":" not in value:
        raise ValueError("must be a callable or an import path such as 'myapp.auth:shop_admin'")
    module_name, _, attr = value.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {value!r} ({exc})") from None
    if not callable(target):
        raise ValueError(f"{value!r} is not callable")
    return target  # type: ignore[no-any-return]


def host_hook() -> Callable[[], Any] | None:
    return current_app.config["SHOPPABLE_ADMIN_AUTH"]  # type: ignore[no-any-return]


def _identity_from_host(result: Any) -> Merchant:
    email = getattr(result, "email", "") or ""
    ident = getattr(result, "id", None)
    return Merchant(id=str(ident if ident is not None else result), email=str(email), source="host")


# --- the current request ---------------------------------------------------------------

_UNSET = object()


def current_merchant() -> Merchant | None:
    """The merchant signed in for this request (computed once per request)."""
    cached = g.get("_shoppable_admin_merchant", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[return-value]
    merchant: Merchant | None = None
    hook = host_hook()
    if hook is not None:
        result = hook()
        if result is not None and not _is_response(result):
            merchant = _identity_from_host(result)
        elif result is not None:
            g._shoppable_admin_hook_response = result
    else:
        from .. import db

        merchant = session_merchant(db.session(), request.cookies.get(SESSION_COOKIE, ""))
    g._shoppable_admin_merchant = merchant
    return merchant


def _is_response(value: Any) -> bool:
    from werkzeug.wrappers import Response

    return isinstance(value, Response)


def public(view: F) -> F:
    """Mark a view as open to anonymous requests (the sign-in page; nothing else)."""
    setattr(view, _PUBLIC_ATTR, True)
    return view


def is_public(view: Any) -> bool:
    return bool(getattr(view, _PUBLIC_ATTR, False))


def refuse_anonymous() -> Any:
    """The response for a request without a merchant (see :func:`login_required`)."""
    from .views import refuse

    return refuse()


def login_required(view: F) -> F:
    """Refuse the view to anyone not signed in (redirect to sign-in, 401 or the hook's answer)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_merchant() is None:
            return refuse_anonymous()
        return view(*args, **kwargs)

    wrapped._shoppable_login_required = True  # type: ignore[attr-defined]
    return wrapped  # type: ignore[return-value]


def is_protected(view: Any) -> bool:
    """Whether ``view`` was wrapped in :func:`login_required` (a test checks every route)."""
    return bool(getattr(view, "_shoppable_login_required", False))
