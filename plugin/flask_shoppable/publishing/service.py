"""Connecting accounts and publishing posts: the rules that need the database.

Every write is one transaction: checked, flushed, committed; on any refusal the session
is rolled back, so nothing half-written stays (no publication, no tracked link, no
outbox message). Refusals raise :class:`PublishingError` with an HTTP-like status.

Publishing a post (:func:`publish`) checks everything a platform would refuse before any
call is made: the accounts (known, connected, token not expired), the post (published in
the shop), the time (``publish_at`` not in the past), the image (fetched once, checked
against each channel's type, size and aspect ratio rules) and each channel's caption
(its length with the link, never cut). Then, per account, a :class:`Publication` with
its own tracked link (channel, utm_content ``publication-<id>``) and one outbox message
(sink ``publish_<channel>``, key ``publication:<id>``, ``not_before`` = ``publish_at``),
all in one commit. The worker's outbox job delivers each when due (:mod:`.sinks`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import utcnow
from ..social.links import get_or_create_link, link_url
from ..social.models import Post
from ..social.schemas import ID_MAX
from ..social.service import absolute
from . import crypto, images, rules
from .models import ChannelAccount, Publication

Errors = dict[Any, Any]

#: Instagram captions cannot carry a clickable link: they point at the bio instead.
LINK_IN_BIO = "Shop this look: link in bio."


class PublishingError(Exception):
    """A request refused: ``status`` as HTTP would say it, per-field ``errors``."""

    def __init__(self, status: int, message: str, errors: Errors | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def describe(account: ChannelAccount) -> str:
    name = f" {account.name!r}" if account.name else ""
    return f"{rules.RULES[account.channel].label} account {account.id}{name}"


# --- accounts --------------------------------------------------------------------------


def select_accounts(
    *, channel: str | None = None, connected: bool | None = None
) -> Select[ChannelAccount]:
    stmt = select(ChannelAccount).order_by(ChannelAccount.id)
    if channel is not None:
        stmt = stmt.where(ChannelAccount.channel == channel)
    if connected is True:
        stmt = stmt.where(ChannelAccount.disconnected_at.is_(None))
    elif connected is False:
        stmt = stmt.where(ChannelAccount.disconnected_at.is_not(None))
    return stmt


def get_account(session: Session, account_id: int) -> ChannelAccount:
    account = session.get(ChannelAccount, account_id) if account_id <= ID_MAX else None
    if account is None:
        raise PublishingError(404, f"No channel account with id {account_id}.")
    return account


def connect(session: Session, data: dict[str, Any]) -> tuple[ChannelAccount, bool]:
    """Connect an account (or reconnect it with a new token); ``(account, created)``.

    The same (channel, account_id) connected again keeps its row (and its publications'
    history) and takes the new token, name and expiry.
    """
    expires_at = data.get("expires_at")
    if expires_at is not None and expires_at <= utcnow():
        session.rollback()
        raise PublishingError(
            422,
            "The token has already expired: get a fresh one from the platform.",
            {"expires_at": ["Must be in the future."]},
        )
    account = session.scalar(
        select(ChannelAccount).where(
            ChannelAccount.channel == data["channel"],
            ChannelAccount.account_id == data["account_id"],
        )
    )
    created = account is None
    if account is None:
        account = ChannelAccount(channel=data["channel"], account_id=data["account_id"])
        session.add(account)
    account.name = data.get("name", account.name or "")
    account.catalog_id = data.get("catalog_id", account.catalog_id or "")
    account.token_encrypted = crypto.encrypt(data["token"])
    account.token_expires_at = expires_at
    account.connected_at = utcnow()
    account.disconnected_at = None
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise PublishingError(409, "The account was connected concurrently; retry.") from None
    return account, created


def disconnect(session: Session, account: ChannelAccount) -> ChannelAccount:
    """Forget the token; publications still scheduled on the account will fail."""
    account.token_encrypted = None
    account.disconnected_at = account.disconnected_at or utcnow()
    session.commit()
    return account


def rotate_tokens(session: Session) -> tuple[int, int]:
    """Re-encrypt every stored token with the newest key: ``(rotated, total)``."""
    rotated = total = 0
    for account in session.scalars(
        select(ChannelAccount).where(ChannelAccount.token_encrypted.is_not(None))
    ):
        total += 1
        stored = account.token_encrypted or ""
        if not crypto.is_newest(stored):
            account.token_encrypted = crypto.rotate(stored)
            rotated += 1
    session.commit()
    return rotated, total


# --- publications ----------------------------------------------------------------------


def select_publications(
    *, post_id: int | None = None, state: str | None = None
) -> Select[Publication]:
    stmt = select(Publication).order_by(Publication.id)
    if post_id is not None:
        stmt = stmt.where(Publication.post_id == post_id)
    if state is not None:
        stmt = stmt.where(Publication.state == state)
    return stmt


def get_publication(session: Session, publication_id: int) -> Publication:
    row = session.get(Publication, publication_id) if publication_id <= ID_MAX else None
    if row is None:
        raise PublishingError(404, f"No publication with id {publication_id}.")
    return row


def _accounts(session: Session, data: dict[str, Any]) -> list[ChannelAccount]:
    """The accounts asked for (by id, or each channel's one connected account)."""
    errors: Errors = {}
    chosen: dict[int, ChannelAccount] = {}
    for index, account_id in enumerate(data.get("accounts", [])):
        account = session.get(ChannelAccount, account_id) if account_id <= ID_MAX else None
        if account is None:
            errors.setdefault("accounts", {})[index] = [f"No channel account with id {account_id}."]
        else:
            chosen[account.id] = account
    for index, channel in enumerate(data.get("channels", [])):
        found = list(
            session.scalars(
                select(ChannelAccount).where(
                    ChannelAccount.channel == channel, ChannelAccount.disconnected_at.is_(None)
                )
            )
        )
        label = rules.RULES[channel].label
        if not found:
            errors.setdefault("channels", {})[index] = [
                f"No connected {label} account: connect one (POST /channel-accounts)."
            ]
        elif len(found) > 1:
            ids = ", ".join(str(a.id) for a in found)
            errors.setdefault("channels", {})[index] = [
                f"Several {label} accounts are connected ({ids}): name one in accounts."
            ]
        else:
            chosen[found[0].id] = found[0]
    if errors:
        raise PublishingError(422, "Unknown account or channel.", errors)
    if not chosen:
        raise PublishingError(
            422,
            "Choose where to publish: accounts (ids) or channels.",
            {"accounts": ["Give at least one account or channel."]},
        )
    return list(chosen.values())


def _account_problems(account: ChannelAccount, now: datetime) -> list[str]:
    if not account.connected:
        return [f"{describe(account)} is disconnected: connect it again (POST /channel-accounts)"]
    if account.token_expired(now):
        return [
            f"{describe(account)}'s token expired at {account.token_expires_at:%Y-%m-%d %H:%M} "
            "UTC: reconnect it with a fresh token (POST /channel-accounts)"
        ]
    return []


def _title(post: Post, data: dict[str, Any]) -> str:
    if data.get("title"):
        return str(data["title"])
    for tag in post.tags:
        if tag.product is not None and tag.product.active:
            return tag.product.title
    return str(current_app.config["SHOPPABLE_SHOP_NAME"])


def compose(channel: str, text: str, url: str) -> str:
    """The caption a channel gets: the text, then its tracked link or "link in bio"."""
    text = text.strip()
    if channel == "instagram":
        return f"{text}\n\n{LINK_IN_BIO}" if text else LINK_IN_BIO
    if channel == "pinterest":
        return text  # the link is the pin's own field
    if channel == "x":
        return f"{text} {url}" if text else url
    return f"{text}\n\nShop: {url}" if text else url


def _image(image_url: str, accounts: list[ChannelAccount]) -> images.ImageInfo | None:
    if not any(rules.needs_image(a.channel) for a in accounts):
        return None
    config = current_app.config
    try:
        return images.fetch(
            image_url,
            timeout=config["SHOPPABLE_PUBLISH_TIMEOUT"],
            max_bytes=max(r.max_bytes for r in rules.RULES.values()),
            local=config["SHOPPABLE_PUBLISH_LOCAL_IMAGES"],
        )
    except images.ImageError as exc:
        raise PublishingError(
            422,
            f"The post's image cannot be checked: {exc}.",
            {"image_url": [str(exc)]},
        ) from None


def publish(session: Session, post: Post, data: dict[str, Any]) -> list[Publication]:
    """Publish ``post`` now or at ``publish_at`` on the chosen accounts (see module doc)."""
    try:
        return _publish(session, post, data)
    except Exception:
        session.rollback()
        raise


def _publish(session: Session, post: Post, data: dict[str, Any]) -> list[Publication]:
    from ..crm import outbox

    now = utcnow()
    publish_at: datetime | None = data.get("publish_at")
    if publish_at is not None and publish_at <= now:
        raise PublishingError(
            400,
            f"publish_at ({publish_at.isoformat()}) is in the past: give a future time, "
            "or leave it out to publish now.",
            {"json": {"publish_at": ["Must be in the future."]}},
        )
    if post.status != "published":
        raise PublishingError(
            409,
            f"Post {post.id} is {post.status} in the shop: publish it there first "
            "(POST /posts/<id>/publish), so that its links lead somewhere.",
        )
    accounts = _accounts(session, data)
    problems: dict[int, list[str]] = {}
    for account in accounts:
        found = _account_problems(account, now)
        existing = session.scalar(
            select(Publication).where(
                Publication.post_id == post.id,
                Publication.account_id == account.id,
                Publication.live.is_(True),
            )
        )
        if existing is not None:
            found.append(
                f"post {post.id} is already {existing.state} on {describe(account)} "
                f"(publication {existing.id}): a channel never gets the same post twice"
            )
        if found:
            problems[account.id] = found
    if problems:
        conflict = all("already" in p for ps in problems.values() for p in ps)
        raise PublishingError(
            409 if conflict else 422, _summary(problems), {"json": {"accounts": problems}}
        )

    image_url = data.get("image_url") or absolute(post.image_url)
    image = _image(image_url, accounts)
    title = _title(post, data)
    urls: dict[int, str] = {}
    captions: dict[str, str] = data.get("captions") or {}
    publications = []
    for account in accounts:
        channel = account.channel
        found = []
        if image is not None and rules.needs_image(channel):
            found += rules.image_problems(channel, image)
        row = Publication(
            post_id=post.id,
            account_id=account.id,
            channel=channel,
            title=title,
            image_url=image_url,
            state="scheduled",
            live=True,
            publish_at=publish_at or now,
        )
        session.add(row)
        session.flush()
        link = get_or_create_link(
            session,
            channel=channel,
            target="post",
            post_id=post.id,
            utm_campaign=post.campaign,
            utm_content=f"publication-{row.id}",
            label=f"Published to {describe(account)}",
        )
        row.link_id = link.id
        urls[row.id] = link_url(link)
        row.caption = compose(channel, captions.get(channel, post.caption), urls[row.id])
        found += rules.caption_problems(channel, row.caption, title)
        if found:
            problems[account.id] = found
        publications.append(row)
    if problems:
        raise PublishingError(422, _summary(problems), {"json": {"accounts": problems}})

    for row in publications:
        outbox.enqueue(
            session,
            sink=f"publish_{row.channel}",
            event="post.publish",
            key=f"publication:{row.id}",
            payload={
                "publication_id": row.id,
                "post_id": post.id,
                "channel": row.channel,
                "link_url": urls[row.id],
            },
            not_before=publish_at,
        )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise PublishingError(
            409, "The post was published to one of these accounts concurrently; retry."
        ) from None
    return publications


def _summary(problems: dict[int, list[str]]) -> str:
    parts = [f"account {aid}: {'; '.join(found)}" for aid, found in problems.items()]
    return "Cannot publish — " + " | ".join(parts) + "."


def cancel(session: Session, publication: Publication) -> Publication:
    """Cancel a scheduled publication (its outbox message then delivers nothing)."""
    cancelled = session.execute(
        update(Publication)
        .where(Publication.id == publication.id, Publication.state == "scheduled")
        .values(
            state="failed",
            live=None,
            failure_reason="cancelled by the merchant",
            failed_at=utcnow(),
        )
    ).rowcount
    session.commit()
    session.refresh(publication)
    if not cancelled:
        raise PublishingError(
            409,
            f"Publication {publication.id} is {publication.state}: only a scheduled one "
            "can be cancelled.",
        )
    return publication


def mark_failed(publication: Publication, reason: str) -> None:
    publication.state = "failed"
    publication.live = None
    publication.failure_reason = reason[:2000]
    publication.failed_at = utcnow()
