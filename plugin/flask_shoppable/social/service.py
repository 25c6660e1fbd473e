"""Writing posts, tags and tracked links: the rules that need the database.

Each function takes a :class:`~sqlalchemy.orm.Session` and what a schema of
:mod:`.schemas` loaded (input already checked field by field). Refusals raise
:class:`SocialError` with an HTTP-like status and per-field messages shaped like
marshmallow's. Every write is one transaction: it is checked first, flushed, and
committed; on any error the session is rolled back, so nothing half-written stays.

After a commit that changes where a link leads (a link edited, a post published,
archived or renamed), this process's link cache is cleared
(:func:`flask_shoppable.tracking.linkcache.invalidate`), so the change applies to the
next click here at once and within SHOPPABLE_LINK_CACHE_SECONDS in other processes.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from flask import current_app, request
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..admin.shop import current_shop_name
from ..catalog.models import Product, Variant
from ..db import utcnow
from ..tracking import chains, linkcache
from ..tracking.models import Interaction
from .channels import CHANNELS
from .links import link_url, unused_code, why_not_live
from .models import Post, PostTag, TrackedLink
from .schemas import ID_MAX, SLUG_MAX

Errors = dict[Any, Any]

#: How many of the caption's words make a slug.
SLUG_WORDS = 6
SLUG_BASE_MAX = 60
#: Tries at a generated slug when concurrent requests race for the same one.
CREATE_ATTEMPTS = 3


class SocialError(Exception):
    """A write refused: ``status`` as HTTP would say it, per-field ``errors``."""

    def __init__(self, status: int, message: str, errors: Errors | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _commit(session: Session, conflict: str) -> None:
    """Flush and commit; a unique constraint that fires (a concurrent write) is a 409."""
    try:
        session.flush()
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise SocialError(409, f"{conflict} ({type(exc.orig).__name__}); retry.") from None
    except Exception:
        session.rollback()
        raise


# --- posts ---------------------------------------------------------------------------


def get_post(session: Session, post_id: int) -> Post:
    # An id beyond the column's range would be a database error on PostgreSQL.
    post = session.get(Post, post_id) if post_id <= ID_MAX else None
    if post is None:
        raise SocialError(404, f"No post with id {post_id}.")
    return post


def select_posts(
    *, status: str | None = None, campaign: str | None = None, q: str | None = None
) -> Select[Post]:
    """Posts matching the filters, newest first."""
    stmt = select(Post).order_by(Post.id.desc())
    if status is not None:
        stmt = stmt.where(Post.status == status)
    if campaign is not None:
        stmt = stmt.where(Post.campaign == campaign)
    if q:
        pattern = f"%{_like_escape(q)}%"
        stmt = stmt.where(
            or_(Post.slug.ilike(pattern, escape="\\"), Post.caption.ilike(pattern, escape="\\"))
        )
    return stmt


def slug_base(caption: str) -> str:
    """``"Summer look: linen & sun!"`` → ``"summer-look-linen-sun"``; never empty."""
    ascii_text = unicodedata.normalize("NFKD", caption).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())[:SLUG_WORDS]
    base = "-".join(words)[:SLUG_BASE_MAX].strip("-")
    return base or "post"


def unique_slug(session: Session, caption: str) -> str:
    """A slug from the caption's first words, with -2, -3... appended if it is taken."""
    base = slug_base(caption)
    used = set(
        session.scalars(
            select(Post.slug).where(
                or_(Post.slug == base, Post.slug.like(f"{_like_escape(base)}-%", escape="\\"))
            )
        )
    )
    if base not in used:
        return base
    n = 2
    while f"{base}-{n}" in used:
        n += 1
    slug = f"{base}-{n}"
    assert len(slug) <= SLUG_MAX
    return slug


def _slug_taken(session: Session, slug: str, post: Post | None = None) -> Errors:
    stmt = select(Post.id).where(Post.slug == slug)
    if post is not None:
        stmt = stmt.where(Post.id != post.id)
    if session.scalar(stmt) is not None:
        return {"slug": [f"Slug {slug!r} is already used by another post."]}
    return {}


def _tag_rows(session: Session, tags: list[dict[str, Any]]) -> list[PostTag]:
    """PostTag rows for ``tags``; a 422 naming each index whose product does not exist."""
    wanted = {tag["product_id"] for tag in tags}
    found = (
        set(session.scalars(select(Product.id).where(Product.id.in_(wanted)))) if wanted else set()
    )
    errors = {
        index: {"product_id": [f"No product with id {tag['product_id']}."]}
        for index, tag in enumerate(tags)
        if tag["product_id"] not in found
    }
    if errors:
        indexes = ", ".join(str(i) for i in errors)
        raise SocialError(
            422, f"Tag(s) at index {indexes} name a product that does not exist.", errors
        )
    return [
        PostTag(product_id=tag["product_id"], x=tag.get("x"), y=tag.get("y"), position=index)
        for index, tag in enumerate(tags)
    ]


def publish_problems(session: Session, post: Post) -> list[str]:
    """Why ``post`` cannot be shown to shoppers (empty when it can)."""
    problems = []
    if not post.image_url:
        problems.append("it has no image (set image_url)")
    product_ids = [tag.product_id for tag in post.tags]
    active = (
        session.scalar(
            select(func.count())
            .select_from(Product)
            .where(Product.id.in_(product_ids), Product.active.is_(True))
        )
        if product_ids
        else 0
    )
    if not active:
        problems.append("no tagged product is active (PUT /posts/<id>/tags)")
    return problems


def create_post(session: Session, data: dict[str, Any]) -> Post:
    """Create a draft post (with its tags when given) from a loaded PostSchema.

    A generated slug that a concurrent request took first is made again (a few times);
    an explicit one is a 409.
    """
    explicit = data.get("slug")
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            if explicit:
                errors = _slug_taken(session, explicit)
                if errors:
                    raise SocialError(409, "The slug is already in use.", errors)
            tags = _tag_rows(session, data.get("tags", []))
        except SocialError as exc:
            session.rollback()
            if exc.status == 422 and exc.errors:
                exc.errors = {"tags": exc.errors}
            raise
        caption = data.get("caption", "")
        post = Post(
            slug=explicit or unique_slug(session, caption),
            caption=caption,
            image_url=data.get("image_url", ""),
            image_alt=data.get("image_alt", ""),
            campaign=data.get("campaign", ""),
            status="draft",
            tags=tags,
        )
        session.add(post)
        try:
            _commit(session, "The post conflicts with a concurrent change")
        except SocialError:
            if explicit:
                errors = _slug_taken(session, explicit)
                if errors:
                    raise SocialError(409, "The slug is already in use.", errors) from None
                raise
            if attempt == CREATE_ATTEMPTS:
                raise
            continue
        return post
    raise AssertionError("unreachable")  # pragma: no cover


def update_post(session: Session, post: Post, data: dict[str, Any]) -> Post:
    """Apply a loaded PostUpdateSchema (a partial update)."""
    slug = data.get("slug")
    if slug is not None and slug != post.slug:
        errors = _slug_taken(session, slug, post)
        if errors:
            raise SocialError(409, "The slug is already in use.", errors)
    if post.status == "published" and "image_url" in data and not data["image_url"]:
        raise SocialError(
            409,
            "A published post needs an image: archive it before removing the image.",
            {"image_url": ["Must not be empty while the post is published."]},
        )
    moved = slug is not None and slug != post.slug
    for field in ("slug", "caption", "image_url", "image_alt", "campaign"):
        if field in data:
            setattr(post, field, data[field])
    _commit(session, "The post conflicts with a concurrent change")
    if moved:
        linkcache.invalidate()  # cached redirects to the old slug
    return post


def replace_tags(session: Session, post: Post, tags: list[dict[str, Any]]) -> Post:
    """Replace all of a post's tags with ``tags`` (a loaded TagSchema list)."""
    try:
        rows = _tag_rows(session, tags)
        if post.status == "published":
            active = (
                set(
                    session.scalars(
                        select(Product.id).where(
                            Product.id.in_([r.product_id for r in rows]), Product.active.is_(True)
                        )
                    )
                )
                if rows
                else set()
            )
            if not active:
                raise SocialError(
                    409,
                    "A published post needs at least one tag with an active product: "
                    "archive it before removing them.",
                )
    except SocialError:
        session.rollback()
        raise
    # Old rows go first (flushed), so a product kept in the list does not clash with
    # itself on the (post_id, product_id) unique constraint.
    post.tags.clear()
    session.flush()
    post.tags.extend(rows)
    _commit(session, "The tags changed concurrently")
    return post


def publish_post(session: Session, post: Post) -> Post:
    """Show the post to shoppers. Needs an image and a tag with an active product.

    ``published_at`` is set on the first publication and kept afterwards (publishing an
    archived post again brings it back in its place, not as new).
    """
    problems = publish_problems(session, post)
    if problems:
        raise SocialError(409, f"The post cannot be published: {'; '.join(problems)}.")
    post.status = "published"
    if post.published_at is None:
        post.published_at = utcnow()
    _commit(session, "The post changed concurrently")
    linkcache.invalidate()  # its links redirect from now on
    return post


def archive_post(session: Session, post: Post) -> Post:
    """Hide the post from shoppers; its links keep working only as far as the pages allow."""
    post.status = "archived"
    _commit(session, "The post changed concurrently")
    linkcache.invalidate()  # its links answer 404 from now on
    return post


def delete_post(session: Session, post: Post) -> None:
    """Delete a post and its tags, unless tracked links point at it (archive it then)."""
    links = session.scalar(
        select(func.count()).select_from(TrackedLink).where(TrackedLink.post_id == post.id)
    )
    if links:
        raise SocialError(
            409,
            f"The post has {links} tracked link(s), which may be printed or shared: "
            "archive it instead (POST /posts/<id>/archive).",
        )
    # Its interactions' post goes NULL: their visitors' chains change (tracking.chains).
    chains.unchain_visitors_of(session.connection(), Interaction.post_id == post.id)
    session.delete(post)
    _commit(session, "The post changed concurrently")


# --- links ---------------------------------------------------------------------------

#: Which object fields each target takes.
_TARGET_FIELDS = {
    "post": ("post_id",),
    "product": ("product_id",),
    "storefront": (),
    "checkout": ("variant_id", "quantity"),
}
_OBJECT_FIELDS = ("post_id", "product_id", "variant_id", "quantity")


def get_link(session: Session, link_id: int) -> TrackedLink:
    link = session.get(TrackedLink, link_id) if link_id <= ID_MAX else None
    if link is None:
        raise SocialError(404, f"No link with id {link_id}.")
    return link


def select_links(
    *,
    channel: str | None = None,
    target: str | None = None,
    post_id: int | None = None,
    product_id: int | None = None,
    partner: str | None = None,
    active: bool | None = None,
) -> Select[TrackedLink]:
    """Links matching the filters, newest first."""
    stmt = select(TrackedLink).order_by(TrackedLink.id.desc())
    for column, value in (
        (TrackedLink.channel, channel),
        (TrackedLink.target, target),
        (TrackedLink.post_id, post_id),
        (TrackedLink.product_id, product_id),
        (TrackedLink.partner, partner),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if active is not None:
        stmt = stmt.where(TrackedLink.active.is_(active))
    return stmt


def _target_errors(session: Session, data: dict[str, Any]) -> tuple[Errors, dict[str, Any]]:
    """Check the target's object; return errors and the object columns to store."""
    target = data["target"]
    wanted = _TARGET_FIELDS[target]
    errors: Errors = {}
    for name in _OBJECT_FIELDS:
        given = data.get(name) is not None
        if name in wanted and not given:
            errors[name] = [f"Required for a {target} link."]
        elif name not in wanted and given:
            errors[name] = [f"Not used by a {target} link."]
    if errors:
        return errors, {}
    columns: dict[str, Any] = {name: data[name] for name in wanted}
    if target == "post" and session.get(Post, data["post_id"]) is None:
        errors["post_id"] = [f"No post with id {data['post_id']}."]
    elif target == "product" and session.get(Product, data["product_id"]) is None:
        errors["product_id"] = [f"No product with id {data['product_id']}."]
    elif target == "checkout":
        variant = session.get(Variant, data["variant_id"])
        if variant is None:
            errors["variant_id"] = [f"No variant with id {data['variant_id']}."]
        elif not (variant.active and variant.product.active):
            errors["variant_id"] = [
                f"Variant {variant.id} is not for sale (it or its product is inactive)."
            ]
        else:
            columns["product_id"] = variant.product_id
    return errors, columns


def create_link(session: Session, data: dict[str, Any]) -> TrackedLink:
    """Create a tracked link from a loaded LinkSchema, with the channel's UTM defaults."""
    errors, columns = _target_errors(session, data)
    if errors:
        session.rollback()
        raise SocialError(
            422, f"The {data['target']} link's target is incomplete or unknown.", errors
        )
    channel = CHANNELS[data["channel"]]
    campaign = data.get("utm_campaign")
    if campaign is None:
        post = session.get(Post, columns["post_id"]) if "post_id" in columns else None
        campaign = post.campaign if post is not None else ""
    link = TrackedLink(
        code=unused_code(session),
        channel=channel.name,
        target=data["target"],
        label=data.get("label", ""),
        utm_source=data.get("utm_source") or channel.utm_source,
        utm_medium=data.get("utm_medium") or channel.utm_medium,
        utm_campaign=campaign,
        utm_content=data.get("utm_content", ""),
        utm_term=data.get("utm_term", ""),
        partner=data.get("partner", ""),
        active=data.get("active", True),
        expires_at=data.get("expires_at"),
        **columns,
    )
    session.add(link)
    _commit(session, "The link's code clashed with a concurrent write")
    return link


_LINK_EDITABLE = (
    "label",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "partner",
    "active",
    "expires_at",
)


def update_link(session: Session, link: TrackedLink, data: dict[str, Any]) -> TrackedLink:
    """Apply a loaded LinkUpdateSchema (only the fields that do not change the target)."""
    for field in _LINK_EDITABLE:
        if field in data:
            setattr(link, field, data[field])
    _commit(session, "The link changed concurrently")
    linkcache.invalidate(link.code)
    return link


def absolute(url: str) -> str:
    """``/static/a.jpg`` made absolute against SHOPPABLE_PUBLIC_URL or the request."""
    if not url.startswith("/"):
        return url
    base = current_app.config["SHOPPABLE_PUBLIC_URL"] or request.host_url.rstrip("/")
    return f"{base}{url}"


def share(link: TrackedLink, text: str | None = None) -> dict[str, Any]:
    """The link's tracked URL and its channel's share-intent URL, with text and image."""
    reason = why_not_live(link)
    if reason is not None:
        raise SocialError(409, f"A click on the link would answer 404 now: {reason}.")
    image = ""
    default_text = current_shop_name()
    product = link.product
    if link.target == "post" and link.post is not None:
        default_text = link.post.caption or default_text
        image = link.post.image_url
    elif product is not None:
        default_text = product.title
        images = product.images or []
        image = images[0].get("url", "") if images else ""
    chosen = text if text is not None else default_text
    url = link_url(link)
    image_url = absolute(image) if image else ""
    return {
        "link_id": link.id,
        "channel": link.channel,
        "url": url,
        "share_url": CHANNELS[link.channel].share_url(url, chosen, image_url),
        "text": chosen,
        "image_url": image_url or None,
    }
