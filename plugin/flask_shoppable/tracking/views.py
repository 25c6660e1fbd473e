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
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, make_response, render_template, request
from flask import url_for as _url_for
from werkzeug.utils import redirect

from ..db import utcnow
from . import linkcache, tokens, visitor
from .models import CLICK_ID_PARAMS, new_id
from .privacy import ip_hash
from .useragent import is_bot, ua_class

log = logging.getLogger("flask_shoppable.tracking")

bp = Blueprint("shoppable_tracking", __name__)
bp.after_app_request(visitor.set_cookie)

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
#: Width of the utm_* columns.
UTM_MAX = 200
#: Longest ad click id kept (fbclid and gclid run to about 100 characters).
CLICK_ID_MAX = 255
#: Width of the referrer column.
REFERRER_MAX = 500
_CODE_RE = re.compile(r"[A-Za-z0-9]{8,32}")
#: C0 controls and DEL: PostgreSQL refuses NUL in text, and none belongs in a report.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean(value: str | None, limit: int) -> str:
    """``value`` without control characters, trimmed, cut to ``limit`` characters."""
    if not value:
        return ""
    if len(value) > 4 * limit:
        value = value[: 4 * limit]
    return _CONTROL.sub(" ", value).strip()[:limit].strip()


def is_prefetch() -> bool:
    """A speculative load (prefetch, prerender) no person has seen yet."""
    purpose = request.headers.get("Sec-Purpose") or request.headers.get("Purpose") or ""
    purpose = purpose.lower()
    return "prefetch" in purpose or "prerender" in purpose


def not_found() -> tuple[str, int]:
    storefront = _url_for("shoppable_pages.storefront")
    return render_template("shoppable/link_not_found.html", storefront_url=storefront), 404


@bp.route("/s/<code>", methods=["GET"])
def follow(code: str) -> Any:
    if not _CODE_RE.fullmatch(code):
        return not_found()
    link = linkcache.lookup(code)
    if link is None or not link.live():
        return not_found()
    user_agent = request.headers.get("User-Agent", "")
    if is_bot(user_agent):
        return preview(link)
    if request.method != "GET" or is_prefetch():
        return _redirect(link, None)
    interaction_id = new_id()
    try:
        row = click_row(link, interaction_id, user_agent)
        current_app.extensions["shoppable"].recorder.record(row)
    except Exception:
        log.exception("recording a click on link %s failed; redirecting anyway", link.code)
        return _redirect(link, None)
    return _redirect(link, interaction_id)


def click_row(link: linkcache.LinkInfo, interaction_id: Any, user_agent: str) -> dict[str, Any]:
    """The Interaction row of a click on ``link`` by the current request."""
    args = request.args
    visitor_id = visitor.current_visitor()
    tracked = visitor_id is not None
    row: dict[str, Any] = {
        "id": interaction_id,
        "kind": "click",
        "occurred_at": utcnow(),
        "visitor_id": visitor_id,
        "link_id": link.id,
        "post_id": link.post_id,
        "product_id": link.product_id,
        "channel": link.channel,
        "partner": link.partner,
        "referrer": clean(request.headers.get("Referer"), REFERRER_MAX),
        "ua_class": ua_class(user_agent),
        "detail": {},
    }
    for field in UTM_FIELDS:
        row[field] = clean(args.get(field), UTM_MAX) or getattr(link, field)
    if tracked:
        row["ip_hash"] = ip_hash(request.remote_addr, current_app.config["SHOPPABLE_SECRET_KEY"])
        row["click_ids"] = {
            name: value
            for name in CLICK_ID_PARAMS
            if (value := clean(args.get(name), CLICK_ID_MAX))
        }
    else:
        row["ip_hash"] = ""
        row["click_ids"] = {}
    return row


def target_url(link: linkcache.LinkInfo, interaction_id: Any) -> str:
    """The link's target path with its UTM labels and the click's token appended."""
    params = [(field, value) for field in UTM_FIELDS if (value := getattr(link, field))]
    if interaction_id is not None:
        params.append(("st", tokens.sign(interaction_id)))
    if not params:
        return link.path
    separator = "&" if "?" in link.path else "?"
    return f"{link.path}{separator}{urlencode(params, quote_via=quote)}"


def _redirect(link: linkcache.LinkInfo, interaction_id: Any) -> Response:
    response = redirect(target_url(link, interaction_id), 302)
    # Each click is its own: no cache (browser, CDN) may replay this answer.
    response.headers["Cache-Control"] = "no-store"
    return response


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
    from ..catalog.models import Product
    from ..social.models import Post
    from ..web import absolute_url

    session = db.session()
    title = current_app.config["SHOPPABLE_SHOP_NAME"]
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
