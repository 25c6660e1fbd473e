"""Sign-in, sign-out, and what every admin request goes through.

Before each request to the blueprint: the body size is capped, anonymous requests are
refused (except on views marked :func:`~.auth.public`), and every request that is not
GET/HEAD/OPTIONS must carry the CSRF token. After each: cookies (session, CSRF nonce,
messages) are written with HttpOnly, SameSite=Lax, Secure under HTTPS and the admin path;
pages are never cached and may not be framed (the plugin's security headers, plus a
Content-Security-Policy that allows only the plugin's own scripts).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge

from .. import db
from . import auth, bp, csrf, messages
from .forms import Form

#: The navigation: (label, section). An item shows once the endpoint named after its
#: section exists (pages built by others appear as they land).
NAV = (
    ("Dashboard", "dashboard"),
    ("Products", "products"),
    ("Posts", "posts"),
    ("Links", "links"),
    ("Channels", "channels"),
    ("Orders", "orders"),
    ("Customers", "customers"),
    ("Listening", "listening"),
    ("Outbox", "outbox"),
    ("Settings", "settings"),
)

CSP = (
    "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: Room for the fields of a form around an upload.
_FORM_OVERHEAD = 256 * 1024


def admin_path() -> str:
    return f"{request.script_root}{current_app.extensions['shoppable'].url_prefix}/admin"


def cookie_options(deleting: bool = False) -> dict[str, Any]:
    options: dict[str, Any] = {"path": admin_path(), "secure": request.is_secure}
    options["httponly"] = True
    options["samesite"] = "Lax"
    return options


def home_url() -> str:
    """Where a signed-in merchant lands: the dashboard once it exists, else products."""
    for section in ("dashboard", "products", "settings"):
        if f"{bp.name}.{section}" in current_app.view_functions:
            return url_for(f"{bp.name}.{section}")
    return url_for(f"{bp.name}.sign_in")


def _safe_next(target: str | None) -> str | None:
    """``next`` only when it is a path inside the admin (no open redirect)."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(admin_path() + "/"):
        return None
    return target


# --- refusals ----------------------------------------------------------------------------


def refuse() -> Any:
    """The answer to a request without a merchant."""
    hook_response = g.get("_shoppable_admin_hook_response")
    if hook_response is not None:
        return hook_response
    if auth.host_hook() is not None:
        return render_template(
            "shoppable/admin/error.html",
            status=403,
            title="Not allowed",
            message="Your account may not use the shop's admin pages.",
        ), 403
    if g.get("_shoppable_admin_expired"):
        messages.flash("Your session ended. Sign in again to continue.", "info")
    if request.method in ("GET", "HEAD"):
        target = request.full_path.rstrip("?")
        return redirect(url_for(f"{bp.name}.sign_in", next=target))
    return render_template(
        "shoppable/admin/error.html",
        status=401,
        title="Sign in first",
        message="You are not signed in (or your session ended).",
        action_url=url_for(f"{bp.name}.sign_in"),
        action="Sign in",
    ), 401


def csrf_failed() -> tuple[str, int]:
    return render_template(
        "shoppable/admin/error.html",
        status=400,
        title="This form has expired",
        message="The form was not sent from this browser's current session (its security "
        "token is missing or wrong). Go back, reload the page and try again.",
    ), 400


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> tuple[str, int]:
    limit = current_app.config["SHOPPABLE_ADMIN_UPLOAD_MAX_BYTES"]
    return render_template(
        "shoppable/admin/error.html",
        status=413,
        title="Too large",
        message=f"What was sent is too large. Images may be up to {limit // 1024} KB.",
    ), 413


@bp.before_request
def _guard() -> Any:
    request.max_content_length = (
        current_app.config["SHOPPABLE_ADMIN_UPLOAD_MAX_BYTES"] * 2 + _FORM_OVERHEAD
    )
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return None
    if not auth.is_public(view) and auth.current_merchant() is None:
        return refuse()
    if not csrf.check():
        return csrf_failed()
    return None


@bp.after_request
def _finish(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("Cache-Control", "no-store")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    new_session = g.get("_shoppable_admin_set_session")
    if new_session is not None:
        if new_session:
            response.set_cookie(auth.SESSION_COOKIE, new_session, **cookie_options())
        else:
            response.delete_cookie(auth.SESSION_COOKIE, **cookie_options(deleting=True))
    nonce = g.get("_shoppable_csrf_set_cookie")
    if nonce:
        response.set_cookie(csrf.NONCE_COOKIE, nonce, **cookie_options())
    return messages.save(response)


def nav() -> list[dict[str, Any]]:
    """The nav items whose pages exist, the current section marked active."""
    endpoint = request.endpoint or ""
    current = endpoint.partition(".")[2].partition("_")[0]
    items = []
    for label, section in NAV:
        name = f"{bp.name}.{section}"
        if name in current_app.view_functions:
            items.append(
                {
                    "label": label,
                    "section": section,
                    "url": url_for(name),
                    "active": current == section,
                }
            )
    return items


#: Template globals (globals, so that imported macros see them too).
TEMPLATE_GLOBALS = {
    "shoppable_admin_nav": nav,
    "shoppable_csrf_token": csrf.token,
    "shoppable_admin_messages": messages.messages,
    "shoppable_admin_merchant": auth.current_merchant,
}


# --- sign-in and sign-out ---------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
@auth.public
def sign_in() -> Any:
    if auth.host_hook() is not None:
        # The host signs people in; here is only a pointer to the admin.
        if auth.current_merchant() is not None:
            return redirect(home_url())
        return refuse()
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET" and auth.current_merchant() is not None:
        return redirect(next_url or home_url())
    form = Form(request.form if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        email, password = form.text("email"), request.form.get("password", "")
        if not email:
            form.error("email", "Enter your email address.")
        if not password:
            form.error("password", "Enter your password.")
        if form.ok:
            session = db.session()
            try:
                user = auth.authenticate(session, email, password, request.remote_addr or "")
            except auth.RateLimited as exc:
                form.error("_form", exc.message)
                status = 429
            except auth.AuthError as exc:
                form.error("_form", exc.message)
                status = 401
            else:
                old = request.cookies.get(auth.SESSION_COOKIE)
                if old:
                    auth.end_session(session, old)
                session_id = auth.start_session(session, user)
                g._shoppable_admin_set_session = session_id
                csrf.rotate()
                return redirect(next_url or home_url())
        else:
            status = 422
    form.values.pop("password", None)
    return render_template("shoppable/admin/sign_in.html", form=form, next=next_url or ""), status


@bp.post("/sign-out")
@auth.login_required
def sign_out() -> Any:
    merchant = auth.current_merchant()
    if merchant is not None and merchant.session_id:
        auth.end_session(db.session(), merchant.session_id)
    g._shoppable_admin_set_session = ""
    csrf.rotate()
    messages.flash("You are signed out.", "info")
    if auth.host_hook() is not None:
        return redirect(url_for("shoppable_pages.storefront"))
    return redirect(url_for(f"{bp.name}.sign_in"))
