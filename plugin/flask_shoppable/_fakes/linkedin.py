"""A local fake of LinkedIn's versioned REST API for organisation posts (``POST /rest/posts``).

Checks what LinkedIn checks: a bearer token (401 with LinkedIn's ``{"status",
"serviceErrorCode", "code", "message"}`` when missing, revoked or expired), the headers
``LinkedIn-Version: YYYYMM`` and ``X-Restli-Protocol-Version: 2.0.0``, and the Posts API
body: ``author`` ``urn:li:organization:<id>`` (an organisation added with
:meth:`FakeLinkedIn.add_organization`), ``commentary`` (at most 3,000 characters),
``visibility``, ``distribution`` (``feedDistribution``, ``targetEntities``,
``thirdPartyDistributionChannels``), ``lifecycleState`` PUBLISHED, and an optional
``content`` (``article`` with ``source`` and ``title``, or ``media`` with an image
URN). It answers 201 with an empty body and the post's URN in ``x-restli-id``, as
LinkedIn does. Posts made are kept in :attr:`FakeLinkedIn.posts`.
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Request, Response

from .bearer import BearerFake

_VERSION_RE = re.compile(r"^\d{6}(\.\d{2})?$")
_ORG_RE = re.compile(r"^urn:li:organization:(\d+)$")
_VISIBILITY = {"PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER"}


def _error(status: int, code: str, message: str, service_code: int = 100) -> Response:
    return BearerFake.json_response(
        {"status": status, "serviceErrorCode": service_code, "code": code, "message": message},
        status=status,
    )


class FakeLinkedIn(BearerFake):
    name = "linkedin"
    token_prefix = "AQV"  # noqa: S105 (a fake's token prefix)

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.organizations: set[str] = set()
        self.posts: list[dict[str, Any]] = []
        self._next = 7300000000000000001
        self.route("POST", r"/rest/posts", self._create)

    def add_organization(self, organization_id: str) -> str:
        with self.lock:
            self.organizations.add(organization_id)
        return organization_id

    def auth_error(self, reason: str) -> Response:
        if reason == "expired":
            return _error(
                401, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired", 65601
            )
        return _error(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)

    def check(self, request: Request) -> Response | None:
        version = request.headers.get("LinkedIn-Version")
        if not version:
            return _error(
                400,
                "VERSION_MISSING",
                "A version must be present. Please specify a version by adding the "
                "LinkedIn-Version header.",
            )
        if not _VERSION_RE.match(version):
            return _error(400, "INVALID_VERSION", f"Version {version} is not in the YYYYMM format.")
        if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            return _error(400, "ILLEGAL_ARGUMENT", "X-Restli-Protocol-Version: 2.0.0 is required.")
        return None

    def rate_limit(self, times: int = 1) -> None:
        """The next ``times`` calls get LinkedIn's 429 (it sends no Retry-After)."""
        self.fail(
            times,
            status=429,
            body={
                "status": 429,
                "serviceErrorCode": 101,
                "code": "TOO_MANY_REQUESTS",
                "message": "Resource level throttle APPLICATION DAY limit for calls to this "
                "resource is reached.",
            },
        )

    def _create(self, request: Request, match: re.Match[str]) -> Response:
        body = self.body(request)
        if not isinstance(body, dict):
            return _error(400, "ILLEGAL_ARGUMENT", "The request body is not JSON.")
        org = _ORG_RE.match(str(body.get("author", "")))
        if org is None:
            return _error(
                422,
                "UNPROCESSABLE_ENTITY",
                "/author: must be urn:li:organization:<id> or urn:li:person:<id>",
            )
        commentary = body.get("commentary")
        if not isinstance(commentary, str) or len(commentary) > 3000:
            return _error(
                422,
                "UNPROCESSABLE_ENTITY",
                "/commentary: a string of at most 3000 characters is required",
            )
        if body.get("visibility") not in _VISIBILITY:
            return _error(
                422,
                "UNPROCESSABLE_ENTITY",
                "/visibility: must be one of PUBLIC, CONNECTIONS, LOGGED_IN, CONTAINER",
            )
        distribution = body.get("distribution")
        if (
            not isinstance(distribution, dict)
            or distribution.get("feedDistribution") not in ("MAIN_FEED", "NONE")
            or not isinstance(distribution.get("targetEntities", []), list)
            or not isinstance(distribution.get("thirdPartyDistributionChannels", []), list)
        ):
            return _error(
                422,
                "UNPROCESSABLE_ENTITY",
                "/distribution: feedDistribution MAIN_FEED or NONE, targetEntities and "
                "thirdPartyDistributionChannels lists",
            )
        if body.get("lifecycleState") != "PUBLISHED":
            return _error(422, "UNPROCESSABLE_ENTITY", "/lifecycleState: must be PUBLISHED")
        content = body.get("content")
        if content is not None:
            article, media = (
                (content.get("article"), content.get("media"))
                if isinstance(content, dict)
                else (None, None)
            )
            if article is not None:
                source = article.get("source") if isinstance(article, dict) else None
                if not isinstance(source, str) or not source.startswith(("http://", "https://")):
                    return _error(
                        422,
                        "UNPROCESSABLE_ENTITY",
                        "/content/article/source: an http(s) URL is required",
                    )
                if not isinstance(article.get("title"), str):
                    return _error(422, "UNPROCESSABLE_ENTITY", "/content/article/title: required")
            elif media is not None:
                if not isinstance(media, dict) or not str(media.get("id", "")).startswith(
                    "urn:li:image:"
                ):
                    return _error(
                        422, "UNPROCESSABLE_ENTITY", "/content/media/id: an image URN is required"
                    )
            else:
                return _error(422, "UNPROCESSABLE_ENTITY", "/content: article or media expected")
        with self.lock:
            if org.group(1) not in self.organizations:
                return _error(
                    403, "ACCESS_DENIED", f"Not enough permissions to post as {body['author']}", 100
                )
            urn = f"urn:li:share:{self._next}"
            self._next += 1
            self.posts.append({"id": urn, **body})
        return Response(status=201, headers={"x-restli-id": urn, "x-linkedin-id": urn})
