"""A local fake of Pinterest's API v5 for creating pins (``POST /v5/pins``).

Checks what Pinterest checks: an OAuth 2.0 bearer token (401 ``{"code": 2, "message":
"Authentication failed."}`` without a valid one), a JSON body with ``board_id`` (a board
added with :meth:`FakePinterest.add_board`), ``media_source`` ``{"source_type":
"image_url", "url": ...}``, and the documented bounds (title 100, description 800,
alt_text 500, link 2048 characters). A pin made is kept in :attr:`FakePinterest.pins`.
``rate_limit()`` makes the next calls answer 429 with Pinterest's body and its
``X-RateLimit-*`` headers.
"""

from __future__ import annotations

import re
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from .bearer import BearerFake


class FakePinterest(BearerFake):
    name = "pinterest"
    token_prefix = "pina_"  # noqa: S105 (a fake's token prefix)

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.boards: set[str] = set()
        self.pins: list[dict[str, Any]] = []
        self._next = 1000000000000000001
        self.route("POST", r"/v5/pins", self._create_pin)
        self.route("GET", r"/v5/pins/(?P<pin_id>\d+)", self._get_pin)

    def add_board(self, board_id: str) -> str:
        with self.lock:
            self.boards.add(board_id)
        return board_id

    def auth_error(self, reason: str) -> Response:
        return self.json_response({"code": 2, "message": "Authentication failed."}, status=401)

    def rate_limit(self, times: int = 1, reset: int = 1) -> None:
        """The next ``times`` calls get 429 (the window resets in ``reset`` seconds)."""
        self.fail(
            times,
            status=429,
            body={"code": 8, "message": "You have exceeded your rate limit. Try again later."},
            headers={
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            },
        )

    @staticmethod
    def _invalid(message: str) -> Response:
        return BearerFake.json_response({"code": 1, "message": message}, status=400)

    def _create_pin(self, request: Request, match: re.Match[str]) -> Response:
        if request.mimetype != "application/json":
            return self._invalid("Content-Type must be application/json")
        body = self.body(request)
        if not isinstance(body, dict):
            return self._invalid("Invalid JSON body")
        board_id = body.get("board_id")
        if not isinstance(board_id, str) or not board_id:
            return self._invalid("board_id is required")
        media = body.get("media_source")
        if not isinstance(media, dict) or media.get("source_type") != "image_url":
            return self._invalid("media_source.source_type must be image_url here")
        url = media.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return self._invalid("media_source.url must be an http(s) URL")
        for field, limit in (("title", 100), ("description", 800), ("alt_text", 500)):
            value = body.get(field)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                return self._invalid(f"{field} must be a string of at most {limit} characters")
        link = body.get("link")
        if link is not None and (
            not isinstance(link, str)
            or not link.startswith(("http://", "https://"))
            or len(link) > 2048
        ):
            return self._invalid("link must be an http(s) URL of at most 2048 characters")
        with self.lock:
            if board_id not in self.boards:
                return self.json_response({"code": 40, "message": "Board not found."}, status=404)
            pin_id = str(self._next)
            self._next += 1
            pin = {
                "id": pin_id,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                "board_id": board_id,
                "link": link,
                "title": body.get("title"),
                "description": body.get("description"),
                "alt_text": body.get("alt_text"),
                "media": {"media_type": "image", "images": {"originals": {"url": url}}},
            }
            self.pins.append(pin)
        return self.json_response(pin, status=201)

    def _get_pin(self, request: Request, match: re.Match[str]) -> Response:
        with self.lock:
            for pin in self.pins:
                if pin["id"] == match["pin_id"]:
                    return self.json_response(pin)
        return self.json_response({"code": 50, "message": "Pin not found."}, status=404)
