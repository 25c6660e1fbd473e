"""A local receiver for the plugin's signed webhook sink (what a Zapier or home-grown CRM does).

Every ``POST`` (any path) is checked the way the README's verification snippet checks it:
the ``Shoppable-Signature`` header is ``t=<unix seconds>,v1=<hex>``, where the hex is the
HMAC-SHA256, keyed with the shared secret, of ``"<t>." + raw body``; a signature that does
not match (compared in constant time) or a timestamp outside the tolerance gets ``400``.
A body that is not a JSON object gets ``400``; a request without an ``Idempotency-Key``
header gets ``400``. A key seen before is acknowledged (``200 {"duplicate": true}``) and
not stored again, so a resend keeps one record: :attr:`FakeWebhookReceiver.deliveries`
maps each key to the JSON it carried, :attr:`FakeWebhookReceiver.duplicates` counts resends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from .server import FakeServer

SIGNATURE_HEADER = "Shoppable-Signature"


def verify_signature(
    secret: str, body: bytes, header: str, tolerance: int = 300, now: float | None = None
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds.

    The same check as the README's snippet (which a receiver copies).
    """
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    timestamps = [v for k, v in parts if k.strip() == "t"]
    signatures = [v.strip() for k, v in parts if k.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit() or not signatures:
        return False
    timestamp = int(timestamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


class FakeWebhookReceiver(FakeServer):
    name = "webhook-receiver"

    def __init__(
        self,
        secret: str = "whsk_fake_receiver_secret_0123456789",  # noqa: S107 - a fake's own
        host: str = "127.0.0.1",
        port: int = 0,
        tolerance: int = 300,
    ) -> None:
        super().__init__(host, port)
        self.secret = secret
        self.tolerance = tolerance
        #: idempotency key -> the JSON body first received with it.
        self.deliveries: dict[str, Any] = {}
        #: idempotency key -> the headers it came with.
        self.delivery_headers: dict[str, dict[str, str]] = {}
        self.duplicates = 0
        self.rejected: list[str] = []

    def app_config(self, path: str = "/hooks/shoppable") -> dict[str, str]:
        return {
            "SHOPPABLE_WEBHOOK_SINK_URL": self.url + path,
            "SHOPPABLE_WEBHOOK_SINK_SECRET": self.secret,
        }

    def _refuse(self, reason: str) -> Response:
        with self.lock:
            self.rejected.append(reason)
        return self.json_response({"error": reason}, status=400)

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return self.json_response({"error": "POST only"}, status=405)
        body = request.get_data()
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not verify_signature(self.secret, body, header, self.tolerance):
            return self._refuse("signature mismatch")
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            return self._refuse("Idempotency-Key header missing")
        try:
            data = json.loads(body)
        except ValueError:
            return self._refuse("body is not JSON")
        if not isinstance(data, dict):
            return self._refuse("body is not a JSON object")
        with self.lock:
            if key in self.deliveries:
                self.duplicates += 1
                return self.json_response({"received": True, "duplicate": True})
            self.deliveries[key] = data
            self.delivery_headers[key] = dict(request.headers)
        return self.json_response({"received": True, "duplicate": False})
