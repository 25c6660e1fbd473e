"""What a sink raises when a delivery did not succeed.

* :class:`RetryLater`: transient (5xx, 429, timeout, connection refused); the worker
  tries again later, after ``after_seconds`` when the receiver said so (Retry-After),
  else after its exponential backoff.
* :class:`Rejected`: permanent (a 4xx other than 429: the receiver will never accept
  this message as it is); the worker dead-letters the message at once.

Any other exception a sink raises counts as transient.
"""

from __future__ import annotations

from typing import Any


class DeliveryError(Exception):
    """Base: ``reason`` in a sentence, the HTTP ``status`` and parsed ``body`` if any."""

    def __init__(self, reason: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body


class RetryLater(DeliveryError):
    """Try again later; ``after_seconds`` when the receiver named a delay."""

    def __init__(
        self,
        reason: str,
        after_seconds: float | None = None,
        *,
        status: int | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(reason, status=status, body=body)
        self.after_seconds = after_seconds


class Rejected(DeliveryError):
    """The receiver refused the message for good: dead-letter it now."""
