"""Embeds: the impression an embed view records, and the oEmbed 1.0 provider's logic.

The embed card (``GET <prefix>/embed/<slug>``) is shown in iframes on other sites, so
it is the top of the funnel: each view is recorded as an ``impression`` interaction.
It runs in a third-party context, where a cookie would be partitioned or blocked and
would track people across sites, so no visitor cookie is read or set; bots and
prefetches are not counted.

The oEmbed provider (https://oembed.com, section 2) answers only for this site's own
post pages: the ``url`` parameter is matched against the site's host
(``SHOPPABLE_PUBLIC_URL`` or the request's) and the app's own URL map, never fetched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Request, current_app, request
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from ..admin.shop import current_shop_name
from ..tracking.models import new_id
from ..tracking.useragent import is_bot, ua_class
from ..web import absolute_url
from .channels import CHANNELS
from .models import Post
from .seo import clip, site_base

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "blog"
#: The Interaction.referrer column is 500 wide.
REFERRER_MAX = 500
#: The card's natural width, and the bounds any requested size is clamped to.
DEFAULT_WIDTH = 480
MIN_SIZE = 1
MAX_SIZE = 4096
#: Products listed on the card before "and N more".
CARD_PRODUCTS = 3
#: ``utm_content`` of the tracked links the card's buttons use (to tell embed clicks apart).
EMBED_UTM_CONTENT = "embed"


def embed_channel(value: str | None) -> str:
    """The channel named by ``?channel=``, or ``blog`` for a missing or unknown one."""
    name = (value or "").strip().lower()
    return name if name in CHANNELS else DEFAULT_CHANNEL


def is_prefetch(req: Request) -> bool:
    """Speculative loads (link prefetch, prerender) that no person has seen yet."""
    purpose = (req.headers.get("Sec-Purpose") or req.headers.get("Purpose") or "").lower()
    return "prefetch" in purpose or "prerender" in purpose


def impression_row(post: Post, channel: str, req: Request) -> dict[str, Any]:
    """The Interaction row for one embed view (no visitor id: third-party context)."""
    spec = CHANNELS[channel]
    return {
        "id": new_id(),
        "kind": "impression",
        "post_id": post.id,
        "channel": channel,
        "utm_source": spec.utm_source,
        "utm_medium": spec.utm_medium,
        "utm_campaign": (post.campaign or "")[:200],
        "referrer": (req.referrer or "")[:REFERRER_MAX],
        "ua_class": ua_class(req.user_agent.string),
        "visitor_id": None,
        "detail": {"source": "embed"},
    }


def record_impression(post: Post, channel: str, req: Request) -> bool:
    """Record a person's view of the embed card; False when it is not counted.

    Bots, empty user agents, HEAD requests and prefetches are not counted. A failure to
    record is logged and swallowed: the card shows all the same.
    """
    if req.method != "GET" or is_prefetch(req) or is_bot(req.user_agent.string):
        return False
    try:
        current_app.extensions["shoppable"].recorder.record(impression_row(post, channel, req))
    except Exception:
        log.exception("could not record the embed impression of post %s", post.id)
        return False
    return True


# --- oEmbed ----------------------------------------------------------------------------


class OEmbedError(Exception):
    """An oEmbed request answered with ``status`` (400, 404 or 501)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _same_site(url: str) -> tuple[bool, str]:
    """Whether ``url`` is on this site; also returns its path (without the script root).

    http and https URLs of the site's host name the same page (consumers often drop or
    add the s); a port other than the scheme's default must match the site's exactly.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return False, ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False, ""
    site = urlsplit(site_base())
    if parts.hostname.lower() != (site.hostname or "").lower():
        return False, ""
    url_port = None if port in (None, _default_port(parts.scheme)) else port
    site_port = None if site.port in (None, _default_port(site.scheme)) else site.port
    if url_port != site_port:
        return False, ""
    path = parts.path or "/"
    root = request.script_root
    if root:
        if not path.startswith(root + "/"):
            return False, ""
        path = path[len(root) :]
    return True, path


def post_slug_for_url(url: str) -> str | None:
    """The slug named by an absolute URL of this site's post page (or embed), else None."""
    same, path = _same_site(url)
    if not same:
        return None
    adapter = current_app.url_map.bind(urlsplit(site_base()).netloc or "localhost")
    try:
        endpoint, args = adapter.match(path, method="GET")
    except (HTTPException, RequestRedirect):
        return None
    if endpoint not in ("shoppable_pages.post", "shoppable_pages.embed"):
        return None
    slug = args.get("slug")
    return slug if isinstance(slug, str) else None


def _dimension(value: str | None) -> int | None:
    """A requested maxwidth/maxheight: a positive integer clamped to MAX_SIZE, else None."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or len(text) > 9:
        # Not a number, negative, or absurdly long: clamp huge ones, ignore the rest.
        return MAX_SIZE if text.isdigit() else None
    number = int(text)
    if number < MIN_SIZE:
        return None
    return min(number, MAX_SIZE)


def card_height(width: int, product_count: int) -> int:
    """The card's height at ``width``: square image plus header, products and button."""
    rows = min(product_count, CARD_PRODUCTS) + (1 if product_count > CARD_PRODUCTS else 0)
    return width + 56 + 64 + 68 * rows + 72


@dataclass(frozen=True)
class EmbedSize:
    width: int
    height: int


def embed_size(maxwidth: str | None, maxheight: str | None, product_count: int) -> EmbedSize:
    """The iframe's size: the card's natural size, shrunk to fit maxwidth and maxheight."""
    max_w = _dimension(maxwidth)
    max_h = _dimension(maxheight)
    width = min(DEFAULT_WIDTH, max_w) if max_w else DEFAULT_WIDTH
    height = card_height(width, product_count)
    if max_h:
        height = min(height, max_h)
    return EmbedSize(width, height)


def iframe_html(src: str, size: EmbedSize, title: str) -> str:
    """The ``<iframe>`` a consumer pastes into its page (attributes escaped)."""
    return (
        f'<iframe src="{escape(src)}" width="{size.width}" height="{size.height}" '
        f'title="{escape(title)}" loading="lazy" '
        f'style="border:0;max-width:100%;border-radius:12px" '
        f'sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox '
        f'allow-same-origin"></iframe>'
    )


def oembed_document(session: Session, args: dict[str, str]) -> dict[str, Any]:
    """The oEmbed response for the query ``args``; raises :class:`OEmbedError`."""
    fmt = (args.get("format") or "json").strip().lower()
    if fmt != "json":
        raise OEmbedError(501, f"format {fmt[:20]!r} is not supported: use json")
    url = args.get("url") or ""
    if not url.strip():
        raise OEmbedError(400, "the url parameter is required")
    slug = post_slug_for_url(url[:2000])
    if slug is None:
        raise OEmbedError(404, "not a post page of this site")
    post = session.scalar(select(Post).where(Post.slug == slug, Post.status == "published"))
    if post is None:
        raise OEmbedError(404, "no published post at this url")
    products = [t for t in post.tags if t.product.active]
    size = embed_size(args.get("maxwidth"), args.get("maxheight"), len(products))
    shop_name = current_shop_name()
    title = clip(post.caption, 100) or f"A post by {shop_name}"
    src = absolute_url("shoppable_pages.embed", slug=post.slug)
    return {
        "version": "1.0",
        "type": "rich",
        "title": title,
        "html": iframe_html(src, size, f"{title} ({shop_name})"),
        "width": size.width,
        "height": size.height,
        "provider_name": shop_name,
        "provider_url": absolute_url("shoppable_pages.storefront"),
        "cache_age": 3600,
    }
