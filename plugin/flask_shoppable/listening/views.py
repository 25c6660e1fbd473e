"""``GET|POST <prefix>/webhooks/meta`` and ``GET <prefix>/r/<token>`` (a reply's link).

The webhook (public: Meta's signature is its credential):

* ``GET``: the subscription handshake. ``hub.mode=subscribe`` and ``hub.verify_token``
  equal (constant-time) to ``SHOPPABLE_META_VERIFY_TOKEN``: ``hub.challenge`` echoed as
  text/plain, 200; anything else 403.
* ``POST``: the body is capped at ``SHOPPABLE_WEBHOOK_MAX_BYTES`` (413), then
  ``X-Hub-Signature-256: sha256=<hex>`` must be the HMAC-SHA256 of the raw body with
  ``SHOPPABLE_META_APP_SECRET`` (constant-time; 401 when missing, 403 when wrong), the
  body must be a delivery (400). Refusals are counted like the Stripe webhook's
  (``shoppable_webhook_rejection``, provider "meta"). The changes are stored and
  committed first (unique per change: Meta's retries are no-ops), then each is
  processed in its own transaction (:mod:`.processing`). 200 when all are done; 500
  when one failed (stored as failed, processed again on Meta's retry).

Without ``SHOPPABLE_META_APP_SECRET`` listening is off and both answer 404.

The reply link: a valid, unexpired :mod:`.linktoken` naming a comment interaction
counts a click on that comment's reply, lends the comment the visitor's cookie id
(so a later visit from the same browser is credited to it too), and redirects to the
post's page with ``st`` naming the COMMENT interaction, so the checkout credits the
comment. Anything else is the 404 page of an unknown link.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy import func, update
from werkzeug.exceptions import RequestEntityTooLarge

from .. import db
from ..db import utcnow
from ..orders import eventlog
from ..social.models import Post
from ..tracking import tokens, visitor
from ..tracking.models import Interaction
from ..tracking.useragent import is_bot
from ..tracking.views import is_prefetch, not_found
from . import linktoken, processing
from .models import Comment
from .payloads import MalformedDelivery, parse

log = logging.getLogger("flask_shoppable.listening")

bp = Blueprint("shoppable_listening", __name__)
PROVIDER = "meta"


def _enabled() -> bool:
    return bool(current_app.config["SHOPPABLE_META_APP_SECRET"])


def _answer(http_status: int, /, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = http_status
    response.headers["Cache-Control"] = "no-store"
    return response


def _refuse(status: int, reason: str, message: str) -> Response:
    log.warning("meta webhook refused from %s: %s", request.remote_addr or "?", reason)
    try:
        with current_app.extensions["shoppable"].session_factory() as session:
            eventlog.count_rejection(session, PROVIDER, reason, utcnow())
    except Exception as exc:
        log.error("could not count a refused meta webhook: %s", eventlog.describe(exc))
    return _answer(status, code=status, status="refused", reason=reason, message=message)


@bp.route("/webhooks/meta", methods=["GET"], endpoint="verify")
def verify() -> Any:
    if not _enabled():
        return _answer(404, code=404, message="Meta webhooks are not configured here.")
    mode = request.args.get("hub.mode", "")
    token = request.args.get("hub.verify_token", "")
    challenge = request.args.get("hub.challenge", "")
    expected = current_app.config["SHOPPABLE_META_VERIFY_TOKEN"]
    good = hmac.compare_digest(token.encode(), expected.encode())
    if mode != "subscribe" or not good or not challenge or len(challenge) > 200:
        log.warning("meta webhook handshake refused from %s", request.remote_addr or "?")
        return Response("forbidden", status=403, mimetype="text/plain")
    return Response(challenge, status=200, mimetype="text/plain")


def signature_ok(body: bytes, header: str, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.strip().lower().encode(), expected.encode())


@bp.route("/webhooks/meta", methods=["POST"], endpoint="receive")
def receive() -> Response:
    if not _enabled():
        return _answer(404, code=404, message="Meta webhooks are not configured here.")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    limit = app.config["SHOPPABLE_WEBHOOK_MAX_BYTES"]
    request.max_content_length = limit
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _refuse(413, "body too large", f"The body is larger than {limit} bytes.")
    header = request.headers.get("X-Hub-Signature-256", "")
    if not header:
        return _refuse(401, "no signature", "The X-Hub-Signature-256 header is missing.")
    if not signature_ok(body, header, app.config["SHOPPABLE_META_APP_SECRET"]):
        return _refuse(
            403,
            "bad signature",
            "X-Hub-Signature-256 did not verify. If every delivery fails so, "
            "SHOPPABLE_META_APP_SECRET is not the app secret of the Meta app.",
        )
    try:
        changes = parse(body)
    except MalformedDelivery as exc:
        return _refuse(400, "malformed delivery", f"Not a Meta webhook delivery: {exc}")

    factory = app.extensions["shoppable"].session_factory
    counts: dict[str, int] = {}
    with factory() as session:
        try:
            ids = processing.store(session, changes)
        except Exception as exc:
            log.error("could not store meta changes: %s", eventlog.describe(exc))
            return _answer(500, code=500, status="error", message="Not stored; retry.")
        by_key = {c.key: c for c in changes}
        for change_id, key in ids:
            status = processing.process(session, app, change_id, by_key[key])
            counts[status] = counts.get(status, 0) + 1
    duplicates = len({c.key for c in changes}) - len(ids)
    code = 500 if counts.get("failed") else 200
    return _answer(
        code,
        status="failed" if code == 500 else "ok",
        changes=len(changes),
        duplicates=duplicates,
        **counts,
    )


@bp.route("/r/<token>", methods=["GET"], endpoint="reply_link")
def reply_link(token: str) -> Any:
    interaction_id = linktoken.verify(token)
    if interaction_id is None:
        return not_found()
    session = db.session()
    interaction = session.get(Interaction, interaction_id)
    if interaction is None or interaction.kind != "comment" or interaction.post_id is None:
        return not_found()
    post = session.get(Post, interaction.post_id)
    if post is None or post.status != "published":
        return not_found()
    # Messenger and Instagram fetch a link for its preview (facebookexternalhit): a bot,
    # a HEAD or a prefetch is redirected without counting a click or lending a cookie.
    counted = (
        request.method == "GET"
        and not is_bot(request.headers.get("User-Agent", ""))
        and not is_prefetch(request.environ)
    )
    if counted:
        now = utcnow()
        session.execute(
            update(Comment)
            .where(Comment.interaction_id == interaction_id)
            .values(
                clicks=Comment.clicks + 1,
                first_click_at=func.coalesce(Comment.first_click_at, now),
            )
        )
        visitor_id = visitor.current_visitor()
        if visitor_id and interaction.visitor_id is None:
            interaction.visitor_id = visitor_id
        session.commit()
    target = url_for("shoppable_pages.post", slug=post.slug, st=tokens.sign(interaction_id))
    response = Response(status=302, headers={"Location": target, "Cache-Control": "no-store"})
    return response
