"""The interaction that brought the shopper to checkout: the origin of the sale.

Looked for in this order:

1. the signed token ``st`` the tracked redirect put in the URL and the page carried
   into the form (:func:`~flask_shoppable.tracking.tokens.verify`): it survives in-app
   browsers that drop cookies, and it cannot be forged or altered. A token that does
   not verify (tampered, expired, another shop's) is treated as no token at all, never
   as an error: the shopper still buys;
2. else the visitor cookie's latest click or comment within
   ``SHOPPABLE_ATTRIBUTION_LOOKBACK_DAYS``;
3. else none (a direct visit).

A token names its click by id before the click's row exists (clicks may be buffered in
the process for a fraction of a second): when the row is not there yet, this process's
buffer is written first; if it is still missing (buffered by another process), the id
is kept, since the token proves it, and the row's details are simply unknown here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..social.channels import CHANNELS
from ..tracking import tokens
from ..tracking.models import Interaction

#: Kinds of interaction that can bring a shopper (impressions do not).
ORIGIN_KINDS = ("click", "comment")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


@dataclass(frozen=True)
class Origin:
    """What the checkout keeps of its originating interaction."""

    id: uuid.UUID
    kind: str = "click"
    channel: str | None = None
    link_id: int | None = None
    post_id: int | None = None
    product_id: int | None = None
    partner: str = ""
    utm: dict[str, str] = field(default_factory=dict)
    click_ids: dict[str, str] = field(default_factory=dict)
    #: False when only the token's id is known (its row was not found).
    found: bool = True


def _from_row(row: Interaction) -> Origin:
    return Origin(
        id=row.id,
        kind=row.kind,
        channel=row.channel,
        link_id=row.link_id,
        post_id=row.post_id,
        product_id=row.product_id,
        partner=row.partner or "",
        utm={name: getattr(row, name) or "" for name in UTM_FIELDS},
        click_ids=dict(row.click_ids or {}),
    )


def from_token(session: Session, token: object) -> Origin | None:
    """The origin a valid ``st`` token names; None for anything else."""
    interaction_id = tokens.verify(token)
    if interaction_id is None:
        return None
    row = session.get(Interaction, interaction_id)
    if row is None:
        current_app.extensions["shoppable"].recorder.flush()
        row = session.get(Interaction, interaction_id)
    if row is None:
        return Origin(id=interaction_id, found=False)
    return _from_row(row)


def from_visitor(
    session: Session, visitor_id: str | None, now: datetime, lookback_days: int
) -> Origin | None:
    """The visitor's latest click or comment within the lookback window."""
    if not visitor_id:
        return None
    row = session.scalars(
        select(Interaction)
        .where(
            Interaction.visitor_id == visitor_id,
            Interaction.kind.in_(ORIGIN_KINDS),
            Interaction.occurred_at >= now - timedelta(days=lookback_days),
        )
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
        .limit(1)
    ).first()
    return _from_row(row) if row is not None else None


def find(
    session: Session, token: object, visitor_id: str | None, now: datetime, lookback_days: int
) -> Origin | None:
    """Token first, then the visitor's latest touch, else None (see the module's doc)."""
    return from_token(session, token) or from_visitor(session, visitor_id, now, lookback_days)


# --- the channel of a cart permalink ----------------------------------------------------

#: utm_source values seen in the field that name a channel differently.
_SOURCE_ALIASES = {
    "fb": "facebook",
    "meta": "facebook",
    "fbshopping": "facebook",
    "facebookshop": "facebook",
    "ig": "instagram",
    "igshopping": "instagram",
    "instagramshop": "instagram",
    "twitter": "x",
    "t.co": "x",
    "yt": "youtube",
    "tiktokshop": "tiktok",
    "mail": "email",
    "newsletter": "email",
}
_BY_UTM_SOURCE = {channel.utm_source: name for name, channel in CHANNELS.items()}


def channel_for(value: str | None) -> str | None:
    """A channel name from a ``channel``, ``cart_origin`` or ``utm_source`` value."""
    if not value:
        return None
    key = value.strip().lower()
    if key in CHANNELS:
        return key
    return _SOURCE_ALIASES.get(key) or _BY_UTM_SOURCE.get(key)
