"""Merchant API for connected channel accounts and publishing posts to them.

Routes (under ``<prefix>/api``, behind API keys like the catalog's):
``GET|POST /channel-accounts``, ``GET|DELETE /channel-accounts/<id>`` (DELETE
disconnects: the token is forgotten, the row and its publications stay),
``GET|POST /posts/<id>/publications`` (publish now or at ``publish_at``),
``GET /publications/<id>``, ``POST /publications/<id>/cancel``.
A token is never returned: an account says ``has_token`` and ``expires_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import url_for
from flask.views import MethodView

from .. import db
from ..api import abort, json_bodies_only
from ..catalog.pagination import ConfiguredPaginationBlueprint
from ..social import service as social_service
from . import service
from .models import ChannelAccount, Publication
from .schemas import (
    AccountQuerySchema,
    ChannelAccountSchema,
    PublicationQuerySchema,
    PublicationSchema,
    PublishSchema,
)

P = ParamSpec("P")
R = TypeVar("R")

blp = ConfiguredPaginationBlueprint(
    "shoppable_publishing",
    __name__,
    description="Connected channel accounts (Instagram, Facebook Page, Pinterest board, "
    "LinkedIn organisation, X) and publishing posts to them, now or scheduled.",
)

_NOT_FOUND = "No such id."


json_bodies_only(blp, when_sent=True)


def _errors(view: Callable[P, R]) -> Callable[P, R]:
    """Turn PublishingError / SocialError into the API's error shape."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return view(*args, **kwargs)
        except (service.PublishingError, social_service.SocialError) as exc:
            errors = exc.errors
            if errors and "json" not in errors:
                errors = {"json": errors}
            abort(exc.status, exc.message, errors=errors)

    return wrapper


@blp.route("/channel-accounts", endpoint="accounts")
class Accounts(MethodView):
    @blp.arguments(AccountQuerySchema, location="query")
    @blp.response(200, ChannelAccountSchema(many=True))
    def get(self, filters: dict[str, Any]) -> list[ChannelAccount]:
        """List connected (and disconnected) accounts; never their tokens."""
        return list(db.session().scalars(service.select_accounts(**filters)))

    @blp.arguments(ChannelAccountSchema)
    @blp.response(201, ChannelAccountSchema)
    @blp.alt_response(200, schema=ChannelAccountSchema, description="Reconnected.")
    @_errors
    def post(self, data: dict[str, Any]) -> tuple[ChannelAccount, int, dict[str, str]]:
        """Connect an account with the token the platform issued.

        The same channel and account id again reconnects it (a new token, e.g. after the
        old one expired); its publications keep their history.
        """
        account, created = service.connect(db.session(), data)
        location = url_for(".account", account_id=account.id)
        return account, 201 if created else 200, {"Location": location}


@blp.route("/channel-accounts/<int:account_id>", endpoint="account")
class AccountById(MethodView):
    @blp.response(200, ChannelAccountSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @_errors
    def get(self, account_id: int) -> ChannelAccount:
        """Get an account (has_token and expires_at, never the token)."""
        return service.get_account(db.session(), account_id)

    @blp.response(200, ChannelAccountSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @_errors
    def delete(self, account_id: int) -> ChannelAccount:
        """Disconnect: forget the token; scheduled publications on it will fail."""
        session = db.session()
        return service.disconnect(session, service.get_account(session, account_id))


@blp.route("/posts/<int:post_id>/publications", endpoint="post_publications")
class PostPublications(MethodView):
    @blp.arguments(PublicationQuerySchema, location="query")
    @blp.response(200, PublicationSchema(many=True))
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @_errors
    def get(self, filters: dict[str, Any], post_id: int) -> list[Publication]:
        """A post's publications: channel, account, link, state, platform id, permalink."""
        session = db.session()
        post = social_service.get_post(session, post_id)
        return list(session.scalars(service.select_publications(post_id=post.id, **filters)))

    @blp.arguments(PublishSchema)
    @blp.response(202, PublicationSchema(many=True))
    @blp.alt_response(400, schema="Error", description="publish_at is in the past.")
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @blp.alt_response(409, schema="Error", description="Already on that account, or a draft.")
    @blp.alt_response(
        422, schema="Error", description="Account, image or caption refused (which rule, why)."
    )
    @_errors
    def post(self, data: dict[str, Any], post_id: int) -> tuple[list[Publication], int]:
        """Publish a post now, or schedule it (publish_at), on the chosen accounts.

        Everything a platform would refuse is checked first (account connected and its
        token not expired, image type, size and aspect ratio, caption length with the
        link); then each account gets a publication with its own tracked link, delivered
        by the worker through the outbox (202: check GET .../publications for the result).
        """
        session = db.session()
        post = social_service.get_post(session, post_id)
        return service.publish(session, post, data), 202


@blp.route("/publications/<int:publication_id>", endpoint="publication")
class PublicationById(MethodView):
    @blp.response(200, PublicationSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @_errors
    def get(self, publication_id: int) -> Publication:
        """Get a publication."""
        return service.get_publication(db.session(), publication_id)


@blp.route("/publications/<int:publication_id>/cancel", endpoint="publication_cancel")
class PublicationCancel(MethodView):
    @blp.response(200, PublicationSchema)
    @blp.alt_response(404, schema="Error", description=_NOT_FOUND)
    @blp.alt_response(409, schema="Error", description="Not scheduled any more.")
    @_errors
    def post(self, publication_id: int) -> Publication:
        """Cancel a scheduled publication (it becomes failed: "cancelled by the merchant")."""
        session = db.session()
        return service.cancel(session, service.get_publication(session, publication_id))
