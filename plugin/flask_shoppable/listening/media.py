"""Media linked to shoppable posts: what makes a comment part of a sales flow."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import MEDIA_SOURCES, PLATFORMS, PostMedia

MAX_MEDIA_ID = 64


class MediaError(ValueError):
    """A link that cannot be made (bad platform or id, media linked to another post)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def link_media(
    session: Session, platform: str, media_id: str, post_id: int, source: str = "manual"
) -> PostMedia:
    """Link ``media_id`` on ``platform`` to post ``post_id`` (no commit; the caller's
    transaction).

    Linking the same media to the same post again returns the existing row (a
    "published" source wins over "manual"); media already linked to another post is a
    MediaError (409): a comment must lead to one post.
    """
    if platform not in PLATFORMS:
        raise MediaError(422, f"platform must be one of {', '.join(PLATFORMS)}")
    if source not in MEDIA_SOURCES:
        raise MediaError(422, f"source must be one of {', '.join(MEDIA_SOURCES)}")
    media_id = (media_id or "").strip()
    if (
        not media_id
        or len(media_id) > MAX_MEDIA_ID
        or not media_id.replace("_", "").replace("-", "").isalnum()
    ):
        raise MediaError(422, f"media_id must be 1 to {MAX_MEDIA_ID} letters, digits, '_' or '-'")
    for _ in range(2):
        row = session.scalars(
            select(PostMedia).where(PostMedia.platform == platform, PostMedia.media_id == media_id)
        ).first()
        if row is not None:
            if row.post_id != post_id:
                raise MediaError(
                    409, f"{platform} media {media_id} is linked to post {row.post_id}"
                )
            if source == "published":
                row.source = source
            return row
        row = PostMedia(platform=platform, media_id=media_id, post_id=post_id, source=source)
        try:
            # A savepoint: another transaction linking the same media at the same moment
            # makes this insert fail alone, not the caller's transaction.
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            continue
        return row
    raise MediaError(409, f"{platform} media {media_id} is being linked concurrently")


def post_for_media(session: Session, platform: str, media_id: str) -> int | None:
    """The post ``media_id`` is linked to, or None."""
    return session.scalar(
        select(PostMedia.post_id).where(
            PostMedia.platform == platform, PostMedia.media_id == media_id
        )
    )
