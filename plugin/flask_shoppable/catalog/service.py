"""Writing the catalog: the functions the API, the CSV importer and the demo seeder share.

Each takes a :class:`~sqlalchemy.orm.Session` and the dict a schema of :mod:`.schemas`
loaded (so input has already been validated field by field). What needs the database
is checked here: a handle or SKU already taken, option values already used by another
variant of the product, the product's option names. Problems raise
:class:`CatalogError` with an HTTP-like status (404, 409, 422), a sentence and per-field
messages shaped like marshmallow's.

Checks come first, for clear messages; the unique constraints on ``handle``, ``sku``
and the option values still catch a concurrent duplicate: the
:class:`~sqlalchemy.exc.IntegrityError` is turned into a 409 after a rollback, so a
failed write leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, String, cast, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..money import Money
from .models import MAX_OPTIONS, Product, Variant
from .schemas import HANDLE_MAX, option_errors

#: Largest number of values put in one ``IN (...)`` (SQLite allows 32766 parameters).
IN_CHUNK = 500

Errors = dict[Any, Any]


class CatalogError(Exception):
    """A write the catalog refuses: ``status`` as HTTP would say it, per-field ``errors``."""

    def __init__(self, status: int, message: str, errors: Errors | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


# --- reading -------------------------------------------------------------------------


#: Ids are 32-bit integer columns; a larger id in a URL is simply not found (PostgreSQL
#: would refuse to compare it).
_MAX_ID = 2**31 - 1


def get_product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id) if 0 < product_id <= _MAX_ID else None
    if product is None:
        raise CatalogError(404, f"No product with id {product_id}.")
    return product


def get_variant(session: Session, variant_id: int) -> Variant:
    variant = session.get(Variant, variant_id) if 0 < variant_id <= _MAX_ID else None
    if variant is None:
        raise CatalogError(404, f"No variant with id {variant_id}.")
    return variant


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def select_products(
    *, active: bool | None = None, sku: str | None = None, q: str | None = None
) -> Select[Product]:
    """Products matching the filters, oldest first.

    ``q`` is matched case-insensitively in title, handle, vendor, description and tags.
    Tags are a JSON column, matched in their stored JSON text, so ``q`` is JSON-escaped
    the same way (a tag "café" is stored as "caf\\u00e9").
    """
    stmt = select(Product).order_by(Product.id)
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    if sku is not None:
        stmt = stmt.where(exists().where(Variant.product_id == Product.id, Variant.sku == sku))
    if q:
        plain = f"%{_like_escape(q)}%"
        in_json = f"%{_like_escape(json.dumps(q)[1:-1])}%"
        stmt = stmt.where(
            or_(
                Product.title.ilike(plain, escape="\\"),
                Product.handle.ilike(plain, escape="\\"),
                Product.vendor.ilike(plain, escape="\\"),
                Product.description.ilike(plain, escape="\\"),
                cast(Product.tags, String).ilike(in_json, escape="\\"),
            )
        )
    return stmt


def select_variants(
    *, sku: str | None = None, active: bool | None = None, product_id: int | None = None
) -> Select[Variant]:
    """Variants matching the filters, by product then position."""
    stmt = select(Variant).order_by(Variant.product_id, Variant.position, Variant.id)
    if sku is not None:
        stmt = stmt.where(Variant.sku == sku)
    if active is not None:
        stmt = stmt.where(Variant.active.is_(active))
    if product_id is not None:
        stmt = stmt.where(Variant.product_id == product_id)
    return stmt


def count(session: Session, stmt: Select[Any]) -> int:
    """How many rows ``stmt`` selects."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return int(total or 0)


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def taken_handles(session: Session, handles: Iterable[str]) -> set[str]:
    """Which of ``handles`` are already used by a product."""
    wanted = sorted(set(handles))
    found: set[str] = set()
    for chunk in _chunks(wanted):
        found.update(session.scalars(select(Product.handle).where(Product.handle.in_(chunk))))
    return found


def taken_skus(session: Session, skus: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Which of ``skus`` are already used: sku → (variant id, product handle)."""
    wanted = sorted({s for s in skus if s is not None})
    found: dict[str, tuple[int, str]] = {}
    for chunk in _chunks(wanted):
        rows = session.execute(
            select(Variant.sku, Variant.id, Product.handle)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.sku.in_(chunk))
        )
        for sku, variant_id, handle in rows:
            if sku is not None:  # always, by the WHERE; says so to the type checker
                found[sku] = (variant_id, handle)
    return found


def sku_taken_message(sku: str, variant_id: int, handle: str) -> str:
    return f"SKU {sku!r} is already used by variant {variant_id} of product {handle!r}."


# --- handles -------------------------------------------------------------------------


def slugify(text: str) -> str:
    """``"Red Shirt (XL)"`` → ``"red-shirt-xl"``; accents dropped, never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    # Leave room for a "-NNN" suffix within the column's length.
    slug = slug[: HANDLE_MAX - 10].rstrip("-")
    return slug or "product"


def unique_handle(session: Session, title: str) -> str:
    """A handle made from ``title``, with -2, -3... appended if it is taken."""
    base = slugify(title)
    pattern = f"{_like_escape(base)}-%"
    used = set(
        session.scalars(
            select(Product.handle).where(
                or_(Product.handle == base, Product.handle.like(pattern, escape="\\"))
            )
        )
    )
    if base not in used:
        return base
    n = 2
    while f"{base}-{n}" in used:
        n += 1
    return f"{base}-{n}"


# --- products ------------------------------------------------------------------------


def _option_columns(names: list[str], values: dict[str, str] | None) -> dict[str, str]:
    given = values or {}
    padded = [given[name] for name in names] + [""] * (MAX_OPTIONS - len(names))
    return {f"option{i + 1}": value for i, value in enumerate(padded)}


def _new_variant(names: list[str], data: dict[str, Any], position: int) -> Variant:
    price: Money = data["price"]
    compare_at: Money | None = data.get("compare_at_price")
    return Variant(
        sku=data.get("sku"),
        **_option_columns(names, data.get("options")),
        price_amount=price.amount,
        currency=price.currency,
        compare_at_amount=compare_at.amount if compare_at else None,
        stock=data.get("stock"),
        requires_shipping=data.get("requires_shipping", True),
        active=data.get("active", True),
        position=data.get("position", position),
    )


def _images(images: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"url": image["url"], "alt": image.get("alt", "")} for image in images]


def _create_conflicts(session: Session, data: dict[str, Any], handle: str) -> Errors:
    errors: Errors = {}
    if taken_handles(session, [handle]):
        errors["handle"] = [f"Handle {handle!r} is already used by another product."]
    variants = data["variants"]
    taken = taken_skus(session, [v["sku"] for v in variants if v.get("sku")])
    for index, variant in enumerate(variants):
        sku = variant.get("sku")
        if sku is not None and sku in taken:
            errors.setdefault("variants", {})[index] = {
                "sku": [sku_taken_message(sku, *taken[sku])]
            }
    return errors


def _integrity_conflict(
    session: Session, recheck: Any, what: str, exc: IntegrityError
) -> CatalogError:
    """After a unique constraint fired: roll back, then name the field if we can."""
    session.rollback()
    errors = recheck()
    if errors:
        return CatalogError(409, f"The {what} conflicts with a concurrent change.", errors)
    return CatalogError(
        409,
        f"The {what} conflicts with a concurrent change; retry. ({type(exc.orig).__name__})",
    )


def create_product(session: Session, data: dict[str, Any], *, commit: bool = True) -> Product:
    """Create a product and its variants from a loaded :class:`~.schemas.ProductSchema`.

    Without ``commit`` the product is only flushed: the importer commits many at once.
    """
    explicit = data.get("handle")
    handle = explicit or unique_handle(session, data["title"])
    errors = _create_conflicts(session, data, handle)
    if errors:
        raise CatalogError(409, "The product conflicts with existing products.", errors)
    names = list(data.get("options", []))
    product = Product(
        handle=handle,
        title=data["title"],
        description=data.get("description", ""),
        vendor=data.get("vendor", ""),
        product_type=data.get("product_type", ""),
        tags=list(data.get("tags", [])),
        images=_images(data.get("images", [])),
        options=names,
        active=data.get("active", True),
        variants=[_new_variant(names, v, i) for i, v in enumerate(data["variants"])],
    )
    session.add(product)
    try:
        session.flush()
        if commit:
            session.commit()
    except IntegrityError as exc:
        raise _integrity_conflict(
            session, lambda: _create_conflicts(session, data, handle), "product", exc
        ) from None
    return product


def update_product(session: Session, product: Product, data: dict[str, Any]) -> Product:
    """Apply a loaded :class:`~.schemas.ProductUpdateSchema` (a partial update).

    Options may be renamed; adding or removing one would leave the variants without a
    value for it (or with one too many), so that is refused while variants exist.
    """
    handle = data.get("handle")

    def conflicts() -> Errors:
        if handle is None or handle == product.handle:
            return {}
        if taken_handles(session, [handle]):
            return {"handle": [f"Handle {handle!r} is already used by another product."]}
        return {}

    errors = conflicts()
    if errors:
        raise CatalogError(409, "The product conflicts with existing products.", errors)
    if "options" in data and len(data["options"]) != len(product.options) and product.variants:
        raise CatalogError(
            409,
            f"Options can be renamed but not added or removed while the product has "
            f"variants (it has {len(product.variants)}): it has "
            f"{len(product.options)} option(s), the request gives {len(data['options'])}.",
            {"options": ["Must keep the same number of options as the product has."]},
        )
    for field in ("handle", "title", "description", "vendor", "product_type", "active"):
        if field in data:
            setattr(product, field, data[field])
    if "tags" in data:
        product.tags = list(data["tags"])
    if "images" in data:
        product.images = _images(data["images"])
    if "options" in data:
        product.options = list(data["options"])
    try:
        session.flush()
        session.commit()
    except IntegrityError as exc:
        raise _integrity_conflict(session, conflicts, "product", exc) from None
    return product


def delete_product(session: Session, product: Product) -> None:
    """Delete a product and its variants."""
    session.delete(product)
    session.commit()


# --- variants ------------------------------------------------------------------------


def _variant_conflicts(
    session: Session, product: Product, data: dict[str, Any], variant: Variant | None
) -> Errors:
    """Uniqueness against the database: the SKU, and option values within the product."""
    errors: Errors = {}
    sku = data.get("sku")
    if sku is not None and (variant is None or sku != variant.sku):
        taken = taken_skus(session, [sku])
        if sku in taken:
            errors["sku"] = [sku_taken_message(sku, *taken[sku])]
    if product.options and data.get("options") is not None:
        wanted = [data["options"].get(name) for name in product.options]
        for other in product.variants:
            if other is not variant and other.option_values == wanted:
                errors["options"] = [
                    f"Variant {other.id} already has these option values ({other.title})."
                ]
                break
    return errors


def _check_options(product: Product, data: dict[str, Any], creating: bool) -> None:
    if creating or "options" in data:
        problems = option_errors(product.options, data.get("options"))
        if problems:
            raise CatalogError(
                422, "The option values do not fit the product.", {"options": problems}
            )


def add_variant(session: Session, product: Product, data: dict[str, Any]) -> Variant:
    """Add a variant (a loaded :class:`~.schemas.VariantSchema`) to ``product``."""
    _check_options(product, data, creating=True)
    if not product.options and product.variants:
        raise CatalogError(
            422,
            "A product without options has exactly one variant; this one already has it.",
            {"options": ["The product has no options, so it cannot have another variant."]},
        )
    errors = _variant_conflicts(session, product, data, None)
    if errors:
        raise CatalogError(409, "The variant conflicts with existing variants.", errors)
    position = max((v.position for v in product.variants), default=-1) + 1
    variant = _new_variant(product.options, data, position)
    product.variants.append(variant)
    try:
        session.flush()
        session.commit()
    except IntegrityError as exc:
        product_id = product.id
        raise _integrity_conflict(
            session,
            lambda: _variant_conflicts(session, get_product(session, product_id), data, None),
            "variant",
            exc,
        ) from None
    return variant


def update_variant(session: Session, variant: Variant, data: dict[str, Any]) -> Variant:
    """Apply a loaded :class:`~.schemas.VariantUpdateSchema` (a partial update)."""
    product = variant.product
    _check_options(product, data, creating=False)
    price: Money = data.get("price", variant.price)
    if "compare_at_price" in data:
        compare_at: Money | None = data["compare_at_price"]
    else:
        compare_at = variant.compare_at_price
        if compare_at is not None and price.currency != compare_at.currency:
            raise CatalogError(
                422,
                "The price's currency changes: give compare_at_price in it too (or null).",
                {"compare_at_price": [f"Must be in the price's currency ({price.currency})."]},
            )
    if compare_at is not None and compare_at.currency != price.currency:
        raise CatalogError(
            422,
            "compare_at_price must be in the price's currency.",
            {"compare_at_price": [f"Must be in the price's currency ({price.currency})."]},
        )
    errors = _variant_conflicts(session, product, data, variant)
    if errors:
        raise CatalogError(409, "The variant conflicts with existing variants.", errors)
    if "options" in data:
        for column, value in _option_columns(product.options, data["options"]).items():
            setattr(variant, column, value)
    variant.price_amount = price.amount
    variant.currency = price.currency
    variant.compare_at_amount = compare_at.amount if compare_at else None
    for field in ("sku", "stock", "requires_shipping", "active", "position"):
        if field in data:
            setattr(variant, field, data[field])
    try:
        session.flush()
        session.commit()
    except IntegrityError as exc:
        variant_id = variant.id

        def recheck() -> Errors:
            fresh = get_variant(session, variant_id)
            return _variant_conflicts(session, fresh.product, data, fresh)

        raise _integrity_conflict(session, recheck, "variant", exc) from None
    return variant


def delete_variant(session: Session, variant: Variant) -> None:
    """Delete a variant; a product keeps at least one."""
    product = variant.product
    if len(product.variants) <= 1:
        raise CatalogError(
            409,
            "This is the product's last variant: a product has at least one. "
            "Delete the product instead.",
        )
    product.variants.remove(variant)
    session.commit()
