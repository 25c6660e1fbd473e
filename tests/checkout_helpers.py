"""Arranging products, variants, posts and links for the checkout tests (through the ORM)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.catalog.models import Product, Variant
from flask_shoppable.checkout.models import Checkout
from flask_shoppable.social.models import Post, PostTag


def product(
    session: Session,
    handle: str,
    *variants: dict[str, Any],
    active: bool = True,
    options: list[str] | None = None,
) -> Product:
    """A product with ``variants`` (each: price, currency, stock, active, sku, options...).

    Without variants: one, 25.00 USD, 10 in stock. Committed.
    """
    row = Product(
        handle=handle,
        title=handle.replace("-", " ").title(),
        options=options or ([] if len(variants) <= 1 else ["Size"]),
        images=[],
        active=active,
    )
    for position, spec in enumerate(variants or ({},)):
        values = list(spec.get("options", [] if len(variants) <= 1 else [f"S{position}"]))
        row.variants.append(
            Variant(
                sku=spec.get("sku"),
                option1=values[0] if values else "",
                price_amount=spec.get("price", 2500),
                currency=spec.get("currency", "USD"),
                stock=spec.get("stock", 10),
                requires_shipping=spec.get("requires_shipping", True),
                active=spec.get("active", True),
                position=position,
            )
        )
    session.add(row)
    session.commit()
    return row


def variant(session: Session, handle: str = "tee", **spec: Any) -> Variant:
    """The one variant of a new product ``handle``."""
    return product(session, handle, spec).variants[0]


def post(session: Session, slug: str, *products: Product, status: str = "published") -> Post:
    row = Post(slug=slug, caption=f"Post {slug}", image_url="", status=status)
    for position, item in enumerate(products):
        row.tags.append(PostTag(product_id=item.id, position=position))
    session.add(row)
    session.commit()
    return row


def stock(session: Session, variant_id: int) -> int | None:
    session.expire_all()
    return session.scalar(select(Variant.stock).where(Variant.id == variant_id))


def checkouts(session: Session) -> list[Checkout]:
    session.expire_all()
    return list(session.scalars(select(Checkout).order_by(Checkout.id)))
