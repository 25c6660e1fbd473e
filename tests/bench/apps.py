"""The two apps the redirect benchmark serves under gunicorn (``apps:tracked()``, ``apps:bare()``).

Both answer ``GET /shop/s/<code>`` with a 302 and a Set-Cookie. ``tracked`` is the
plugin's real redirect (link cache, click recording, signed token); ``bare`` is the
floor: Flask alone, no database, a Location of the same length. Settings come from the
environment the benchmark sets: BENCH_DATABASE_URL, BENCH_WRITE_MODE, BENCH_INSTANCE, and
for experiments BENCH_EXTRA (``KEY=<json>,KEY=<json>``: more settings for the tracked app,
e.g. ``SHOPPABLE_LINK_CACHE_SECONDS=5``).
"""

from __future__ import annotations

import json
import os
import secrets

from flask import Flask, Response, redirect

#: Placeholder Stripe settings: the redirect never calls Stripe, but init_app checks them.
STRIPE = {
    "SHOPPABLE_STRIPE_SECRET_KEY": "sk_test_bench",
    "SHOPPABLE_STRIPE_WEBHOOK_SECRET": "whsec_bench",
    "SHOPPABLE_STRIPE_API_BASE": "http://127.0.0.1:9",
}
SECRET_KEY = "bench-secret-key-0123456789"


def tracked() -> Flask:
    from flask_shoppable import Shoppable

    app = Flask("bench_tracked", instance_path=os.environ["BENCH_INSTANCE"])
    app.config.update(
        SECRET_KEY=SECRET_KEY,
        SHOPPABLE_DATABASE_URL=os.environ["BENCH_DATABASE_URL"],
        SHOPPABLE_CLICK_WRITE_MODE=os.environ.get("BENCH_WRITE_MODE", "buffered"),
        **STRIPE,
    )
    for item in filter(None, os.environ.get("BENCH_EXTRA", "").split(",")):
        key, _, value = item.partition("=")
        app.config[key] = json.loads(value)
    Shoppable(app)
    return app


def bare() -> Flask:
    app = Flask("bench_bare")
    # Like any host app (and the tracked one): a SECRET_KEY, so Flask opens its session.
    app.config["SECRET_KEY"] = SECRET_KEY
    location = "/shop/p/look-0001?utm_source=instagram&utm_medium=social&utm_campaign=summer&st="

    @app.get("/shop/s/<code>")
    def follow(code: str) -> Response:
        response = redirect(location + secrets.token_urlsafe(33), 302)
        response.set_cookie(
            "shoppable_vid",
            secrets.token_hex(16),
            max_age=365 * 86400,
            httponly=True,
            samesite="Lax",
        )
        return response

    return app
