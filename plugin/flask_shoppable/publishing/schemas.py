"""Marshmallow schemas of connected accounts and publications.

A token is load-only: it is never dumped; an account says ``has_token`` and
``expires_at`` instead. Checks that need the database or the network (the account's
state, the image, each channel's caption length with its link) are in :mod:`.service`.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from ..catalog.schemas import QueryBoolean, StrippedString, Text
from ..social.links import link_url
from ..social.schemas import Strict
from .models import CHANNELS, STATES, ChannelAccount, Publication

_ID = validate.Range(min=1, max=2**31 - 1)
_DIGITS = re.compile(r"^\d{1,64}$")
_LINKEDIN_URN = re.compile(r"^urn:li:organization:(\d{1,64})$")
#: What each platform's account id looks like.
_ACCOUNT_ID_RULES = {
    "instagram": "the Instagram business account id (digits)",
    "facebook": "the Page id (digits)",
    "pinterest": "the board id (digits)",
    "linkedin": "the organisation id or its URN, urn:li:organization:<id>",
    "x": "the X user id (digits)",
}


class ChannelAccountSchema(Strict):
    """A connected account as read, and the body that connects one."""

    id = fields.Integer(dump_only=True)
    channel = fields.String(
        required=True,
        validate=validate.OneOf(CHANNELS),
        metadata={"description": "instagram, facebook, pinterest, linkedin or x."},
    )
    account_id = StrippedString(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "The platform's id: IG business account id, Page id, Pinterest "
            "board id, LinkedIn organisation id (or urn:li:organization:<id>), X user id."
        },
    )
    name = StrippedString(validate=validate.Length(max=200), metadata={"description": "Shown."})
    token = Text(
        required=True,
        load_only=True,
        validate=validate.Length(min=8, max=4096),
        metadata={
            "description": "The access token the platform issued (Instagram and Facebook: a "
            "Page access token). Encrypted at rest; never returned."
        },
    )
    expires_at = fields.AwareDateTime(
        default_timezone=UTC,
        allow_none=True,
        attribute="token_expires_at",
        metadata={"description": "When the token expires (null: does not expire)."},
    )
    catalog_id = StrippedString(
        validate=validate.Length(max=100),
        metadata={"description": "Instagram: the Meta catalog whose products are tagged."},
    )
    has_token = fields.Boolean(dump_only=True)
    expired = fields.Method("_expired", dump_only=True)
    connected = fields.Boolean(dump_only=True)
    connected_at = fields.DateTime(dump_only=True)
    disconnected_at = fields.DateTime(dump_only=True)
    created_at = fields.DateTime(dump_only=True)

    def _expired(self, account: ChannelAccount) -> bool:
        return account.token_expired()

    @validates_schema
    def _account_id_shape(self, data: dict[str, Any], **kwargs: Any) -> None:
        channel, account_id = data.get("channel"), data.get("account_id")
        if channel not in _ACCOUNT_ID_RULES or account_id is None:
            return
        ok = _DIGITS.match(account_id) or (
            channel == "linkedin" and _LINKEDIN_URN.match(account_id)
        )
        if not ok:
            raise ValidationError({"account_id": [f"Must be {_ACCOUNT_ID_RULES[channel]}."]})
        if data.get("catalog_id") and channel != "instagram":
            raise ValidationError({"catalog_id": ["Only Instagram accounts tag products."]})

    @post_load
    def _normalise(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        urn = _LINKEDIN_URN.match(data.get("account_id", ""))
        if urn:
            data["account_id"] = urn.group(1)
        if "token_expires_at" in data:
            data["expires_at"] = data.pop("token_expires_at")
        return data


class AccountQuerySchema(Strict):
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    connected = QueryBoolean(metadata={"description": "true or false."})


class PublishSchema(Strict):
    """Where and when to publish a post."""

    accounts = fields.List(
        fields.Integer(strict=True, validate=_ID),
        validate=validate.Length(max=20),
        load_default=list,
        metadata={"description": "Connected account ids."},
    )
    channels = fields.List(
        fields.String(validate=validate.OneOf(CHANNELS)),
        validate=validate.Length(max=5),
        load_default=list,
        metadata={"description": "Channels: each one's single connected account."},
    )
    publish_at = fields.AwareDateTime(
        default_timezone=UTC,
        allow_none=True,
        metadata={"description": "When to publish (future; 400 if past). Left out: now."},
    )
    captions = fields.Dict(
        keys=fields.String(validate=validate.OneOf(CHANNELS)),
        values=Text(validate=validate.Length(max=70_000)),
        load_default=dict,
        metadata={
            "description": "A caption per channel instead of the post's (the tracked link or "
            '"link in bio" is added). Captions over a platform\'s limit are refused, never cut.'
        },
    )
    title = StrippedString(
        validate=validate.Length(max=200),
        metadata={"description": "Pin and article title (default: the first product's title)."},
    )
    image_url = fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2000),
        metadata={
            "description": "An image for these publications instead of the post's (e.g. a "
            "square crop for Instagram); checked against each platform's rules the same way."
        },
    )

    @post_load
    def _utc(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("publish_at") is not None:
            data["publish_at"] = data["publish_at"].astimezone(UTC)
        return data


class PublicationQuerySchema(Strict):
    state = fields.String(validate=validate.OneOf(STATES))


class PublicationSchema(Strict):
    id = fields.Integer()
    post_id = fields.Integer()
    channel = fields.String()
    account_id = fields.Integer(metadata={"description": "The connected account's id."})
    account_name = fields.Function(lambda p: p.account.name)
    platform_account_id = fields.Function(lambda p: p.account.account_id)
    link_id = fields.Integer(allow_none=True)
    link_url = fields.Method("_link_url", metadata={"description": "Its own tracked link."})
    caption = fields.String(metadata={"description": "The caption as sent."})
    title = fields.String()
    image_url = fields.String()
    state = fields.String(metadata={"description": "scheduled, publishing, published, failed."})
    failure_reason = fields.String()
    platform_post_id = fields.String(
        metadata={"description": "The platform's id (IG media, Page post, pin, post URN, ...)."}
    )
    permalink = fields.String()
    publish_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    failed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()

    def _link_url(self, publication: Publication) -> str | None:
        return link_url(publication.link) if publication.link is not None else None
