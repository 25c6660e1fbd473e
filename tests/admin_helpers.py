"""Signing in to the merchant pages in tests, and posting their forms with the CSRF token.

Use in a test module::

    from tests.admin_helpers import AdminClient, admin  # noqa: F401  (the fixture)

    def test_something(admin: AdminClient) -> None:
        page = admin.get("/shop/admin/products")
        response = admin.post("/shop/admin/products/new", data={...})   # token added

``admin`` is a test client signed in as a merchant account (``EMAIL`` / ``PASSWORD``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_shoppable.admin import auth

EMAIL = "owner@example.com"
PASSWORD = "correct horse battery"
ADMIN = "/shop/admin"
_TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def create_merchant(app: Flask, email: str = EMAIL, password: str = PASSWORD) -> int:
    with app.extensions["shoppable"].session_factory() as session:
        return auth.create_merchant(session, email, password).id


def token_from(html: str) -> str:
    match = _TOKEN_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(
    client: FlaskClient, email: str = EMAIL, password: str = PASSWORD, **extra: Any
) -> TestResponse:
    page = client.get(f"{ADMIN}/sign-in", follow_redirects=True)
    token = token_from(page.get_data(as_text=True))
    data = {"email": email, "password": password, "csrf_token": token, **extra}
    return client.post(f"{ADMIN}/sign-in", data=data)


class AdminClient:
    """A signed-in test client; ``post`` fetches a page's CSRF token first."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def token(self) -> str:
        # Any admin page carries the token (the sign-out form in the top bar).
        page = self.client.get(f"{ADMIN}/sign-in", follow_redirects=True)
        return token_from(page.get_data(as_text=True))

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        data = dict(data or {})
        data.setdefault("csrf_token", self.token())
        return self.client.post(path, data=data, **kwargs)


@pytest.fixture
def admin(app: Flask) -> AdminClient:
    create_merchant(app)
    client = app.test_client()
    response = sign_in(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    return AdminClient(client)
