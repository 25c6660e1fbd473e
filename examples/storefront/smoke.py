"""Smoke test of the storefront example: does an installed Flask-Shoppable work?

Run it from this folder with the Python that has the plugin installed::

    python smoke.py

It creates the app on a throwaway SQLite database, runs the plugin's migrations, seeds
the demo, renders the host's home page and the shop's pages (templates shipped inside
the plugin), creates an API key and calls the API with it. It prints one line per check
and exits 0 when all pass, 1 otherwise. tests/test_wheel.py runs it against a freshly
built wheel, from outside the repository, to prove that the templates and migrations
ship inside the wheel.
"""

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from app import create_app

import flask_shoppable
from flask_shoppable import schema
from flask_shoppable.demo import CATALOG, POSTS

DEMO_TITLES = [item.title for item in CATALOG]


class SmokeError(Exception):
    pass


def check(condition: object, message: str, detail: object = "") -> None:
    """Print ``message`` as passed, or stop with it (and ``detail``) as failed."""
    if not condition:
        raise SmokeError(f"{message}: {detail}" if detail else message)
    print(f"ok    {message}")


def _cli(app: Any, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["shoppable", *args])
    if result.exit_code != 0:
        raise SmokeError(f"flask shoppable {' '.join(args)} failed: {result.output.strip()}")
    return str(result.output)


def run(workdir: Path) -> None:
    print(f"info  flask_shoppable imported from {Path(flask_shoppable.__file__).parent}")
    app = create_app(
        {"TESTING": True, "SHOPPABLE_DATABASE_URL": f"sqlite:///{workdir / 'smoke.sqlite3'}"}
    )
    engine = app.extensions["shoppable"].engine
    try:
        schema.upgrade(engine)
        check(schema.current(engine) == schema.heads(), "migrations ran to the latest revision")

        out = _cli(app, "seed-demo")
        check("Created" in out, "seed-demo created the demo products")
        check(f"Published {len(POSTS)} demo posts" in out, "seed-demo published the demo posts")
        out = _cli(app, "seed-demo")
        check("Skipped" in out and "shp_" not in out, "seed-demo is idempotent")

        client = app.test_client()
        home = client.get("/")
        html = home.get_data(as_text=True)
        check(home.status_code == 200, "GET / answers 200", home.status_code)
        missing = [title for title in DEMO_TITLES if title not in html]
        check(not missing, "home page lists every demo product", f"missing {missing}")
        check("28.00" in html and "Sold out" in html, "home page shows prices and stock")
        check("/shop/api/docs" in html, "home page links to the API docs")

        template = app.jinja_env.get_template("shoppable/storefront.html")
        print(f"info  shoppable/storefront.html loaded from {template.filename}")
        shop = client.get("/shop/")
        html = shop.get_data(as_text=True)
        check(
            shop.status_code == 200,
            "the shop's storefront GET /shop/ answers 200",
            shop.status_code,
        )
        missing = [post.slug for post in POSTS if f"/shop/p/{post.slug}" not in html]
        check(not missing, "the storefront shows every demo post", f"missing {missing}")
        post = client.get(f"/shop/p/{POSTS[0].slug}")
        check(post.status_code == 200, "a post page answers 200", post.status_code)
        product = client.get(f"/shop/products/{CATALOG[0].handle}")
        check(product.status_code == 200, "a product page answers 200", product.status_code)
        check(CATALOG[0].title in product.get_data(as_text=True), "the product page names it")
        with client.get(f"/static/demo/{CATALOG[0].handle}.svg") as picture:
            check(picture.status_code == 200, "the demo pictures are served", picture.status_code)

        docs = client.get("/shop/api/docs")
        check(docs.status_code == 200, "GET /shop/api/docs answers 200", docs.status_code)

        spec = client.get("/shop/api/openapi.json")
        check(spec.status_code == 200, "GET /shop/api/openapi.json answers 200", spec.status_code)
        check(str(spec.json.get("openapi", "")).startswith("3."), "the spec is OpenAPI 3")

        out = _cli(app, "create-api-key", "--name", "smoke", "--scopes", "read")
        key = next((w for w in out.split() if w.startswith("shp_")), None)
        check(key is not None, "create-api-key printed a key")
        headers = {"Authorization": f"Bearer {key}"}

        products = client.get("/shop/api/products", headers=headers)
        body = products.get_data(as_text=True)
        check(
            products.status_code == 200,
            "GET /shop/api/products with the key answers 200",
            f"got {products.status_code}: {body[:300]}",
        )
        json.loads(body)
        missing = [item.handle for item in CATALOG if item.handle not in body]
        check(not missing, "the API lists every demo product", f"missing {missing}")
        anonymous = client.get("/shop/api/products")
        check(
            anonymous.status_code == 401, "without a key the API answers 401", anonymous.status_code
        )
    finally:
        engine.dispose()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="shoppable-smoke-") as tmp:
        try:
            run(Path(tmp))
        except SmokeError as exc:
            print(f"FAIL  {exc}")
            return 1
        except Exception:
            traceback.print_exc()
            print("FAIL  unexpected error")
            return 1
    print("smoke: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
