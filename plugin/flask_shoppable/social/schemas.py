"""Marshmallow schemas of posts, tags and tracked links: where API input is validated.

Field-by-field rules live here (bounds, formats, which fields a PATCH may touch); what
needs the database (a slug taken, a product that does not exist, an inactive variant)
is checked by :mod:`.service`. The conventions are the catalog's: unknown fields are
refused, strings are bounded, booleans are JSON booleans.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from ..catalog.schemas import QueryBoolean, StrictBoolean, StrippedString
from ..db import utcnow
from ..web import absolute_url
from .channels import CHANNELS
from .links import QUANTITY_MAX, link_url, why_not_live
from .models import LINK_TARGETS, POST_STATUSES, Post, TrackedLink

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
SLUG_MAX = 200
CAPTION_MAX = 10_000
IMAGE_URL_MAX = 2000
IMAGE_ALT_MAX = 500
#: Campaign, UTM fields, partner and label: the columns are 200 wide.
SHORT_TEXT_MAX = 200
TAGS_MAX = 50
ID_MAX = 2**31 - 1
SHARE_TEXT_MAX = 1000

_ID = validate.Range(min=1, max=ID_MAX)


def _not_blank(value: str) -> None:
    if not value:
        raise ValidationError("Must not be blank.")


class StrictFloat(fields.Float):
    """A JSON number only: marshmallow's Float also takes the string ``"12.5"``."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return float(super()._deserialize(value, attr, data, **kwargs))


class ImageUrl(StrippedString):
    """An image address: an absolute http(s) URL or a path on this site (``/static/a.jpg``).

    ``javascript:``, ``data:`` and every other scheme are refused: the value ends up in
    ``src`` attributes, Open Graph tags and feeds, where only a fetchable URL makes
    sense (a ``data:`` image would bloat every page and is not read by any platform).
    ``//host/...`` (scheme-relative) is refused too, as it would leave the site while
    looking like a path. Empty means no image.
    """

    _ABSOLUTE = re.compile(r"^https?://[^\s/?#\\]+[^\s\x00-\x1f\x7f]*$", re.IGNORECASE)
    _PATH = re.compile(r"^/(?![/\\])[^\s\x00-\x1f\x7f]*$")

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > IMAGE_URL_MAX:
            raise ValidationError(f"Longer than maximum length {IMAGE_URL_MAX}.")
        if text and not (self._ABSOLUTE.match(text) or self._PATH.match(text)):
            raise ValidationError(
                "Must be an http(s) URL or a path on this site starting with '/'."
            )
        return text


class FutureDateTime(fields.AwareDateTime):
    """An ISO 8601 time in the future; a time without a zone is taken as UTC."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment <= utcnow():
            raise ValidationError("Must be in the future.")
        return moment.astimezone(UTC)


class Strict(Schema):
    """Unknown fields are refused (422) rather than ignored."""

    class Meta:
        unknown = RAISE


def _refuse(fields_and_reasons: Mapping[str, str], data: Any) -> None:
    """A PATCH naming a field it may not change gets that field's reason, not 'Unknown'."""
    if not isinstance(data, Mapping):
        return
    errors = {name: [reason] for name, reason in fields_and_reasons.items() if name in data}
    if errors:
        raise ValidationError(errors)


# --- tags ----------------------------------------------------------------------------


class TagProductSchema(Schema):
    """The tagged product, as much as a client needs to show the tag."""

    id = fields.Integer()
    handle = fields.String()
    title = fields.String()
    active = fields.Boolean()


class TagSchema(Strict):
    """A product tagged in a post, optionally pinned at (x, y) percent of the image."""

    product_id = fields.Integer(strict=True, required=True, validate=_ID)
    x = StrictFloat(
        allow_none=True,
        load_default=None,
        validate=validate.Range(min=0, max=100),
        metadata={"description": "Percent of the image width from the left (0..100)."},
    )
    y = StrictFloat(
        allow_none=True,
        load_default=None,
        validate=validate.Range(min=0, max=100),
        metadata={"description": "Percent of the image height from the top (0..100)."},
    )
    position = fields.Integer(dump_only=True)
    product = fields.Nested(TagProductSchema, dump_only=True)

    @validates_schema
    def _x_and_y_together(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("x") is None) != (data.get("y") is None):
            missing_one = "y" if data.get("y") is None else "x"
            raise ValidationError("Give both x and y, or neither.", missing_one)

    @validates_schema(pass_collection=True)
    def _whole_list(self, data: Any, many: bool, **kwargs: Any) -> None:
        """With ``many`` (the body of PUT /posts/<id>/tags): bounded, each product once."""
        if not many:
            return
        if len(data) > TAGS_MAX:
            raise ValidationError(f"At most {TAGS_MAX} tags per post.")
        errors = tag_list_errors(data)
        if errors:
            raise ValidationError(errors)


def tag_list_errors(tags: list[dict[str, Any]]) -> dict[int, Any]:
    """Rules across the tags of one post: a product is tagged at most once."""
    errors: dict[int, Any] = {}
    seen: dict[int, int] = {}
    for index, tag in enumerate(tags):
        product_id = tag["product_id"]
        if product_id in seen:
            errors[index] = {
                "product_id": [
                    f"Product {product_id} is already tagged at index {seen[product_id]}."
                ]
            }
        seen.setdefault(product_id, index)
    return errors


# --- posts ---------------------------------------------------------------------------


class PostSchema(Strict):
    """A post as read, and as written when created."""

    id = fields.Integer(dump_only=True)
    url = fields.Method("_url", metadata={"description": "The post page's absolute URL."})
    slug = fields.String(
        validate=[
            validate.Length(min=1, max=SLUG_MAX),
            validate.Regexp(
                SLUG_RE, error="Must be lowercase letters, digits and hyphens, e.g. 'summer-look'."
            ),
        ],
        metadata={
            "description": "The post page's URL name (/p/<slug>); made from the caption's "
            "first words when left out (suffixed -2, -3... if taken)."
        },
    )
    caption = fields.String(validate=validate.Length(max=CAPTION_MAX))
    image_url = ImageUrl(
        metadata={
            "description": "http(s) URL, or a path on this site starting with '/'. "
            "Required to publish."
        }
    )
    image_alt = StrippedString(validate=validate.Length(max=IMAGE_ALT_MAX))
    campaign = StrippedString(
        validate=validate.Length(max=SHORT_TEXT_MAX),
        metadata={"description": "Default utm_campaign of the post's links."},
    )
    status = fields.String(
        dump_only=True,
        metadata={"description": "draft, published or archived (see /publish, /archive)."},
    )
    published_at = fields.DateTime(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    tags = fields.List(
        fields.Nested(TagSchema),
        validate=validate.Length(max=TAGS_MAX),
        metadata={
            "description": "Products tagged in the post; on creation optional, "
            "afterwards replaced with PUT /posts/<id>/tags."
        },
    )

    @validates_schema
    def _distinct_products(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors = tag_list_errors(data.get("tags", []))
        if errors:
            raise ValidationError({"tags": errors})

    def _url(self, post: Post) -> str:
        return absolute_url("shoppable_pages.post", slug=post.slug)


class PostUpdateSchema(PostSchema):
    """PATCH of a post: any subset of slug, caption, image_url, image_alt, campaign."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        super().__init__(**kwargs)

    @pre_load
    def _fixed_fields(self, data: Any, **kwargs: Any) -> Any:
        _refuse(
            {
                "tags": "Replace the tags with PUT /posts/<id>/tags.",
                "status": "Change the status with POST /posts/<id>/publish or /archive.",
            },
            data,
        )
        return data


class PostQuerySchema(Schema):
    """Filters of ``GET /posts``."""

    status = fields.String(validate=validate.OneOf(POST_STATUSES))
    campaign = fields.String(
        validate=validate.Length(max=SHORT_TEXT_MAX),
        metadata={"description": "Exact campaign."},
    )
    q = fields.String(
        validate=validate.Length(min=1, max=SHORT_TEXT_MAX),
        metadata={"description": "Text found (case-insensitive) in the slug or caption."},
    )


# --- links ---------------------------------------------------------------------------

_UTM_DOC = "Defaults to the channel's {}."


def _short(*, required_text: bool = False, **kwargs: Any) -> StrippedString:
    checks: list[Any] = [validate.Length(max=SHORT_TEXT_MAX)]
    if required_text:
        checks.append(_not_blank)
    return StrippedString(validate=checks, **kwargs)


class LinkSchema(Strict):
    """A tracked link as read, and as written when created."""

    id = fields.Integer(dump_only=True)
    code = fields.String(dump_only=True, metadata={"description": "10 base62 characters."})
    url = fields.Method("_url", metadata={"description": "The absolute tracked URL, .../s/<code>."})
    channel = fields.String(
        required=True,
        validate=validate.OneOf(list(CHANNELS)),
        metadata={"description": "See GET /channels."},
    )
    target = fields.String(
        required=True,
        validate=validate.OneOf(LINK_TARGETS),
        metadata={
            "description": "post (needs post_id), product (product_id), storefront, or "
            "checkout (variant_id and quantity; straight to checkout)."
        },
    )
    post_id = fields.Integer(strict=True, validate=_ID, allow_none=True)
    product_id = fields.Integer(
        strict=True,
        validate=_ID,
        allow_none=True,
        metadata={"description": "For a product link; set from the variant for checkout."},
    )
    variant_id = fields.Integer(strict=True, validate=_ID, allow_none=True)
    quantity = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=QUANTITY_MAX), allow_none=True
    )
    utm_source = _short(required_text=True, metadata={"description": _UTM_DOC.format("source")})
    utm_medium = _short(required_text=True, metadata={"description": _UTM_DOC.format("medium")})
    utm_campaign = _short(
        metadata={"description": "Defaults to the post's campaign for a post link."}
    )
    utm_content = _short()
    utm_term = _short()
    partner = _short(
        metadata={"description": "The creator or affiliate sharing the link (sales credit)."}
    )
    label = _short(metadata={"description": "A name for the merchant's own use."})
    active = StrictBoolean(
        metadata={"description": "An inactive link answers 404; links are never deleted."}
    )
    expires_at = FutureDateTime(
        allow_none=True,
        metadata={"description": "After this time the link answers 404. Must be in the future."},
    )
    live = fields.Method(
        "_live",
        metadata={
            "description": "Whether a click redirects now: active, not expired, and its "
            "post published or its product active."
        },
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    def _url(self, link: TrackedLink) -> str:
        return link_url(link)

    def _live(self, link: TrackedLink) -> bool:
        return why_not_live(link) is None


class LinkUpdateSchema(LinkSchema):
    """PATCH of a link: label, UTM fields, partner, active, expires_at.

    What the link points at and its code never change (it may be printed or posted
    already): make a new link instead.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        super().__init__(**kwargs)

    @pre_load
    def _fixed_fields(self, data: Any, **kwargs: Any) -> Any:
        reason = "A link's {} cannot change (it may be shared already): create a new link."
        _refuse(
            {
                name: reason.format(name)
                for name in (
                    "code",
                    "channel",
                    "target",
                    "post_id",
                    "product_id",
                    "variant_id",
                    "quantity",
                )
            },
            data,
        )
        return data


class LinkQuerySchema(Schema):
    """Filters of ``GET /links``."""

    channel = fields.String(validate=validate.OneOf(list(CHANNELS)))
    target = fields.String(validate=validate.OneOf(LINK_TARGETS))
    post_id = fields.Integer(validate=_ID)
    product_id = fields.Integer(validate=_ID)
    partner = fields.String(
        validate=validate.Length(max=SHORT_TEXT_MAX),
        metadata={"description": "Exact partner."},
    )
    active = QueryBoolean(metadata={"description": "true or false."})


class ShareQuerySchema(Schema):
    """Options of ``GET /links/<id>/share``."""

    text = fields.String(
        validate=validate.Length(max=SHARE_TEXT_MAX),
        metadata={
            "description": "Text to prefill; defaults to the post's caption, the product's "
            "title, or the shop's name."
        },
    )


class ShareSchema(Schema):
    """Where to send a merchant who wants to share a link on its channel."""

    link_id = fields.Integer()
    channel = fields.String()
    url = fields.String(metadata={"description": "The link's absolute tracked URL."})
    share_url = fields.String(
        allow_none=True,
        metadata={
            "description": "The channel's share-intent URL carrying the tracked URL; null "
            "for channels without one (instagram, tiktok, youtube, blog, other): copy url."
        },
    )
    text = fields.String()
    image_url = fields.String(allow_none=True)


class ChannelSchema(Schema):
    name = fields.String()
    label = fields.String()
    utm_source = fields.String()
    utm_medium = fields.String()
    can_share = fields.Boolean(
        metadata={"description": "Whether GET /links/<id>/share gives a share-intent URL."}
    )
