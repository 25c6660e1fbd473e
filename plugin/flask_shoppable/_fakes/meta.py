"""A local fake of Meta's Graph API: one server for every Graph call the plugin makes.

The Conversions API (``POST /<version>/<pixel_id>/events``), Instagram and Messenger private
replies, Instagram content publishing and Facebook Page photos all live under one Graph
base address (``SHOPPABLE_META_GRAPH_URL``), so one fake answers them all. Each capability
adds its routes in its own section below (``_capi_routes``, ``_reply_routes``,
``_publishing_routes``); :meth:`FakeGraph.handle` dispatches by method and path.

Tokens: :meth:`FakeGraph.add_token` registers an access token (optionally expired); a call
with a missing, unknown or expired token gets Graph's error shape (``{"error": {"message",
"type": "OAuthException", "code": 190, "fbtrace_id"}}``, HTTP 400 or 401) as Graph does.
Paths carry a version (``/v21.0/...``); any ``vNN.N`` is accepted and recorded.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from .server import FakeServer

Handler = Callable[[Request, "re.Match[str]"], Response]

VERSION = r"/v\d+\.\d+"


def graph_error(
    message: str, *, code: int = 100, status: int = 400, kind: str = "OAuthException", **extra: Any
) -> Response:
    """An error as Graph answers one."""
    body = {
        "error": {
            "message": message,
            "type": kind,
            "code": code,
            "fbtrace_id": secrets.token_hex(8),
            **extra,
        }
    }
    return FakeServer.json_response(body, status=status)


class FakeGraph(FakeServer):
    name = "meta-graph"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        #: access token -> expired?
        self.tokens: dict[str, bool] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for install in (self._capi_routes, self._reply_routes, self._publishing_routes):
            install()

    # -- tokens -------------------------------------------------------------------------
    def add_token(self, token: str | None = None, *, expired: bool = False) -> str:
        token = token or "EAAG" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = expired
        return token

    def expire_token(self, token: str) -> None:
        with self.lock:
            self.tokens[token] = True

    def token_error(self, request: Request) -> Response | None:
        """Graph's answer to a request without a valid token, or None when it has one."""
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        token = token or request.args.get("access_token") or request.form.get("access_token")
        if not token:
            return graph_error("An active access token must be used", code=2500, status=400)
        with self.lock:
            expired = self.tokens.get(token)
        if expired is None:
            return graph_error("Invalid OAuth access token.", code=190, status=401)
        if expired:
            return graph_error(
                "Error validating access token: Session has expired.",
                code=190,
                status=401,
                error_subcode=463,
            )
        return None

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Add ``handler`` for ``method`` on paths matching ``VERSION + pattern``."""
        self._routes.append((method, re.compile(VERSION + pattern + r"/?$"), handler))

    def handle(self, request: Request) -> Response:
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and request.method == method:
                refused = self.token_error(request)
                return refused or handler(request, match)
        return graph_error(f"Unknown path components: {request.path}", code=2500, status=400)

    # -- Conversions API (issue 5) --------------------------------------------------------
    #: Conversions API state (see _fakes/meta_capi.py): registered pixels, events kept per
    #: pixel, events dropped as duplicates of an earlier (event_name, event_id).
    pixels: set[str]
    capi_events: dict[str, list[dict[str, Any]]]
    capi_deduplicated: int
    capi_seen: set[tuple[str, str, str]]

    def _capi_routes(self) -> None:
        from . import meta_capi

        meta_capi.install(self)

    def add_pixel(self, pixel_id: str = "1234567890123456") -> str:
        """A pixel (dataset) the Conversions API accepts events for."""
        with self.lock:
            self.pixels.add(pixel_id)
        return pixel_id

    # -- Private replies to comments (issue 7) ------------------------------------------
    #: Meta's window for a private reply, and its longest text (Instagram's limit).
    REPLY_WINDOW_SECONDS = 7 * 86400
    REPLY_MAX_TEXT = 1000

    def _reply_routes(self) -> None:
        """``POST /vNN.N/<account id>/messages`` with ``recipient.comment_id``.

        Instagram (the IG account id) and Messenger (the Page id) alike. Checks the
        body as Graph does (JSON or form fields holding JSON), one reply per comment
        (a second: Graph's error 10900), and, for comments registered with
        :meth:`add_comment`, the 7-day window (error 10, subcode 2018278). Accepted
        replies are in :attr:`replies` (account, comment_id, text, message_id).
        """
        self.replies: list[dict[str, Any]] = []
        #: comment id -> when it was made (unix seconds), for the 7-day check.
        self.comment_times: dict[str, float] = {}
        self.route("POST", r"/(?P<account>[A-Za-z0-9_]+)/messages", self._private_reply)

    def add_comment(self, comment_id: str, created_at: float) -> None:
        with self.lock:
            self.comment_times[comment_id] = created_at

    def replies_to(self, comment_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.replies if r["comment_id"] == comment_id]

    def _private_reply(self, request: Request, match: re.Match[str]) -> Response:
        def field(name: str) -> Any:
            if request.is_json:
                data = request.get_json(silent=True)
                return data.get(name) if isinstance(data, dict) else None
            raw = request.form.get(name)
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return None

        recipient, message = field("recipient"), field("message")
        if not isinstance(recipient, dict) or not isinstance(recipient.get("comment_id"), str):
            return graph_error("(#100) param recipient must be an object with comment_id")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return graph_error("(#100) param message must be an object with text")
        text = message["text"]
        if not text.strip() or len(text) > self.REPLY_MAX_TEXT:
            return graph_error(f"(#100) message text must be 1 to {self.REPLY_MAX_TEXT} chars")
        comment_id = recipient["comment_id"]
        with self.lock:
            created = self.comment_times.get(comment_id)
            if created is not None and time.time() - created > self.REPLY_WINDOW_SECONDS:
                return graph_error(
                    "(#10) This message is sent outside of allowed window.",
                    code=10,
                    status=400,
                    kind="OAuthException",
                    error_subcode=2018278,
                )
            if any(r["comment_id"] == comment_id for r in self.replies):
                return graph_error("(#10900) Activity already replied to", code=10900)
            reply = {
                "account": match.group("account"),
                "comment_id": comment_id,
                "text": text,
                "message_id": "m_" + secrets.token_urlsafe(16),
                "recipient_id": "rcpt_" + secrets.token_hex(6),
            }
            self.replies.append(reply)
        return self.json_response(
            {"recipient_id": reply["recipient_id"], "message_id": reply["message_id"]}
        )

    # -- Instagram content publishing and Facebook Page photos (issue 8) ----------------
    def _publishing_routes(self) -> None:
        from .meta_publishing import MetaPublishing

        #: State and helpers of these routes (accounts, containers, media, page photos).
        self.publishing = MetaPublishing(self)
        self.publishing.install()
