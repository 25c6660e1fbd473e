"""The outbox sink ``meta_private_reply``: a private reply through the Graph API.

Both platforms use the Send API with a comment as the recipient:
``POST <SHOPPABLE_META_GRAPH_URL>/<SHOPPABLE_META_GRAPH_VERSION>/<account id>/messages``
with ``{"recipient": {"comment_id": ...}, "message": {"text": ...}}`` and the Page
access token (``SHOPPABLE_META_PAGE_TOKEN``, sent as a Bearer header, never logged);
the account is the Instagram professional account (Instagram) or the Page (Facebook)
the comment was made on. Meta allows one private reply per comment, within 7 days of
the comment: a message past the window is Rejected without being sent (a dead letter,
"failed" in the report); Graph's refusals (4xx) are dead letters too, and 429/5xx,
timeouts and connection errors are retried by the outbox (:mod:`flask_shoppable.crm.http`),
as are Graph's throttling errors (codes 4, 17, 32, 613, sent as 400s) and an expired token.
``on_delivered`` / ``on_dead`` record "sent" / "failed" on the comment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import Comment
from .processing import REPLY_WINDOW, SINK

#: Graph's throttling codes (answered with HTTP 400/403, not 429): application, user,
#: page and per-API rate limits. Retried after a minute, never dead-lettered.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001, 80006})
RATE_LIMIT_WAIT = 60.0


def graph_refusal(exc: Any) -> Exception:
    """Graph's 4xx in the outbox's terms: throttling, an expired token or a transient
    error waits (RetryLater); anything else (a second reply, error 10900; the 7-day
    window, 10/2018278; a bad comment id) is Rejected for good."""
    from ..crm.errors import Rejected, RetryLater

    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = error.get("code")
    reason = (
        f"Graph HTTP {exc.status} code {code}/{error.get('error_subcode')}: "
        f"{error.get('message') or exc.reason}"
    )
    if code in RATE_LIMIT_CODES:
        return RetryLater(reason, RATE_LIMIT_WAIT, status=exc.status, body=exc.body)
    if code == 190 or error.get("is_transient"):
        return RetryLater(reason, status=exc.status, body=exc.body)
    return Rejected(reason, status=exc.status, body=exc.body)


class MetaPrivateReplySink:
    name = SINK

    def __init__(self, app: Flask) -> None:
        config = app.config
        self.app = app
        self.base = f"{config['SHOPPABLE_META_GRAPH_URL']}/{config['SHOPPABLE_META_GRAPH_VERSION']}"
        self.token: str = config["SHOPPABLE_META_PAGE_TOKEN"]
        self.timeout = float(config["SHOPPABLE_OUTBOX_HTTP_TIMEOUT"])
        self._http: Any = None

    def _session(self) -> Any:
        if self._http is None:
            from ..crm import http

            self._http = http.session(self.app)
        return self._http

    def deliver(self, message: Any) -> dict[str, Any] | None:
        from ..crm import http
        from ..crm.errors import Rejected

        payload = message.payload
        created = datetime.fromisoformat(payload["comment_created_at"])
        if utcnow() - created > REPLY_WINDOW:
            raise Rejected("the comment is older than Meta's 7-day private reply window")
        try:
            response = http.call(
                self._session(),
                "POST",
                f"{self.base}/{payload['account_id']}/messages",
                timeout=self.timeout,
                json={
                    "recipient": {"comment_id": payload["comment_id"]},
                    "message": {"text": payload["text"]},
                },
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except Rejected as exc:
            raise graph_refusal(exc) from None
        body = response.json() if hasattr(response, "json") else response
        return {"message_id": body.get("message_id"), "recipient_id": body.get("recipient_id")}

    def on_delivered(self, session: Session, message: Any, result: Any) -> None:
        session.execute(
            update(Comment)
            .where(
                Comment.platform == message.payload["platform"],
                Comment.comment_id == message.payload["comment_id"],
            )
            .values(reply_status="sent", replied_at=utcnow(), reply_error="")
        )

    def on_dead(self, session: Session, message: Any, reason: str) -> None:
        session.execute(
            update(Comment)
            .where(
                Comment.platform == message.payload["platform"],
                Comment.comment_id == message.payload["comment_id"],
            )
            .values(reply_status="failed", reply_error=str(reason)[:500])
        )
