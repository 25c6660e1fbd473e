"""The signed webhook sink: every order event as a JSON POST, signed the way Stripe signs.

For anything that is not HubSpot or Salesforce (Zapier, Make, n8n, a home-grown CRM): each
message is POSTed to ``SHOPPABLE_WEBHOOK_SINK_URL`` as JSON::

    {"id": "<idempotency key>", "type": "order.paid", "created": 1732441234,
     "attempt": 1, "data": {order, lines, customer, attribution}}

with the headers ``Content-Type: application/json``, ``Idempotency-Key: <key>`` (the same on
every resend of a message: a receiver keeps the first and acknowledges the rest),
``Shoppable-Event: <type>`` and ``Shoppable-Signature: t=<unix seconds>,v1=<hex>``, the hex
being the HMAC-SHA256, keyed with ``SHOPPABLE_WEBHOOK_SINK_SECRET``, of
``"<t>." + the raw body``. The README has a verification snippet a receiver copies. Any
``2xx`` is success; ``429``/``5xx``/timeouts are retried; another ``4xx`` dead-letters the
message with the start of the receiver's answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from ..config import ConfigError
from . import sinkutil
from .http import call

NAME = "webhook"
SIGNATURE_HEADER = "Shoppable-Signature"
MIN_SECRET_LENGTH = 16


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Shoppable-Signature`` header value for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


@dataclass
class WebhookSink:
    name: str
    url: str
    secret: str = field(repr=False)
    timeout: float
    http: Any = field(repr=False)
    supports_erasure: bool = True

    @classmethod
    def from_app(cls, app: Flask, http: Any, timeout: float) -> WebhookSink:
        config = app.config
        url = sinkutil.base_url(config, "SHOPPABLE_WEBHOOK_SINK_URL", NAME, path_allowed=True)
        secret = sinkutil.required_str(config, "SHOPPABLE_WEBHOOK_SINK_SECRET", NAME)
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                "SHOPPABLE_WEBHOOK_SINK_SECRET", f"must be at least {MIN_SECRET_LENGTH} characters"
            )
        return cls(name=NAME, url=url, secret=secret, timeout=timeout, http=http)

    def body(self, message: Any) -> bytes:
        envelope = {
            "id": message.key,
            "type": message.event,
            "created": int(time.time()),
            "attempt": int(message.attempts),
            "data": message.payload,
        }
        return json.dumps(envelope, separators=(",", ":"), default=str).encode()

    def deliver(self, message: Any) -> dict[str, Any] | None:
        body = self.body(message)
        response = call(
            self.http,
            "POST",
            self.url,
            timeout=self.timeout,
            data=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": message.key,
                "Shoppable-Event": message.event,
                SIGNATURE_HEADER: sign(self.secret, body),
            },
        )
        return {"status": response.status_code}

    def on_delivered(self, session: Any, message: Any, result: Any) -> None:
        """A delivered erasure request keeps no copy of the email it carried."""
        from .erasure import ERASE_EVENT, scrub_request

        if message.event == ERASE_EVENT:
            scrub_request(session, message.id)


def from_config(app: Flask) -> WebhookSink:
    """The sink for ``app`` (settings checked: ConfigError names a bad key)."""
    from .http import session

    return WebhookSink.from_app(
        app, session(app), float(app.config["SHOPPABLE_OUTBOX_HTTP_TIMEOUT"])
    )
