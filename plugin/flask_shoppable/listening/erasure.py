"""The listening eraser of ``flask shoppable forget``: social identities and comment texts.

For the customer being erased, their social identities (linked at purchase, or behind
the comments that originated their orders) lose the platform user id and username
(``user_id`` becomes ``erased:<row id>``, unique and meaningless) and their customer link;
every comment of those identities loses its text, as do the comment interactions'
``detail``, and the stored webhook changes of those comments are replaced by
``{"erased": true}``. Counts (comments, keyword matches, replies, orders) stay, so the
listening report still adds up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..crm.erasure import Target, register_eraser
from ..tracking.models import Interaction
from .models import Comment, MetaChange, SocialIdentity


@register_eraser("social")
def erase_social(session: Session, target: Target) -> int:
    conditions: list[Any] = []
    if target.customer_ids:
        conditions.append(SocialIdentity.customer_id.in_(target.customer_ids))
    if target.interaction_ids:
        conditions.append(
            SocialIdentity.id.in_(
                select(Comment.identity_id).where(
                    Comment.interaction_id.in_(target.interaction_ids)
                )
            )
        )
    if not conditions:
        return 0
    identities = list(session.scalars(select(SocialIdentity).where(or_(*conditions))))
    if not identities:
        return 0
    ids = [i.id for i in identities]
    changed = 0
    for identity in identities:
        identity.user_id = f"erased:{identity.id}"
        identity.username = ""
        identity.customer_id = None
        changed += 1
    comments = session.execute(
        select(Comment.id, Comment.platform, Comment.comment_id, Comment.interaction_id).where(
            Comment.identity_id.in_(ids)
        )
    ).all()
    if comments:
        changed += session.execute(
            update(Comment).where(Comment.identity_id.in_(ids)).values(text="")
        ).rowcount
        interaction_ids = [c.interaction_id for c in comments if c.interaction_id is not None]
        for interaction in session.scalars(
            select(Interaction).where(Interaction.id.in_(interaction_ids))
        ):
            interaction.detail = {k: v for k, v in interaction.detail.items() if k != "text"}
            changed += 1
        keys = [
            key
            for c in comments
            for key in (
                f"instagram:comments:{c.comment_id}",
                f"instagram:mentions:{c.comment_id}",
                f"instagram:live_comments:{c.comment_id}",
                f"facebook:feed:add:{c.comment_id}",
            )
        ]
        changed += session.execute(
            update(MetaChange)
            .where(MetaChange.change_key.in_(keys))
            .values(payload={"erased": True})
        ).rowcount
    return changed
