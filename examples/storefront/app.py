"""Harbour & Pine: a small host app that mounts Flask-Shoppable, the way a user would.

Run it from this folder::

    flask --app app shoppable db upgrade   # create the plugin's tables (instance/shoppable.sqlite3)
    flask --app app shoppable seed-demo    # demo products, posts and an API key (printed once)
    flask --app app run                    # http://127.0.0.1:5000

(``make demo`` at the top of the repository does all three, and runs the local Stripe
emulator beside the app for payments.) The home page is the host's own; the shop itself
(posts, product pages, checkout) is the plugin's, under /shop. Settings come from
``FLASK_``-prefixed environment variables, so ``FLASK_SECRET_KEY=...`` sets the secret
key and ``FLASK_SHOPPABLE_DATABASE_URL=postgresql://...`` moves the shop to PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, render_template, request, url_for

from flask_shoppable import Shoppable, db
from flask_shoppable.catalog import Product
from flask_shoppable.money import to_decimal_string
from flask_shoppable.testing import EMULATOR_SECRET_KEY, EMULATOR_WEBHOOK_SECRET

#: Only for running the demo on your own machine: set FLASK_SECRET_KEY anywhere else.
DEV_SECRET_KEY = "dev-only-secret-key-do-not-deploy"  # noqa: S105 (a dev default)
LOW_STOCK = 3
#: Where the demo's Stripe emulator listens (see the Makefile's demo target).
DEMO_STRIPE_API_BASE = "http://127.0.0.1:12111"


@dataclass(frozen=True)
class ProductCard:
    """What the home page shows of one product."""

    handle: str
    url: str
    title: str
    description: str
    image_url: str
    image_alt: str
    price: str
    compare_at: str | None
    options: list[str]
    availability: str
    sold_out: bool
    low_stock: bool


def _card(product: Product) -> ProductCard:
    variants = [v for v in product.variants if v.active] or list(product.variants)
    cheapest = min(variants, key=lambda v: v.price_amount)
    currency = cheapest.currency
    prices = {v.price_amount for v in variants}
    price = f"{to_decimal_string(cheapest.price_amount, currency)} {currency}"
    if len(prices) > 1:
        price = f"from {price}"
    compare_at = None
    if cheapest.compare_at_amount and cheapest.compare_at_amount > cheapest.price_amount:
        compare_at = f"{to_decimal_string(cheapest.compare_at_amount, currency)} {currency}"

    options = []
    for index, name in enumerate(product.options):
        values = list(dict.fromkeys(v.option_values[index] for v in variants))
        options.append(f"{name}: {', '.join(values)}")

    in_stock = [v for v in variants if v.in_stock]
    tracked = [v.stock for v in in_stock if v.stock is not None]
    sold_out = not in_stock
    low_stock = not sold_out and len(tracked) == len(in_stock) and sum(tracked) <= LOW_STOCK
    if sold_out:
        availability = "Sold out"
    elif low_stock:
        availability = f"Only {sum(tracked)} left"
    elif len(in_stock) < len(variants):
        availability = "Some options sold out"
    else:
        availability = "In stock"

    image = product.images[0] if product.images else {}
    return ProductCard(
        handle=product.handle,
        url=url_for("shoppable_pages.product", handle=product.handle),
        title=product.title,
        description=product.description,
        image_url=image.get("url", ""),
        image_alt=image.get("alt", product.title),
        price=price,
        compare_at=compare_at,
        options=options,
        availability=availability,
        sold_out=sold_out,
        low_stock=low_stock,
    )


def home() -> str:
    products = db.session().scalars(
        sa.select(Product).where(Product.active.is_(True)).order_by(Product.id)
    )
    api_path = f"{current_app.extensions['shoppable'].url_prefix}/api"
    return render_template(
        "index.html",
        products=[_card(p) for p in products if p.variants],
        shop_url=url_for("shoppable_pages.storefront"),
        api_path=api_path,
        api_base=f"{request.host_url.rstrip('/')}{api_path}",
    )


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the storefront app; ``test_config`` overrides every other setting."""
    app = Flask(__name__)
    app.config.from_mapping(SECRET_KEY=DEV_SECRET_KEY, SHOPPABLE_SHOP_NAME="Harbour & Pine")
    # Payments go to the local Stripe emulator (python -m flask_shoppable.testing) unless
    # FLASK_SHOPPABLE_STRIPE_* say otherwise: the demo needs no account and no network.
    app.config.from_mapping(
        SHOPPABLE_STRIPE_SECRET_KEY=EMULATOR_SECRET_KEY,
        SHOPPABLE_STRIPE_WEBHOOK_SECRET=EMULATOR_WEBHOOK_SECRET,
        SHOPPABLE_STRIPE_API_BASE=DEMO_STRIPE_API_BASE,
    )
    if test_config is None:
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)

    Shoppable(app)  # the plugin at /shop, its tables in instance/shoppable.sqlite3
    app.add_url_rule("/", "home", home)
    return app
