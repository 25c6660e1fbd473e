"""Catalog feeds for the social shops: Meta Commerce Manager CSV and Google Merchant RSS.

One item per active variant of an active product, as both platforms want variants as
separate items grouped by ``item_group_id`` (set only when a product has more than one
variant, as Google asks). Column and element names are the platforms' own:

* ``meta.csv``: Meta's catalog CSV (id, title, description, availability "in stock" /
  "out of stock", condition, price "19.99 USD", sale_price, link, image_link, brand,
  item_group_id, size, color).
* ``google.xml``: Google Merchant Center's RSS 2.0 with ``xmlns:g`` (title, link,
  description, g:id, g:image_link, g:availability "in_stock" / "out_of_stock",
  g:price, g:sale_price, g:condition, g:brand, g:item_group_id, g:size, g:color).
  Pinterest reads the same format.

Every item's link is a tracked link of the feed's channel, one per product, minted on
demand with :func:`~flask_shoppable.social.links.get_or_create_link` (and reused on the
next fetch), so clicks from catalog ads and shopping listings are counted like any other.
The channel: ``facebook`` for meta.csv (``?channel=instagram`` for a catalog used by an
Instagram shop), ``other`` for google.xml (Google is not one of the channels;
``?channel=pinterest`` for the same feed registered with Pinterest). Feed links carry
``utm_content=catalog-feed`` so reports can tell them from hand-made links.

The item id is the variant's SKU, or ``variant-<id>`` when it has none: the Meta pixel
and Conversions API must send the same value as ``content_ids`` (use :func:`item_id`).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..admin.shop import current_shop_name
from ..catalog.models import Product, Variant
from ..money import to_decimal_string
from ..web import absolute_url
from .links import get_or_create_link, link_url
from .seo import product_images

log = logging.getLogger(__name__)

FEED_UTM_CONTENT = "catalog-feed"
#: Google allows 150 characters of title and 5000 of description; Meta 200 and 9999.
TITLE_MAX = 150
DESCRIPTION_MAX = 5000

META_COLUMNS = (
    "id",
    "title",
    "description",
    "availability",
    "condition",
    "price",
    "sale_price",
    "link",
    "image_link",
    "brand",
    "item_group_id",
    "size",
    "color",
)

#: Option names read as the platforms' size and color attributes (lower case).
SIZE_OPTIONS = frozenset({"size", "taille", "größe", "talla"})
COLOR_OPTIONS = frozenset({"color", "colour", "couleur", "farbe"})

# Characters XML 1.0 forbids; a stray one in a product name would break the whole feed.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class FeedSpec:
    """A feed: its default channel, the other channels it may be fetched for, its builder."""

    default_channel: str
    channels: frozenset[str]
    media_type: str
    build: Callable[[list[Item]], str]


@dataclass(frozen=True)
class Item:
    """One feed row: a variant with everything both formats need."""

    id: str
    title: str
    description: str
    in_stock: bool
    price: str
    sale_price: str
    link: str
    image_link: str
    brand: str
    item_group_id: str
    size: str
    color: str


def item_id(variant: Variant) -> str:
    """The variant's catalog id: its SKU, or ``variant-<id>`` without one."""
    return variant.sku or f"variant-{variant.id}"


def _clean(text: str, limit: int) -> str:
    flat = " ".join(_XML_INVALID.sub(" ", text or "").split())
    return flat[:limit]


def _option(variant: Variant, names: frozenset[str]) -> str:
    for name, value in variant.options_dict.items():
        if name.strip().lower() in names:
            return value
    return ""


def _product_links(session: Session, products: list[Product], channel: str) -> dict[int, str]:
    """Each product's tracked link for ``channel`` (committed), by product id.

    If minting fails (a read-only database, say), the feed still answers, with the plain
    product page URLs, and the failure is logged.
    """
    try:
        links = {
            product.id: link_url(
                get_or_create_link(
                    session,
                    channel=channel,
                    target="product",
                    product_id=product.id,
                    utm_content=FEED_UTM_CONTENT,
                    label=f"Catalog feed: {product.title}"[:200],
                )
            )
            for product in products
        }
        session.commit()
    except (SQLAlchemyError, ValueError):
        log.exception("could not mint the %s feed links; using plain product URLs", channel)
        session.rollback()
        links = {
            product.id: absolute_url("shoppable_pages.product", handle=product.handle)
            for product in products
        }
    return links


def items(session: Session, channel: str) -> list[Item]:
    """Every active variant of every active product, with the channel's tracked links."""
    shop_name = current_shop_name()
    products = session.scalars(
        select(Product).where(Product.active.is_(True)).order_by(Product.id)
    ).all()
    listed = [p for p in products if any(v.active for v in p.variants)]
    links = _product_links(session, listed, channel)
    rows: list[Item] = []
    for product in listed:
        variants = [v for v in product.variants if v.active]
        link = links[product.id]
        images = product_images(product)
        grouped = len(variants) > 1
        description = _clean(product.description, DESCRIPTION_MAX) or _clean(
            product.title, TITLE_MAX
        )
        for variant in variants:
            title = product.title if not grouped else f"{product.title} - {variant.title}"
            on_sale = (
                variant.compare_at_amount is not None
                and variant.compare_at_amount > variant.price_amount
            )
            regular = variant.compare_at_amount if on_sale else variant.price_amount
            rows.append(
                Item(
                    id=_clean(item_id(variant), 100),
                    title=_clean(title, TITLE_MAX),
                    description=description,
                    in_stock=variant.in_stock,
                    price=f"{to_decimal_string(int(regular or 0), variant.currency)} "
                    f"{variant.currency}",
                    sale_price=(
                        f"{to_decimal_string(variant.price_amount, variant.currency)} "
                        f"{variant.currency}"
                        if on_sale
                        else ""
                    ),
                    link=link,
                    image_link=images[0] if images else "",
                    brand=_clean(product.vendor or shop_name, 100),
                    item_group_id=_clean(product.handle, 100) if grouped else "",
                    size=_clean(_option(variant, SIZE_OPTIONS), 100),
                    color=_clean(_option(variant, COLOR_OPTIONS), 100),
                )
            )
    return rows


def meta_csv(rows: list[Item]) -> str:
    """Meta Commerce Manager's catalog CSV (RFC 4180 quoting, header row first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(META_COLUMNS)
    for item in rows:
        writer.writerow(
            (
                item.id,
                item.title,
                item.description,
                "in stock" if item.in_stock else "out of stock",
                "new",
                item.price,
                item.sale_price,
                item.link,
                item.image_link,
                item.brand,
                item.item_group_id,
                item.size,
                item.color,
            )
        )
    return out.getvalue()


def _x(text: str) -> str:
    """Text escaped for an XML element body."""
    cleaned = _XML_INVALID.sub(" ", text)
    return cleaned.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _google_item(item: Item) -> Iterator[str]:
    yield "<item>"
    yield f"<g:id>{_x(item.id)}</g:id>"
    yield f"<title>{_x(item.title)}</title>"
    yield f"<description>{_x(item.description)}</description>"
    yield f"<link>{_x(item.link)}</link>"
    if item.image_link:
        yield f"<g:image_link>{_x(item.image_link)}</g:image_link>"
    yield f"<g:availability>{'in_stock' if item.in_stock else 'out_of_stock'}</g:availability>"
    yield f"<g:price>{_x(item.price)}</g:price>"
    if item.sale_price:
        yield f"<g:sale_price>{_x(item.sale_price)}</g:sale_price>"
    yield "<g:condition>new</g:condition>"
    yield f"<g:brand>{_x(item.brand)}</g:brand>"
    for name in ("item_group_id", "size", "color"):
        value = getattr(item, name)
        if value:
            yield f"<g:{name}>{_x(value)}</g:{name}>"
    yield "</item>"


def google_xml(rows: list[Item]) -> str:
    """Google Merchant Center's RSS 2.0 product feed."""
    shop_name = current_shop_name()
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">',
        "<channel>",
        f"<title>{_x(shop_name)}</title>",
        f"<link>{_x(absolute_url('shoppable_pages.storefront'))}</link>",
        f"<description>{_x(f'Products of {shop_name}')}</description>",
    ]
    for item in rows:
        parts.extend(_google_item(item))
    parts += ["</channel>", "</rss>", ""]
    return "\n".join(parts)


FEEDS: dict[str, FeedSpec] = {
    "meta.csv": FeedSpec(
        "facebook", frozenset({"facebook", "instagram"}), "text/csv; charset=utf-8", meta_csv
    ),
    "google.xml": FeedSpec(
        "other", frozenset({"other", "pinterest"}), "application/xml; charset=utf-8", google_xml
    ),
}


def feed_channel(spec: FeedSpec, requested: str | None) -> str:
    """``?channel=`` when the feed may serve it, else the feed's default channel."""
    name = (requested or "").strip().lower()
    return name if name in spec.channels else spec.default_channel


def render(session: Session, name: str, requested_channel: str | None) -> tuple[str, str] | None:
    """The feed ``name`` as (body, media type), or None for an unknown feed."""
    spec = FEEDS.get(name)
    if spec is None:
        return None
    rows = items(session, feed_channel(spec, requested_channel))
    return spec.build(rows), spec.media_type
