"""A local fake of the X API v2 for posting (``POST /2/tweets``).

Checks what X checks: an OAuth 2.0 user-context bearer token (401 ``{"title":
"Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}``
without a valid one), a JSON body with ``text`` of at most 280 characters (each URL
counted as 23, as t.co does) and no unknown fields, and X's 403 for a duplicate text
("You are not allowed to create a Tweet with duplicate content."). A post made is kept
in :attr:`FakeX.tweets`. ``rate_limit()`` makes the next calls answer 429 with X's
``x-rate-limit-*`` headers (reset as a Unix time).
"""

from __future__ import annotations

import re
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from .bearer import BearerFake

_URL_RE = re.compile(r"https?://\S+")
_FIELDS = {
    "text",
    "media",
    "reply",
    "quote_tweet_id",
    "poll",
    "reply_settings",
    "for_super_followers_only",
    "direct_message_deep_link",
    "geo",
}


def weighted_length(text: str) -> int:
    return len(_URL_RE.sub("", text)) + 23 * len(_URL_RE.findall(text))


class FakeX(BearerFake):
    name = "x"
    token_prefix = "xoauth_"  # noqa: S105 (a fake's token prefix)

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.tweets: list[dict[str, Any]] = []
        self._next = 1860000000000000001
        self.route("POST", r"/2/tweets", self._create)

    def auth_error(self, reason: str) -> Response:
        return self.json_response(
            {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            },
            status=401,
        )

    def rate_limit(self, times: int = 1, reset_in: int = 1) -> None:
        """The next ``times`` calls get 429; the window resets ``reset_in`` s from now."""
        self.fail(
            times,
            status=429,
            body={
                "title": "Too Many Requests",
                "detail": "Too Many Requests",
                "type": "about:blank",
                "status": 429,
            },
            headers={
                "x-rate-limit-limit": "200",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(time.time()) + reset_in),
            },
        )

    @staticmethod
    def _invalid(message: str, status: int = 400) -> Response:
        return BearerFake.json_response(
            {
                "errors": [{"message": message}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
            },
            status=status,
        )

    def _create(self, request: Request, match: re.Match[str]) -> Response:
        if request.mimetype != "application/json":
            return self._invalid("Content-Type must be application/json")
        body = self.body(request)
        if not isinstance(body, dict):
            return self._invalid("The request body is not valid JSON")
        unknown = set(body) - _FIELDS
        if unknown:
            return self._invalid(f"The query parameters [{', '.join(sorted(unknown))}] are unknown")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._invalid("text is required when no media is given")
        if weighted_length(text) > 280:
            return self._invalid("Your Tweet text is too long.", status=400)
        with self.lock:
            if any(t["text"] == text for t in self.tweets):
                return self.json_response(
                    {
                        "detail": "You are not allowed to create a Tweet with duplicate content.",
                        "type": "about:blank",
                        "title": "Forbidden",
                        "status": 403,
                    },
                    status=403,
                )
            tweet_id = str(self._next)
            self._next += 1
            tweet = {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}
            self.tweets.append(tweet)
        return self.json_response({"data": tweet}, status=201)
