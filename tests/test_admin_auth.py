"""The merchant pages' door: sign-in, sign-out, sessions, rate limit, CSRF, the host hook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from flask_shoppable import Shoppable
from flask_shoppable.admin import auth
from flask_shoppable.admin.models import AdminSession, LoginFailure, MerchantUser
from flask_shoppable.config import ConfigError
from flask_shoppable.db import utcnow
from tests.admin_helpers import (
    ADMIN,
    EMAIL,
    PASSWORD,
    AdminClient,
    admin,  # noqa: F401  (fixture)
    create_merchant,
    sign_in,
    token_from,
)


def _cookie(response: Any, name: str) -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie set: {response.headers.getlist('Set-Cookie')}")


def test_sign_in_with_the_right_password_starts_a_hardened_session(
    app: Flask, session: Session
) -> None:
    create_merchant(app)
    client = app.test_client()
    response = sign_in(client, email="  Owner@Example.com ")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{ADMIN}/")
    header = _cookie(response, auth.SESSION_COOKIE)
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert f"Path={ADMIN}" in header
    assert "Secure" not in header  # plain http in this test
    value = header.split(";")[0].split("=", 1)[1]
    # The database keeps only the hash of the cookie's id.
    rows = session.scalars(select(AdminSession)).all()
    assert len(rows) == 1
    assert rows[0].id_hash != value
    assert value not in rows[0].id_hash
    page = client.get(f"{ADMIN}/settings")
    assert page.status_code == 200
    assert EMAIL in page.get_data(as_text=True)
    assert session.scalar(select(MerchantUser.last_login_at)) is not None


def test_cookies_are_secure_under_https(app: Flask) -> None:
    create_merchant(app)
    client = app.test_client()
    page = client.get(f"{ADMIN}/sign-in", base_url="https://localhost")
    assert "Secure" in _cookie(page, "shoppable_admin_csrf")
    token = token_from(page.get_data(as_text=True))
    response = client.post(
        f"{ADMIN}/sign-in",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
    )
    assert response.status_code == 302
    assert "Secure" in _cookie(response, auth.SESSION_COOKIE)


@pytest.mark.parametrize("email", [EMAIL, "nobody@example.com"])
def test_a_wrong_password_or_unknown_email_gets_the_same_answer(app: Flask, email: str) -> None:
    create_merchant(app)
    client = app.test_client()
    response = sign_in(client, email=email, password="not the password")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "That email and password do not match an account." in html
    assert f'value="{email}"' in html  # what was typed stays
    assert "not the password" not in html  # the password never comes back
    assert auth.SESSION_COOKIE + "=" not in str(response.headers)
    assert client.get(f"{ADMIN}/settings").status_code == 302


def test_empty_fields_are_named_beside_the_field(app: Flask) -> None:
    client = app.test_client()
    response = sign_in(client, email="", password="")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html
    assert "Enter your email address." in html
    assert 'id="password-error"' in html
    assert "Enter your password." in html


def test_sign_in_is_rate_limited_per_email_and_address(app: Flask, session: Session) -> None:
    create_merchant(app)
    limit = app.config["SHOPPABLE_ADMIN_LOGIN_ATTEMPTS"]
    client = app.test_client()
    for _ in range(limit):
        assert sign_in(client, password="wrong wrong wrong").status_code == 401
    # Now even the right password is refused from this address, without saying why not.
    refused = sign_in(client)
    assert refused.status_code == 429
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert auth.SESSION_COOKIE + "=" not in str(refused.headers)
    # Another address is not blocked by this one's failures.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert sign_in(other).status_code == 302
    # The window passing lets the first address in again.
    session.execute(update(LoginFailure).values(at=utcnow() - timedelta(hours=1)))
    session.commit()
    assert sign_in(client).status_code == 302
    assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0


def test_expired_sessions_are_swept_at_sign_in(app: Flask, session: Session) -> None:
    create_merchant(app)
    assert sign_in(app.test_client()).status_code == 302
    session.execute(update(AdminSession).values(last_seen_at=utcnow() - timedelta(days=2)))
    session.commit()
    assert sign_in(app.test_client()).status_code == 302
    assert session.scalar(select(func.count()).select_from(AdminSession)) == 1


def test_signing_in_again_makes_a_new_session_and_ends_the_old(
    app: Flask, session: Session
) -> None:
    create_merchant(app)
    client = app.test_client()
    first = _cookie(sign_in(client), auth.SESSION_COOKIE).split(";")[0]
    second = _cookie(sign_in(client, next=f"{ADMIN}/settings"), auth.SESSION_COOKIE).split(";")[0]
    assert first != second
    assert session.scalar(select(func.count()).select_from(AdminSession)) == 1
    # The first cookie replayed in another browser no longer works.
    thief = app.test_client()
    thief.set_cookie(auth.SESSION_COOKIE, first.split("=", 1)[1], path=ADMIN)
    assert thief.get(f"{ADMIN}/settings").status_code == 302


def test_sign_out_ends_the_session_for_good(admin: AdminClient, session: Session) -> None:  # noqa: F811
    cookie = admin.client.get_cookie(auth.SESSION_COOKIE, path=ADMIN)
    assert cookie is not None
    response = admin.post(f"{ADMIN}/sign-out")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{ADMIN}/sign-in"
    assert session.scalar(select(func.count()).select_from(AdminSession)) == 0
    assert admin.get(f"{ADMIN}/settings").status_code == 302
    replay = admin.client.application.test_client()
    replay.set_cookie(auth.SESSION_COOKIE, cookie.value, path=ADMIN)
    assert replay.get(f"{ADMIN}/settings").status_code == 302
    # A GET cannot sign out (no cross-site logout by an <img>).
    assert admin.get(f"{ADMIN}/sign-out").status_code == 405


def test_an_idle_session_ends(admin: AdminClient, session: Session) -> None:  # noqa: F811
    assert admin.get(f"{ADMIN}/settings").status_code == 200
    idle = admin.client.application.config["SHOPPABLE_ADMIN_IDLE_MINUTES"]
    session.execute(
        update(AdminSession).values(last_seen_at=utcnow() - timedelta(minutes=idle + 1))
    )
    session.commit()
    response = admin.get(f"{ADMIN}/settings")
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]
    assert session.scalar(select(func.count()).select_from(AdminSession)) == 0
    page = admin.get(response.headers["Location"])
    assert "Your session ended" in page.get_data(as_text=True)


def test_a_session_ends_after_its_lifetime_however_active(
    admin: AdminClient,  # noqa: F811
    session: Session,
) -> None:
    hours = admin.client.application.config["SHOPPABLE_ADMIN_SESSION_HOURS"]
    session.execute(update(AdminSession).values(created_at=utcnow() - timedelta(hours=hours + 1)))
    session.commit()
    assert admin.get(f"{ADMIN}/settings").status_code == 302


def test_next_only_leads_inside_the_admin(app: Flask) -> None:
    create_merchant(app)
    for target in ("https://evil.example/x", "//evil.example/x", "/elsewhere", "/\\evil.example"):
        response = sign_in(app.test_client(), next=target)
        assert response.status_code == 302
        assert response.headers["Location"].startswith(f"{ADMIN}/"), target
    response = sign_in(app.test_client(), next=f"{ADMIN}/settings?x=1")
    assert response.headers["Location"] == f"{ADMIN}/settings?x=1"


def _url(rule: Rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        values[name] = "1" if type(converter).__name__ in ("IntegerConverter",) else "x1"
    return rule.build(values)[1]  # type: ignore[index]


def test_every_admin_route_refuses_an_anonymous_request(app: Flask) -> None:
    client = app.test_client()
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith(f"{ADMIN}/")]
    assert len(rules) >= 3
    checked = 0
    for rule in rules:
        if rule.endpoint == "shoppable_admin.sign_in":
            continue
        path = _url(rule)
        for method in sorted((rule.methods or set()) - {"OPTIONS", "HEAD"}):
            response = client.open(path, method=method, data={"csrf_token": "x"})
            assert response.status_code in (302, 401), (rule.rule, method, response.status_code)
            if response.status_code == 302:
                assert "/sign-in?next=" in response.headers["Location"], rule.rule
            checked += 1
    assert checked >= 2


def test_every_admin_view_is_wrapped_in_login_required(app: Flask) -> None:
    """Belt and braces: the blueprint's guard refuses anonymous requests, and so does each view."""
    unwrapped = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(f"{ADMIN}/")
        and rule.endpoint != "shoppable_admin.sign_in"
        and not auth.is_protected(app.view_functions[rule.endpoint])
    ]
    assert not unwrapped, f"admin views without @login_required: {unwrapped}"
    assert auth.is_public(app.view_functions["shoppable_admin.sign_in"])


def test_admin_pages_cannot_be_framed(admin: AdminClient) -> None:  # noqa: F811
    for path in (f"{ADMIN}/sign-in", f"{ADMIN}/settings"):
        response = admin.get(path)
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"


def test_a_missing_or_forged_csrf_token_is_refused(admin: AdminClient, session: Session) -> None:  # noqa: F811
    path = f"{ADMIN}/settings"
    missing = admin.client.post(path, data={"name": "Forged"})
    assert missing.status_code == 400
    assert "This form has expired" in missing.get_data(as_text=True)
    forged = admin.client.post(path, data={"name": "Forged", "csrf_token": "0" * 64})
    assert forged.status_code == 400
    # A token from another browser's session is not this one's.
    create_merchant(admin.client.application, "other@example.com")
    other = app_client_signed_in(admin.client.application, "other@example.com")
    stolen = AdminClient(other).token()
    assert admin.client.post(path, data={"name": "Forged", "csrf_token": stolen}).status_code == 400
    # Sign-out too needs the token.
    assert admin.client.post(f"{ADMIN}/sign-out").status_code == 400
    assert session.scalar(select(func.count()).select_from(AdminSession)) == 2
    # The sign-in form needs it as well.
    anonymous = admin.client.application.test_client()
    response = anonymous.post(f"{ADMIN}/sign-in", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 400
    # And with the right token the form goes through.
    ok = admin.post(path, data={"name": "Real"})
    assert ok.status_code == 302


def test_a_token_from_before_sign_in_is_refused_after_it(app: Flask) -> None:
    create_merchant(app)
    client = app.test_client()
    before = token_from(client.get(f"{ADMIN}/sign-in").get_data(as_text=True))
    assert sign_in(client).status_code == 302
    response = client.post(f"{ADMIN}/settings", data={"name": "X", "csrf_token": before})
    assert response.status_code == 400


def app_client_signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email=email).status_code == 302
    return client


# --- the host's own authentication ------------------------------------------------------


def host_auth() -> Any:
    from flask import redirect, request

    who = request.headers.get("X-Host-User")
    if who == "redirect":
        return redirect("/login")
    if who:
        return type("User", (), {"id": 7, "email": who})()
    return None


@pytest.mark.parametrize("app_config", [{"SHOPPABLE_ADMIN_AUTH": host_auth}])
def test_the_host_hook_decides_who_may_enter(app: Flask) -> None:
    client = app.test_client()
    allowed = client.get(f"{ADMIN}/settings", headers={"X-Host-User": "boss@host.example"})
    assert allowed.status_code == 200
    assert "boss@host.example" in allowed.get_data(as_text=True)
    assert 'data-testid="sign-out"' not in allowed.get_data(as_text=True)  # the host signs out
    assert client.get(f"{ADMIN}/settings").status_code == 403
    redirected = client.get(f"{ADMIN}/settings", headers={"X-Host-User": "redirect"})
    assert redirected.status_code == 302
    assert redirected.headers["Location"] == "/login"
    # The plugin's own sign-in is not a way in then.
    create_merchant(app)
    assert client.get(f"{ADMIN}/sign-in").status_code == 403
    # Forms still need the CSRF token, bound to the host's identity.
    headers = {"X-Host-User": "boss@host.example"}
    page = client.get(f"{ADMIN}/settings", headers=headers)
    token = token_from(page.get_data(as_text=True))
    assert client.post(f"{ADMIN}/settings", data={"name": "H"}, headers=headers).status_code == 400
    saved = client.post(
        f"{ADMIN}/settings", data={"name": "H", "csrf_token": token}, headers=headers
    )
    assert saved.status_code == 302
    other = {"X-Host-User": "intruder@host.example"}
    refused = client.post(
        f"{ADMIN}/settings", data={"name": "I", "csrf_token": token}, headers=other
    )
    assert refused.status_code == 400


@pytest.mark.parametrize(
    "value", ["no_colon_here", "tests.test_admin_auth:missing", "nonexistent.module:x", 42]
)
def test_a_bad_hook_fails_at_start_up(value: Any, tmp_path: Any) -> None:
    app = Flask("host", instance_path=str(tmp_path))
    from tests.conftest import session_emulator

    app.config.update(
        SECRET_KEY="test-secret-key-for-the-suite",
        SHOPPABLE_DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3",
        SHOPPABLE_ADMIN_AUTH=value,
        **session_emulator().app_config(),
    )
    with pytest.raises(ConfigError) as info:
        Shoppable(app)
    assert info.value.key == "SHOPPABLE_ADMIN_AUTH"


def test_the_hook_may_be_an_import_path(tmp_path: Any) -> None:
    from tests.conftest import session_emulator

    app = Flask("host", instance_path=str(tmp_path))
    app.config.update(
        SECRET_KEY="test-secret-key-for-the-suite",
        SHOPPABLE_DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3",
        SHOPPABLE_ADMIN_AUTH="tests.test_admin_auth:host_auth",
        **session_emulator().app_config(),
    )
    Shoppable(app)
    assert app.config["SHOPPABLE_ADMIN_AUTH"] is host_auth
    app.extensions["shoppable"].recorder.close()
    app.extensions["shoppable"].engine.dispose()


# --- the command --------------------------------------------------------------------------


def test_create_merchant_asks_for_the_password_twice(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    mismatch = runner.invoke(
        args=["shoppable", "create-merchant", "Shop@Example.com"],
        input="first password 1\nsecond password 2\nlong enough pw\nlong enough pw\n",
    )
    assert mismatch.exit_code == 0, mismatch.output
    assert "do not match" in mismatch.output
    user = session.scalar(select(MerchantUser))
    assert user is not None
    assert user.email == "shop@example.com"
    assert user.password_hash.startswith("scrypt:")
    assert "long enough pw" not in user.password_hash
    again = runner.invoke(
        args=["shoppable", "create-merchant", "shop@example.com"],
        input="another pw 12\nanother pw 12\n",
    )
    assert again.exit_code == 1
    assert "already exists" in again.output
    short = runner.invoke(
        args=["shoppable", "create-merchant", "b@example.com"], input="short\nshort\n"
    )
    assert short.exit_code == 1
    assert "at least 10 characters" in short.output
    bad = runner.invoke(
        args=["shoppable", "create-merchant", "not-an-email"],
        input="x" * 12 + "\n" + "x" * 12 + "\n",
    )
    assert bad.exit_code == 1
    assert "email address" in bad.output
    # --reset changes the password and signs the account's sessions out.
    client = app.test_client()
    assert sign_in(client, email="shop@example.com", password="long enough pw").status_code == 302
    reset = runner.invoke(
        args=["shoppable", "create-merchant", "shop@example.com", "--reset"],
        input="a new password\na new password\n",
    )
    assert reset.exit_code == 0, reset.output
    assert client.get(f"{ADMIN}/settings").status_code == 302
    assert sign_in(client, email="shop@example.com", password="a new password").status_code == 302
