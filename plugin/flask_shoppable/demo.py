"""Demo data for the storefront example: ``flask shoppable seed-demo``.

Fills the plugin's tables with a small, believable shop (Harbour & Pine: clothing and
kitchen goods, eight products, most with Size and/or Colour variants, some with limited
stock, one sold out), three published shoppable posts that tag them with hotspots, and a
demo API key. Prices are given here in major units and stored in
``SHOPPABLE_DEFAULT_CURRENCY``.

The pictures are static files of the storefront example (``static/demo/<name>.svg``):
seeding stores their paths on this site (``/static/demo/everyday-tee.svg``) when the
app's static folder has them, so nothing is fetched from the internet. Another host gets
products without pictures, and posts left as drafts, as a post needs a picture to be
published.

Products are written through the catalog service and posts through the social service,
after the API's own schemas have validated them, so the demo obeys the rules a
merchant's data does. Seeding is idempotent: a product whose handle (or one of whose
SKUs) already exists is skipped and reported, so is a post whose slug exists, and the
key is created only if no active demo key exists (printed once; only its hash is kept).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import product as cartesian
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from . import db
from .api import keys
from .catalog import service as catalog_service
from .catalog.models import Product, Variant
from .catalog.schemas import ProductSchema
from .money import MAX_AMOUNT, exponent
from .social import service as social_service
from .social.models import Post
from .social.schemas import PostSchema

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
    options: tuple[str, ...] = ()
    variants: tuple[DemoVariant, ...] = ()
    tags: tuple[str, ...] = ()

    def skus(self) -> list[str]:
        return [self.sku(v) for v in self.variants]

    def sku(self, variant: DemoVariant) -> str:
        parts = [self.sku_stem, *(v.upper().replace(" ", "") for v in variant.options)]
        return "-".join(parts)


@dataclass(frozen=True)
class DemoPost:
    slug: str
    caption: str
    campaign: str
    #: Tagged products: (handle, x, y), the hotspot in percent of the image.
    tags: tuple[tuple[str, float, float], ...]


@dataclass
class SeedResult:
    """What :func:`seed` did."""

    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    conflicts: dict[str, list[str]] = field(default_factory=dict)
    variants: int = 0
    posts_created: list[str] = field(default_factory=list)
    posts_drafts: list[str] = field(default_factory=list)
    posts_skipped: list[str] = field(default_factory=list)
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
        variants=(DemoVariant((), "38.00", 25),),
        tags=("canvas",),
    ),
    DemoProduct(
        handle="enamel-camp-mug",
        title="Enamel Camp Mug",
        description="Steel mug with a glossy enamel coat and a rolled rim. 350 ml.",
        product_type="Kitchen",
        sku_stem="HP-MUG",
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
        variants=(DemoVariant((), "65.00", 0),),
        tags=("limited-edition",),
    ),
)


POSTS: tuple[DemoPost, ...] = (
    DemoPost(
        slug="first-light-at-the-harbour",
        caption="First light at the harbour. Kettle on, tee on, nowhere to be until ten. "
        "Tap the picture to shop the slow morning.",
        campaign="autumn-drop",
        tags=(
            ("everyday-tee", 30.0, 42.0),
            ("pour-over-set", 68.0, 60.0),
            ("enamel-camp-mug", 52.0, 78.0),
        ),
    ),
    DemoPost(
        slug="linen-season",
        caption="Linen season is open. The overshirt goes over everything, the tote "
        "carries the rest. Now 20% off while the sun lasts.",
        campaign="autumn-drop",
        tags=(("linen-overshirt", 42.0, 38.0), ("waxed-canvas-tote", 72.0, 68.0)),
    ),
    DemoPost(
        slug="up-the-ridge",
        caption="Up the ridge before the weather turns. Merino from head to toe, "
        "and a flask of something hot.",
        campaign="trail-weekend",
        tags=(("merino-beanie", 45.0, 20.0), ("trail-socks", 55.0, 84.0)),
    ),
)


def _minor(text: str, currency: str) -> int:
    """Major-unit decimal text to minor units of ``currency`` (rounded to its exponent)."""
    amount = int(Decimal(text).scaleb(exponent(currency)).to_integral_value(ROUND_HALF_UP))
    if not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(f"demo price {text} out of range")
    return amount


#: Where a demo picture is, by file name ("everyday-tee.svg"); "" when there is none.
ImageUrls = Callable[[str], str]


def no_images(name: str) -> str:
    return ""


def static_images() -> ImageUrls:
    """The current app's ``static/demo/<name>`` files, as paths on the site."""
    app = current_app
    folder, url_path = app.static_folder, app.static_url_path

    def url(name: str) -> str:
        if folder and url_path is not None and os.path.isfile(os.path.join(folder, "demo", name)):
            return f"{url_path}/demo/{name}"
        return ""

    return url


def _product_data(item: DemoProduct, currency: str, image_url: str) -> dict[str, Any]:
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
    if image_url:
        # Added after validation: the catalog API takes only absolute http(s) image URLs,
        # the demo's are paths on this site (which the shop's pages show).
        data["images"] = [{"url": image_url, "alt": item.title}]
    return data


def missing_tables(session: Session) -> list[str]:
    """The tables seeding needs that the database lacks (empty once migrated)."""
    needed = [Product.__tablename__, Variant.__tablename__, keys.ApiKey.__tablename__]
    inspector = sa.inspect(session.get_bind())
    return [name for name in needed if not inspector.has_table(name)]


def _seed_posts(session: Session, result: SeedResult, images: ImageUrls) -> None:
    """Create and publish the demo posts that are not there yet, tagging demo products."""
    taken = set(session.scalars(sa.select(Post.slug).where(Post.slug.in_(p.slug for p in POSTS))))
    handles = {handle for post in POSTS for handle, _x, _y in post.tags}
    rows = session.execute(sa.select(Product.handle, Product.id).where(Product.handle.in_(handles)))
    ids = {row.handle: row.id for row in rows}
    for demo in POSTS:
        if demo.slug in taken:
            result.posts_skipped.append(demo.slug)
            continue
        tags = [{"product_id": ids[h], "x": x, "y": y} for h, x, y in demo.tags if h in ids]
        data: dict[str, Any] = PostSchema().load(
            {
                "slug": demo.slug,
                "caption": demo.caption,
                "campaign": demo.campaign,
                "image_url": images(f"{demo.slug}.svg"),
                "image_alt": demo.caption.split(".")[0],
                "tags": tags,
            }
        )
        post = social_service.create_post(session, data)
        if post.image_url and tags:
            social_service.publish_post(session, post)
            result.posts_created.append(demo.slug)
        else:
            result.posts_drafts.append(demo.slug)


def seed(
    session: Session, currency: str, *, images: ImageUrls = no_images, with_key: bool = True
) -> SeedResult:
    """Add the demo products and posts not there yet, and a demo key if none is active.

    The products are written in one transaction through the catalog service (the same
    checks as the API): :class:`~.catalog.service.CatalogError` means another writer
    took a handle or SKU meanwhile, and no product was written. Then each post is
    created and published through the social service. ``images`` gives the picture of
    each product and post by file name (none by default).
    """
    result = SeedResult()
    existing = catalog_service.taken_handles(session, [item.handle for item in CATALOG])
    taken = catalog_service.taken_skus(session, [sku for item in CATALOG for sku in item.skus()])
    for item in CATALOG:
        if item.handle in existing:
            result.skipped.append(item.handle)
            continue
        clashes = [
            catalog_service.sku_taken_message(sku, *taken[sku])
            for sku in item.skus()
            if sku in taken
        ]
        if clashes:
            result.conflicts[item.handle] = clashes
            continue
        try:
            data = _product_data(item, currency, images(f"{item.handle}.svg"))
            catalog_service.create_product(session, data, commit=False)
        except catalog_service.CatalogError:
            session.rollback()  # all or nothing: a concurrent writer got there first
            raise
        result.created.append(item.handle)
        result.variants += len(item.variants)
    session.commit()

    _seed_posts(session, result, images)

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
        result = seed(session, currency, images=static_images())
    except (catalog_service.CatalogError, social_service.SocialError) as exc:
        raise click.ClickException(f"seeding stopped: {exc.message} Run it again.") from None

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
    if result.posts_created:
        click.echo(
            f"Published {len(result.posts_created)} demo posts: {', '.join(result.posts_created)}.",
            err=True,
        )
    if result.posts_drafts:
        click.echo(
            f"Left {len(result.posts_drafts)} demo posts as drafts, for want of pictures "
            "(the storefront example serves them from static/demo/): "
            f"{', '.join(result.posts_drafts)}.",
            err=True,
        )
    if result.posts_skipped:
        click.echo(
            f"Skipped {len(result.posts_skipped)} demo posts that already exist: "
            f"{', '.join(result.posts_skipped)}.",
            err=True,
        )
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
