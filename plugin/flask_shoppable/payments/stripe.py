"""The Stripe adapter: the only code in the plugin that talks to Stripe.

One :class:`stripe.StripeClient` per app, built from the app's settings (key, base address,
pinned API version, retries, timeout) and never from stripe-python's module globals, so
two apps in one process (or a test app and the demo) never share a key. Thin wrappers
turn the checkout's typed request into Checkout Session parameters and Stripe's objects
back into the DTOs of :mod:`.base` or plain dicts. Every error leaves here as a
:class:`~.base.PaymentError` whose message is safe to show a merchant.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import stripe

from .base import (
    PaymentError,
    ProviderEvent,
    ProviderRefund,
    ProviderSession,
    SessionRequest,
)
from .signature import DEFAULT_TOLERANCE, sign_header, verify_header

log = logging.getLogger(__name__)

#: The API version stripe-python was generated for (sent when none is pinned).
LIBRARY_API_VERSION: str = stripe.api_version


class StripeProvider:
    """:class:`~.base.PaymentProvider` for Stripe Checkout."""

    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        *,
        api_base: str | None = None,
        api_version: str | None = None,
        timeout: float = 20,
        max_network_retries: int = 2,
        tolerance: int = DEFAULT_TOLERANCE,
    ) -> None:
        self.webhook_secret = webhook_secret
        self.api_base = (api_base or stripe.DEFAULT_API_BASE).rstrip("/")
        self.api_version = api_version or LIBRARY_API_VERSION
        self.tolerance = tolerance
        self.client = stripe.StripeClient(
            secret_key,
            stripe_version=api_version,
            base_addresses={"api": self.api_base},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StripeProvider:
        """The provider of an app, from its (already checked) ``SHOPPABLE_STRIPE_*`` keys."""
        return cls(
            config["SHOPPABLE_STRIPE_SECRET_KEY"],
            config["SHOPPABLE_STRIPE_WEBHOOK_SECRET"],
            api_base=config["SHOPPABLE_STRIPE_API_BASE"],
            api_version=config["SHOPPABLE_STRIPE_API_VERSION"],
            timeout=config["SHOPPABLE_STRIPE_TIMEOUT"],
            max_network_retries=config["SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES"],
        )

    # -- checkout sessions ------------------------------------------------------------

    def session_params(self, req: SessionRequest) -> dict[str, Any]:
        """The Checkout Session parameters for ``req`` (without the promotion lookup)."""
        if not req.lines:
            raise PaymentError("A checkout needs at least one line.", param="line_items")
        currency = req.currency.lower()
        metadata = {str(k): str(v) for k, v in req.metadata.items()}
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": line.currency.lower(),
                        "unit_amount": line.unit_amount,
                        "product_data": {"name": line.name},
                    },
                    "quantity": line.quantity,
                }
                for line in req.lines
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "client_reference_id": str(req.checkout_id),
            "success_url": req.success_url,
            "cancel_url": req.cancel_url,
            "expires_at": int(req.expires_at.timestamp()),
        }
        if req.customer_email:
            params["customer_email"] = req.customer_email
        if req.shipping_countries:
            params["shipping_address_collection"] = {
                "allowed_countries": [c.upper() for c in req.shipping_countries]
            }
        if req.shipping_options:
            params["shipping_options"] = [
                {
                    "shipping_rate_data": {
                        "type": "fixed_amount",
                        "display_name": option.display_name,
                        "fixed_amount": {
                            "amount": option.amount,
                            "currency": (option.currency or currency).lower(),
                        },
                    }
                }
                for option in req.shipping_options
            ]
        if req.automatic_tax:
            params["automatic_tax"] = {"enabled": True}
        if not req.promotion_code:
            # Stripe takes allow_promotion_codes or discounts, never both.
            params["allow_promotion_codes"] = bool(req.allow_promotion_codes)
        return params

    def create_session(self, req: SessionRequest) -> ProviderSession:
        params = self.session_params(req)
        if req.promotion_code:
            params["discounts"] = [{"promotion_code": self.find_promotion_code(req.promotion_code)}]
        with _errors("create the checkout session"):
            session = self.client.v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": req.idempotency_key},
            )
        if not session.url:
            raise PaymentError("Stripe created the session without a payment page URL.")
        return ProviderSession(
            id=session.id, url=session.url, expires_at=_datetime(session.expires_at)
        )

    def find_promotion_code(self, code: str) -> str:
        """The id (promo_...) of the active promotion code a shopper typed.

        Raises :class:`PaymentError` (code ``promotion_code_invalid``) with a message the
        checkout can show the shopper when there is none.
        """
        with _errors("look up the promotion code"):
            found = self.client.v1.promotion_codes.list({"code": code, "active": True, "limit": 1})
        for promo in found.data:
            if promo.active and promo.code.casefold() == code.casefold():
                return promo.id
        raise PaymentError(
            f"The promotion code {code!r} is not valid or has expired.",
            code="promotion_code_invalid",
            status=400,
            param="promotion_code",
        )

    def retrieve_session(self, session_id: str) -> dict[str, Any]:
        with _errors("read the checkout session"):
            session = self.client.v1.checkout.sessions.retrieve(session_id)
        return session.to_dict()

    def expire_session(self, session_id: str) -> None:
        with _errors("expire the checkout session"):
            self.client.v1.checkout.sessions.expire(session_id)

    # -- refunds --------------------------------------------------------------------

    def refund(
        self,
        payment_id: str,
        amount: int | None,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ProviderRefund:
        """Ask Stripe to refund ``amount`` of a payment intent (``pi_...``) or charge.

        The order changes when ``charge.refunded`` arrives, not on this answer.
        """
        params: dict[str, Any] = {
            "charge" if payment_id.startswith(("ch_", "py_")) else "payment_intent": payment_id
        }
        if amount is not None:
            params["amount"] = amount
        if metadata:
            params["metadata"] = {str(k): str(v) for k, v in metadata.items()}
        with _errors("refund the payment"):
            refund = self.client.v1.refunds.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        return ProviderRefund(
            id=refund.id,
            status=str(refund.status),
            amount=refund.amount,
            currency=refund.currency.upper(),
        )

    # -- webhooks -------------------------------------------------------------------

    def parse_event(self, payload: bytes, signature_header: str | None) -> ProviderEvent:
        verify_header(payload, signature_header, self.webhook_secret, self.tolerance)
        return event_from_payload(payload)

    def make_test_event(self, type: str, object: Mapping[str, Any]) -> tuple[bytes, str]:
        payload = event_payload(type, object, api_version=self.api_version)
        return payload, sign_header(self.webhook_secret, payload)


def event_envelope(
    type: str,
    object: Mapping[str, Any],
    *,
    api_version: str = LIBRARY_API_VERSION,
    event_id: str | None = None,
    created: int | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    previous_attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An event as Stripe sends it to a webhook endpoint (a "snapshot" event)."""
    data: dict[str, Any] = {"object": dict(object)}
    if previous_attributes is not None:
        data["previous_attributes"] = dict(previous_attributes)
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": api_version,
        "created": int(time.time()) if created is None else created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type,
    }


def event_payload(type: str, object: Mapping[str, Any], **envelope: Any) -> bytes:
    """:func:`event_envelope` serialised the way Stripe does (pretty-printed JSON)."""
    return json.dumps(event_envelope(type, object, **envelope), indent=2).encode("utf-8")


def event_from_payload(payload: bytes) -> ProviderEvent:
    """Parse a (verified) event body; ``ValueError`` says what is wrong with it."""
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    data = body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    event_id, event_type, created = body.get("id"), body.get("type"), body.get("created")
    if body.get("object", "event") != "event":
        raise ValueError(f"the body is a {body.get('object')!r}, not an event")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("the event has no id")
    if not isinstance(event_type, str) or not event_type:
        raise ValueError("the event has no type")
    if isinstance(created, bool) or not isinstance(created, int):
        raise ValueError("the event has no created timestamp")
    if not isinstance(obj, dict):
        raise ValueError("the event has no data.object")
    return ProviderEvent(id=event_id, type=event_type, created=created, object=obj)


def _datetime(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class _errors:
    """Turns stripe-python's exceptions into :class:`PaymentError` (safe messages)."""

    def __init__(self, doing: str) -> None:
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is None or not isinstance(exc, stripe.StripeError):
            return
        raise _payment_error(self.doing, exc) from exc


def _payment_error(doing: str, exc: stripe.StripeError) -> PaymentError:
    status = exc.http_status
    error = exc.error
    code = exc.code or (error.code if error is not None else None)
    param = getattr(exc, "param", None) or (error.param if error is not None else None)
    if isinstance(exc, stripe.AuthenticationError):
        message = (
            f"Stripe refused the API key while trying to {doing} "
            "(check SHOPPABLE_STRIPE_SECRET_KEY)."
        )
    elif isinstance(exc, stripe.APIConnectionError):
        message = f"Stripe could not be reached to {doing}; try again in a moment."
        status = None
    elif isinstance(exc, stripe.IdempotencyError):
        message = (
            f"Stripe refused to {doing}: this idempotency key was already used with "
            "different parameters."
        )
        code = code or "idempotency_error"
    else:
        detail = exc.user_message or (error.message if error is not None else None) or ""
        message = f"Stripe could not {doing}" + (f": {detail}" if detail else ".")
    log.warning("stripe: could not %s (%s %s %s)", doing, status, code, type(exc).__name__)
    return PaymentError(message, code=code, status=status, param=param)
