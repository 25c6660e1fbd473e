"""The emulator's HTTP face: Stripe's v1 API for this flow, and the hosted checkout page.

API requests are authenticated as Stripe does (``Authorization: Bearer sk_...``, or basic
auth with the key as user name), form-encoded parameters are read with brackets, errors
have Stripe's shape and status, and POSTs honour ``Idempotency-Key``: the same key with
the same parameters replays the first answer (``Idempotent-Replayed: true``), with other
parameters it is an ``idempotency_error``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .errors import StripeApiError
from .forms import parse_form
from .ledger import Address, CardDeclined, new_id
from .page import checkout_page, closed_page, overview_page

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ..testing import StripeEmulator

#: How long Stripe keeps idempotent answers.
IDEMPOTENCY_SECONDS = 24 * 60 * 60

_API = Map(
    [
        Rule("/v1/checkout/sessions", methods=["POST"], endpoint="create_session"),
        Rule("/v1/checkout/sessions", methods=["GET"], endpoint="list_sessions"),
        Rule("/v1/checkout/sessions/<sid>", methods=["GET"], endpoint="get_session"),
        Rule("/v1/checkout/sessions/<sid>/expire", methods=["POST"], endpoint="expire_session"),
        Rule("/v1/checkout/sessions/<sid>/line_items", methods=["GET"], endpoint="line_items"),
        Rule("/v1/promotion_codes", methods=["GET"], endpoint="list_promotion_codes"),
        Rule("/v1/refunds", methods=["POST"], endpoint="create_refund"),
        Rule("/v1/refunds", methods=["GET"], endpoint="list_refunds"),
        Rule("/v1/<any(payment_intents,charges,refunds,disputes,promotion_codes,coupons,"
             "shipping_rates):kind>/<oid>", methods=["GET"], endpoint="get_object"),
        Rule("/v1/account", methods=["GET"], endpoint="account"),
        Rule("/v1/balance", methods=["GET"], endpoint="balance"),
    ]
)  # fmt: skip
_PAGES = Map(
    [
        Rule("/", methods=["GET"], endpoint="overview"),
        Rule("/health", methods=["GET"], endpoint="health"),
        Rule("/pay/<sid>", methods=["GET", "POST"], endpoint="pay"),
        Rule("/pay/<sid>/cancel", methods=["GET"], endpoint="cancel"),
        Rule(
            "/emulator/<sid>/<any(expire,settle,fail,refund,dispute):action>",
            methods=["POST"],
            endpoint="action",
        ),
    ]
)

_KINDS = {
    "payment_intents": "payment_intent",
    "charges": "charge",
    "refunds": "refund",
    "disputes": "dispute",
    "promotion_codes": "promotion_code",
    "coupons": "coupon",
    "shipping_rates": "shipping_rate",
}


class EmulatorApp:
    """The WSGI application served by :class:`~flask_shoppable.testing.StripeEmulator`."""

    def __init__(self, emulator: StripeEmulator) -> None:
        self.emulator = emulator
        self._idempotency: dict[str, tuple[float, str, int, bytes]] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        #: Every API request (method, path, params, status), for tests to inspect.
        self.requests: list[dict[str, Any]] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        api = request.path.startswith("/v1/")
        response = self._api(request) if api else self._page(request)
        return response(environ, start_response)

    def reset(self) -> None:
        with self._locks_guard:
            self._idempotency.clear()
            self._key_locks.clear()
            self.requests.clear()

    # -- the API --------------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        request_id = new_id("req", 14)
        key = request.headers.get("Idempotency-Key")
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "idempotency_key": key,
            "stripe_version": request.headers.get("Stripe-Version"),
            "params": None,
            "status": None,
        }
        response: Response | None = None
        try:
            self._authenticate(request)
            body = request.get_data(as_text=True)
            params = parse_form(body if request.method == "POST" else request.query_string.decode())
            record["params"] = copy.deepcopy(params)
            adapter = _API.bind_to_environ(request.environ)
            try:
                endpoint, matched = adapter.match()
            except HTTPException:
                raise StripeApiError(
                    f"Unrecognized request URL ({request.method}: {request.path}).",
                    status=404,
                ) from None
            args = dict(matched)
            if request.method == "POST" and key:
                response = self._idempotent(request, key, params, endpoint, args, request_id)
            else:
                status, payload = self._dispatch(endpoint, args, params, request_id, key)
                response = self._json(payload, status, request_id, key)
        except StripeApiError as exc:
            response = self._json(exc.body(request_id), exc.status, request_id, key)
        record["status"] = response.status_code
        with self._locks_guard:
            self.requests.append(record)
        return response

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        given = None
        if header.startswith("Bearer "):
            given = header[len("Bearer ") :].strip()
        elif header.startswith("Basic "):
            try:
                given = base64.b64decode(header[6:]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                given = None
        if not given:
            raise StripeApiError(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                status=401,
            )
        if given != self.emulator.secret_key:
            masked = f"{given[:8]}{'*' * max(len(given) - 12, 4)}{given[-4:]}"
            raise StripeApiError(
                f"Invalid API Key provided: {masked}", status=401, code="api_key_invalid"
            )

    def _idempotent(
        self,
        request: Request,
        key: str,
        params: dict[str, Any],
        endpoint: str,
        args: dict[str, Any],
        request_id: str,
    ) -> Response:
        fingerprint = hashlib.sha256(
            json.dumps([request.path, params], sort_keys=True).encode()
        ).hexdigest()
        with self._locks_guard:
            lock = self._key_locks.setdefault(key, threading.Lock())
        # A concurrent retry with the same key waits for the first, then replays it.
        with lock:
            saved = self._idempotency.get(key)
            if saved is not None and saved[0] > time.time() - IDEMPOTENCY_SECONDS:
                _at, saved_fingerprint, status, body = saved
                if saved_fingerprint != fingerprint:
                    raise StripeApiError(
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                        type="idempotency_error",
                        status=400,
                    )
                response = Response(body, status, content_type="application/json")
                response.headers["Idempotent-Replayed"] = "true"
                response.headers["Original-Request"] = request_id
                response.headers["Request-Id"] = request_id
                response.headers["Idempotency-Key"] = key
                return response
            status, payload = self._dispatch(endpoint, args, params, request_id, key)
            response = self._json(payload, status, request_id, key)
            # Only answers of requests that ran are kept (Stripe keeps no result for a
            # request whose parameters failed validation).
            self._idempotency[key] = (time.time(), fingerprint, status, response.get_data())
            return response

    def _dispatch(
        self,
        endpoint: str,
        args: dict[str, Any],
        params: dict[str, Any],
        request_id: str,
        key: str | None,
    ) -> tuple[int, dict[str, Any]]:
        ledger = self.emulator.ledger
        origin = {"id": request_id, "idempotency_key": key}
        expand = params.pop("expand", [])
        if not isinstance(expand, list):
            expand = [expand]
        if endpoint == "create_session":
            created = ledger.create_session(params)
            return 200, ledger.session_view(created["id"], expand)
        if endpoint == "get_session":
            return 200, ledger.session_view(args["sid"], expand)
        if endpoint == "list_sessions":
            return 200, self._list_sessions(params)
        if endpoint == "expire_session":
            ledger.expire_session(args["sid"], request=origin)
            return 200, ledger.session_view(args["sid"], expand)
        if endpoint == "line_items":
            return 200, ledger.line_items_list(args["sid"])
        if endpoint == "list_promotion_codes":
            return 200, ledger.list_promotion_codes(params)
        if endpoint == "create_refund":
            return 200, ledger.refund(params, request=origin)
        if endpoint == "list_refunds":
            return 200, ledger.list_refunds(params)
        if endpoint == "get_object":
            return 200, dict(ledger.get(args["oid"], _KINDS[args["kind"]]))
        if endpoint == "account":
            return 200, {
                "id": "acct_emulator",
                "object": "account",
                "business_profile": {"name": self.emulator.shop_name},
                "charges_enabled": True,
                "country": "US",
                "default_currency": "usd",
                "email": None,
                "payouts_enabled": True,
                "type": "standard",
            }
        if endpoint == "balance":
            return 200, {
                "object": "balance",
                "available": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
                "livemode": False,
                "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
            }
        raise StripeApiError("Unrecognized request URL.", status=404)  # pragma: no cover

    def _list_sessions(self, params: dict[str, Any]) -> dict[str, Any]:
        ledger = self.emulator.ledger
        with ledger.lock:
            found = [
                ledger.session_view(sid)
                for sid, r in reversed(ledger.sessions.items())
                if all(
                    r.obj.get(k) == params[k]
                    for k in ("payment_intent", "status", "client_reference_id")
                    if k in params
                )
            ]
        return {"object": "list", "data": found, "has_more": False, "url": "/v1/checkout/sessions"}

    def _json(
        self, payload: dict[str, Any], status: int, request_id: str, key: str | None
    ) -> Response:
        response = Response(json.dumps(payload, indent=2), status, content_type="application/json")
        response.headers["Request-Id"] = request_id
        response.headers["Stripe-Version"] = self.emulator.api_version
        if key:
            response.headers["Idempotency-Key"] = key
        return response

    # -- the pages ------------------------------------------------------------------

    def _page(self, request: Request) -> Response:
        adapter = _PAGES.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return Response("Not found", 404)
        except HTTPException as exc:
            return exc.get_response()
        handler: Callable[..., Response] = getattr(self, f"_page_{endpoint}")
        return handler(request, **args)

    def _page_health(self, request: Request) -> Response:
        return Response("ok", 200, content_type="text/plain")

    def _page_overview(self, request: Request) -> Response:
        ledger = self.emulator.ledger
        with ledger.lock:
            sessions = [ledger.session_view(sid) for sid in reversed(list(ledger.sessions))][:100]
        html = overview_page(sessions, list(self.emulator.deliveries))
        return Response(html, 200, content_type="text/html; charset=utf-8")

    def _page_pay(self, request: Request, sid: str) -> Response:
        ledger = self.emulator.ledger
        try:
            record = ledger.session(sid)
        except StripeApiError:
            return Response("No such checkout session.", 404, content_type="text/plain")
        with ledger.lock:
            session = ledger.session_view(sid)
            lines, rates = list(record.line_items), list(record.shipping_rates)
        if session["status"] != "open" or session["expires_at"] <= time.time():
            return _html(closed_page(session), 410 if session["status"] == "expired" else 200)
        if request.method == "GET":
            return _html(checkout_page(session, lines, rates, shop=self.emulator.shop_name))
        form = {k: v.strip() for k, v in request.form.items()}
        method = form.get("method", "card")
        try:
            ledger.pay(
                sid,
                method="bank_transfer" if method == "bank_transfer" else "card",
                card=form.get("card", ""),
                email=form.get("email", ""),
                name=form.get("name", ""),
                address=Address(
                    line1=form.get("line1", ""),
                    city=form.get("city", ""),
                    postal_code=form.get("postal_code", ""),
                    country=form.get("country", "US"),
                ),
                shipping_rate=form.get("shipping_rate") or None,
            )
        except (CardDeclined, StripeApiError) as exc:
            with ledger.lock:
                session = ledger.session_view(sid)
            html = checkout_page(
                session, lines, rates, shop=self.emulator.shop_name, error=exc.message, form=form
            )
            return _html(html, 402 if isinstance(exc, CardDeclined) else 400)
        return _redirect(self.emulator.success_url(sid))

    def _page_cancel(self, request: Request, sid: str) -> Response:
        try:
            session = self.emulator.ledger.session_view(sid)
        except StripeApiError:
            return Response("No such checkout session.", 404, content_type="text/plain")
        return _redirect(session.get("cancel_url") or "/")

    def _page_action(self, request: Request, sid: str, action: str) -> Response:
        emulator = self.emulator
        try:
            session = emulator.ledger.session_view(sid)
            if action == "expire":
                emulator.expire(sid)
            elif action in ("settle", "fail"):
                emulator.settle(sid, succeeded=action == "settle")
            elif action == "refund":
                emulator.ledger.refund({"payment_intent": session["payment_intent"]})
            elif action == "dispute":
                emulator.dispute(session["payment_intent"])
        except (StripeApiError, ValueError) as exc:
            return Response(str(exc), 400, content_type="text/plain")
        return _redirect("/?" + urlencode({"done": action}))


def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _redirect(location: str) -> Response:
    return Response("", 303, headers={"Location": location})
