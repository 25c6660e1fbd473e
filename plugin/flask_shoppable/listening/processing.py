"""Processing stored changes: comments become interactions, keyword matches replies.

Each change is processed in its own transaction, idempotently: a comment is inserted
once per (platform, comment id) (``INSERT ... ON CONFLICT DO NOTHING``); a second
delivery, or a second process racing on the same change, finds it there and does
nothing; the reply is enqueued in the same transaction as the comment, with the outbox
key ``reply:<platform>:<comment id>`` (a second enqueue is a no-op).

For a comment on linked media (:class:`~.models.PostMedia`):

1. the commenter's :class:`~.models.SocialIdentity` is made or refreshed;
2. over ``SHOPPABLE_LISTENING_MAX_COMMENTS_PER_USER`` comments by the same person on
   the same post in 24 hours, the comment is kept with status "flood" and nothing
   else happens;
3. else a ``comment`` :class:`~flask_shoppable.tracking.models.Interaction` (channel
   instagram/facebook, the post, the text in ``detail``) is written;
4. if the post's keyword rule matches the text, ONE private reply is enqueued carrying
   a link minted for this comment (:mod:`.linktoken`), unless the commenter already
   has a reply for this post (status "skipped": one link per person per post), or the
   comment is older than Meta's 7-day window (status "failed").

Comments on unlinked media are kept with status "unlinked" (the report counts them);
mentions too. The shop's own comments (from the account itself) are ignored.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from flask import Flask
from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db import utcnow
from ..tracking.models import Interaction, new_id
from ..web import absolute_url
from . import keywords, linktoken
from .media import post_for_media
from .models import Comment, KeywordRule, MetaChange, SocialIdentity
from .payloads import Change, CommentEvent

log = logging.getLogger("flask_shoppable.listening")

SINK = "meta_private_reply"
#: Meta's window for a private reply.
REPLY_WINDOW = timedelta(days=7)
FLOOD_WINDOW = timedelta(hours=24)


def _insert(session: Session, model: Any) -> Any:
    table = cast(Table, model.__table__)
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def store(session: Session, changes: list[Change]) -> list[tuple[int, str]]:
    """Store the changes not seen before, and commit; (id, key) of those to process.

    To process: the new ones, and those stored earlier whose processing failed or was
    interrupted (a redelivery is their retry).
    """
    now = utcnow()
    keys: dict[str, Change] = {}
    for change in changes:
        keys.setdefault(change.key, change)
    if not keys:
        return []
    stmt = _insert(session, MetaChange).on_conflict_do_nothing(index_elements=["change_key"])
    rows = [
        {
            "change_key": c.key,
            "object": c.object[:40],
            "account_id": c.account_id,
            "field": c.field[:60],
            "payload": c.payload,
            "status": "received",
            "reason": "",
            "attempts": 0,
            "received_at": now,
        }
        for c in keys.values()
    ]
    for start in range(0, len(rows), 500):
        session.execute(stmt, rows[start : start + 500])
    pending = session.execute(
        select(MetaChange.id, MetaChange.change_key).where(
            MetaChange.change_key.in_(list(keys)),
            MetaChange.status.in_(("received", "failed")),
        )
    ).all()
    session.commit()
    order = {key: i for i, key in enumerate(keys)}
    return [(r.id, r.change_key) for r in sorted(pending, key=lambda r: order[r.change_key])]


def process(session: Session, app: Flask, change_id: int, change: Change) -> str:
    """Process one stored change and commit; its final status."""
    row = session.get(MetaChange, change_id)
    if row is None or row.status in ("processed", "ignored"):
        return row.status if row is not None else "ignored"
    row.attempts += 1
    try:
        if change.comment is None:
            status, reason = "ignored", change.problem
        else:
            status, reason = _comment(session, app, change.comment)
        row.status, row.reason, row.processed_at = status, reason[:500], utcnow()
        session.commit()
        return status
    except Exception as exc:
        session.rollback()
        log.exception("processing Meta change %s failed", change_id)
        session.execute(
            update(MetaChange)
            .where(MetaChange.id == change_id)
            .values(
                status="failed",
                reason=f"{type(exc).__name__}: {exc}"[:500],
                attempts=MetaChange.attempts + 1,
                processed_at=utcnow(),  # the last attempt, for the worker's backoff
            )
        )
        session.commit()
        return "failed"


def _identity(session: Session, event: CommentEvent, now: datetime) -> int:
    stmt = _insert(session, SocialIdentity).on_conflict_do_nothing(
        index_elements=["platform", "user_id"]
    )
    session.execute(
        stmt,
        {
            "platform": event.platform,
            "user_id": event.user_id,
            "username": event.username,
            "first_seen_at": now,
            "last_seen_at": now,
        },
    )
    identity = session.scalars(
        select(SocialIdentity).where(
            SocialIdentity.platform == event.platform, SocialIdentity.user_id == event.user_id
        )
    ).one()
    if event.username:
        identity.username = event.username
    identity.last_seen_at = now
    return identity.id


def _comment(session: Session, app: Flask, event: CommentEvent) -> tuple[str, str]:
    if event.user_id and event.user_id == event.account_id:
        return "ignored", "the account's own comment"
    now = utcnow()
    created = min(event.created_at or now, now)
    post_id = post_for_media(session, event.platform, event.media_id)
    linked = post_id is not None and event.kind == "comment" and bool(event.user_id)
    values = {
        "platform": event.platform,
        "kind": event.kind,
        "comment_id": event.comment_id,
        "account_id": event.account_id,
        "media_id": event.media_id,
        "post_id": post_id,
        "identity_id": None,
        "interaction_id": None,
        "text": event.text.replace("\x00", ""),
        "status": "recorded" if linked else "unlinked",
        "keyword": "",
        "reply_status": "none",
        "reply_error": "",
        "clicks": 0,
        "created_at": created,
        "received_at": now,
    }
    stmt = (
        _insert(session, Comment)
        .on_conflict_do_nothing(index_elements=["platform", "comment_id"])
        .returning(Comment.__table__.c.id)
    )
    comment_pk = session.execute(stmt, values).scalar()
    if comment_pk is None:
        return "processed", "already recorded"
    if not linked:
        return "processed", "media not linked to a post" if post_id is None else event.kind
    comment = session.get(Comment, comment_pk)
    assert comment is not None
    assert post_id is not None
    identity_id = _identity(session, event, now)
    comment.identity_id = identity_id

    bound = app.config["SHOPPABLE_LISTENING_MAX_COMMENTS_PER_USER"]
    recent = session.scalar(
        select(func.count())
        .select_from(Comment)
        .where(
            Comment.identity_id == identity_id,
            Comment.post_id == post_id,
            Comment.status == "recorded",
            Comment.created_at >= created - FLOOD_WINDOW,
            Comment.id != comment_pk,
        )
    )
    if (recent or 0) >= bound:
        comment.status = "flood"
        return "processed", "flood: over the bound per user per post"

    interaction_id = new_id()
    session.add(
        Interaction(
            id=interaction_id,
            kind="comment",
            occurred_at=created,
            channel=event.platform,
            post_id=post_id,
            detail={
                "platform": event.platform,
                "comment_id": event.comment_id,
                "media_id": event.media_id,
                "identity_id": identity_id,
                "text": comment.text[:1000],
            },
        )
    )
    comment.interaction_id = interaction_id

    rule = session.get(KeywordRule, post_id)
    matched = keywords.match(rule.keywords, comment.text) if rule is not None else None
    if matched is None:
        return "processed", "comment recorded"
    comment.keyword = matched[:100]
    _reply(session, app, comment, rule, interaction_id, identity_id, post_id, now)
    return "processed", f"reply {comment.reply_status}"


def _reply(
    session: Session,
    app: Flask,
    comment: Comment,
    rule: Any,
    interaction_id: uuid.UUID,
    identity_id: int,
    post_id: int,
    now: datetime,
) -> None:
    if now - comment.created_at > REPLY_WINDOW:
        comment.reply_status = "failed"
        comment.reply_error = "the comment is older than Meta's 7-day private reply window"
        return
    earlier = session.scalar(
        select(Comment.id).where(
            Comment.identity_id == identity_id,
            Comment.post_id == post_id,
            Comment.reply_status.in_(("queued", "sent")),
            Comment.id != comment.id,
        )
    )
    if earlier is not None:
        comment.reply_status = "skipped"
        comment.reply_error = f"already replied to this person on this post (comment {earlier})"
        return
    from ..crm import outbox

    link = absolute_url("shoppable_listening.reply_link", token=linktoken.sign(interaction_id))
    template = rule.message or app.config["SHOPPABLE_LISTENING_REPLY_TEXT"]
    text = template.replace("{link}", link) if "{link}" in template else f"{template} {link}"
    outbox.enqueue(
        session,
        sink=SINK,
        event="comment.reply",
        key=f"reply:{comment.platform}:{comment.comment_id}",
        payload={
            "platform": comment.platform,
            "account_id": comment.account_id,
            "comment_id": comment.comment_id,
            "comment_created_at": comment.created_at.isoformat(),
            "text": text,
        },
    )
    comment.reply_status = "queued"


#: The worker retries a failed change after 5 minutes, doubling per attempt (at most a
#: day), up to MAX_ATTEMPTS; a change still "received" after 5 minutes was interrupted.
RETRY_DELAY = timedelta(minutes=5)
MAX_RETRY_DELAY = timedelta(days=1)
MAX_ATTEMPTS = 12
RETRY_BATCH = 200


def retry_delay(attempts: int) -> timedelta:
    return min(RETRY_DELAY * 2 ** max(attempts - 1, 0), MAX_RETRY_DELAY)


def retry_changes(app: Flask, now: datetime, should_stop: Any) -> int:
    """Worker job "listening": process again the changes whose processing failed or was
    interrupted, with backoff, so none is lost once Meta stops retrying (after 36 hours).

    The reply's link is absolute: outside a request it is made from
    ``SHOPPABLE_PUBLIC_URL``; without it the job leaves the changes to Meta's retries.
    """
    from .payloads import change_from

    base = app.config["SHOPPABLE_PUBLIC_URL"]
    if not base or not app.config["SHOPPABLE_META_APP_SECRET"]:
        return 0
    factory = app.extensions["shoppable"].session_factory
    with factory() as session:
        rows = session.execute(
            select(
                MetaChange.id,
                MetaChange.object,
                MetaChange.account_id,
                MetaChange.payload,
                MetaChange.attempts,
                MetaChange.received_at,
                MetaChange.processed_at,
            )
            .where(
                MetaChange.status.in_(("received", "failed")),
                MetaChange.attempts < MAX_ATTEMPTS,
                MetaChange.received_at <= now - RETRY_DELAY,
            )
            .order_by(MetaChange.id)
            .limit(RETRY_BATCH)
        ).all()
        due = [
            r for r in rows if (r.processed_at or r.received_at) + retry_delay(r.attempts) <= now
        ]
        if not due:
            return 0
        handled = 0
        with app.test_request_context("/", base_url=base):
            for row in due:
                if should_stop():
                    break
                raw = row.payload.get("change", row.payload) if row.payload else {}
                process(session, app, row.id, change_from(row.object, row.account_id, raw))
                handled += 1
        return handled
