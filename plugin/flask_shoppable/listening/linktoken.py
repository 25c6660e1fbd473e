"""The signed token of a private reply's link: ``<prefix>/r/<token>``.

The redirect's ``st`` token format (:mod:`flask_shoppable.tracking.tokens`: version,
interaction id, issue time, truncated HMAC-SHA256) keyed for this purpose alone
("reply-link"), so that neither kind of token can stand in for the other: a click's
``st`` is no reply link, and a reply link's token is no ``st``. It names the COMMENT
interaction it was minted for; the link expires after ``SHOPPABLE_TOKEN_MAX_AGE_DAYS``.
"""

from __future__ import annotations

import uuid

from ..tracking import tokens

PURPOSE = "reply-link"


def sign(interaction_id: uuid.UUID, *, now: float | None = None) -> str:
    return tokens.sign(interaction_id, now=now, purpose=PURPOSE)


def verify(token: object, *, now: float | None = None) -> uuid.UUID | None:
    """The comment interaction id of a valid, unexpired reply token; None otherwise."""
    return tokens.verify(token, now=now, purpose=PURPOSE)
