"""Demo data for the storefront example: ``flask shoppable seed-demo``.

Fills the plugin's tables with a small, believable shop (Harbour & Pine: clothing and
kitchen goods, eight products, most with Size and/or Colour variants, some with limited
stock, one sold out) and creates a demo API key. Prices are given here in major units
and stored in ``SHOPPABLE_DEFAULT_CURRENCY``. Images are ``data:`` URLs of small SVG
tiles, so the demo works offline and on any host, without static files.

Products are written through the catalog service, after the API's own schema has
validated them, so the demo obeys the same rules as a merchant's data. Seeding is
idempotent: a product whose handle (or one of whose SKUs) already exists is skipped and
reported, and the key is created only if no active demo key exists (it is printed once;
only its hash is kept).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import product as cartesian
from typing import Any
from xml.sax.saxutils import escape

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from . import db
from .api import keys
from .catalog import service
from .catalog.models import Product, Variant
from .catalog.schemas import ProductSchema
from .money import MAX_AMOUNT, exponent

VENDOR = "Harbour & Pine"
DEMO_TAG = "demo"
DEMO_KEY_NAME = "demo"
DEMO_KEY_SCOPES = ["read", "write"]


@dataclass(frozen=True)
class DemoVariant:
    options: tuple[str, ...]
    price: str
    stock: int | None
    compare_at: str | None = None


@dataclass(frozen=True)
class DemoProduct:
    handle: str
    title: str
    description: str
    product_type: str
    sku_stem: str
    colour: str
    options: tuple[str, ...] = ()
    variants: tuple[DemoVariant, ...] = ()
    tags: tuple[str, ...] = ()

    def skus(self) -> list[str]:
        return [self.sku(v) for v in self.variants]

    def sku(self, variant: DemoVariant) -> str:
        parts = [self.sku_stem, *(v.upper().replace(" ", "") for v in variant.options)]
        return "-".join(parts)


@dataclass
class SeedResult:
    """What :func:`seed` did."""

    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    conflicts: dict[str, list[str]] = field(default_factory=dict)
    variants: int = 0
    key_row: keys.ApiKey | None = None
    key: str | None = None
    existing_key: keys.ApiKey | None = None


def _grid(
    sizes: tuple[str, ...],
    colours: tuple[str, ...],
    price: str,
    stock: dict[tuple[str, str], int],
    compare_at: str | None = None,
) -> tuple[DemoVariant, ...]:
    return tuple(
        DemoVariant((s, c), price, stock.get((s, c), 8), compare_at)
        for s, c in cartesian(sizes, colours)
    )


CATALOG: tuple[DemoProduct, ...] = (
    DemoProduct(
        handle="everyday-tee",
        title="Everyday Organic Tee",
        description="Heavyweight organic cotton, garment-dyed and pre-washed. A boxy fit "
        "that keeps its shape after a hundred washes.",
        product_type="T-shirts",
        sku_stem="HP-TEE",
        colour="#d8c3a5",
        options=("Size", "Colour"),
        variants=_grid(
            ("S", "M", "L", "XL"),
            ("Sand", "Navy"),
            "28.00",
            {("M", "Sand"): 3, ("L", "Navy"): 2, ("XL", "Navy"): 0},
        ),
        tags=("cotton", "bestseller"),
    ),
    DemoProduct(
        handle="linen-overshirt",
        title="Linen Overshirt",
        description="Washed European linen with corozo buttons and two chest pockets. "
        "Worn open over a tee or buttoned up on cooler evenings.",
        product_type="Shirts",
        sku_stem="HP-OVR",
        colour="#8a9a5b",
        options=("Size", "Colour"),
        variants=_grid(
            ("S", "M", "L"),
            ("Natural", "Olive"),
            "89.00",
            {("S", "Olive"): 1, ("L", "Natural"): 2},
            compare_at="110.00",
        ),
        tags=("linen", "sale"),
    ),
    DemoProduct(
        handle="merino-beanie",
        title="Ribbed Merino Beanie",
        description="Soft extra-fine merino in a deep rib, knitted in Portugal. One size.",
        product_type="Accessories",
        sku_stem="HP-BNE",
        colour="#b5523b",
        options=("Colour",),
        variants=tuple(DemoVariant((c,), "24.00", None) for c in ("Rust", "Moss", "Charcoal")),
        tags=("wool",),
    ),
    DemoProduct(
        handle="trail-socks",
        title="Trail Socks, Two Pack",
        description="Cushioned merino blend for long days on foot, reinforced heel and toe.",
        product_type="Accessories",
        sku_stem="HP-SCK",
        colour="#5b7083",
        options=("Size",),
        variants=tuple(DemoVariant((s,), "16.00", None) for s in ("S", "M", "L")),
        tags=("wool",),
    ),
    DemoProduct(
        handle="waxed-canvas-tote",
        title="Waxed Canvas Tote",
        description="Water-resistant waxed cotton canvas with leather handles and an inner "
        "pocket. Takes a laptop and the weekly shop.",
        product_type="Bags",
        sku_stem="HP-TOTE",
        colour="#7b5e3b",
        variants=(DemoVariant((), "38.00", 25),),
        tags=("canvas",),
    ),
    DemoProduct(
        handle="enamel-camp-mug",
        title="Enamel Camp Mug",
        description="Steel mug with a glossy enamel coat and a rolled rim. 350 ml.",
        product_type="Kitchen",
        sku_stem="HP-MUG",
        colour="#2f5d50",
        options=("Colour",),
        variants=tuple(DemoVariant((c,), "14.00", None) for c in ("Cream", "Forest")),
        tags=("outdoors",),
    ),
    DemoProduct(
        handle="pour-over-set",
        title="Ceramic Pour-Over Set",
        description="Hand-thrown stoneware dripper and carafe for two cups, made in a "
        "small studio in Devon. Each one is a little different.",
        product_type="Kitchen",
        sku_stem="HP-POUR",
        colour="#c9b8a6",
        variants=(DemoVariant((), "46.00", 3),),
        tags=("coffee", "handmade"),
    ),
    DemoProduct(
        handle="harbour-at-dawn-print",
        title="Harbour at Dawn, Signed Print",
        description="Giclée print on cotton rag paper, 40 x 50 cm, signed and numbered. "
        "A limited edition of 50, all of them sold.",
        product_type="Prints",
        sku_stem="HP-PRINT",
        colour="#e3a46f",
        variants=(DemoVariant((), "65.00", 0),),
        tags=("limited-edition",),
    ),
)


def _minor(text: str, currency: str) -> int:
    """Major-unit decimal text to minor units of ``currency`` (rounded to its exponent)."""
    amount = int(Decimal(text).scaleb(exponent(currency)).to_integral_value(ROUND_HALF_UP))
    if not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(f"demo price {text} out of range")
    return amount


def image_data_url(title: str, colour: str) -> str:
    """A square SVG tile with the product's name, as a ``data:`` URL (no files, no network)."""
    words = title.split(", ")[0].split(" ")
    lines = [" ".join(words[: (len(words) + 1) // 2]), " ".join(words[(len(words) + 1) // 2 :])]
    text = "".join(
        f'<tspan x="300" dy="{0 if i == 0 else 44}">{escape(line)}</tspan>'
        for i, line in enumerate(line for line in lines if line)
    )
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 600">'
        f'<rect width="600" height="600" fill="{colour}"/>'
        '<circle cx="300" cy="250" r="150" fill="#ffffff" fill-opacity="0.22"/>'
        '<text x="300" y="450" text-anchor="middle" fill="#ffffff" '
        'font-family="Georgia, serif" font-size="38">'
        f"{text}</text></svg>"
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def _product_data(item: DemoProduct, currency: str) -> dict[str, Any]:
    """The product as the catalog service takes it, validated by the API's own schema."""
    variants = []
    for position, spec in enumerate(item.variants):
        variant: dict[str, Any] = {
            "sku": item.sku(spec),
            "price": {"amount": _minor(spec.price, currency), "currency": currency},
            "stock": spec.stock,
            "position": position,
        }
        if item.options:
            variant["options"] = dict(zip(item.options, spec.options, strict=True))
        if spec.compare_at:
            variant["compare_at_price"] = {
                "amount": _minor(spec.compare_at, currency),
                "currency": currency,
            }
        variants.append(variant)
    data: dict[str, Any] = ProductSchema().load(
        {
            "handle": item.handle,
            "title": item.title,
            "description": item.description,
            "vendor": VENDOR,
            "product_type": item.product_type,
            "tags": [DEMO_TAG, *item.tags],
            "options": list(item.options),
            "active": True,
            "variants": variants,
        }
    )
    # Added after validation: the API takes only http(s) image URLs, the demo's are data:.
    data["images"] = [{"url": image_data_url(item.title, item.colour), "alt": item.title}]
    return data


def missing_tables(session: Session) -> list[str]:
    """The tables seeding needs that the database lacks (empty once migrated)."""
    needed = [Product.__tablename__, Variant.__tablename__, keys.ApiKey.__tablename__]
    inspector = sa.inspect(session.get_bind())
    return [name for name in needed if not inspector.has_table(name)]


def seed(session: Session, currency: str, *, with_key: bool = True) -> SeedResult:
    """Add the demo products that are not there yet, and a demo key if none is active.

    The products are written in one transaction through the catalog service (the same
    checks as the API); :class:`~.catalog.service.CatalogError` means another writer
    took a handle or SKU meanwhile, and nothing was written.
    """
    result = SeedResult()
    existing = service.taken_handles(session, [item.handle for item in CATALOG])
    taken = service.taken_skus(session, [sku for item in CATALOG for sku in item.skus()])
    for item in CATALOG:
        if item.handle in existing:
            result.skipped.append(item.handle)
            continue
        clashes = [
            service.sku_taken_message(sku, *taken[sku]) for sku in item.skus() if sku in taken
        ]
        if clashes:
            result.conflicts[item.handle] = clashes
            continue
        try:
            service.create_product(session, _product_data(item, currency), commit=False)
        except service.CatalogError:
            session.rollback()  # all or nothing: a concurrent writer got there first
            raise
        result.created.append(item.handle)
        result.variants += len(item.variants)
    session.commit()

    if with_key:
        result.existing_key = session.scalars(
            sa.select(keys.ApiKey)
            .where(keys.ApiKey.name == DEMO_KEY_NAME, keys.ApiKey.revoked_at.is_(None))
            .order_by(keys.ApiKey.id)
            .limit(1)
        ).first()
        if result.existing_key is None:
            result.key_row, result.key = keys.create(session, DEMO_KEY_NAME, DEMO_KEY_SCOPES)
    return result


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Fill the database with a demo shop and create a demo API key (idempotent)."""
    session = db.session()
    missing = missing_tables(session)
    if missing:
        raise click.ClickException(
            f"the plugin's tables are missing ({', '.join(missing)}): "
            "run flask shoppable db upgrade first"
        )
    currency = current_app.config["SHOPPABLE_DEFAULT_CURRENCY"]
    try:
        result = seed(session, currency)
    except service.CatalogError as exc:
        raise click.ClickException(f"nothing was seeded: {exc.message} Run it again.") from None

    if result.created:
        click.echo(
            f"Created {len(result.created)} demo products ({result.variants} variants, "
            f"prices in {currency}): {', '.join(result.created)}.",
            err=True,
        )
    if result.skipped:
        click.echo(
            f"Skipped {len(result.skipped)} demo products that already exist: "
            f"{', '.join(result.skipped)}.",
            err=True,
        )
    for handle, messages in result.conflicts.items():
        click.echo(f"Skipped {handle}: {' '.join(messages)}", err=True)
    if result.existing_key is not None:
        click.echo(
            f"Skipped the demo API key: {result.existing_key.public_id} exists (its key was "
            "shown when it was created). For a new one: flask shoppable create-api-key "
            "--name NAME --scopes read,write",
            err=True,
        )
    elif result.key_row is not None:
        click.echo(
            f"Created demo API key {result.key_row.public_id} (scopes "
            f"{result.key_row.scopes}). Store it now, it will not be shown again:",
            err=True,
        )
        click.echo(result.key)
