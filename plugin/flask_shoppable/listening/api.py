"""Merchant API for listening (under ``<prefix>/api``, behind API keys).

* ``GET|POST /listening/media``, ``DELETE /listening/media/<id>``: media (Instagram media
  id, Facebook Page post id) linked to shoppable posts; only comments on linked media
  become interactions and can get a reply.
* ``GET|PUT /listening/posts/<post_id>/rule``: the post's comment-to-buy keywords and
  reply text (``{link}`` is replaced by the commenter's own link).
* ``GET /listening/comments``: recent comments (filter by post, status, reply status).
* ``GET /listening/report``: the listening report per post and per day (:mod:`.report`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from .. import db
from ..api import abort, json_bodies_only
from ..db import utcnow
from ..social.models import Post
from . import keywords as kw
from .media import MAX_MEDIA_ID, MediaError, link_media
from .models import (
    COMMENT_STATUSES,
    MEDIA_SOURCES,
    PLATFORMS,
    REPLY_STATUSES,
    Comment,
    KeywordRule,
    PostMedia,
)
from .report import MAX_DAYS, listening_report

blp = Blueprint(
    "shoppable_listening_api",
    __name__,
    description="Social listening: linked media, comment-to-buy rules, comments, report.",
)


json_bodies_only(blp)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class MediaSchema(_Strict):
    id = fields.Integer(dump_only=True)
    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))
    media_id = fields.String(required=True, validate=validate.Length(min=1, max=MAX_MEDIA_ID))
    post_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    source = fields.String(dump_only=True, metadata={"enum": list(MEDIA_SOURCES)})
    created_at = fields.DateTime(dump_only=True)


class MediaQuerySchema(_Strict):
    post_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class RuleSchema(_Strict):
    post_id = fields.Integer(dump_only=True)
    keywords = fields.List(
        fields.String(validate=validate.Length(max=kw.MAX_KEYWORD_LENGTH)),
        required=True,
        validate=validate.Length(max=kw.MAX_KEYWORDS),
        metadata={"description": "Words (case and accents ignored) or emoji."},
    )
    message = fields.String(
        load_default="",
        validate=validate.Length(max=900),
        metadata={"description": "The reply's text; {link} is the commenter's link."},
    )
    updated_at = fields.DateTime(dump_only=True)


class CommentSchema(Schema):
    id = fields.Integer()
    platform = fields.String()
    kind = fields.String()
    comment_id = fields.String()
    media_id = fields.String()
    post_id = fields.Integer(allow_none=True)
    username = fields.String()
    text = fields.String()
    status = fields.String()
    keyword = fields.String()
    reply_status = fields.String()
    reply_error = fields.String()
    clicks = fields.Integer()
    created_at = fields.DateTime()


class CommentQuerySchema(_Strict):
    post_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    status = fields.String(validate=validate.OneOf(COMMENT_STATUSES))
    reply_status = fields.String(validate=validate.OneOf(REPLY_STATUSES))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class ReportQuerySchema(_Strict):
    start = fields.Date(metadata={"description": "First day (UTC); default 29 days ago."})
    end = fields.Date(metadata={"description": "Last day (UTC), inclusive; default today."})
    post_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))

    @validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        end = data.get("end") or utcnow().date()
        start = data.get("start") or end - timedelta(days=29)
        if start > end:
            raise ValidationError("start must not be after end.", "start")
        if (end - start).days >= MAX_DAYS:
            raise ValidationError(f"At most {MAX_DAYS} days.", "start")


class ReportRowSchema(Schema):
    post_id = fields.Integer(allow_none=True)
    day = fields.Date()
    comments = fields.Integer()
    keyword_matches = fields.Integer()
    replies_sent = fields.Integer()
    replies_failed = fields.Integer()
    clicks = fields.Integer()
    orders = fields.Integer()
    revenue = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "minor units"}
    )


def _post_or_404(post_id: int) -> Post:
    post = db.session().get(Post, post_id)
    if post is None:
        abort(404, f"No post with id {post_id}.")
    return post


@blp.route("/listening/media", endpoint="media")
class MediaList(MethodView):
    @blp.arguments(MediaQuerySchema, location="query")
    @blp.response(200, MediaSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[PostMedia]:
        """List media linked to posts (optionally of one post)."""
        stmt = select(PostMedia).order_by(PostMedia.id)
        if "post_id" in query:
            stmt = stmt.where(PostMedia.post_id == query["post_id"])
        return list(db.session().scalars(stmt.limit(1000)))

    @blp.arguments(MediaSchema)
    @blp.response(201, MediaSchema)
    @blp.alt_response(404, schema="Error", description="No such post.")
    @blp.alt_response(409, schema="Error", description="Media linked to another post.")
    def post(self, data: dict[str, Any]) -> tuple[PostMedia, int, dict[str, str]]:
        """Link a platform media id to a post: its comments now count."""
        session = db.session()
        _post_or_404(data["post_id"])
        try:
            row = link_media(session, data["platform"], data["media_id"], data["post_id"])
        except MediaError as exc:
            abort(exc.status, exc.message)
        session.commit()
        return row, 201, {"Location": url_for(".media_item", media_pk=row.id)}


@blp.route("/listening/media/<int:media_pk>", endpoint="media_item")
class MediaItem(MethodView):
    @blp.response(204)
    @blp.alt_response(404, schema="Error", description="No such link.")
    def delete(self, media_pk: int) -> None:
        """Unlink media (comments already recorded stay)."""
        session = db.session()
        row = session.get(PostMedia, media_pk)
        if row is None:
            abort(404, f"No linked media with id {media_pk}.")
        session.delete(row)
        session.commit()


@blp.route("/listening/posts/<int:post_id>/rule", endpoint="rule")
class Rule(MethodView):
    @blp.response(200, RuleSchema)
    @blp.alt_response(404, schema="Error", description="No such post.")
    def get(self, post_id: int) -> Any:
        """The post's comment-to-buy rule (no keywords: no replies)."""
        _post_or_404(post_id)
        rule = db.session().get(KeywordRule, post_id)
        return rule or {"post_id": post_id, "keywords": [], "message": "", "updated_at": None}

    @blp.arguments(RuleSchema)
    @blp.response(200, RuleSchema)
    @blp.alt_response(404, schema="Error", description="No such post.")
    def put(self, data: dict[str, Any], post_id: int) -> KeywordRule:
        """Set the post's keywords and reply text."""
        session = db.session()
        _post_or_404(post_id)
        try:
            words = kw.clean_keywords(data["keywords"])
        except ValueError as exc:
            abort(422, f"keywords: {exc}", errors={"json": {"keywords": [str(exc)]}})
        rule = session.get(KeywordRule, post_id)
        if rule is None:
            rule = KeywordRule(post_id=post_id)
            session.add(rule)
        rule.keywords = words
        rule.message = data.get("message", "").strip()
        rule.updated_at = utcnow()
        session.commit()
        return rule


@blp.route("/listening/comments", endpoint="comments")
class Comments(MethodView):
    @blp.arguments(CommentQuerySchema, location="query")
    @blp.response(200, CommentSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Recent comments, newest first."""
        from .models import SocialIdentity

        stmt = (
            select(Comment, SocialIdentity.username)
            .outerjoin(SocialIdentity, SocialIdentity.id == Comment.identity_id)
            .order_by(Comment.created_at.desc(), Comment.id.desc())
            .limit(query["limit"])
        )
        for name in ("post_id", "status", "reply_status"):
            if name in query:
                stmt = stmt.where(getattr(Comment, name) == query[name])
        result = []
        for comment, username in db.session().execute(stmt):
            item = {c.name: getattr(comment, c.name) for c in Comment.__table__.columns}
            item["username"] = username or ""
            result.append(item)
        return result


@blp.route("/listening/report", endpoint="report")
class Report(MethodView):
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, ReportRowSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Per post and per day: comments, keyword matches, replies sent and failed,
        clicks on replied links, orders and revenue from comments."""
        end = query.get("end") or utcnow().date()
        start = query.get("start") or end - timedelta(days=29)
        return listening_report(db.session(), start, end, query.get("post_id"))
