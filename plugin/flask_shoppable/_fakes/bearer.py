"""The part the Pinterest, LinkedIn and X fakes share: OAuth 2.0 bearer tokens, routes, 429s.

Each platform answers a missing, unknown or expired token with 401 and its own error
body (:meth:`BearerFake.auth_error`), and a rate limit with 429 and its own headers
(:meth:`BearerFake.rate_limit` queues them, see each fake).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from .server import FakeServer

Handler = Callable[[Request, "re.Match[str]"], Response]


class BearerFake(FakeServer):
    #: Prefix of the tokens :meth:`add_token` makes.
    token_prefix = "tok_"  # noqa: S105 (a fake's token prefix)

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        #: access token -> expired?
        self.tokens: dict[str, bool] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add_token(self, token: str | None = None, *, expired: bool = False) -> str:
        token = token or self.token_prefix + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = expired
        return token

    def expire_token(self, token: str) -> None:
        with self.lock:
            self.tokens[token] = True

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern + r"/?$"), handler))

    def auth_error(self, reason: str) -> Response:  # pragma: no cover - subclasses
        raise NotImplementedError

    def token_refused(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return self.auth_error("missing")
        with self.lock:
            expired = self.tokens.get(header[7:].strip())
        if expired is None:
            return self.auth_error("invalid")
        if expired:
            return self.auth_error("expired")
        return None

    def check(self, request: Request) -> Response | None:
        """Platform checks before the route's own (headers); None when fine."""
        return None

    def not_found(self, request: Request) -> Response:
        return self.json_response({"message": f"No route {request.path}"}, status=404)

    def handle(self, request: Request) -> Response:
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and request.method == method:
                refused = self.token_refused(request) or self.check(request)
                return refused or handler(request, match)
        return self.not_found(request)

    @staticmethod
    def body(request: Request) -> Any:
        try:
            return request.get_json(force=True, silent=False)
        except Exception:
            return None
