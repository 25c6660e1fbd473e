"""The one error type of the checkout: what is wrong, said so a shopper can act on it."""

from __future__ import annotations

from http import HTTPStatus


class CheckoutError(Exception):
    """A checkout that cannot go ahead, with its HTTP status and a stable code.

    ``status`` is 400 for a request that is malformed or out of bounds (no lines, a
    quantity that is not a whole number from 1 to the maximum), 422 for lines the shop
    cannot sell as asked (unknown or inactive variant, another currency), 409 for stock
    that ran out, 502 when the payment provider failed. ``code`` is stable for clients
    (``empty_cart``, ``invalid_quantity``, ...); ``message`` is plain language for the
    shopper; ``field`` names the input at fault.
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        """The JSON body: the merchant API's error shape plus the stable ``error`` code."""
        body: dict[str, object] = {
            "code": self.status,
            "status": HTTPStatus(self.status).phrase,
            "message": self.message,
            "error": self.code,
        }
        if self.field:
            body["errors"] = {self.field: [self.message]}
        return body
