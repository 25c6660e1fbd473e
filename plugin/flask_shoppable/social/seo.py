"""Preview tags and structured data: Open Graph, Twitter Card and schema.org JSON-LD.

Link previews (Facebook, X, LinkedIn, Slack, iMessage) read Open Graph and Twitter Card
tags; search engines and shopping surfaces read schema.org ``Product``/``Offer``
JSON-LD. Both need absolute URLs, so every image and page URL goes through
:func:`absolute_media` or :func:`flask_shoppable.web.absolute_url`.

JSON-LD lives inside ``<script type="application/ld+json">``, where the HTML parser
ends the element at the first ``</script`` whatever the JSON says: :func:`json_ld`
escapes ``<``, ``>`` and ``&`` as ``\\u003c`` and friends, which JSON readers decode
back and the HTML parser never sees as markup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from flask import current_app, request
from markupsafe import Markup

from ..catalog.models import Product, Variant
from ..money import to_decimal_string
from ..web import absolute_url

#: Preview texts longer than this are cut (Facebook shows ~300, X ~200 characters).
DESCRIPTION_MAX = 300
TITLE_MAX = 120

_JSON_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "\u2026"


def site_base() -> str:
    """``https://shop.example.com``: SHOPPABLE_PUBLIC_URL, else the request's host."""
    configured: str | None = current_app.config["SHOPPABLE_PUBLIC_URL"]
    return configured or request.host_url.rstrip("/")


def absolute_media(url: str | None) -> str:
    """An image URL made absolute against the site; "" for anything not http(s).

    Merchants may store ``/static/shirt.jpg`` or a CDN URL; previews need absolute ones,
    and a ``javascript:`` or ``data:`` value is dropped rather than echoed.
    """
    if not url or not url.strip():
        return ""
    joined = urljoin(site_base() + "/", url.strip())
    parts = urlsplit(joined)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return joined


def json_ld(data: Any) -> Markup:
    """``data`` as JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.translate(_JSON_ESCAPES))  # noqa: S704 (escaped just above)


@dataclass
class PageMeta:
    """What a page tells link previews about itself (rendered by ``_meta.html``)."""

    title: str
    description: str
    url: str
    og_type: str = "website"
    image: str = ""
    image_alt: str = ""
    #: Absolute URL of the oEmbed endpoint for this page, when it can be embedded.
    oembed_url: str = ""
    #: ``product:price:amount`` / ``product:price:currency`` for og:type product.
    price_amount: str = ""
    price_currency: str = ""
    #: schema.org objects, one ``<script type="application/ld+json">`` each.
    json_ld: list[dict[str, Any]] = field(default_factory=list)
    #: Next/previous page URLs of a paginated list.
    prev_url: str = ""
    next_url: str = ""

    def __post_init__(self) -> None:
        self.title = clip(self.title, TITLE_MAX)
        self.description = clip(self.description, DESCRIPTION_MAX)


def availability(variants: list[Variant]) -> str:
    """schema.org availability: InStock when any of ``variants`` can be sold."""
    in_stock = any(v.in_stock for v in variants)
    return "https://schema.org/InStock" if in_stock else "https://schema.org/OutOfStock"


def product_images(product: Product) -> list[str]:
    """The product's image URLs, absolute, in order (broken entries skipped)."""
    urls = []
    for image in product.images or []:
        if isinstance(image, dict):
            url = absolute_media(str(image.get("url") or ""))
            if url:
                urls.append(url)
    return urls


def product_json_ld(product: Product, variants: list[Variant], shop_name: str) -> dict[str, Any]:
    """schema.org ``Product`` with one ``Offer`` per active variant.

    Prices are decimal strings (``"19.99"``) with ``priceCurrency``, availability comes
    from stock, and each offer's URL names its variant on the product page.
    """
    page_url = absolute_url("shoppable_pages.product", handle=product.handle)
    offers = [
        {
            "@type": "Offer",
            "url": absolute_url("shoppable_pages.product", handle=product.handle, variant=v.id),
            "price": to_decimal_string(v.price_amount, v.currency),
            "priceCurrency": v.currency,
            "availability": availability([v]),
            "itemCondition": "https://schema.org/NewCondition",
            **({"sku": v.sku} if v.sku else {}),
            **({"name": v.title} if len(variants) > 1 else {}),
        }
        for v in variants
    ]
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.title,
        "url": page_url,
        "brand": {"@type": "Brand", "name": product.vendor or shop_name},
    }
    description = clip(product.description or "", 5000)
    if description:
        data["description"] = description
    images = product_images(product)
    if images:
        data["image"] = images
    skus = [v.sku for v in variants if v.sku]
    if skus:
        data["sku"] = skus[0]
    if offers:
        data["offers"] = offers[0] if len(offers) == 1 else offers
    return data
