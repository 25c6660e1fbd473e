"""The payment provider protocol and the typed values that cross it.

Checkout and order code speak only these types; the Stripe adapter (``payments/stripe.py``)
turns them into API calls and turns Stripe's objects back into them, so another provider
can be added later without touching checkout or orders (Saleor's gateway layout).
Money is always integer minor units with an ISO 4217 code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "SIGNATURE_REASONS",
    "PaymentError",
    "PaymentProvider",
    "ProviderEvent",
    "ProviderRefund",
    "ProviderSession",
    "SessionLine",
    "SessionRequest",
    "ShippingOption",
    "SignatureError",
    "SignatureReason",
]


@dataclass(frozen=True)
class SessionLine:
    """One line of a checkout: price from the database, never from the request."""

    name: str
    unit_amount: int
    quantity: int
    currency: str


@dataclass(frozen=True)
class ShippingOption:
    """A shipping rate offered on the provider's page (a fixed amount)."""

    display_name: str
    amount: int
    currency: str


@dataclass(frozen=True)
class SessionRequest:
    """Everything the provider needs to open a hosted checkout page.

    ``success_url`` may contain ``{CHECKOUT_SESSION_ID}``, which the provider fills in.
    ``expires_at`` must be 30 minutes to 24 hours ahead (Stripe's bounds).
    ``idempotency_key`` makes a retried create return the same session.
    ``promotion_code`` is the code a shopper typed (looked up by the provider; unknown or
    inactive raises :class:`PaymentError`); without one, ``allow_promotion_codes`` lets
    the shopper enter one on the provider's page.
    ``metadata`` goes on the session and on its payment (payment_intent_data.metadata).
    """

    checkout_id: int | str
    currency: str
    lines: Sequence[SessionLine]
    success_url: str
    cancel_url: str
    expires_at: datetime
    idempotency_key: str
    customer_email: str | None = None
    promotion_code: str | None = None
    allow_promotion_codes: bool = True
    shipping_countries: Sequence[str] = ()
    shipping_options: Sequence[ShippingOption] = ()
    automatic_tax: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderSession:
    """A created hosted checkout session: where to send the shopper, until when."""

    id: str
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class ProviderRefund:
    """A refund the provider accepted (``status``: pending, succeeded, failed, ...).

    The order changes when the provider's webhook confirms it, not on this answer.
    """

    id: str
    status: str
    amount: int
    currency: str


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook event; ``object`` is the event's data.object as a plain dict."""

    id: str
    type: str
    created: int
    object: dict[str, Any]


class PaymentError(Exception):
    """The provider refused the request or could not be reached.

    The message is safe to show a merchant (and, for a bad promotion code, a shopper):
    it never contains keys. ``code`` is the provider's error code when it gave one
    (e.g. ``resource_missing``, ``card_declined``), ``status`` the HTTP status or
    ``None`` when the provider was unreachable.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.param = param


SignatureReason = Literal[
    "missing header",
    "malformed header",
    "no v1 signature",
    "timestamp outside tolerance",
    "signature mismatch",
]

#: The reasons a :class:`SignatureError` can carry, in the order they are checked.
SIGNATURE_REASONS: tuple[SignatureReason, ...] = (
    "missing header",
    "malformed header",
    "no v1 signature",
    "timestamp outside tolerance",
    "signature mismatch",
)


class SignatureError(Exception):
    """A webhook whose signature did not verify; ``reason`` says exactly why.

    Logged and counted by the webhook view: a wrong secret answered with silent 400s is
    the most common webhook failure in the field, so the reason must be visible.
    """

    def __init__(self, reason: SignatureReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: SignatureReason = reason
        self.detail = detail


@runtime_checkable
class PaymentProvider(Protocol):
    """What checkout, orders and ``doctor`` need from a payment provider."""

    name: str

    def create_session(self, req: SessionRequest) -> ProviderSession:
        """Open a hosted checkout page. Raises :class:`PaymentError`."""
        ...

    def expire_session(self, session_id: str) -> None:
        """Close an open session so it can no longer be paid. Raises :class:`PaymentError`."""
        ...

    def retrieve_session(self, session_id: str) -> dict[str, Any]:
        """The session as the provider sees it now, as a plain dict."""
        ...

    def refund(
        self,
        payment_id: str,
        amount: int | None,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ProviderRefund:
        """Refund ``amount`` (minor units; ``None``: what remains) of a payment."""
        ...

    def parse_event(self, payload: bytes, signature_header: str | None) -> ProviderEvent:
        """Verify the signature on the raw body (tolerance 300 s) and parse the event.

        Raises :class:`SignatureError` (with its reason) or ``ValueError`` for a body that
        is not an event.
        """
        ...

    def make_test_event(self, type: str, object: Mapping[str, Any]) -> tuple[bytes, str]:
        """A payload and a signature header signed with the configured webhook secret."""
        ...
