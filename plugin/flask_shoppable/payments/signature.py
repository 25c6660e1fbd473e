"""Stripe's webhook signature scheme, both ways: sign (the emulator, ``doctor``) and verify.

``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`` where each ``v1``
is HMAC-SHA256 of ``f"{t}.{payload}"`` keyed with the endpoint's ``whsec_...`` secret
(the whole string, prefix included, as Stripe's own libraries use it). Several ``v1``
appear while a secret is being rolled; any one matching is enough. Written here rather
than wrapped from stripe-python so that each failure has its own reason
(:class:`~flask_shoppable.payments.base.SignatureError`), which the webhook view logs and
counts: "signature mismatch" usually means a wrong secret, "timestamp outside tolerance"
a replay or a skewed clock.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

from .base import SignatureError

#: Stripe's default: a signed timestamp older or newer than this many seconds is refused.
DEFAULT_TOLERANCE = 300
SCHEME = "v1"


def compute_signature(secret: str, timestamp: int, payload: bytes) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + payload`` keyed with ``secret``."""
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_header(secret: str | Iterable[str], payload: bytes, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` value for ``payload``; one ``v1`` per secret given."""
    t = int(time.time()) if timestamp is None else timestamp
    secrets = [secret] if isinstance(secret, str) else list(secret)
    parts = [f"t={t}"] + [f"{SCHEME}={compute_signature(s, t, payload)}" for s in secrets]
    return ",".join(parts)


def parse_header(header: str | None) -> tuple[int, list[str]]:
    """``(timestamp, [v1 signatures])`` of a header, or :class:`SignatureError`."""
    if header is None or not header.strip():
        raise SignatureError("missing header", "no Stripe-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key or not value:
            raise SignatureError("malformed header", f"element {item.strip()[:40]!r} is not k=v")
        if key == "t":
            if timestamp is not None or not value.isdigit():
                raise SignatureError("malformed header", "t must appear once, as unix seconds")
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value)
        # Other schemes (v0: Stripe's test-mode signature) are ignored, as Stripe advises.
    if timestamp is None:
        raise SignatureError("malformed header", "no t= timestamp")
    if not signatures:
        raise SignatureError("no v1 signature", "the header carries no v1= element")
    return timestamp, signatures


def verify_header(
    payload: bytes,
    header: str | None,
    secret: str | Iterable[str],
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check ``header`` against the raw ``payload``; returns the signed timestamp.

    ``secret`` may be several (while rolling a secret). The timestamp is checked both
    ways (a header from the future is as suspect as a stale one). Comparisons are
    constant-time.
    """
    timestamp, signatures = parse_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(
            "timestamp outside tolerance",
            f"signed {int(current - timestamp)} s ago; tolerance is {tolerance} s",
        )
    secrets = [secret] if isinstance(secret, str) else list(secret)
    matched = False
    for key in secrets:
        expected = compute_signature(key, timestamp, payload).encode("ascii")
        for candidate in signatures:
            # No early exit: the time taken does not depend on which one matched. Bytes,
            # because compare_digest refuses non-ASCII str (a forged header may have some).
            matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        raise SignatureError(
            "signature mismatch",
            "no v1 signature matches the payload (wrong webhook secret, or a modified body)",
        )
    return timestamp
