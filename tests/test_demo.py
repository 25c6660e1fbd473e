"""``flask shoppable seed-demo`` and the storefront example that shows its shop."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from sqlalchemy.orm import Session

from flask_shoppable.api import keys
from flask_shoppable.catalog import Product, Variant
from flask_shoppable.demo import CATALOG, DEMO_KEY_NAME, POSTS
from flask_shoppable.social.models import Post

from .conftest import make_app

STOREFRONT = Path(__file__).resolve().parent.parent / "examples" / "storefront"
KEY_RE = re.compile(r"^shp_\S+$", re.MULTILINE)


def _seed(app: Flask) -> Result:
    return app.test_cli_runner().invoke(args=["shoppable", "seed-demo"])


def _counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(sa.select(sa.func.count()).select_from(Product)) or 0,
        session.scalar(sa.select(sa.func.count()).select_from(Variant)) or 0,
        session.scalar(sa.select(sa.func.count()).select_from(keys.ApiKey)) or 0,
    )


def test_seed_creates_a_small_believable_shop(app: Flask, session: Session) -> None:
    result = _seed(app)
    assert result.exit_code == 0, result.output
    assert f"Created {len(CATALOG)} demo products" in result.output

    products = session.scalars(sa.select(Product).order_by(Product.id)).all()
    assert [p.handle for p in products] == [item.handle for item in CATALOG]
    assert 6 <= len(products) <= 10
    assert sum(1 for p in products if len(p.variants) > 1) >= 3
    assert any(p.options == ["Size", "Colour"] for p in products)
    assert all(p.active and p.title and p.description for p in products)
    assert not any(p.images for p in products), "a bare host has no demo pictures"

    variants = [v for p in products for v in p.variants]
    assert {v.currency for v in variants} == {"USD"}
    assert all(v.price_amount > 0 and v.sku for v in variants)
    assert any(v.stock is None for v in variants), "some variants are not stock-tracked"
    assert any(v.stock for v in variants), "some variants have limited stock"
    sold_out = [p.handle for p in products if not any(v.in_stock for v in p.variants)]
    assert len(sold_out) == 1
    tee = next(p for p in products if p.handle == "everyday-tee")
    assert {v.title for v in tee.variants} >= {"S / Sand", "XL / Navy"}
    assert tee.variants[0].price_text == "28.00"

    posts = session.scalars(sa.select(Post).order_by(Post.id)).all()
    assert [p.slug for p in posts] == [demo.slug for demo in POSTS]
    assert all(p.status == "draft" and not p.image_url for p in posts)
    assert f"Left {len(POSTS)} demo posts as drafts, for want of pictures" in result.output
    assert all(len(p.tags) >= 2 for p in posts)


def test_second_run_duplicates_nothing_and_says_so(app: Flask, session: Session) -> None:
    first = _seed(app)
    assert first.exit_code == 0, first.output
    before = _counts(session)
    second = _seed(app)
    assert second.exit_code == 0, second.output
    assert _counts(session) == before
    assert f"Skipped {len(CATALOG)} demo products that already exist" in second.output
    assert f"Skipped {len(POSTS)} demo posts that already exist" in second.output
    assert "Created" not in second.output


def test_key_is_printed_once(app: Flask, session: Session) -> None:
    first = _seed(app)
    printed = KEY_RE.findall(first.stdout)
    assert len(printed) == 1, first.output
    row = keys.verify(session, printed[0])
    assert row is not None
    assert row.name == DEMO_KEY_NAME
    assert row.scope_set == {"read", "write"}

    second = _seed(app)
    assert "shp_" not in second.output
    assert f"Skipped the demo API key: {row.public_id} exists" in second.output
    assert session.scalar(sa.select(sa.func.count()).select_from(keys.ApiKey)) == 1

    keys.revoke(session, row.public_id)
    third = _seed(app)
    assert len(KEY_RE.findall(third.stdout)) == 1, "a revoked demo key is replaced"


def test_existing_product_is_kept_and_the_rest_created(app: Flask, session: Session) -> None:
    session.add(
        Product(
            handle="enamel-camp-mug",
            title="The merchant's own mug",
            variants=[Variant(price_amount=900, currency="USD")],
        )
    )
    session.commit()
    result = _seed(app)
    assert result.exit_code == 0, result.output
    assert f"Created {len(CATALOG) - 1} demo products" in result.output
    assert "Skipped 1 demo products that already exist: enamel-camp-mug" in result.output
    mug = session.scalars(sa.select(Product).where(Product.handle == "enamel-camp-mug")).one()
    assert mug.title == "The merchant's own mug"


def test_a_taken_sku_skips_its_product(app: Flask, session: Session) -> None:
    session.add(
        Product(
            handle="my-bag",
            title="My bag",
            variants=[Variant(sku="HP-TOTE", price_amount=5000, currency="USD")],
        )
    )
    session.commit()
    result = _seed(app)
    assert result.exit_code == 0, result.output
    assert "Skipped waxed-canvas-tote: SKU 'HP-TOTE' is already used" in result.output
    handles = set(session.scalars(sa.select(Product.handle)))
    assert "waxed-canvas-tote" not in handles
    assert len(handles) == len(CATALOG)  # the other seven and the merchant's own


@pytest.mark.parametrize(
    ("app_config", "tee_price"),
    [({"SHOPPABLE_DEFAULT_CURRENCY": "EUR"}, 2800), ({"SHOPPABLE_DEFAULT_CURRENCY": "jpy"}, 28)],
)
def test_prices_are_in_the_default_currency(
    app: Flask, session: Session, app_config: dict[str, Any], tee_price: int
) -> None:
    result = _seed(app)
    assert result.exit_code == 0, result.output
    currency = app_config["SHOPPABLE_DEFAULT_CURRENCY"].upper()
    assert f"prices in {currency}" in result.output
    assert set(session.scalars(sa.select(Variant.currency).distinct())) == {currency}
    tee = session.scalars(sa.select(Product).where(Product.handle == "everyday-tee")).one()
    assert {v.price_amount for v in tee.variants} == {tee_price}


def test_refuses_before_the_migrations(
    backend: str, fresh_database_url: Callable[[str], str], tmp_path: Path
) -> None:
    app = make_app(fresh_database_url(backend), tmp_path / "instance")
    try:
        result = _seed(app)
    finally:
        app.extensions["shoppable"].engine.dispose()
    assert result.exit_code == 1
    assert "run flask shoppable db upgrade first" in result.output


@pytest.fixture(scope="module")
def storefront_module() -> Iterator[ModuleType]:
    """examples/storefront/app.py, imported by path (the example is not a package)."""
    name = "shoppable_example_storefront"
    spec = importlib.util.spec_from_file_location(name, STOREFRONT / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Flask finds the app's root path (templates) through it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.fixture
def storefront(app: Flask, database_url: str, storefront_module: ModuleType) -> Iterator[Flask]:
    """The example app on the test database (emptied by the ``app`` fixture)."""
    example: Flask = storefront_module.create_app(
        {"TESTING": True, "SHOPPABLE_DATABASE_URL": database_url}
    )
    yield example
    example.extensions["shoppable"].engine.dispose()


def test_storefront_demo_has_pictures_and_published_posts(
    storefront: Flask, session: Session
) -> None:
    result = _seed(storefront)
    assert result.exit_code == 0, result.output
    assert f"Published {len(POSTS)} demo posts" in result.output
    client = storefront.test_client()

    products = session.scalars(sa.select(Product)).all()
    for product in products:
        assert product.images == [
            {"url": f"/static/demo/{product.handle}.svg", "alt": product.title}
        ]
    with client.get(products[0].images[0]["url"]) as picture:
        assert picture.status_code == 200
        assert picture.mimetype == "image/svg+xml"

    posts = session.scalars(sa.select(Post)).all()
    assert {p.status for p in posts} == {"published"}
    shop = client.get("/shop/")
    assert shop.status_code == 200
    for post in posts:
        assert f"/static/demo/{post.slug}.svg" in shop.get_data(as_text=True)
        page = client.get(f"/shop/p/{post.slug}")
        assert page.status_code == 200
        for tag in post.tags:
            assert tag.product.title in page.get_data(as_text=True)
    assert client.get("/shop/products/everyday-tee").status_code == 200


def test_storefront_home_page_lists_the_demo_shop(storefront: Flask) -> None:
    client = storefront.test_client()
    empty = client.get("/")
    assert empty.status_code == 200
    assert "No products yet" in empty.get_data(as_text=True)

    result = _seed(storefront)
    assert result.exit_code == 0, result.output

    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for item in CATALOG:
        assert item.title in html
    assert "Harbour &amp; Pine" in html
    assert "28.00 USD" in html
    assert "89.00 USD<s>110.00 USD</s>" in html
    assert "Sold out" in html
    assert "Only 3 left" in html
    assert 'href="/shop/api/docs"' in html
    assert 'href="/shop/"' in html
    assert 'href="/shop/products/everyday-tee"' in html
    assert 'src="/static/demo/everyday-tee.svg"' in html
    assert "curl -H" in html
    assert "http://localhost/shop/api/products" in html
    assert "https://" not in html, "the demo page loads nothing from the internet"


def test_storefront_reads_settings_from_the_environment(
    storefront_module: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'env.sqlite3'}"
    monkeypatch.setenv("FLASK_SECRET_KEY", "a-secret-from-the-environment")
    monkeypatch.setenv("FLASK_SHOPPABLE_DATABASE_URL", url)
    example: Flask = storefront_module.create_app()
    try:
        assert example.config["SECRET_KEY"] == "a-secret-from-the-environment"
        assert example.config["SHOPPABLE_DATABASE_URL"] == url
    finally:
        example.extensions["shoppable"].engine.dispose()
