"""Channel tokens encrypted at rest: cryptography's Fernet, MultiFernet for key rotation.

``SHOPPABLE_TOKEN_KEYS`` lists Fernet keys (``Fernet.generate_key()``), newest first: the
newest encrypts, every one decrypts. To rotate, put a new key first, keep the old ones,
run ``flask shoppable rotate-token-keys`` (re-encrypts every stored token with the newest
key), then drop the old keys. A token read with an older key is also re-encrypted on use.
Left empty, one key is derived from SHOPPABLE_SECRET_KEY (HKDF-SHA256), which is fine for
a demo; production sets its own keys, so that changing the secret does not lose tokens.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEYS_SETTING = "SHOPPABLE_TOKEN_KEYS"
_EXTRA_KEY = "publishing_fernet"


class TokenKeyError(ValueError):
    """A stored token that none of the configured keys decrypts."""


def parse_keys(value: Any) -> list[str]:
    """The configured keys as a list (a comma-separated string is split)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    if isinstance(value, Sequence):
        return [str(k).strip() for k in value]
    raise TypeError("must be a list of Fernet keys (newest first) or a comma-separated string")


def derived_key(secret: str | bytes) -> str:
    """A Fernet key derived from the app's secret (used when no key is configured)."""
    material = secret.encode() if isinstance(secret, str) else secret
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"flask-shoppable channel tokens"
    )
    return base64.urlsafe_b64encode(hkdf.derive(material)).decode()


def build(config: Mapping[str, Any]) -> MultiFernet:
    """The MultiFernet of the configured keys; ValueError naming the bad one."""
    keys = parse_keys(config.get(KEYS_SETTING))
    if not keys:
        secret = config.get("SHOPPABLE_SECRET_KEY") or config.get("SECRET_KEY") or ""
        keys = [derived_key(secret)]
    fernets = []
    for index, key in enumerate(keys):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            raise ValueError(
                f"key #{index + 1} is not a Fernet key (32 url-safe base64-encoded bytes, "
                "as Fernet.generate_key() makes)"
            ) from None
    return MultiFernet(fernets)


def for_app(app: Any) -> MultiFernet:
    """The app's MultiFernet (built once from its settings, kept with the app)."""
    extra = app.extensions["shoppable"].extra
    fernet: MultiFernet | None = extra.get(_EXTRA_KEY)
    if fernet is None:
        fernet = extra[_EXTRA_KEY] = build(app.config)
    return fernet


def _fernet() -> MultiFernet:
    from flask import current_app

    return for_app(current_app)


def encrypt(token: str, fernet: MultiFernet | None = None) -> str:
    return (fernet or _fernet()).encrypt(token.encode()).decode()


def decrypt(stored: str, fernet: MultiFernet | None = None) -> str:
    try:
        return (fernet or _fernet()).decrypt(stored.encode()).decode()
    except InvalidToken:
        raise TokenKeyError(
            f"the stored token cannot be decrypted with any key of {KEYS_SETTING} "
            "(a key was removed before rotate-token-keys ran?): reconnect the account"
        ) from None


def rotate(stored: str, fernet: MultiFernet | None = None) -> str:
    """``stored`` re-encrypted with the newest key (unchanged plaintext)."""
    try:
        return (fernet or _fernet()).rotate(stored.encode()).decode()
    except InvalidToken:
        raise TokenKeyError(
            f"a stored token cannot be decrypted with any key of {KEYS_SETTING}"
        ) from None


def is_newest(stored: str, fernet: MultiFernet | None = None) -> bool:
    """Whether ``stored`` was encrypted with the newest key."""
    newest = (fernet or _fernet())._fernets[0]
    try:
        newest.decrypt(stored.encode())
    except InvalidToken:
        return False
    return True
