"""The short signed attribution token a tracked redirect appends as ``st=...``.

In-app browsers (Instagram, Facebook, TikTok) drop or isolate cookies, so the redirect
also names its click in the URL; the page carries ``st`` into the buy form and the
checkout takes the click from the token first, the cookie second.

Format (44 URL-safe characters, no padding)::

    base64url( version:1 | interaction id:16 | issued at, unix seconds:4 | HMAC-SHA256:12 )

The MAC (96 bits, truncated HMAC-SHA256 over everything before it) is keyed with a key
derived from ``SHOPPABLE_SECRET_KEY`` for this purpose alone, so a token can be neither
forged nor altered, and a key shared with the IP hash could not be turned against
either. The issue time makes it expire after ``SHOPPABLE_TOKEN_MAX_AGE_DAYS``.
:func:`verify` never raises: anything that is not a valid, fresh token is ``None``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
import uuid
from functools import lru_cache

from flask import current_app

VERSION = 1
_MAC_BYTES = 12
_BODY = struct.Struct(">B16sI")
TOKEN_LENGTH = 44  # base64 of 1 + 16 + 4 + 12 = 33 bytes
#: Tolerated clock difference between the processes that sign and verify (seconds).
CLOCK_SKEW = 300
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{44}")


@lru_cache(maxsize=16)
def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose ("token", "ip-hash"), derived from the app's secret."""
    return hmac.new(secret, b"flask-shoppable/" + purpose.encode(), hashlib.sha256).digest()


class Hmac:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer states computed once.

    Per message it copies two prepared SHA-256 states instead of setting up an HMAC
    from the key, a few times cheaper; it runs twice on every click (token, IP hash).
    Equal to ``hmac.digest(key, message, "sha256")`` (a test holds it to that).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


@lru_cache(maxsize=16)
def keyed(secret: bytes, purpose: str) -> Hmac:
    """The prepared HMAC of the key for ``purpose`` derived from ``secret``."""
    return Hmac(derive_key(secret, purpose))


def _mac(secret: bytes, body: bytes, purpose: str = "token") -> bytes:
    return keyed(secret, purpose).digest(body)[:_MAC_BYTES]


def _secret() -> bytes:
    secret: bytes = current_app.config["SHOPPABLE_SECRET_KEY"]
    return secret


def sign(
    interaction_id: uuid.UUID,
    *,
    secret: bytes | None = None,
    now: float | None = None,
    purpose: str = "token",
) -> str:
    """The token for ``interaction_id`` (the app's secret unless one is given).

    ``purpose`` keys the MAC for one use alone: a token made for another purpose (the
    listening's reply links, "reply-link") never verifies as this one, nor the reverse.
    """
    key = secret if secret is not None else _secret()
    issued = int(time.time() if now is None else now)
    body = _BODY.pack(VERSION, interaction_id.bytes, issued & 0xFFFFFFFF)
    return base64.urlsafe_b64encode(body + _mac(key, body, purpose)).decode("ascii").rstrip("=")


def verify(
    token: object,
    *,
    secret: bytes | None = None,
    max_age_days: float | None = None,
    now: float | None = None,
    purpose: str = "token",
) -> uuid.UUID | None:
    """The interaction id of a valid, unexpired token; ``None`` for anything else."""
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        return None
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    body, mac = raw[: _BODY.size], raw[_BODY.size :]
    key = secret if secret is not None else _secret()
    if not hmac.compare_digest(mac, _mac(key, body, purpose)):
        return None
    version, id_bytes, issued = _BODY.unpack(body)
    if version != VERSION:
        return None
    if max_age_days is None:
        max_age_days = current_app.config["SHOPPABLE_TOKEN_MAX_AGE_DAYS"]
    current = time.time() if now is None else now
    age = current - issued
    if age < -CLOCK_SKEW or age > max_age_days * 86400:
        return None
    return uuid.UUID(bytes=id_bytes)
