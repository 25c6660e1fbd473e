"""Arranging products and posts for the page, embed, feed and browser tests.

Rows are written straight through the ORM (the tests of the merchant API cover the API
itself); :func:`serve` runs the app on a real local port for clients that need one
(the oEmbed consumer library, the browser).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.serving import WSGIRequestHandler, make_server

from flask_shoppable.catalog.models import Product, Variant
from flask_shoppable.social.models import Post, PostTag

#: Pairs of colours for the generated pictures (deterministic per name).
_PALETTES = (
    ("#f5d0a9", "#c2410c"),
    ("#bae6fd", "#0369a1"),
    ("#d9f99d", "#3f6212"),
    ("#fbcfe8", "#9d174d"),
    ("#e9d5ff", "#6b21a8"),
    ("#fde68a", "#a16207"),
)

_T0 = datetime(2025, 1, 1, tzinfo=UTC)


def make_product(
    session: Session,
    handle: str,
    *,
    title: str | None = None,
    variants: list[dict[str, Any]] | None = None,
    options: list[str] | None = None,
    active: bool = True,
    vendor: str = "",
    description: str = "",
    images: list[dict[str, Any]] | None = None,
) -> Product:
    """A product with the given variants (default: one, 19.99 USD, 5 in stock)."""
    product = Product(
        handle=handle,
        title=title or handle.replace("-", " ").title(),
        description=description,
        vendor=vendor,
        options=options or [],
        images=images if images is not None else [{"url": f"/img/{handle}.svg", "alt": ""}],
        active=active,
    )
    for position, spec in enumerate(variants or [{}]):
        values = list(spec.get("options", []))
        product.variants.append(
            Variant(
                sku=spec.get("sku"),
                option1=values[0] if len(values) > 0 else "",
                option2=values[1] if len(values) > 1 else "",
                option3=values[2] if len(values) > 2 else "",
                price_amount=spec.get("price", 1999),
                currency=spec.get("currency", "USD"),
                compare_at_amount=spec.get("compare_at"),
                stock=spec.get("stock", 5),
                active=spec.get("active", True),
                position=position,
            )
        )
    session.add(product)
    session.flush()
    return product


def make_post(
    session: Session,
    slug: str,
    *,
    caption: str = "",
    status: str = "published",
    tags: list[tuple[Product, float | None, float | None]] | None = None,
    image_url: str | None = None,
    image_alt: str = "",
    campaign: str = "",
    age_days: int = 0,
) -> Post:
    """A post (published by default), its tags given as (product, x, y)."""
    post = Post(
        slug=slug,
        caption=caption,
        image_url=image_url if image_url is not None else f"/img/post-{slug}.svg",
        image_alt=image_alt,
        campaign=campaign,
        status=status,
        published_at=_T0 + timedelta(days=1000 - age_days) if status == "published" else None,
    )
    for position, (product, x, y) in enumerate(tags or []):
        post.tags.append(PostTag(product_id=product.id, x=x, y=y, position=position))
    session.add(post)
    session.flush()
    return post


def look(session: Session) -> dict[str, Any]:
    """A published post tagging a shirt (sizes, one sold out), a cap, and a sold-out mug."""
    shirt = make_product(
        session,
        "linen-shirt",
        title="Linen Shirt",
        vendor="Harbour & Pine",
        description="Breathable linen.\nMade in Portugal.",
        options=["Size"],
        variants=[
            {"sku": "SHIRT-S", "options": ["S"], "price": 4900, "stock": 0},
            {"sku": "SHIRT-M", "options": ["M"], "price": 4900, "stock": 3},
            {"sku": "SHIRT-L", "options": ["L"], "price": 5400, "stock": None,
             "compare_at": 6000},
        ],
    )  # fmt: skip
    cap = make_product(session, "canvas-cap", title="Canvas Cap", variants=[{"price": 2500}])
    mug = make_product(
        session, "stone-mug", title="Stone Mug", variants=[{"price": 1800, "stock": 0}]
    )
    post = make_post(
        session,
        "summer-look",
        caption="Summer in linen ☀️ & a cap",
        image_alt="A person in a linen shirt and a canvas cap on a pier",
        campaign="summer-25",
        tags=[(shirt, 30.0, 40.0), (cap, 70.5, 12.25), (mug, None, None)],
    )
    session.commit()
    return {"post": post, "shirt": shirt, "cap": cap, "mug": mug}


def picture(name: str) -> str:
    """A small SVG picture for ``name``: a gradient, a sun and hills (4:5 for posts)."""
    light, dark = _PALETTES[sum(name.encode()) % len(_PALETTES)]
    height = 1000 if name.startswith("post") or "look" in name else 800
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="800" height="{height}" '
        f'viewBox="0 0 800 {height}"><defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="{light}"/><stop offset="1" stop-color="#ffffff"/>'
        f'</linearGradient></defs><rect width="800" height="{height}" fill="url(#g)"/>'
        f'<circle cx="560" cy="{height * 0.3:.0f}" r="110" fill="{dark}" opacity=".85"/>'
        f'<path d="M0 {height * 0.75:.0f} Q 250 {height * 0.55:.0f} 520 {height * 0.72:.0f} '
        f'T 800 {height * 0.66:.0f} V {height} H 0 Z" fill="{dark}" opacity=".55"/>'
        f'<path d="M0 {height * 0.85:.0f} Q 300 {height * 0.7:.0f} 800 {height * 0.86:.0f} '
        f'V {height} H 0 Z" fill="{dark}"/></svg>'
    )


def add_image_route(app: Flask) -> None:
    """Serve ``/img/<name>`` (any name) from the host app, so pages have real images."""

    @app.get("/img/<path:name>")
    def _image(name: str) -> tuple[str, int, dict[str, str]]:
        return picture(name), 200, {"Content-Type": "image/svg+xml"}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are not logged (the tests make hundreds)."""


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 on a free port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
