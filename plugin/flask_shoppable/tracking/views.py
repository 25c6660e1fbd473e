"""``GET <prefix>/s/<code>``: the tracked redirect.

A shopper's click: look the link up (in-process cache, :mod:`.linkcache`), record a
``click`` interaction (:mod:`.recorder`), and answer ``302`` to the link's target with
``st=<signed token>`` naming the click, so the checkout can attribute the sale even in
in-app browsers that lose cookies.

* The target comes from the link's row alone (``social.links.target_path``); nothing in
  the request can change where the redirect goes. An unknown, inactive or expired code,
  or one whose post or product is no longer shown, is a 404 page.
* The request's ``utm_*`` values override the link's for the recorded click (a creator
  may label their own placements), each cleaned and cut to 200 characters; ``partner``
  and the channel come only from the link, or anyone could claim a creator's credit.
* The link's own ``utm_*`` values are appended to the target URL too: analytics a host
  adds to the plugin's templates (GA4, Plausible, Matomo) then sees the campaign instead
  of a direct visit, and they cost a few bytes. The request's values are not, so the
  Location holds nothing a visitor typed.
* Link-preview bots and crawlers get the target page itself (status 200, with its Open
  Graph tags) and are not counted; HEAD requests and browser prefetches are redirected
  without being counted either.
* A failure to record never fails the click: it is logged and the shopper is
  redirected (without a token naming a click that was not written).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Blueprint, Response, current_app, make_response, render_template, request
from flask import url_for as _url_for

from ..db import utcnow
from ..web import NOT_FRAMEABLE, secured
from . import linkcache, tokens, visitor
from .models import CLICK_ID_PARAMS, new_id
from .privacy import ip_hash
from .useragent import is_bot, ua_class

log = logging.getLogger("flask_shoppable.tracking")

bp = Blueprint("shoppable_tracking", __name__)
bp.after_app_request(visitor.set_cookie)

#: Width of the utm_* columns.
UTM_MAX = 200
#: Longest ad click id kept (fbclid and gclid run to about 100 characters).
CLICK_ID_MAX = 255
#: Width of the referrer column.
REFERRER_MAX = 500
_CODE_RE = re.compile(r"[A-Za-z0-9]{8,32}")
_WANTED = frozenset(linkcache.UTM_FIELDS + CLICK_ID_PARAMS)
#: Query text that decodes to itself: ASCII without "%" or "+".
_PLAIN = re.compile(r"[^%+\x80-\xff]*")
#: C0 controls and DEL: PostgreSQL refuses NUL in text, and none belongs in a report.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean(value: str | None, limit: int) -> str:
    """``value`` without control characters, trimmed, cut to ``limit`` characters."""
    if not value:
        return ""
    if len(value) > 4 * limit:
        value = value[: 4 * limit]
    return _CONTROL.sub(" ", value).strip()[:limit].strip()


def is_prefetch(environ: dict[str, Any]) -> bool:
    """A speculative load (prefetch, prerender) no person has seen yet."""
    purpose = (environ.get("HTTP_SEC_PURPOSE") or environ.get("HTTP_PURPOSE") or "").lower()
    return "prefetch" in purpose or "prerender" in purpose


def not_found() -> tuple[str, int]:
    storefront = _url_for("shoppable_pages.storefront")
    return render_template("shoppable/link_not_found.html", storefront_url=storefront), 404


def unavailable() -> tuple[str, int, dict[str, str]]:
    """The database cannot be reached and the link is not cached: try again shortly."""
    storefront = _url_for("shoppable_pages.storefront")
    page = render_template(
        "shoppable/link_not_found.html", storefront_url=storefront, unavailable=True
    )
    return page, 503, {"Retry-After": "30", "Cache-Control": "no-store"}


@bp.route("/s/<code>", methods=["GET"])
def follow(code: str) -> Any:
    # The hot path of the plugin: headers are read from the WSGI environ and the
    # response is built by hand, each a few microseconds cheaper than the usual way.
    if not _CODE_RE.fullmatch(code):
        return not_found()
    try:
        link = linkcache.lookup(code)
    except Exception:
        log.exception("looking up link %s failed", code)
        return unavailable()
    if link is None or not link.live():
        return not_found()
    environ = request.environ
    user_agent: str = environ.get("HTTP_USER_AGENT", "")
    if is_bot(user_agent):
        return preview(link)
    if request.method != "GET" or is_prefetch(environ):
        return _redirect(link.location)
    interaction_id = new_id()
    try:
        row = click_row(link, interaction_id, user_agent, query_values(environ))
        current_app.extensions["shoppable"].recorder.record(row)
    except Exception:
        log.exception("recording a click on link %s failed; redirecting anyway", link.code)
        return _redirect(link.location)
    return _redirect(link.location_st + tokens.sign(interaction_id))


def query_values(environ: dict[str, Any]) -> dict[str, str]:
    """The first value of each ``utm_*`` and ad click id parameter of the query string.

    Like ``request.args.get`` for these keys (percent- and plus-decoded; bytes that are
    not UTF-8 become replacement characters instead of staying percent-encoded), without
    building the whole MultiDict: the redirect reads eleven keys of a query that may
    hold many others.
    """
    query: str = environ.get("QUERY_STRING", "")
    found: dict[str, str] = {}
    if not query:
        return found
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if not _PLAIN.fullmatch(key):
            key = _decode(key)
        if key in _WANTED and key not in found:
            found[key] = value if _PLAIN.fullmatch(value) else _decode(value)
    return found


def _decode(text: str) -> str:
    """Plus and percent decoding, then UTF-8 with replacement characters (never fails).

    WSGI hands the query string over as latin-1 text: back to its bytes first, so that
    raw and percent-encoded bytes of one character decode together.
    """
    raw = text.encode("latin-1", "replace").replace(b"+", b" ")
    return unquote_to_bytes(raw).decode("utf-8", "replace")


def click_row(
    link: linkcache.LinkInfo,
    interaction_id: Any,
    user_agent: str,
    args: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The Interaction row (every column) of a click on ``link`` by the current request."""
    if args is None:
        args = query_values(request.environ)
    visitor_id = visitor.current_visitor()
    tracked = visitor_id is not None
    if tracked:
        address_hash = ip_hash(request.remote_addr, current_app.config["SHOPPABLE_SECRET_KEY"])
        click_ids = {
            name: value
            for name in CLICK_ID_PARAMS
            if name in args and (value := clean(args[name], CLICK_ID_MAX))
        }
    else:
        address_hash = ""
        click_ids = {}
    return {
        "id": interaction_id,
        "kind": "click",
        "occurred_at": utcnow(),
        "visitor_id": visitor_id,
        "link_id": link.id,
        "post_id": link.post_id,
        "product_id": link.product_id,
        "channel": link.channel,
        "utm_source": _utm(args, "utm_source", link.utm_source),
        "utm_medium": _utm(args, "utm_medium", link.utm_medium),
        "utm_campaign": _utm(args, "utm_campaign", link.utm_campaign),
        "utm_content": _utm(args, "utm_content", link.utm_content),
        "utm_term": _utm(args, "utm_term", link.utm_term),
        "partner": link.partner,
        "click_ids": click_ids,
        "referrer": clean(request.environ.get("HTTP_REFERER"), REFERRER_MAX),
        "ip_hash": address_hash,
        "ua_class": ua_class(user_agent),
        "origin_id": None,
        "detail": {},
    }


def _utm(args: dict[str, str], name: str, default: str) -> str:
    """The request's value of ``name`` when it has one, else the link's."""
    value = args.get(name)
    return (clean(value, UTM_MAX) or default) if value else default


class _EmptyResponse(Response):
    """A response without a body, so without a Content-Type."""

    default_mimetype = None


def _redirect(location: str) -> Response:
    # Each click is its own: no cache (browser, CDN) may replay this answer. No body:
    # every client follows a 302's Location.
    headers = [("Location", location), ("Cache-Control", "no-store"), *NOT_FRAMEABLE]
    return secured(_EmptyResponse(status=302, headers=headers))


def preview(link: linkcache.LinkInfo) -> Response:
    """What a link-preview bot gets: the target page itself, with its preview tags."""
    views = current_app.view_functions
    page: Any = None
    if link.target == "post" and "shoppable_pages.post" in views:
        page = views["shoppable_pages.post"](slug=link.post_slug)
    elif link.target == "product" and "shoppable_pages.product" in views:
        page = views["shoppable_pages.product"](handle=link.product_handle)
    elif link.target == "storefront" and "shoppable_pages.storefront" in views:
        page = views["shoppable_pages.storefront"]()
    if page is None:
        page = _minimal_preview(link)
    response = make_response(page)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _minimal_preview(link: linkcache.LinkInfo) -> str:
    """A small page with Open Graph tags, for targets without a page of their own."""
    from .. import db
    from ..admin.shop import current_shop_name
    from ..catalog.models import Product
    from ..social.models import Post
    from ..web import absolute_url

    session = db.session()
    title = current_shop_name()
    description = ""
    image = ""
    url = absolute_url("shoppable_tracking.follow", code=link.code)
    if link.post_id is not None and link.target == "post":
        post = session.get(Post, link.post_id)
        if post is not None:
            title = clean(post.caption, 70) or title
            description = clean(post.caption, 300)
            image = post.image_url
    elif link.product_id is not None:
        product = session.get(Product, link.product_id)
        if product is not None:
            title = product.title
            description = clean(product.description, 300)
            image = next((i.get("url", "") for i in product.images if isinstance(i, dict)), "")
    if image and not image.startswith(("http://", "https://")):
        image = ""
    return render_template(
        "shoppable/link_preview.html", title=title, description=description, image=image, url=url
    )
