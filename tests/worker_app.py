"""A host app for the tests that run ``flask shoppable ...`` in a subprocess.

``python -m flask --app tests.worker_app:create_app shoppable worker``, with the
database and the emulator's settings in the environment. ``SLOW_HANDLER_SECONDS`` makes
the checkout.session.completed handler do its work, touch ``SLOW_HANDLER_MARKER`` and
then sleep before the transaction commits: the window in which a test kills the worker.
``WORKER_APP_CONFIG`` (JSON) adds settings (the CRM outbox tests' sinks).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from flask import Flask

from flask_shoppable import Shoppable

SETTINGS = (
    "SHOPPABLE_DATABASE_URL",
    "SHOPPABLE_STRIPE_SECRET_KEY",
    "SHOPPABLE_STRIPE_WEBHOOK_SECRET",
    "SHOPPABLE_STRIPE_API_BASE",
)


def create_app() -> Flask:
    app = Flask("worker_host", instance_path=os.environ.get("INSTANCE_PATH"))
    app.config.update(TESTING=True, SECRET_KEY="test-secret-key-for-the-suite")
    app.config.update({key: os.environ[key] for key in SETTINGS if key in os.environ})
    app.config.update(json.loads(os.environ.get("WORKER_APP_CONFIG", "{}")))
    Shoppable(app)
    seconds = os.environ.get("SLOW_HANDLER_SECONDS")
    if seconds:
        _slow_down(float(seconds), Path(os.environ["SLOW_HANDLER_MARKER"]))
    return app


def _slow_down(seconds: float, marker: Path) -> None:
    from flask_shoppable.orders import processing

    real = processing.HANDLERS["checkout.session.completed"]

    def slow(ctx: processing.Context, obj: dict[str, Any]) -> None:
        real(ctx, obj)
        ctx.session.flush()
        marker.write_text(str(os.getpid()))
        time.sleep(seconds)

    processing.HANDLERS["checkout.session.completed"] = slow
