"""Merchant API for posts, their product tags, and tracked links.

Routes (under ``<prefix>/api``, behind API keys like the catalog's):
``GET|POST /posts``, ``GET|PATCH|DELETE /posts/<id>``, ``POST /posts/<id>/publish``,
``POST /posts/<id>/archive``, ``GET|PUT /posts/<id>/tags``, ``GET|POST /links``,
``GET|PATCH /links/<id>``, ``GET /links/<id>/share``, ``GET /channels``.

Links have no DELETE on purpose: a link may already be printed or posted where it cannot
be taken back, so it is deactivated (``PATCH {"active": false}``) and answers 404 from
then on, while its clicks stay attributed to it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import request, url_for
from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from .. import db
from ..api import abort
from ..catalog.pagination import ConfiguredPaginationBlueprint, page_of
from . import service
from .channels import CHANNELS, Channel
from .models import Post, PostTag, TrackedLink
from .schemas import (
    ChannelSchema,
    LinkQuerySchema,
    LinkSchema,
    LinkUpdateSchema,
    PostQuerySchema,
    PostSchema,
    PostUpdateSchema,
    ShareQuerySchema,
    ShareSchema,
    TagSchema,
)

P = ParamSpec("P")
R = TypeVar("R")

blp = ConfiguredPaginationBlueprint(
    "shoppable_social",
    __name__,
    description="Shoppable posts with their product tags, and tracked links per channel. "
    "Links are never deleted (they may be printed or shared already): deactivate one "
    'with PATCH /links/<id> {"active": false}.',
)

_NOT_FOUND = "No such id."
_LOCATION = {"Location": {"schema": {"type": "string"}}}


@blp.before_request
def _json_bodies_only() -> None:
    """A write whose body is not JSON would otherwise read as an empty object.

    (publish and archive take no body.)
    """
    with_body = request.method in ("PATCH", "PUT") or request.endpoint in (
        "shoppable_social.posts",
        "shoppable_social.links",
    )
    if request.method != "GET" and with_body and not request.is_json:
        abort(415, "Send the request body as JSON (Content-Type: application/json).")


def _social_errors(view: Callable[P, R]) -> Callable[P, R]:
    """Turn the service's SocialError into the API's error shape."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return view(*args, **kwargs)
        except service.SocialError as exc:
            errors = {"json": exc.errors} if exc.errors else None
            abort(exc.status, exc.message, errors=errors)

    return wrapper


# --- posts ---------------------------------------------------------------------------


@blp.route("/posts", endpoint="posts")
class Posts(MethodView):
    @blp.arguments(PostQuerySchema, location="query")
    @blp.response(200, PostSchema(many=True))
    @blp.paginate()
    def get(
        self, filters: dict[str, Any], pagination_parameters: PaginationParameters
    ) -> list[Post]:
        """List posts, newest first.

        Filters: status, campaign (exact), q (text in slug or caption). Paginated: page
        and page_size; the X-Pagination header carries the totals.
        """
        return page_of(db.session(), service.select_posts(**filters), pagination_parameters)

    @blp.arguments(PostSchema)
    @blp.response(201, PostSchema, headers=_LOCATION)
    @blp.alt_response(409, schema="Error", description="The slug is taken.")
    @_social_errors
    def post(self, data: dict[str, Any]) -> tuple[Post, int, dict[str, str]]:
        """Create a draft post, optionally with its tags.

        The slug is made from the caption's first words when left out (suffixed -2,
        -3... if taken); an explicit slug already in use is a 409. A tag naming an
        unknown product is a 422 naming its index.
        """
        post = service.create_post(db.session(), data)
        return post, 201, {"Location": url_for(".post", post_id=post.id)}


@blp.route("/posts/<int:post_id>", endpoint="post")
class PostById(MethodView):
    @blp.response(200, PostSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @_social_errors
    def get(self, post_id: int) -> Post:
        """Get a post with its tags."""
        return service.get_post(db.session(), post_id)

    @blp.arguments(PostUpdateSchema)
    @blp.response(200, PostSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @blp.alt_response(
        409, schema="Error", description="The slug is taken, or a published post loses its image."
    )
    @_social_errors
    def patch(self, data: dict[str, Any], post_id: int) -> Post:
        """Change slug, caption, image_url, image_alt or campaign.

        Tags have their own route (PUT /posts/<id>/tags), the status too (publish,
        archive).
        """
        session = db.session()
        return service.update_post(session, service.get_post(session, post_id), data)

    @blp.response(204)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @blp.alt_response(409, schema="Error", description="Tracked links point at the post.")
    @_social_errors
    def delete(self, post_id: int) -> None:
        """Delete a post and its tags.

        Refused (409) while tracked links point at it, since they may be printed or
        shared: archive it instead.
        """
        session = db.session()
        service.delete_post(session, service.get_post(session, post_id))


@blp.route("/posts/<int:post_id>/publish", endpoint="post_publish")
class PostPublish(MethodView):
    @blp.response(200, PostSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @blp.alt_response(
        409, schema="Error", description="No image, or no tag with an active product."
    )
    @_social_errors
    def post(self, post_id: int) -> Post:
        """Publish a post: it appears on the storefront and its page opens.

        Needs an image and at least one tag with an active product. published_at is set
        the first time and kept afterwards. Publishing a published post changes nothing.
        """
        session = db.session()
        return service.publish_post(session, service.get_post(session, post_id))


@blp.route("/posts/<int:post_id>/archive", endpoint="post_archive")
class PostArchive(MethodView):
    @blp.response(200, PostSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @_social_errors
    def post(self, post_id: int) -> Post:
        """Archive a post: it leaves the storefront; publish it again to bring it back."""
        session = db.session()
        return service.archive_post(session, service.get_post(session, post_id))


@blp.route("/posts/<int:post_id>/tags", endpoint="post_tags")
class PostTags(MethodView):
    @blp.response(200, TagSchema(many=True))
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @_social_errors
    def get(self, post_id: int) -> list[PostTag]:
        """The products tagged in a post, in display order."""
        return list(service.get_post(db.session(), post_id).tags)

    @blp.arguments(TagSchema(many=True))
    @blp.response(200, TagSchema(many=True))
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @blp.alt_response(
        409, schema="Error", description="A published post would keep no active product."
    )
    @_social_errors
    def put(self, tags: list[dict[str, Any]], post_id: int) -> list[PostTag]:
        """Replace all of a post's tags.

        The body is the whole list, ``[{"product_id": 1, "x": 30.5, "y": 60}]``: x and
        y in percent of the image (0..100), both or neither; each product once; at most
        50. An unknown product is a 422 naming its index. A published post must keep at
        least one active product.
        """
        session = db.session()
        post = service.replace_tags(session, service.get_post(session, post_id), tags)
        return list(post.tags)


# --- links ---------------------------------------------------------------------------


@blp.route("/links", endpoint="links")
class Links(MethodView):
    @blp.arguments(LinkQuerySchema, location="query")
    @blp.response(200, LinkSchema(many=True))
    @blp.paginate()
    def get(
        self, filters: dict[str, Any], pagination_parameters: PaginationParameters
    ) -> list[TrackedLink]:
        """List tracked links, newest first.

        Filters: channel, target, post_id, product_id, partner (exact), active.
        Paginated like GET /posts.
        """
        return page_of(db.session(), service.select_links(**filters), pagination_parameters)

    @blp.arguments(LinkSchema)
    @blp.response(201, LinkSchema, headers=_LOCATION)
    @_social_errors
    def post(self, data: dict[str, Any]) -> tuple[TrackedLink, int, dict[str, str]]:
        """Create a tracked link for a channel.

        The target needs its object: post → post_id, product → product_id, checkout →
        variant_id (an active variant) and quantity (1..100); storefront → nothing.
        utm_source and utm_medium default to the channel's (GET /channels), utm_campaign
        to the post's campaign. expires_at must be in the future.
        """
        link = service.create_link(db.session(), data)
        return link, 201, {"Location": url_for(".link", link_id=link.id)}


@blp.route("/links/<int:link_id>", endpoint="link")
class LinkById(MethodView):
    @blp.response(200, LinkSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @_social_errors
    def get(self, link_id: int) -> TrackedLink:
        """Get a tracked link."""
        return service.get_link(db.session(), link_id)

    @blp.arguments(LinkUpdateSchema)
    @blp.response(200, LinkSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @_social_errors
    def patch(self, data: dict[str, Any], link_id: int) -> TrackedLink:
        """Change label, UTM fields, partner, active or expires_at (null: never expires).

        The code, channel and target cannot change (422): create a new link. There is no
        DELETE: deactivate a link with {"active": false}.
        """
        session = db.session()
        return service.update_link(session, service.get_link(session, link_id), data)


@blp.route("/links/<int:link_id>/share", endpoint="link_share")
class LinkShare(MethodView):
    @blp.arguments(ShareQuerySchema, location="query")
    @blp.response(200, ShareSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @blp.alt_response(
        409,
        schema="Error",
        description="A click would answer 404: the link is inactive or expired, its post "
        "is not published or its product inactive.",
    )
    @_social_errors
    def get(self, args: dict[str, Any], link_id: int) -> dict[str, Any]:
        """The link's absolute tracked URL and its channel's share-intent URL.

        X intent, Facebook sharer, LinkedIn share, Pinterest pin create (with the image)
        and mailto: carry the tracked URL; instagram, tiktok, youtube, blog and other
        have none (share_url is null): copy url into the bio or description.
        """
        link = service.get_link(db.session(), link_id)
        return service.share(link, args.get("text"))


@blp.route("/channels", endpoint="channels")
class Channels(MethodView):
    @blp.response(200, ChannelSchema(many=True))
    def get(self) -> list[Channel]:
        """The channels a link can belong to, with the UTM values their links get."""
        return list(CHANNELS.values())
