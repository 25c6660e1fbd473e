"""Instagram content publishing and Facebook Page photos on the fake Graph API.

Installed by :meth:`FakeGraph._publishing_routes`; its state and helpers are at
``graph.publishing`` (a :class:`MetaPublishing`):

* ``POST /<ig-user-id>/media`` (``image_url``, ``caption``, optional ``user_tags`` and
  ``product_tags`` as JSON arrays with x and y from 0 to 1) makes a container;
  ``GET /<container-id>?fields=status_code`` answers IN_PROGRESS for the first
  :attr:`MetaPublishing.in_progress_polls` polls of each container, then FINISHED;
  ``POST /<ig-user-id>/media_publish`` (``creation_id``) publishes a FINISHED container
  once (Graph's 9007/2207027 "Media ID is not available" before; an error for a
  container already published) and answers the media id; ``GET /<media-id>?fields=
  permalink`` its permalink.
* ``POST /<page-id>/photos`` (``url``, ``message``) answers ``{"id", "post_id"}``;
  ``GET /<post-id>?fields=permalink_url``.
* ``GET /<catalog-id>/products?filter={"retailer_id":{"eq":"..."}}`` finds a catalog
  product (for product tags) among those given to :meth:`MetaPublishing.add_catalog`.

Parameters are read from the query string or a form body, as Graph takes both. An
Instagram account or Page must be added first (:meth:`add_instagram_account`,
:meth:`add_page`); another id answers Graph's "Object ... does not exist" (code 100,
subcode 33). :meth:`rate_limit` queues Graph's throttling answer (HTTP 400 with code
80002 for Instagram, 32 for a Page, and the ``X-Business-Use-Case-Usage`` header).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from .meta import FakeGraph


class MetaPublishing:
    def __init__(self, graph: FakeGraph) -> None:
        self.graph = graph
        self.instagram_accounts: set[str] = set()
        self.pages: set[str] = set()
        #: Polls of a new container that answer IN_PROGRESS before FINISHED.
        self.in_progress_polls = 0
        self.containers: dict[str, dict[str, Any]] = {}
        #: Published Instagram media, in order.
        self.media: list[dict[str, Any]] = []
        #: Page photos, in order.
        self.photos: list[dict[str, Any]] = []
        #: catalog id -> {retailer_id: catalog product id}
        self.catalogs: dict[str, dict[str, str]] = {}
        self._next = 17900000000000001

    # -- set-up ---------------------------------------------------------------------
    def add_instagram_account(self, ig_user_id: str) -> str:
        with self.graph.lock:
            self.instagram_accounts.add(ig_user_id)
        return ig_user_id

    def add_page(self, page_id: str) -> str:
        with self.graph.lock:
            self.pages.add(page_id)
        return page_id

    def add_catalog(self, catalog_id: str, retailer_ids: list[str]) -> dict[str, str]:
        """A catalog holding products with these retailer ids; their Meta product ids."""
        with self.graph.lock:
            products = {rid: self._id() for rid in retailer_ids}
            self.catalogs[catalog_id] = products
        return products

    def rate_limit(self, times: int = 1, *, page: bool = False, minutes: int = 1) -> None:
        from .meta import graph_error

        code = 32 if page else 80002
        usage = {
            "x": [
                {
                    "type": "instagram" if not page else "pages",
                    "call_count": 100,
                    "total_cputime": 20,
                    "total_time": 20,
                    "estimated_time_to_regain_access": minutes,
                }
            ]
        }
        body = json.loads(
            graph_error(
                "There have been too many calls for this account. Wait a bit and try again.",
                code=code,
                status=400,
                kind="OAuthException",
                is_transient=True,
            ).get_data()
        )
        self.graph.fail(
            times, status=400, body=body, headers={"X-Business-Use-Case-Usage": json.dumps(usage)}
        )

    def _id(self) -> str:
        self._next += 1
        return str(self._next)

    # -- routes ---------------------------------------------------------------------
    def install(self) -> None:
        route = self.graph.route
        route("POST", r"/(?P<ig_id>\d+)/media", self._create_container)
        route("POST", r"/(?P<ig_id>\d+)/media_publish", self._publish)
        route("POST", r"/(?P<page_id>\d+)/photos", self._photo)
        route("GET", r"/(?P<catalog_id>\d+)/products", self._products)
        route("GET", r"/(?P<object_id>\w+)", self._read)

    @staticmethod
    def _param(request: Request, name: str) -> str | None:
        value = request.args.get(name)
        return value if value is not None else request.form.get(name)

    def _missing(self, kind: str, object_id: str) -> Response:
        from .meta import graph_error

        return graph_error(
            f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation",
            code=100,
            error_subcode=33,
        )

    @staticmethod
    def _tags(raw: str | None, key: str) -> tuple[list[dict[str, Any]] | None, str | None]:
        if raw is None:
            return None, None
        try:
            tags = json.loads(raw)
        except ValueError:
            return None, f"Param {key} must be a JSON array"
        if not isinstance(tags, list):
            return None, f"Param {key} must be a JSON array"
        for tag in tags:
            ident = "product_id" if key == "product_tags" else "username"
            if not isinstance(tag, dict) or not isinstance(tag.get(ident), str):
                return None, f"Each of {key} needs a {ident}"
            for axis in ("x", "y"):
                value = tag.get(axis)
                if not isinstance(value, int | float) or not 0 <= value <= 1:
                    return None, f"{key}: {axis} must be a number from 0.0 to 1.0"
        return tags, None

    def _create_container(self, request: Request, match: re.Match[str]) -> Response:
        from .meta import graph_error

        ig_id = match["ig_id"]
        image_url = self._param(request, "image_url")
        caption = self._param(request, "caption") or ""
        if not image_url or not image_url.startswith(("http://", "https://")):
            return graph_error("The parameter image_url is required", code=100)
        if len(caption) > 2200:
            return graph_error(
                "The caption is too long (2200 characters at most)", code=100, error_subcode=2207024
            )
        product_tags, problem = self._tags(self._param(request, "product_tags"), "product_tags")
        if problem:
            return graph_error(problem, code=100)
        user_tags, problem = self._tags(self._param(request, "user_tags"), "user_tags")
        if problem:
            return graph_error(problem, code=100)
        with self.graph.lock:
            if ig_id not in self.instagram_accounts:
                return self._missing("instagram", ig_id)
            known = {pid for products in self.catalogs.values() for pid in products.values()}
            for tag in product_tags or []:
                if tag["product_id"] not in known:
                    return graph_error(
                        f"Product {tag['product_id']} is not in a catalog "
                        "connected to this account",
                        code=100,
                        error_subcode=2207029,
                    )
            container_id = self._id()
            self.containers[container_id] = {
                "id": container_id,
                "ig_id": ig_id,
                "image_url": image_url,
                "caption": caption,
                "product_tags": product_tags,
                "user_tags": user_tags,
                "polls": 0,
                "status_code": "IN_PROGRESS" if self.in_progress_polls else "FINISHED",
                "media_id": None,
            }
        return self.graph.json_response({"id": container_id})

    def _publish(self, request: Request, match: re.Match[str]) -> Response:
        from .meta import graph_error

        creation_id = self._param(request, "creation_id")
        with self.graph.lock:
            if match["ig_id"] not in self.instagram_accounts:
                return self._missing("instagram", match["ig_id"])
            container = self.containers.get(creation_id or "")
            if container is None or container["ig_id"] != match["ig_id"]:
                return graph_error(
                    "The parameter creation_id is required and must be a container of this account",
                    code=100,
                )
            if container["status_code"] == "PUBLISHED":
                return graph_error(
                    "The media container has already been published",
                    code=9007,
                    error_subcode=2207008,
                )
            if container["status_code"] != "FINISHED":
                return graph_error(
                    "Media ID is not available", code=9007, error_subcode=2207027, status=400
                )
            media_id = self._id()
            container["status_code"] = "PUBLISHED"
            container["media_id"] = media_id
            self.media.append(
                {
                    "id": media_id,
                    "ig_id": container["ig_id"],
                    "caption": container["caption"],
                    "media_url": container["image_url"],
                    "product_tags": container["product_tags"],
                    "user_tags": container["user_tags"],
                    "container_id": creation_id,
                    "permalink": f"https://www.instagram.com/p/{secrets.token_urlsafe(8)}/",
                }
            )
        return self.graph.json_response({"id": media_id})

    def _photo(self, request: Request, match: re.Match[str]) -> Response:
        from .meta import graph_error

        page_id = match["page_id"]
        url = self._param(request, "url")
        if not url or not url.startswith(("http://", "https://")):
            return graph_error("(#100) url should represent a valid URL", code=100)
        with self.graph.lock:
            if page_id not in self.pages:
                return self._missing("page", page_id)
            photo_id = self._id()
            post_id = f"{page_id}_{self._id()}"
            self.photos.append(
                {
                    "id": photo_id,
                    "post_id": post_id,
                    "page_id": page_id,
                    "url": url,
                    "message": self._param(request, "message") or "",
                    "published": self._param(request, "published") not in ("false", "0"),
                    "permalink_url": f"https://www.facebook.com/{page_id}/posts/{post_id.split('_')[1]}",
                }
            )
        return self.graph.json_response({"id": photo_id, "post_id": post_id})

    def _products(self, request: Request, match: re.Match[str]) -> Response:
        from .meta import graph_error

        try:
            wanted = json.loads(request.args.get("filter", "{}"))["retailer_id"]["eq"]
        except (ValueError, KeyError, TypeError):
            return graph_error('filter must be {"retailer_id": {"eq": ...}}', code=100)
        with self.graph.lock:
            products = self.catalogs.get(match["catalog_id"])
            if products is None:
                return self._missing("catalog", match["catalog_id"])
            found = [
                {"id": pid, "retailer_id": rid} for rid, pid in products.items() if rid == wanted
            ]
        return self.graph.json_response({"data": found})

    def _read(self, request: Request, match: re.Match[str]) -> Response:
        object_id = match["object_id"]
        with self.graph.lock:
            container = self.containers.get(object_id)
            if container is not None:
                container["polls"] += 1
                if (
                    container["status_code"] == "IN_PROGRESS"
                    and container["polls"] > self.in_progress_polls
                ):
                    container["status_code"] = "FINISHED"
                return self.graph.json_response(
                    {"status_code": container["status_code"], "id": object_id}
                )
            for media in self.media:
                if media["id"] == object_id:
                    return self.graph.json_response(
                        {
                            "id": object_id,
                            "permalink": media["permalink"],
                            "caption": media["caption"],
                        }
                    )
            for photo in self.photos:
                if object_id in (photo["post_id"], photo["id"]):
                    return self.graph.json_response(
                        {"id": object_id, "permalink_url": photo["permalink_url"]}
                    )
        return self._missing("object", object_id)
