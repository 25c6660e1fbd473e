"""Tracked links: short codes, reuse, and where a link leads.

A code is 10 characters of base62 from :mod:`secrets` (about 59.5 bits): short enough
to type from a printed card, too many to enumerate. The redirect target is always
computed here from the link's row (:func:`target_path`), never taken from a request.
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime

from flask import url_for
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..web import absolute_url
from .channels import CHANNELS
from .models import LINK_TARGETS, TrackedLink

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 10
#: Codes accepted from a URL: what :func:`new_code` makes, and anything up to the column
#: size that a future format might use, never less than 8 characters.
CODE_MIN_LENGTH = 8
CODE_MAX_LENGTH = 32
#: Bound of the free-text fields (the columns are 200 wide).
TEXT_FIELD_MAX = 200
#: Largest quantity a checkout link may carry.
QUANTITY_MAX = 100


def new_code() -> str:
    """A fresh random code: 10 base62 characters."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def is_code(text: str) -> bool:
    """Whether ``text`` has the shape of a code (cheap check before any lookup)."""
    return CODE_MIN_LENGTH <= len(text) <= CODE_MAX_LENGTH and all(c in CODE_ALPHABET for c in text)


def unused_code(session: Session) -> str:
    """A new code not yet in the table (a clash is ~1e-18 likely; checked all the same)."""
    while True:
        code = new_code()
        if session.scalar(select(TrackedLink.id).where(TrackedLink.code == code)) is None:
            return code


def _bounded(value: str) -> str:
    return (value or "").strip()[:TEXT_FIELD_MAX]


def get_or_create_link(
    session: Session,
    *,
    channel: str,
    target: str,
    post_id: int | None = None,
    product_id: int | None = None,
    variant_id: int | None = None,
    quantity: int | None = None,
    utm_campaign: str = "",
    utm_content: str = "",
    utm_term: str = "",
    partner: str = "",
    label: str = "",
) -> TrackedLink:
    """An active, unexpired link with these fields, created if there is none.

    Lets code that mints links on demand (the feeds: one link per channel and product)
    ask for the same link on every run instead of piling up new ones. A link matches when
    its channel, target, object ids, quantity, UTM fields (source and medium being the
    channel's defaults) and partner are equal; ``label`` is descriptive only, used for a
    new link and not compared. The oldest match wins.

    A new link is added and flushed, not committed: the caller commits (a feed commits
    once for all the links it minted). Raises ValueError for an unknown channel or target
    or a target without its object.
    """
    spec = CHANNELS.get(channel)
    if spec is None:
        raise ValueError(f"unknown channel {channel!r}")
    if target not in LINK_TARGETS:
        raise ValueError(f"unknown target {target!r}")
    needed = {"post": post_id, "product": product_id, "checkout": variant_id}
    if target in needed and needed[target] is None:
        raise ValueError(
            f"a {target} link needs its {target if target != 'checkout' else 'variant'} id"
        )
    if target == "checkout" and (quantity is None or not 1 <= quantity <= QUANTITY_MAX):
        raise ValueError(f"a checkout link needs a quantity from 1 to {QUANTITY_MAX}")
    fields = {
        "channel": channel,
        "target": target,
        "post_id": post_id,
        "product_id": product_id,
        "variant_id": variant_id,
        "quantity": quantity,
        "utm_source": spec.utm_source,
        "utm_medium": spec.utm_medium,
        "utm_campaign": _bounded(utm_campaign),
        "utm_content": _bounded(utm_content),
        "utm_term": _bounded(utm_term),
        "partner": _bounded(partner),
    }
    conditions = [
        getattr(TrackedLink, name).is_(None)
        if value is None
        else getattr(TrackedLink, name) == value
        for name, value in fields.items()
    ]
    now = utcnow()
    existing = session.scalar(
        select(TrackedLink)
        .where(
            *conditions,
            TrackedLink.active.is_(True),
            or_(TrackedLink.expires_at.is_(None), TrackedLink.expires_at > now),
        )
        .order_by(TrackedLink.id)
        .limit(1)
    )
    if existing is not None:
        return existing
    link = TrackedLink(code=unused_code(session), label=_bounded(label), active=True, **fields)
    session.add(link)
    session.flush()
    return link


def is_live(link: TrackedLink, now: datetime | None = None) -> bool:
    """Whether the link itself is on: active and not expired (see :func:`why_not_live`)."""
    if not link.active:
        return False
    return link.expires_at is None or link.expires_at > (now or utcnow())


def why_not_live(link: TrackedLink, now: datetime | None = None) -> str | None:
    """Why a click on the link answers 404 now, or None when it redirects.

    Beyond :func:`is_live`, the target must be shown to shoppers: a post link needs a
    published post, a product link an active product (the redirect applies the same
    rules).
    """
    if not link.active:
        return "the link is inactive"
    if link.expires_at is not None and link.expires_at <= (now or utcnow()):
        return "the link has expired"
    if link.target == "post" and (link.post is None or link.post.status != "published"):
        return "its post is not published"
    if link.target == "product" and (link.product is None or not link.product.active):
        return "its product is inactive"
    return None


def target_path(link: TrackedLink) -> str:
    """The path the link redirects to, from its row alone (needs an app context)."""
    if link.target == "post":
        if link.post is None:
            raise LookupError(f"link {link.code} points at a post that no longer exists")
        return url_for("shoppable_pages.post", slug=link.post.slug)
    if link.target == "product":
        if link.product is None:
            raise LookupError(f"link {link.code} points at a product that no longer exists")
        return url_for("shoppable_pages.product", handle=link.product.handle)
    if link.target == "storefront":
        return url_for("shoppable_pages.storefront")
    if link.target == "checkout":
        # The checkout issue builds this endpoint: <prefix>/checkout/cart. Derived from the
        # storefront's URL so that a host mounted under a sub-path (SCRIPT_NAME) works too.
        base = url_for("shoppable_pages.storefront").rstrip("/")
        return (
            f"{base}/checkout/cart?products={int(link.variant_id or 0)}:{int(link.quantity or 1)}"
        )
    raise LookupError(f"link {link.code} has an unknown target {link.target!r}")


def link_url(link: TrackedLink) -> str:
    """The absolute URL of the link, ``https://shop.example.com/shop/s/<code>``."""
    return absolute_url("shoppable_tracking.follow", code=link.code)
