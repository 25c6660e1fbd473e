"""The shop's public pages: storefront grid, post page, product page, embed, oEmbed, feeds.

Server-rendered Jinja, mobile first, with one small stylesheet and one small script
served by the plugin itself (no third-party scripts or fonts). Every page carries Open
Graph and Twitter Card tags and schema.org JSON-LD (see :mod:`.seo`). Only published
posts and active products are shown; anything else is a 404.

The buy form posts to ``<prefix>/checkout`` (built by the checkout issue) with the
fields ``st`` (the signed attribution token carried from the page's own query string),
``post`` (slug), ``product`` (repeated: each selected product id), and for each product
id P ``variant-P`` and ``quantity-P``.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import func, select

from .. import db
from ..admin.shop import current_shop_name
from ..catalog.models import Product, Variant
from ..money import exponent, to_decimal_string
from ..web import absolute_url, allow_framing
from . import embed as embeds
from . import feeds
from .models import Post, PostTag
from .seo import PageMeta, absolute_media, clip, json_ld, product_images, product_json_ld

bp = Blueprint("shoppable_pages", __name__)

#: Files under templates/shoppable/static/ served at <prefix>/assets/<name>.
ASSETS = {
    "shoppable.css": "text/css; charset=utf-8",
    "shoppable.js": "text/javascript; charset=utf-8",
    "admin.css": "text/css; charset=utf-8",
    "admin-ops.css": "text/css; charset=utf-8",
    "admin-dashboard.css": "text/css; charset=utf-8",
    "admin.js": "text/javascript; charset=utf-8",
}
#: A token from the tracked redirect: URL-safe characters, bounded. Anything else is dropped.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_.~-]{1,256}$")
#: Below this many units, the page says "Only N left".
LOW_STOCK = 5
#: Posts shown on a product page ("As seen in").
PRODUCT_PAGE_POSTS = 12


# --- assets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Asset:
    body: bytes
    version: str


@lru_cache(maxsize=8)
def _load_asset(name: str) -> Asset:
    body = files("flask_shoppable.templates").joinpath("shoppable", "static", name).read_bytes()
    return Asset(body, hashlib.sha256(body).hexdigest()[:12])


def _asset(name: str) -> Asset:
    if current_app.debug:
        _load_asset.cache_clear()
    return _load_asset(name)


@bp.app_template_global("shoppable_asset_url")
def asset_url(name: str) -> str:
    """URL of a plugin asset with its content hash, so it can be cached for a year."""
    return url_for("shoppable_pages.asset", name=name, v=_asset(name).version)


@bp.app_template_filter("shoppable_json_ld")
def json_ld_filter(data: Any) -> Markup:
    """JSON for a ``<script type="application/ld+json">`` element (``<``, ``>``, ``&`` escaped)."""
    return json_ld(data)


@bp.get("/assets/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    item = _asset(name)
    response = Response(item.body, content_type=ASSETS[name])
    if request.args.get("v") == item.version:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "public, max-age=300"
    response.set_etag(item.version)
    return response.make_conditional(request)


@bp.get("/embed.js")
def embed_js() -> Response:
    """The script a blog includes to turn placeholders into responsive embed iframes."""
    item = _load_asset("embed.js")
    response = Response(item.body, content_type="text/javascript; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.set_etag(item.version)
    return response.make_conditional(request)


# --- helpers ---------------------------------------------------------------------------


def attribution_token() -> str:
    """``st`` from the query string when it has a token's shape, else ""."""
    token = request.args.get("st", "")
    return token if _TOKEN_RE.match(token) else ""


def checkout_url() -> str:
    """``<prefix>/checkout``, derived from the storefront URL (works under a SCRIPT_NAME)."""
    return url_for("shoppable_pages.storefront").rstrip("/") + "/checkout"


def price_text(amount: int, currency: str) -> str:
    return f"{to_decimal_string(amount, currency)} {currency}"


def stock_text(variant: Variant) -> str:
    if variant.stock is None:
        return "In stock"
    if variant.stock <= 0:
        return "Sold out"
    if variant.stock <= LOW_STOCK:
        return f"Only {variant.stock} left"
    return "In stock"


@dataclass(frozen=True)
class VariantView:
    id: int
    title: str
    price: str
    #: The price as decimal text and its currency, for og product:price tags.
    amount: str
    currency: str
    #: Minor units and the currency's exponent, for the script's running total.
    minor: int
    exponent: int
    compare_at: str
    in_stock: bool
    stock_text: str
    max_quantity: int


@dataclass(frozen=True)
class ProductView:
    """A product as the pages show it: active variants, the one picked, prices as text."""

    product: Product
    variants: list[VariantView]
    selected: VariantView
    price: str
    from_price: bool
    image: str
    image_alt: str
    images: list[dict[str, str]]
    available: bool
    url: str
    json_ld: dict[str, Any]

    @property
    def id(self) -> int:
        return self.product.id

    @property
    def title(self) -> str:
        return self.product.title

    @property
    def multiple(self) -> bool:
        return len(self.variants) > 1


def _variant_view(variant: Variant) -> VariantView:
    on_sale = (
        variant.compare_at_amount is not None and variant.compare_at_amount > variant.price_amount
    )
    # The checkout's own bound (SHOPPABLE_MAX_LINE_QUANTITY) and the stock; the checkout
    # checks both again.
    limit = current_app.config["SHOPPABLE_MAX_LINE_QUANTITY"]
    max_quantity = limit if variant.stock is None else max(0, min(variant.stock, limit))
    return VariantView(
        id=variant.id,
        title=variant.title,
        price=price_text(variant.price_amount, variant.currency),
        amount=to_decimal_string(variant.price_amount, variant.currency),
        currency=variant.currency,
        minor=variant.price_amount,
        exponent=exponent(variant.currency),
        compare_at=price_text(int(variant.compare_at_amount or 0), variant.currency)
        if on_sale
        else "",
        in_stock=variant.in_stock,
        stock_text=stock_text(variant),
        max_quantity=max_quantity,
    )


def product_view(product: Product, wanted_variant: int | None = None) -> ProductView | None:
    """The view of an active product with at least one active variant, else None."""
    variants = [v for v in product.variants if v.active]
    if not product.active or not variants:
        return None
    views = [_variant_view(v) for v in variants]
    by_id = {v.id: v for v in views}
    selected = by_id.get(wanted_variant or -1) if wanted_variant else None
    if selected is None or not selected.in_stock:
        selected = next((v for v in views if v.in_stock), views[0])
    prices = {(v.price_amount, v.currency) for v in variants}
    cheapest = min(variants, key=lambda v: v.price_amount)
    images = []
    for raw in product.images or []:
        if isinstance(raw, dict) and absolute_media(str(raw.get("url") or "")):
            images.append(
                {
                    "url": str(raw["url"]),
                    "alt": str(raw.get("alt") or "") or product.title,
                }
            )
    shop_name = current_shop_name()
    return ProductView(
        product=product,
        variants=views,
        selected=selected,
        price=price_text(cheapest.price_amount, cheapest.currency),
        from_price=len(prices) > 1,
        image=images[0]["url"] if images else "",
        image_alt=images[0]["alt"] if images else product.title,
        images=images,
        available=any(v.in_stock for v in views),
        url=url_for("shoppable_pages.product", handle=product.handle),
        json_ld=product_json_ld(product, variants, shop_name),
    )


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) <= 9 else None


def _published_post(slug: str) -> Post:
    post = db.session().scalar(select(Post).where(Post.slug == slug, Post.status == "published"))
    if post is None:
        abort(404)
    return post


def _tag_views(post: Post) -> list[tuple[PostTag, ProductView]]:
    pairs = []
    for tag in post.tags:
        view = product_view(tag.product)
        if view is not None:
            pairs.append((tag, view))
    return pairs


def _post_image_alt(post: Post) -> str:
    return post.image_alt or clip(post.caption, 120) or "Photo of the post"


def _post_title(post: Post) -> str:
    return clip(post.caption, 70) or current_shop_name()


def not_found(message: str = "") -> tuple[str, int]:
    """The plugin's own 404 page, with a way back to the storefront."""
    return render_template("shoppable/page_not_found.html", message=message), 404


@bp.errorhandler(404)
def _page_not_found(error: Exception) -> tuple[str, int]:
    return not_found()


# --- pages -----------------------------------------------------------------------------


@bp.get("/")
def storefront() -> str:
    """The link-in-bio grid: published posts, newest first, paginated."""
    config = current_app.config
    per_page: int = config["SHOPPABLE_POSTS_PER_PAGE"]
    page = _int_arg("page") or 1
    session = db.session()
    published = Post.status == "published"
    total = session.scalar(select(func.count()).select_from(Post).where(published)) or 0
    last_page = max(1, math.ceil(total / per_page))
    if page > last_page:
        abort(404)
    posts = session.scalars(
        select(Post)
        .where(published)
        .order_by(Post.published_at.desc().nulls_last(), Post.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    token = attribution_token()
    shop_name = current_shop_name()

    def page_url(number: int) -> str:
        args: dict[str, Any] = {"page": number} if number > 1 else {}
        return absolute_url("shoppable_pages.storefront", **args)

    cover = next((absolute_media(p.image_url) for p in posts if absolute_media(p.image_url)), "")
    meta = PageMeta(
        title=shop_name if page == 1 else f"{shop_name} (page {page})",
        description=f"Shop the looks of {shop_name}: tap a post to see and buy what's in it.",
        url=page_url(page),
        image=cover,
        image_alt=f"{shop_name} posts",
        prev_url=page_url(page - 1) if page > 1 else "",
        next_url=page_url(page + 1) if page < last_page else "",
        json_ld=[
            {
                "@context": "https://schema.org",
                "@type": "WebSite",
                "name": shop_name,
                "url": absolute_url("shoppable_pages.storefront"),
            }
        ],
    )
    carry = {"st": token} if token else {}
    cards = [
        {
            "post": p,
            "url": url_for("shoppable_pages.post", slug=p.slug, **carry),
            "img": absolute_media(p.image_url),
            "alt": _post_image_alt(p),
            "count": sum(1 for t in p.tags if t.product.active),
        }
        for p in posts
    ]
    return render_template(
        "shoppable/storefront.html",
        meta=meta,
        cards=cards,
        page=page,
        last_page=last_page,
        total=total,
        prev_url=url_for("shoppable_pages.storefront", page=page - 1 if page > 2 else None, **carry)
        if page > 1
        else "",
        next_url=url_for("shoppable_pages.storefront", page=page + 1, **carry)
        if page < last_page
        else "",
    )


@bp.get("/p/<slug>")
def post(slug: str) -> str:
    """A post: the image with its product tags, and a form to buy one or all of them."""
    return render_post(_published_post(slug))


def render_post(item: Post, preview: bool = False) -> str:
    """The post page of ``item`` (``preview``: a merchant's look at a draft, with a banner)."""
    pairs = _tag_views(item)
    views = [view for _tag, view in pairs]
    token = attribution_token()
    shop_name = current_shop_name()
    fallback = f"Shop {', '.join(v.title for v in views[:3])}" if views else shop_name
    meta = PageMeta(
        title=_post_title(item),
        description=item.caption or fallback,
        url=absolute_url("shoppable_pages.post", slug=item.slug),
        image=absolute_media(item.image_url)
        or next((absolute_media(v.image) for v in views if v.image), ""),
        image_alt=_post_image_alt(item),
        oembed_url=absolute_url(
            "shoppable_pages.oembed",
            url=absolute_url("shoppable_pages.post", slug=item.slug),
            format="json",
        ),
        json_ld=[v.json_ld for v in views],
    )
    hotspots = [(tag, view) for tag, view in pairs if tag.x is not None and tag.y is not None]
    return render_template(
        "shoppable/post.html",
        meta=meta,
        post=item,
        image=absolute_media(item.image_url),
        image_alt=_post_image_alt(item),
        hotspots=hotspots,
        products=views,
        token=token,
        checkout_url=checkout_url(),
        product_link_args={"st": token} if token else {},
        preview=preview,
    )


@bp.get("/products/<handle>")
def product(handle: str) -> str:
    """A product: images, variant picker, price and stock, buy form, posts it is in."""
    session = db.session()
    found = session.scalar(
        select(Product).where(Product.handle == handle, Product.active.is_(True))
    )
    view = product_view(found, _int_arg("variant")) if found is not None else None
    if view is None:
        abort(404)
    posts = session.scalars(
        select(Post)
        .join(PostTag, PostTag.post_id == Post.id)
        .where(PostTag.product_id == view.id, Post.status == "published")
        .order_by(Post.published_at.desc().nulls_last(), Post.id.desc())
        .limit(PRODUCT_PAGE_POSTS)
    ).all()
    token = attribution_token()
    images = product_images(view.product)
    meta = PageMeta(
        title=view.title,
        description=view.product.description or f"{view.title} from {current_shop_name()}",
        url=absolute_url("shoppable_pages.product", handle=view.product.handle),
        og_type="product",
        image=images[0] if images else "",
        image_alt=view.image_alt,
        price_amount=view.selected.amount,
        price_currency=view.selected.currency,
        json_ld=[view.json_ld],
    )
    return render_template(
        "shoppable/product.html",
        meta=meta,
        view=view,
        posts=[
            {
                "post": p,
                "url": url_for(
                    "shoppable_pages.post", slug=p.slug, **({"st": token} if token else {})
                ),
                "img": absolute_media(p.image_url),
                "alt": _post_image_alt(p),
            }
            for p in posts
        ],
        token=token,
        checkout_url=checkout_url(),
    )


# --- embeds ----------------------------------------------------------------------------


def _embed_shop_url(item: Post, channel: str) -> str:
    """The card's "Shop" link: a tracked link of the embed's channel, else the post page."""
    from .links import get_or_create_link, link_url

    session = db.session()
    try:
        link = get_or_create_link(
            session,
            channel=channel,
            target="post",
            post_id=item.id,
            utm_campaign=item.campaign or "",
            utm_content=embeds.EMBED_UTM_CONTENT,
            label=f"Embed: {item.slug}"[:200],
        )
        url = link_url(link)
        session.commit()
    except Exception:
        embeds.log.exception("could not mint the embed link of post %s", item.id)
        session.rollback()
        url = absolute_url("shoppable_pages.post", slug=item.slug)
    return url


@bp.get("/embed/<slug>")
def embed(slug: str) -> Response:
    """The compact card for iframes: the one page that may be framed by any site."""
    allow_framing()
    item = _published_post(slug)
    channel = embeds.embed_channel(request.args.get("channel"))
    embeds.record_impression(item, channel, request)
    views = [view for _tag, view in _tag_views(item)]
    shop_url = _embed_shop_url(item, channel)
    html = render_template(
        "shoppable/embed.html",
        post=item,
        image=absolute_media(item.image_url),
        image_alt=_post_image_alt(item),
        products=views[: embeds.CARD_PRODUCTS],
        more=max(0, len(views) - embeds.CARD_PRODUCTS),
        shop_url=shop_url,
        post_url=absolute_url("shoppable_pages.post", slug=item.slug),
        storefront_url=absolute_url("shoppable_pages.storefront"),
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    # Each view is counted: browsers revalidate rather than reuse a cached card.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/oembed")
def oembed() -> Response | tuple[Response, int]:
    """oEmbed 1.0 provider for this site's post pages (json; xml is 501)."""
    args = {k: request.args.get(k, "") for k in ("url", "format", "maxwidth", "maxheight")}
    if "maxwidth" not in request.args:
        args.pop("maxwidth")
    if "maxheight" not in request.args:
        args.pop("maxheight")
    try:
        document = embeds.oembed_document(db.session(), args)
    except embeds.OEmbedError as error:
        response = current_app.response_class(
            f"{error.status} {error.message}\n", status=error.status, mimetype="text/plain"
        )
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    response = current_app.json.response(document)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


# --- feeds -----------------------------------------------------------------------------


@bp.get("/feeds/<name>")
def feed(name: str) -> Response:
    """Catalog feeds for Meta (meta.csv) and Google Merchant Center / Pinterest (google.xml)."""
    rendered = feeds.render(db.session(), name, request.args.get("channel"))
    if rendered is None:
        abort(404)
    body, media_type = rendered
    response = Response(body, content_type=media_type)
    response.headers["Cache-Control"] = "public, max-age=900"
    return response
