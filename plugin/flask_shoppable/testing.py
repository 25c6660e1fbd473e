"""What a host app needs to test against the plugin, starting with a local Stripe emulator.

:class:`StripeEmulator` is a real HTTP server on 127.0.0.1 that answers what stripe-python
sends for the checkout flow (``POST /v1/checkout/sessions`` with nested line items,
retrieve, expire, line items, promotion code lookup, ``POST /v1/refunds``), serves a hosted
checkout page where a person pays with Stripe's test cards, and delivers webhooks signed
exactly as Stripe signs them, retried on failure. Point the app at it::

    emulator = StripeEmulator(app).start()            # app.testing must be True
    app.config.update(emulator.app_config())          # before Shoppable(app)
    emulator.add_webhook("http://127.0.0.1:5000/shop/webhooks/stripe")

Test cards (the hosted page or :meth:`StripeEmulator.pay`): 4242 4242 4242 4242,
4000 0566 5566 5556, 5555 5555 5555 4444 and 3782 822463 10005 pay; 4000 0000 0000 0002
is declined (card_declined), 4000 0000 0000 9995 lacks funds, 4000 0000 0000 0069 has
expired, 4000 0000 0000 0127 has a wrong CVC; any other number is refused as a non-test
card. The delayed method is the page's "Pay by bank transfer (test)" button (or
``pay(..., method="bank_transfer")``): the session completes with ``payment_status``
"unpaid" and the payment settles when :meth:`StripeEmulator.settle` is called (or a
"Transfer arrives"/"Transfer fails" button on the overview page at ``/`` is pressed),
sending ``checkout.session.async_payment_succeeded`` or ``..._failed``.

The emulator refuses to start unless the app given is in testing mode, ``allow=True`` is
passed, or the environment has ``STRIPE_EMULATOR_ALLOWED=1`` (the demo sets it): it is a
fake payment provider and must never stand in for Stripe by accident. It also runs as a
program beside a demo storefront::

    STRIPE_EMULATOR_ALLOWED=1 python -m flask_shoppable.testing \\
        --port 12111 --webhook http://127.0.0.1:5000/shop/webhooks/stripe
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ._fakes.hubspot import FakeHubSpot
from ._fakes.images import FakeImageHost
from ._fakes.linkedin import FakeLinkedIn
from ._fakes.meta import FakeGraph
from ._fakes.pinterest import FakePinterest
from ._fakes.salesforce import FakeSalesforce
from ._fakes.segment import FakeSegment
from ._fakes.webhook_receiver import FakeWebhookReceiver
from ._fakes.x import FakeX
from ._stripe_emulator.app import EmulatorApp
from ._stripe_emulator.errors import StripeApiError
from ._stripe_emulator.ledger import TEST_CARDS, Address, CardDeclined, Ledger, new_id
from ._stripe_emulator.webhooks import Attempt, Delivery, Endpoint, Target, WebhookSender
from .payments.signature import sign_header
from .payments.stripe import LIBRARY_API_VERSION, event_envelope

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "ALLOW_ENV",
    "EMULATOR_SECRET_KEY",
    "EMULATOR_WEBHOOK_SECRET",
    "TEST_CARDS",
    "Address",
    "Attempt",
    "CardDeclined",
    "Delivery",
    "Endpoint",
    "FakeGraph",
    "FakeHubSpot",
    "FakeImageHost",
    "FakeLinkedIn",
    "FakePinterest",
    "FakeSalesforce",
    "FakeSegment",
    "FakeWebhookReceiver",
    "FakeX",
    "StripeApiError",
    "StripeEmulator",
]

#: The emulator's keys (test-mode shapes, so the plugin's checks accept them).
EMULATOR_SECRET_KEY = "sk_test_shoppable_emulator_key"  # noqa: S105 (a fake's key)
EMULATOR_WEBHOOK_SECRET = "whsec_shoppable_emulator_secret"  # noqa: S105
#: The shopper's email when a test pays without giving one (and the session has none).
DEFAULT_EMAIL = "test.shopper@example.com"
#: Set to 1 to let the emulator start outside tests (the demo does).
ALLOW_ENV = "STRIPE_EMULATOR_ALLOWED"


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (tests make thousands)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class StripeEmulator:
    """A local, in-memory Stripe for the checkout flow; see the module's docstring.

    ``retry_delays`` are the waits between webhook attempts (Stripe: hours; tests: make
    them short), ``delivery_timeout`` how long one attempt waits for an answer,
    ``delivery_threads`` how many deliveries run at once (1 keeps them in order),
    ``auto_expire`` expires open sessions past their ``expires_at`` (checked every second).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        allow: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        secret_key: str = EMULATOR_SECRET_KEY,
        webhook_secret: str = EMULATOR_WEBHOOK_SECRET,
        api_version: str = LIBRARY_API_VERSION,
        retry_delays: Sequence[float] = (1, 2, 4, 8, 16),
        delivery_timeout: float = 10,
        delivery_threads: int = 1,
        auto_expire: bool = True,
        shop_name: str = "the shop",
    ) -> None:
        self._allowed = (
            allow or os.environ.get(ALLOW_ENV) == "1" or (app is not None and bool(app.testing))
        )
        self.host = host
        self.port = port
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.api_version = api_version
        self.shop_name = shop_name
        self.auto_expire = auto_expire
        self._defaults = (tuple(retry_delays), delivery_timeout)
        #: Every event the emulator made, in order (Stripe's envelope, as dicts).
        self.events: list[dict[str, Any]] = []
        self._payloads: dict[str, bytes] = {}
        self._events_cond = threading.Condition()
        self.ledger = Ledger(self._emit, page_base=lambda: self.url)
        self.webhooks = WebhookSender(
            retry_delays=retry_delays, timeout=delivery_timeout, threads=delivery_threads
        )
        self.wsgi = EmulatorApp(self)
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> StripeEmulator:
        """Listen on ``host:port`` (port 0: any free one) in background threads."""
        if not self._allowed:
            raise RuntimeError(
                "The Stripe emulator is a fake payment provider and only starts for tests or "
                "the demo: pass an app with TESTING=True, pass allow=True, or set "
                f"{ALLOW_ENV}=1 in the environment."
            )
        if self._server is not None:
            return self
        server = make_server(
            self.host, self.port, self.wsgi, threaded=True, request_handler=_QuietHandler
        )
        server.daemon_threads = True  # type: ignore[attr-defined]  # a ThreadingMixIn
        self._server = server
        self.port = server.server_port
        serve = threading.Thread(target=server.serve_forever, name="stripe-emulator", daemon=True)
        serve.start()
        self._threads = [serve]
        if self.auto_expire:
            sweep = threading.Thread(target=self._sweep, name="stripe-emulator-expiry", daemon=True)
            sweep.start()
            self._threads.append(sweep)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.webhooks.stop()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> StripeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every object, event, webhook endpoint and delivery; restore defaults."""
        self.webhooks.clear()
        self.webhooks.retry_delays, self.webhooks.timeout = self._defaults
        self.ledger.reset()
        self.wsgi.reset()
        with self._events_cond:
            self.events.clear()
            self._payloads.clear()

    def _sweep(self) -> None:
        while not self._stopping.wait(1.0):
            self.ledger.expire_due()

    @property
    def url(self) -> str:
        """The base address (``http://127.0.0.1:<port>``): the API and the pages."""
        return f"http://{self.host}:{self.port}"

    def app_config(self) -> dict[str, str]:
        """The plugin's settings that point an app at this emulator."""
        return {
            "SHOPPABLE_STRIPE_SECRET_KEY": self.secret_key,
            "SHOPPABLE_STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "SHOPPABLE_STRIPE_API_BASE": self.url,
        }

    # -- webhooks -------------------------------------------------------------------

    def add_webhook(
        self,
        target: Target,
        *,
        secret: str | None = None,
        enabled_events: Iterable[str] = ("*",),
    ) -> Endpoint:
        """Deliver events to ``target``: a URL, or a callable ``(payload, headers) -> status``.

        Signed with ``secret`` (default: the emulator's webhook secret).
        """
        endpoint = Endpoint(
            new_id("we"), target, secret or self.webhook_secret, tuple(enabled_events)
        )
        return self.webhooks.add_endpoint(endpoint)

    def remove_webhook(self, endpoint_id: str) -> None:
        self.webhooks.remove_endpoint(endpoint_id)

    @property
    def retry_delays(self) -> tuple[float, ...]:
        return self.webhooks.retry_delays

    @retry_delays.setter
    def retry_delays(self, delays: Sequence[float]) -> None:
        self.webhooks.retry_delays = tuple(delays)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery (one per event and endpoint) with its attempts, oldest first."""
        return list(self.webhooks.deliveries)

    def wait_for_deliveries(
        self, timeout: float = 10, events: Iterable[str] | None = None
    ) -> list[Delivery]:
        """Wait until no delivery is pending (delivered or given up); ``TimeoutError`` else."""
        if not self.webhooks.wait(timeout, events):
            pending = [d.event_type for d in self.webhooks.deliveries if d.state == "pending"]
            raise TimeoutError(f"webhook deliveries still pending after {timeout} s: {pending}")
        return self.deliveries

    def pause_deliveries(self) -> None:
        """Hold deliveries (events still happen) until :meth:`resume_deliveries`."""
        self.webhooks.pause()

    def resume_deliveries(self) -> None:
        self.webhooks.resume()

    def resend(self, event_id: str) -> list[Delivery]:
        """Deliver an event again, byte for byte (Stripe resends; receivers must dedupe)."""
        with self._events_cond:
            payload = self._payloads[event_id]
            event_type = next(e["type"] for e in self.events if e["id"] == event_id)
        return self.webhooks.send(event_id, event_type, payload)

    # -- events ---------------------------------------------------------------------

    def _emit(
        self,
        type: str,
        obj: Mapping[str, Any],
        *,
        previous_attributes: Mapping[str, Any] | None = None,
        request: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        request = request or {}
        event = event_envelope(
            type,
            obj,
            api_version=self.api_version,
            request_id=request.get("id"),
            idempotency_key=request.get("idempotency_key"),
            previous_attributes=previous_attributes,
        )
        payload = json.dumps(event, indent=2).encode("utf-8")
        with self._events_cond:
            self.events.append(event)
            self._payloads[event["id"]] = payload
            self._events_cond.notify_all()
        self.webhooks.send(event["id"], type, payload)
        return event

    def event_payload(self, event_id: str) -> tuple[bytes, str]:
        """An event made here, as delivered: ``(payload bytes, Stripe-Signature header)``.

        Signed now with the emulator's webhook secret: post it with the Flask test client.
        """
        with self._events_cond:
            payload = self._payloads[event_id]
        return payload, sign_header(self.webhook_secret, payload)

    def last_event(self, type: str | None = None) -> dict[str, Any]:
        """The newest event (of ``type``); ``LookupError`` if there is none."""
        with self._events_cond:
            for event in reversed(self.events):
                if type is None or event["type"] == type:
                    return copy.deepcopy(event)
        raise LookupError(f"no {type or ''} event".replace("  ", " "))

    def wait_for_event(self, type: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
        """Wait for an event of ``type`` whose data.object has the given field values."""
        deadline = time.monotonic() + timeout
        with self._events_cond:
            while True:
                for event in self.events:
                    obj = event["data"]["object"]
                    if event["type"] == type and all(obj.get(k) == v for k, v in match.items()):
                        return copy.deepcopy(event)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {type} event with {match} within {timeout} s")
                self._events_cond.wait(left)

    def signed_event(
        self,
        type: str,
        object: Mapping[str, Any],
        *,
        event_id: str | None = None,
        created: int | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, str]:
        """A made-up event in Stripe's envelope, signed as Stripe would sign it.

        Not recorded nor delivered: for posting straight to the app with the test client.
        ``timestamp`` signs at another time (stale or future), ``secret`` with another key.
        """
        event = event_envelope(
            type, object, api_version=self.api_version, event_id=event_id, created=created
        )
        payload = json.dumps(event, indent=2).encode("utf-8")
        return payload, sign_header(secret or self.webhook_secret, payload, timestamp)

    # -- what a shopper or Stripe does --------------------------------------------------

    @property
    def sessions(self) -> dict[str, dict[str, Any]]:
        """Every checkout session by id, as Stripe would return it (copies)."""
        with self.ledger.lock:
            return {sid: self.ledger.session_view(sid) for sid in self.ledger.sessions}

    def session(self, session_id: str) -> dict[str, Any]:
        return self.ledger.session_view(session_id, ["line_items"])

    @property
    def refunds(self) -> list[dict[str, Any]]:
        """Every refund, oldest first (copies)."""
        return list(reversed(self.ledger.list_refunds({})["data"]))

    def object(self, object_id: str) -> dict[str, Any]:
        """Any object by id (payment_intent, charge, refund, dispute, ...), a copy."""
        with self.ledger.lock:
            return copy.deepcopy(self.ledger.objects[object_id])

    def success_url(self, session_id: str) -> str:
        session = self.ledger.session_view(session_id)
        return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)

    def pay(
        self,
        session_id: str,
        *,
        card: str = "4242 4242 4242 4242",
        method: str = "card",
        email: str | None = None,
        name: str = "Test Shopper",
        address: Address | None = None,
        shipping_rate: str | None = None,
    ) -> str:
        """Pay as a shopper on the hosted page would; returns the success URL to go to.

        A declined card raises :class:`CardDeclined` (the session stays open); a session
        that is expired or complete raises :class:`StripeApiError`.
        ``method="bank_transfer"`` completes unpaid; then :meth:`settle`.
        """
        if email is None:
            email = self.ledger.session(session_id).obj["customer_email"] or DEFAULT_EMAIL
        self.ledger.pay(
            session_id,
            method=method,
            card=card,
            email=email,
            name=name,
            address=address,
            shipping_rate=shipping_rate,
        )
        return self.success_url(session_id)

    def settle(self, session_id: str, succeeded: bool = True) -> dict[str, Any]:
        """The delayed payment of a session arrives (or fails); sends the async event."""
        return self.ledger.settle(session_id, succeeded)

    def expire(self, session_id: str) -> dict[str, Any]:
        """Expire an open session (as its ``expires_at`` passing would)."""
        return self.ledger.expire_session(session_id)

    def refund(self, payment_intent: str, amount: int | None = None) -> dict[str, Any]:
        """Refund from the Stripe dashboard (not through the API): sends charge.refunded."""
        params: dict[str, Any] = {"payment_intent": payment_intent}
        if amount is not None:
            params["amount"] = str(amount)
        return self.ledger.refund(params)

    def dispute(
        self, payment_intent: str, *, amount: int | None = None, reason: str = "fraudulent"
    ) -> dict[str, Any]:
        """The shopper's bank disputes the payment: sends charge.dispute.created."""
        return self.ledger.dispute(payment_intent, amount=amount, reason=reason)

    def close_dispute(self, dispute_id: str, *, won: bool = False) -> dict[str, Any]:
        """The dispute is decided: sends charge.dispute.closed (status won or lost)."""
        return self.ledger.close_dispute(dispute_id, won=won)

    def add_promotion_code(
        self,
        code: str,
        *,
        percent_off: float | None = None,
        amount_off: int | None = None,
        currency: str | None = None,
        active: bool = True,
    ) -> dict[str, Any]:
        """A promotion code shoppers can use (``percent_off`` or ``amount_off``+currency)."""
        return self.ledger.add_promotion_code(
            code, percent_off=percent_off, amount_off=amount_off, currency=currency, active=active
        )

    def set_tax_rate(self, country: str, basis_points: int) -> None:
        """Automatic tax for addresses in ``country`` (e.g. 2000 = 20 %), on goods+shipping."""
        with self.ledger.lock:
            self.ledger.tax_rates[country.upper()] = basis_points

    @property
    def api_requests(self) -> list[dict[str, Any]]:
        """Every API request received, oldest first: method, path, idempotency_key,
        stripe_version (the header), params (parsed, nested), status (of the answer)."""
        return list(self.wsgi.requests)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m flask_shoppable.testing``: run the emulator beside a demo storefront."""
    parser = argparse.ArgumentParser(
        prog="python -m flask_shoppable.testing",
        description="Run the local Stripe emulator (a fake: never use it in production).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument(
        "--webhook",
        action="append",
        default=[],
        help="URL to deliver webhook events to (repeatable), e.g. "
        "http://127.0.0.1:5000/shop/webhooks/stripe",
    )
    parser.add_argument("--secret-key", default=EMULATOR_SECRET_KEY)
    parser.add_argument("--webhook-secret", default=EMULATOR_WEBHOOK_SECRET)
    parser.add_argument("--shop-name", default="the shop")
    parser.add_argument(
        "--allow",
        action="store_true",
        help=f"start even without {ALLOW_ENV}=1 in the environment",
    )
    args = parser.parse_args(argv)
    emulator = StripeEmulator(
        allow=args.allow,
        host=args.host,
        port=args.port,
        secret_key=args.secret_key,
        webhook_secret=args.webhook_secret,
        shop_name=args.shop_name,
    )
    try:
        emulator.start()
    except RuntimeError as exc:
        raise SystemExit(f"{exc} From the command line: --allow.") from None
    for url in args.webhook:
        emulator.add_webhook(url)
    print(f"Stripe emulator on {emulator.url} (overview: {emulator.url}/)", flush=True)
    print(
        f"  SHOPPABLE_STRIPE_API_BASE={emulator.url}\n"
        f"  SHOPPABLE_STRIPE_SECRET_KEY={emulator.secret_key}\n"
        f"  SHOPPABLE_STRIPE_WEBHOOK_SECRET={emulator.webhook_secret}",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
