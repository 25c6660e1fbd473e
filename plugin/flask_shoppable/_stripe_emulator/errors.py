"""Stripe's error object: ``{"error": {"type", "code", "message", "param", ...}}``."""

from __future__ import annotations

from typing import Any


class StripeApiError(Exception):
    """An error the emulated API answers with, in Stripe's shape and status."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        status: int = 400,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.type = type
        self.status = status
        self.extra = extra or {}

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        error.update(self.extra)
        return {"error": error}


def missing(name: str) -> StripeApiError:
    return StripeApiError(f"Missing required param: {name}.", param=name, code="parameter_missing")


def no_such(kind: str, object_id: str, param: str = "id") -> StripeApiError:
    return StripeApiError(
        f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=404
    )
