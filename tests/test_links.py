"""Tracked-link helpers: codes, reuse by get_or_create_link, target paths, absolute URLs."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from flask_shoppable.catalog.models import Product, Variant
from flask_shoppable.db import utcnow
from flask_shoppable.social.links import (
    CODE_ALPHABET,
    get_or_create_link,
    is_code,
    is_live,
    link_url,
    new_code,
    target_path,
    why_not_live,
)
from flask_shoppable.social.models import Post, TrackedLink

# --- codes (pure) -------------------------------------------------------------------------


def test_codes_are_ten_base62_characters() -> None:
    assert len(CODE_ALPHABET) == 62
    codes = [new_code() for _ in range(10_000)]
    assert all(len(code) == 10 for code in codes)
    assert set("".join(codes)) == set(CODE_ALPHABET)
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("aB3dE5gH7j", True),
        ("abcdefgh", True),
        ("a" * 32, True),
        ("abcdefg", False),
        ("a" * 33, False),
        ("abc-defgh", False),
        ("abcdéfghij", False),
        ("", False),
        ("../../etc", False),
    ],
)
def test_is_code(text: str, ok: bool) -> None:
    assert is_code(text) is ok


# --- with a database ----------------------------------------------------------------------


@pytest.fixture
def objects(app: Flask, session: Session) -> tuple[Post, Product, Variant]:
    product = Product(
        handle="linen-shirt",
        title="Linen Shirt",
        variants=[Variant(price_amount=4500, currency="USD")],
    )
    post = Post(slug="summer-look", caption="Summer")
    session.add_all([product, post])
    session.commit()
    return post, product, product.variants[0]


def link_count(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(TrackedLink)) or 0)


def test_get_or_create_link_reuses_an_equal_live_link(
    session: Session, objects: tuple[Post, Product, Variant]
) -> None:
    post, product, _variant = objects
    first = get_or_create_link(
        session, channel="facebook", target="product", product_id=product.id, label="Meta feed"
    )
    session.commit()
    assert (first.utm_source, first.utm_medium) == ("facebook", "social")
    assert first.label == "Meta feed"
    again = get_or_create_link(
        session, channel="facebook", target="product", product_id=product.id, label="other label"
    )
    assert again.id == first.id
    assert link_count(session) == 1

    # Any difference that tracking sees makes a new link.
    variations = [
        {"channel": "pinterest", "target": "product", "product_id": product.id},
        {"channel": "facebook", "target": "post", "post_id": post.id},
        {"channel": "facebook", "target": "storefront"},
        {"channel": "facebook", "target": "product", "product_id": product.id, "partner": "ana"},
        {"channel": "facebook", "target": "product", "product_id": product.id, "utm_campaign": "s"},
        {"channel": "facebook", "target": "product", "product_id": product.id, "utm_content": "c"},
        {"channel": "facebook", "target": "product", "product_id": product.id, "utm_term": "t"},
    ]
    made = [get_or_create_link(session, **fields) for fields in variations]  # type: ignore[arg-type]
    session.commit()
    assert len({link.id for link in made} | {first.id}) == len(variations) + 1
    # ... and each of those is reused in turn.
    for fields, link in zip(variations, made, strict=True):
        assert get_or_create_link(session, **fields).id == link.id  # type: ignore[arg-type]
    assert link_count(session) == len(variations) + 1


def test_inactive_expired_or_edited_links_are_not_reused(
    session: Session, objects: tuple[Post, Product, Variant]
) -> None:
    _post, product, _variant = objects

    def mint() -> TrackedLink:
        link = get_or_create_link(session, channel="x", target="product", product_id=product.id)
        session.commit()
        return link

    first = mint()
    first.active = False
    session.commit()
    second = mint()
    assert second.id != first.id
    second.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    third = mint()
    assert third.id not in (first.id, second.id)
    third.expires_at = utcnow() + timedelta(days=1)
    session.commit()
    assert mint().id == third.id
    third.utm_source = "twitter"  # a merchant changed it: no longer the channel's default
    session.commit()
    assert mint().id not in (first.id, second.id, third.id)


def test_get_or_create_link_flushes_and_leaves_the_commit_to_the_caller(
    app: Flask, session: Session, objects: tuple[Post, Product, Variant]
) -> None:
    _post, _product, variant = objects
    link = get_or_create_link(
        session, channel="email", target="checkout", variant_id=variant.id, quantity=2
    )
    assert link.id is not None
    assert len(link.code) == 10
    with app.extensions["shoppable"].session_factory() as other:
        assert link_count(other) == 0
    session.rollback()
    assert link_count(session) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channel": "myspace", "target": "storefront"}, "channel"),
        ({"channel": "x", "target": "home"}, "target"),
        ({"channel": "x", "target": "post"}, "post id"),
        ({"channel": "x", "target": "product"}, "product id"),
        ({"channel": "x", "target": "checkout", "quantity": 1}, "variant id"),
        ({"channel": "x", "target": "checkout", "variant_id": 1}, "quantity"),
        ({"channel": "x", "target": "checkout", "variant_id": 1, "quantity": 0}, "quantity"),
        ({"channel": "x", "target": "checkout", "variant_id": 1, "quantity": 101}, "quantity"),
    ],
)
def test_get_or_create_link_refuses_what_the_table_would(
    session: Session, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        get_or_create_link(session, **fields)  # type: ignore[arg-type]
    assert link_count(session) == 0


def test_target_paths_and_link_urls(
    app: Flask, session: Session, objects: tuple[Post, Product, Variant]
) -> None:
    post, product, variant = objects
    links = {
        target: get_or_create_link(session, channel="blog", target=target, **fields)  # type: ignore[arg-type]
        for target, fields in {
            "post": {"post_id": post.id},
            "product": {"product_id": product.id},
            "storefront": {},
            "checkout": {"variant_id": variant.id, "quantity": 3},
        }.items()
    }
    session.commit()
    with app.test_request_context("/", base_url="http://localhost"):
        assert target_path(links["post"]) == "/shop/p/summer-look"
        assert target_path(links["product"]) == "/shop/products/linen-shirt"
        assert target_path(links["storefront"]) == "/shop/"
        assert target_path(links["checkout"]) == f"/shop/checkout/cart?products={variant.id}:3"
        code = links["post"].code
        assert link_url(links["post"]) == f"http://localhost/shop/s/{code}"
    app.config["SHOPPABLE_PUBLIC_URL"] = "https://shop.example.com"
    with app.test_request_context("/", base_url="http://internal:8000"):
        assert link_url(links["post"]) == f"https://shop.example.com/shop/s/{code}"


def test_is_live(session: Session, objects: tuple[Post, Product, Variant]) -> None:
    link = get_or_create_link(session, channel="x", target="storefront")
    now = utcnow()
    assert is_live(link, now)
    link.expires_at = now + timedelta(seconds=1)
    assert is_live(link, now)
    link.expires_at = now
    assert not is_live(link, now)
    link.expires_at = None
    link.active = False
    assert not is_live(link, now)


def test_why_not_live_follows_the_redirects_rules(
    session: Session, objects: tuple[Post, Product, Variant]
) -> None:
    post, product, variant = objects
    post_link = get_or_create_link(session, channel="x", target="post", post_id=post.id)
    product_link = get_or_create_link(session, channel="x", target="product", product_id=product.id)
    checkout = get_or_create_link(
        session, channel="x", target="checkout", variant_id=variant.id, quantity=1
    )
    assert why_not_live(post_link) == "its post is not published"
    post.status = "published"
    assert why_not_live(post_link) is None
    assert why_not_live(product_link) is None
    product.active = False
    assert why_not_live(product_link) == "its product is inactive"
    assert why_not_live(checkout) is None
    checkout.expires_at = utcnow() - timedelta(seconds=1)
    assert why_not_live(checkout) == "the link has expired"
    checkout.active = False
    assert why_not_live(checkout) == "the link is inactive"
