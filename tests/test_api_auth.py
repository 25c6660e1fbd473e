"""API keys guard every merchant route: proven by walking the app's URL map.

A route under the plugin's prefix is either on :data:`PUBLIC` (with the reason it needs
no key) or it refuses a request without a key. A capability that adds a public route
adds it to the list, which keeps that a decision someone wrote down.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from flask_shoppable.api import keys
from flask_shoppable.db import utcnow

#: Routes (rule text, converters dropped) that answer without an API key, and why.
PUBLIC: dict[str, str] = {
    "/shop/api/openapi.json": "the API's description is public",
    "/shop/api/docs": "the docs page (Swagger UI) renders that description",
    "/shop/api/docs/assets/<filename>": "the docs page's own scripts and styles",
    "/shop/api/<path>": "the fallback: a JSON 404, or 405 naming the allowed methods",
    # The storefront and the endpoints other systems call (DESIGN.md, public contract):
    # shoppers have no key, webhooks are authenticated by their signatures.
    "/shop/": "storefront",
    "/shop/products/<handle>": "product page",
    "/shop/s/<code>": "tracked link",
    "/shop/p/<slug>": "post page",
    "/shop/embed/<slug>": "embeddable card",
    "/shop/embed.js": "the script that embeds cards on other sites",
    "/shop/assets/<name>": "the storefront's own scripts and styles",
    "/shop/oembed": "oEmbed",
    "/shop/checkout": "checkout",
    "/shop/checkout/success": "checkout",
    "/shop/checkout/cancel": "checkout",
    "/shop/checkout/cart": "the cart permalink the social shops call",
    "/shop/webhooks/stripe": "signed by Stripe",
    "/shop/webhooks/meta": "signed by Meta",
    "/shop/r/<token>": "a private reply's link, its signed token names the comment",
    "/shop/feeds/<name>": "product feeds for the platforms",
    "/shop/media/<name>": "the merchant's uploaded images, shown on public pages",
}

#: The merchant pages sign in with a session, not a key: tests/test_admin_auth.py walks
#: them and proves each refuses an anonymous request.
ADMIN_PAGES = "/shop/admin/"

_SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def _plain(rule: Rule) -> str:
    """``/x/<int:id>`` → ``/x/<id>``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"<\1>", rule.rule)


def _guarded_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(url, method, rule) of every route under /shop/ that is not public."""
    adapter = app.url_map.bind("localhost")
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/shop/") or _plain(rule) in PUBLIC:
            continue
        if rule.rule.startswith(ADMIN_PAGES):
            continue
        # 1 suits every converter the plugin uses (int, string, path).
        url = adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, 1))
        routes.extend(
            (url, method, rule.rule) for method in sorted(rule.methods - _SKIPPED_METHODS)
        )
    return routes


def _assert_401(response: Any) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.json["code"] == 401
    assert response.json["status"] == "Unauthorized"
    assert response.json["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_every_route_needs_a_key(app: Flask, client: FlaskClient) -> None:
    routes = _guarded_routes(app)
    assert len(routes) >= 11  # at least the catalog's; proves the walk found them
    for url, method, rule in routes:
        response = client.open(url, method=method, json={})
        assert response.status_code == 401, f"{method} {rule} answered {response.status_code}"
        _assert_401(response)


def test_public_routes_need_no_key(client: FlaskClient) -> None:
    assert client.get("/shop/api/openapi.json").status_code == 200
    docs = client.get("/shop/api/docs")
    assert docs.status_code == 200
    assert b"swagger" in docs.data.lower()
    asset = client.get("/shop/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer shp_nope",
        "Bearer shp_abc_def",
        "Bearer not-a-key",
        "Bearer shp_" + "x" * 200,
    ],
)
def test_bad_credentials_are_401(client: FlaskClient, auth: dict[str, str], header: str) -> None:
    _assert_401(client.get("/shop/api/products", headers={"Authorization": header}))


def test_a_key_with_a_wrong_secret_is_401(client: FlaskClient, auth: dict[str, str]) -> None:
    key = auth["Authorization"].removeprefix("Bearer ")
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    _assert_401(client.get("/shop/api/products", headers={"Authorization": f"Bearer {forged}"}))


def test_scheme_is_case_insensitive(client: FlaskClient, auth: dict[str, str]) -> None:
    key = auth["Authorization"].removeprefix("Bearer ")
    response = client.get("/shop/api/products", headers={"Authorization": f"bearer {key}"})
    assert response.status_code == 200


def test_read_key_reads_but_does_not_write(
    app: Flask, client: FlaskClient, read_auth: dict[str, str]
) -> None:
    writes = [(url, method, rule) for url, method, rule in _guarded_routes(app) if method != "GET"]
    assert writes
    for url, method, rule in writes:
        response = client.open(url, method=method, json={}, headers=read_auth)
        assert response.status_code == 403, f"{method} {rule} answered {response.status_code}"
        assert response.json["code"] == 403
        assert "'write' scope" in response.json["message"]
    reads = [(url, rule) for url, method, rule in _guarded_routes(app) if method == "GET"]
    for url, rule in reads:
        with client.get(url, headers=read_auth) as response:  # some stream (CSV exports)
            assert response.status_code not in (401, 403), rule


def test_write_only_key_cannot_read(app: Flask, client: FlaskClient) -> None:
    with app.extensions["shoppable"].session_factory() as session:
        _row, key = keys.create(session, "writer", ["write"])
    response = client.get("/shop/api/products", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert "'read' scope" in response.json["message"]


def test_revoked_key_is_401(app: Flask, client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.get("/shop/api/products", headers=auth).status_code == 200
    key = auth["Authorization"].removeprefix("Bearer ")
    with app.extensions["shoppable"].session_factory() as session:
        assert keys.revoke(session, key) is not None
    response = client.get("/shop/api/products", headers=auth)
    _assert_401(response)
    assert "revoked" in response.json["message"]


def _last_used(app: Flask) -> Any:
    with app.extensions["shoppable"].engine.connect() as conn:
        return conn.scalar(sa.select(keys.ApiKey.__table__.c.last_used_at))


def test_last_used_at_is_touched_at_most_once_per_window(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    assert _last_used(app) is None
    client.get("/shop/api/products", headers=auth)
    first = _last_used(app)
    assert first is not None
    assert utcnow() - first < timedelta(minutes=1)

    client.get("/shop/api/products", headers=auth)
    client.get("/shop/api/variants", headers=auth)
    assert _last_used(app) == first  # within SHOPPABLE_API_KEY_TOUCH_SECONDS: not rewritten

    window = app.config["SHOPPABLE_API_KEY_TOUCH_SECONDS"]
    earlier = first - timedelta(seconds=window + 1)
    with app.extensions["shoppable"].engine.begin() as conn:
        conn.execute(sa.update(keys.ApiKey.__table__).values(last_used_at=earlier))
    client.get("/shop/api/products", headers=auth)
    assert _last_used(app) > earlier + timedelta(seconds=window)


def test_refused_requests_do_not_touch_the_key(
    app: Flask, client: FlaskClient, read_auth: dict[str, str]
) -> None:
    client.post("/shop/api/products", headers=read_auth, json={})
    assert _last_used(app) is None


# --- the CLI ------------------------------------------------------------------------------


def test_cli_creates_a_working_key_and_keeps_only_its_hash(app: Flask, client: FlaskClient) -> None:
    result = app.test_cli_runner().invoke(
        args=["shoppable", "create-api-key", "--name", "N", "--scopes", "read,write"]
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("shp_")
    assert "\n" not in key  # stdout carries the key alone: scripts can capture it
    assert "Store it now" in result.stderr

    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/shop/api/products", headers=headers).status_code == 200
    created = client.post("/shop/api/products", headers=headers, json={})
    assert created.status_code == 422  # got past the write check to validation

    with app.extensions["shoppable"].engine.connect() as conn:
        rows = conn.execute(sa.select(keys.ApiKey.__table__)).mappings().all()
    (row,) = rows
    assert row["name"] == "N"
    assert row["scopes"] == "read,write"
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    secret = key.rsplit("_", 1)[1]
    for value in row.values():
        assert secret not in str(value)


def test_cli_default_scope_is_read(app: Flask, client: FlaskClient) -> None:
    result = app.test_cli_runner().invoke(args=["shoppable", "create-api-key", "--name", "ro"])
    assert result.exit_code == 0, result.output
    headers = {"Authorization": f"Bearer {result.stdout.strip()}"}
    assert client.get("/shop/api/products", headers=headers).status_code == 200
    assert client.post("/shop/api/products", headers=headers, json={}).status_code == 403


def test_cli_revokes_a_key(app: Flask, client: FlaskClient) -> None:
    runner = app.test_cli_runner()
    key = runner.invoke(args=["shoppable", "create-api-key", "--name", "N"]).stdout.strip()
    public_id = key.split("_")[1]
    result = runner.invoke(args=["shoppable", "revoke-api-key", public_id])
    assert result.exit_code == 0, result.output
    assert public_id in result.output
    _assert_401(client.get("/shop/api/products", headers={"Authorization": f"Bearer {key}"}))

    listed = runner.invoke(args=["shoppable", "list-api-keys"])
    assert "revoked" in listed.output
    assert key not in listed.output


def test_cli_revoking_an_unknown_key_fails(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["shoppable", "revoke-api-key", "nope"])
    assert result.exit_code != 0
    assert "no API key 'nope'" in result.output


@pytest.mark.parametrize("scopes", ["read,admin", "", "everything"])
def test_cli_refuses_unknown_scopes(app: Flask, scopes: str) -> None:
    result = app.test_cli_runner().invoke(
        args=["shoppable", "create-api-key", "--name", "N", "--scopes", scopes]
    )
    assert result.exit_code == 2
    assert "scope" in result.output
    with app.extensions["shoppable"].engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(keys.ApiKey)) == 0


# --- unknown paths and methods ------------------------------------------------------------


@pytest.mark.parametrize("with_key", [True, False])
def test_unknown_api_path_is_json_404(
    client: FlaskClient, auth: dict[str, str], with_key: bool
) -> None:
    headers = auth if with_key else {}
    response = client.get("/shop/api/nothing/here", headers=headers)
    assert response.status_code == 404
    assert response.json["code"] == 404
    assert response.json["status"] == "Not Found"
    assert "/shop/api/nothing/here" in response.json["message"]
    assert client.get("/shop/api/products/not-a-number", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/shop/api/products", {"GET", "POST"}),
        ("DELETE", "/shop/api/products", {"GET", "POST"}),
        ("POST", "/shop/api/products/1", {"GET", "PATCH", "DELETE"}),
        ("PUT", "/shop/api/variants/1", {"GET", "PATCH", "DELETE"}),
        ("POST", "/shop/api/variants", {"GET"}),
        ("DELETE", "/shop/api/products/1/variants", {"GET", "POST"}),
    ],
)
def test_wrong_method_is_json_405_with_allow(
    client: FlaskClient, auth: dict[str, str], method: str, path: str, allowed: set[str]
) -> None:
    response = client.open(path, method=method, headers=auth, json={})
    assert response.status_code == 405
    assert response.json["code"] == 405
    assert method in response.json["message"]
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
