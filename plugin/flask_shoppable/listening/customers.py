"""What a sale through a comment gives the customer record and the CRM payload.

* :func:`link_identity_of_order` (on ``order_paid``): the social identity of the comment
  that originated the order gets the order's customer (``SocialIdentity.customer_id``).
* :func:`social_of_order`: for the CRM payload (``crm.payload``), the comment's social
  identity and the business-messaging channel (``instagram`` or ``messenger``) the
  private reply went through, for the Conversions API event's ``action_source:
  "business_messaging"`` and ``messaging_channel``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import Comment, SocialIdentity

log = logging.getLogger("flask_shoppable.listening")

#: The Conversions API's messaging_channel for a private reply on each platform.
MESSAGING_CHANNELS = {"instagram": "instagram", "facebook": "messenger"}


def _comment_of(session: Session, interaction_id: Any) -> tuple[Comment, SocialIdentity] | None:
    if interaction_id is None:
        return None
    row = session.execute(
        select(Comment, SocialIdentity)
        .join(SocialIdentity, SocialIdentity.id == Comment.identity_id)
        .where(Comment.interaction_id == interaction_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def social_of_order(session: Session, order: Any) -> dict[str, Any] | None:
    """``payload["social"]`` of an order that came from a comment, else None:
    ``{"social_identity": {platform, user_id, username}, "messaging_channel",
    "account_id", "comment": {platform, comment_id, media_id, replied}}``."""
    found = _comment_of(session, getattr(order, "origin_interaction_id", None))
    if found is None:
        return None
    comment, identity = found
    return {
        "social_identity": {
            "platform": identity.platform,
            "user_id": identity.user_id,
            "username": identity.username,
        },
        "messaging_channel": MESSAGING_CHANNELS[comment.platform],
        #: The business account (Instagram account or Page) the conversation is with.
        "account_id": comment.account_id,
        "comment": {
            "platform": comment.platform,
            "comment_id": comment.comment_id,
            "media_id": comment.media_id,
            "replied": comment.reply_status == "sent",
        },
    }


def link_identity_of_order(app: Flask, order: Any) -> None:
    """Give the comment's social identity the order's customer (once; never moved)."""
    if getattr(order, "customer_id", None) is None:
        return
    try:
        with app.extensions["shoppable"].session_factory() as session:
            found = _comment_of(session, order.origin_interaction_id)
            if found is None:
                return
            session.execute(
                update(SocialIdentity)
                .where(SocialIdentity.id == found[1].id, SocialIdentity.customer_id.is_(None))
                .values(customer_id=order.customer_id)
            )
            session.commit()
    except Exception:
        log.exception("linking the social identity of order %s failed", order.id)
