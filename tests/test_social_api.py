"""The posts and links merchant API over HTTP, on SQLite and PostgreSQL.

Every refused request is checked for the stable error shape, for the field it names in
``errors``, and for leaving the posts, tags and links tables exactly as they were.
"""

from __future__ import annotations

import json
import threading
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate as validate_openapi
from sqlalchemy.orm import Session

from flask_shoppable.catalog.models import Product, Variant
from flask_shoppable.db import utcnow
from flask_shoppable.social.channels import CHANNELS
from flask_shoppable.social.links import CODE_ALPHABET
from flask_shoppable.social.models import Post, PostTag, TrackedLink
from flask_shoppable.tracking.models import Interaction

from .conftest import ApiClient

# --- helpers ------------------------------------------------------------------------------


def counts(app: Flask) -> tuple[int, int, int]:
    """(posts, tags, links) as the database has them now."""
    with app.extensions["shoppable"].engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.scalar(sa.select(sa.func.count()).select_from(model)) or 0)
            for model in (Post, PostTag, TrackedLink)
        )


def assert_error(response: Any, code: int, *path: str) -> dict[str, Any]:
    """The stable error shape, with a message at ``errors.json.<path...>`` if given."""
    assert response.status_code == code, response.get_data(as_text=True)
    body: dict[str, Any] = response.json
    assert body["code"] == code
    assert isinstance(body["status"], str)
    assert isinstance(body["message"], str)
    assert body["message"]
    if path:
        node: Any = body["errors"]["json"]
        for key in path:
            assert key in node, f"{key!r} not in {node!r}"
            node = node[key]
        assert node, body
    return body


def add_product(
    session: Session,
    handle: str = "linen-shirt",
    *,
    active: bool = True,
    variant_active: bool = True,
    image: str | None = "https://cdn.example.com/shirt.jpg",
) -> Product:
    product = Product(
        handle=handle,
        title=handle.replace("-", " ").title(),
        active=active,
        images=[{"url": image, "alt": ""}] if image else [],
        variants=[Variant(price_amount=4500, currency="USD", active=variant_active)],
    )
    session.add(product)
    session.commit()
    return product


def create_post(api: ApiClient, **body: Any) -> dict[str, Any]:
    body.setdefault("caption", "Summer look: linen & sun")
    response = api.post("/posts", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    result: dict[str, Any] = response.json
    return result


def published_post(api: ApiClient, product: Product, **body: Any) -> dict[str, Any]:
    body.setdefault("image_url", "https://cdn.example.com/look.jpg")
    body.setdefault("tags", [{"product_id": product.id, "x": 40, "y": 55.5}])
    post = create_post(api, **body)
    response = api.post(f"/posts/{post['id']}/publish")
    assert response.status_code == 200, response.get_data(as_text=True)
    result: dict[str, Any] = response.json
    return result


def create_link(api: ApiClient, **body: Any) -> dict[str, Any]:
    response = api.post("/links", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    result: dict[str, Any] = response.json
    return result


@pytest.fixture
def product(app: Flask, session: Session) -> Product:
    return add_product(session)


# --- posts: create ------------------------------------------------------------------------


def test_create_post_makes_a_draft_with_a_slug_from_the_caption(
    app: Flask, api: ApiClient, session: Session, product: Product
) -> None:
    response = api.post(
        "/posts",
        json={
            "caption": "Summer look: linen & sun, all week long at the harbour",
            "image_url": "https://cdn.example.com/look.jpg",
            "image_alt": "A linen shirt on a jetty",
            "campaign": "summer-24",
            "tags": [{"product_id": product.id, "x": 12.5, "y": 80}],
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    post = response.json
    assert response.headers["Location"] == f"/shop/api/posts/{post['id']}"
    assert post["slug"] == "summer-look-linen-sun-all-week"
    assert post["status"] == "draft"
    assert post["published_at"] is None
    assert post["url"] == f"http://localhost/shop/p/{post['slug']}"
    assert post["tags"] == [
        {
            "product_id": product.id,
            "x": 12.5,
            "y": 80.0,
            "position": 0,
            "product": {
                "id": product.id,
                "handle": "linen-shirt",
                "title": "Linen Shirt",
                "active": True,
            },
        }
    ]
    stored = session.scalars(sa.select(Post)).one()
    assert (stored.caption, stored.campaign, stored.image_alt) == (
        "Summer look: linen & sun, all week long at the harbour",
        "summer-24",
        "A linen shirt on a jetty",
    )
    assert [(t.product_id, t.x, t.y) for t in stored.tags] == [(product.id, 12.5, 80.0)]


def test_generated_slugs_are_made_unique_by_a_suffix(api: ApiClient) -> None:
    slugs = [create_post(api, caption="Café au lait!")["slug"] for _ in range(3)]
    assert slugs == ["cafe-au-lait", "cafe-au-lait-2", "cafe-au-lait-3"]
    assert create_post(api, caption="")["slug"] == "post"
    assert create_post(api, caption="🌞🌞")["slug"] == "post-2"
    assert create_post(api, caption="x", slug="cafe-au-lait-9")["slug"] == "cafe-au-lait-9"
    assert create_post(api, caption="Café au lait")["slug"] == "cafe-au-lait-4"


def test_an_explicit_slug_in_use_is_a_conflict(app: Flask, api: ApiClient) -> None:
    create_post(api, slug="summer")
    before = counts(app)
    body = assert_error(api.post("/posts", json={"slug": "summer"}), 409, "slug")
    assert "summer" in body["errors"]["json"]["slug"][0]
    assert counts(app) == before


def test_an_unknown_product_in_the_tags_names_its_index(
    app: Flask, api: ApiClient, product: Product
) -> None:
    body = {"tags": [{"product_id": product.id}, {"product_id": 99999}]}
    error = assert_error(api.post("/posts", json=body), 422, "tags", "1", "product_id")
    assert "99999" in error["errors"]["json"]["tags"]["1"]["product_id"][0]
    assert "0" not in error["errors"]["json"]["tags"]
    assert counts(app) == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"caption": "x", "bogus": 1}, "bogus"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"slug": "-edge"}, "slug"),
        ({"slug": ""}, "slug"),
        ({"slug": "a" * 201}, "slug"),
        ({"caption": "x" * 10_001}, "caption"),
        ({"caption": 12}, "caption"),
        ({"image_url": "javascript:alert(1)"}, "image_url"),
        ({"image_url": "data:image/png;base64,iVBORw0KGgo="}, "image_url"),
        ({"image_url": "//evil.example/a.jpg"}, "image_url"),
        ({"image_url": "/\\evil.example/a.jpg"}, "image_url"),
        ({"image_url": "ftp://cdn.example.com/a.jpg"}, "image_url"),
        ({"image_url": "https://cdn.example.com/a b.jpg"}, "image_url"),
        ({"image_url": "look.jpg"}, "image_url"),
        ({"image_url": "https://cdn.example.com/" + "a" * 2000}, "image_url"),
        ({"image_alt": "a" * 501}, "image_alt"),
        ({"campaign": "c" * 201}, "campaign"),
        ({"status": "published"}, "status"),
        ({"id": 5}, "id"),
        ({"tags": {"product_id": 1}}, "tags"),
        ({"tags": [{"product_id": "1"}]}, "tags"),
        ({"tags": [{"product_id": True}]}, "tags"),
        ({"tags": [{"product_id": 2**40}]}, "tags"),
    ],
)
def test_bad_post_bodies_are_refused(
    app: Flask, api: ApiClient, body: dict[str, Any], field: str
) -> None:
    assert_error(api.post("/posts", json=body), 422, field)
    assert counts(app) == (0, 0, 0)


def test_a_post_body_must_be_a_json_object(app: Flask, api: ApiClient) -> None:
    assert_error(api.post("/posts", data="caption=x"), 415)
    assert_error(api.post("/posts", json=["caption"]), 422)
    assert counts(app) == (0, 0, 0)


def test_image_url_may_be_a_path_on_this_site(api: ApiClient) -> None:
    assert create_post(api, image_url="/static/look.jpg")["image_url"] == "/static/look.jpg"
    assert create_post(api, image_url=" HTTPS://cdn.example.com/a.jpg?w=800 ")["image_url"] == (
        "HTTPS://cdn.example.com/a.jpg?w=800"
    )


# --- posts: read and list -----------------------------------------------------------------


def test_get_a_post_and_not_found(api: ApiClient) -> None:
    post = create_post(api)
    assert api.get(f"/posts/{post['id']}").json == post
    assert_error(api.get("/posts/999"), 404)
    assert_error(api.get(f"/posts/{2**40}"), 404)
    assert_error(api.get("/posts/abc"), 404)


def test_list_posts_newest_first_with_filters_and_pages(api: ApiClient, product: Product) -> None:
    first = create_post(api, caption="Linen in the sun", campaign="summer")
    second = create_post(api, caption="Wool by the fire", campaign="winter")
    third = published_post(api, product, caption="100% linen, 50_50 blend", campaign="summer")

    listed = api.get("/posts")
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json] == [third["id"], second["id"], first["id"]]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 3

    def ids(query: str) -> list[int]:
        response = api.get(f"/posts?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return [p["id"] for p in response.json]

    assert ids("status=published") == [third["id"]]
    assert ids("status=draft") == [second["id"], first["id"]]
    assert ids("campaign=summer") == [third["id"], first["id"]]
    assert ids("q=LINEN") == [third["id"], first["id"]]
    assert ids("q=100%25") == [third["id"]]
    assert ids("q=50_5") == [third["id"]]
    assert ids("q=wool-by") == [second["id"]]
    assert ids("page_size=2&page=2") == [first["id"]]
    meta = json.loads(api.get("/posts?page_size=2").headers["X-Pagination"])
    assert meta["total"] == 3
    assert meta["total_pages"] == 2


@pytest.mark.parametrize(
    "query",
    ["status=live", "q=", "q=" + "x" * 201, "campaign=" + "c" * 201, "page_size=1000"],
)
def test_bad_post_filters_are_refused(api: ApiClient, query: str) -> None:
    response = api.get(f"/posts?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["errors"]["query"]


# --- posts: edit and delete ---------------------------------------------------------------


def test_patch_a_post(api: ApiClient, session: Session) -> None:
    post = create_post(api)
    response = api.patch(
        f"/posts/{post['id']}",
        json={"caption": "<script>alert(1)</script>", "slug": "new-slug", "campaign": " fall "},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["caption"] == "<script>alert(1)</script>"
    assert response.json["slug"] == "new-slug"
    assert response.json["campaign"] == "fall"
    stored = session.get(Post, post["id"])
    assert stored is not None
    assert stored.slug == "new-slug"
    # Its own slug again is fine.
    assert api.patch(f"/posts/{post['id']}", json={"slug": "new-slug"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"tags": []}, 422, "tags"),
        ({"status": "published"}, 422, "status"),
        ({"published_at": "2024-01-01T00:00:00Z"}, 422, "published_at"),
        ({"bogus": 1}, 422, "bogus"),
        ({"image_url": "javascript:alert(1)"}, 422, "image_url"),
        ({"slug": "taken"}, 409, "slug"),
    ],
)
def test_bad_patches_leave_the_post_as_it_was(
    api: ApiClient, session: Session, body: dict[str, Any], code: int, field: str
) -> None:
    create_post(api, slug="taken")
    post = create_post(api, caption="Keep me")
    error = assert_error(api.patch(f"/posts/{post['id']}", json=body), code, field)
    if field in ("tags", "status"):
        assert "/posts/<id>/" in error["errors"]["json"][field][0]
    assert api.get(f"/posts/{post['id']}").json == post


def test_patch_needs_json_and_an_existing_post(api: ApiClient) -> None:
    post = create_post(api)
    assert_error(api.patch(f"/posts/{post['id']}", data="caption=x"), 415)
    assert_error(api.patch("/posts/999", json={"caption": "x"}), 404)


def test_delete_a_post_and_its_tags(app: Flask, api: ApiClient, product: Product) -> None:
    post = create_post(api, tags=[{"product_id": product.id}])
    assert counts(app) == (1, 1, 0)
    assert api.delete(f"/posts/{post['id']}").status_code == 204
    assert counts(app) == (0, 0, 0)
    assert_error(api.delete(f"/posts/{post['id']}"), 404)


def test_a_post_with_links_is_archived_not_deleted(app: Flask, api: ApiClient) -> None:
    post = create_post(api)
    create_link(api, channel="x", target="post", post_id=post["id"])
    body = assert_error(api.delete(f"/posts/{post['id']}"), 409)
    assert "archive" in body["message"]
    assert counts(app) == (1, 0, 1)


# --- posts: publish and archive ------------------------------------------------------------


def test_publish_needs_an_image_and_an_active_tagged_product(
    app: Flask, api: ApiClient, session: Session, product: Product
) -> None:
    asleep = add_product(session, "old-hat", active=False)
    post = create_post(api)
    body = assert_error(api.post(f"/posts/{post['id']}/publish"), 409)
    assert "image" in body["message"]
    assert "active" in body["message"]

    api.patch(f"/posts/{post['id']}", json={"image_url": "/static/look.jpg"})
    body = assert_error(api.post(f"/posts/{post['id']}/publish"), 409)
    assert "image" not in body["message"]
    assert "active" in body["message"]

    api.put(f"/posts/{post['id']}/tags", json=[{"product_id": asleep.id}])
    assert_error(api.post(f"/posts/{post['id']}/publish"), 409)
    assert api.get(f"/posts/{post['id']}").json["status"] == "draft"

    api.put(
        f"/posts/{post['id']}/tags",
        json=[{"product_id": asleep.id}, {"product_id": product.id}],
    )
    before = utcnow()
    response = api.post(f"/posts/{post['id']}/publish")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["status"] == "published"
    published_at = datetime.fromisoformat(response.json["published_at"])
    assert before - timedelta(seconds=1) <= published_at <= utcnow()
    stored = session.get(Post, post["id"])
    session.refresh(stored)
    assert stored is not None
    assert stored.status == "published"


def test_archive_and_publish_again_keeps_the_first_publication_time(
    api: ApiClient, product: Product
) -> None:
    post = published_post(api, product)
    again = api.post(f"/posts/{post['id']}/publish").json
    assert again["published_at"] == post["published_at"]
    archived = api.post(f"/posts/{post['id']}/archive")
    assert archived.status_code == 200
    assert archived.json["status"] == "archived"
    assert api.get("/posts?status=published").json == []
    back = api.post(f"/posts/{post['id']}/publish").json
    assert back["status"] == "published"
    assert back["published_at"] == post["published_at"]
    assert_error(api.post("/posts/999/publish"), 404)
    assert_error(api.post("/posts/999/archive"), 404)


def test_a_published_post_keeps_its_image_and_an_active_product(
    app: Flask, api: ApiClient, session: Session, product: Product
) -> None:
    asleep = add_product(session, "old-hat", active=False)
    post = published_post(api, product)
    assert_error(api.patch(f"/posts/{post['id']}", json={"image_url": ""}), 409, "image_url")
    assert_error(api.put(f"/posts/{post['id']}/tags", json=[]), 409)
    assert_error(api.put(f"/posts/{post['id']}/tags", json=[{"product_id": asleep.id}]), 409)
    assert api.get(f"/posts/{post['id']}").json == post
    # Archived, it may lose them.
    api.post(f"/posts/{post['id']}/archive")
    assert api.put(f"/posts/{post['id']}/tags", json=[]).status_code == 200
    assert api.patch(f"/posts/{post['id']}", json={"image_url": ""}).status_code == 200


# --- tags ---------------------------------------------------------------------------------


def test_put_tags_replaces_the_whole_list(
    app: Flask, api: ApiClient, session: Session, product: Product
) -> None:
    hat = add_product(session, "straw-hat")
    bag = add_product(session, "tote-bag")
    post = create_post(api, tags=[{"product_id": product.id, "x": 1, "y": 2}])

    response = api.put(
        f"/posts/{post['id']}/tags",
        json=[
            {"product_id": hat.id, "x": 0, "y": 100},
            {"product_id": product.id, "x": 50.25, "y": 50.75},
            {"product_id": bag.id},
        ],
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [(t["product_id"], t["x"], t["y"], t["position"]) for t in response.json] == [
        (hat.id, 0.0, 100.0, 0),
        (product.id, 50.25, 50.75, 1),
        (bag.id, None, None, 2),
    ]
    assert api.get(f"/posts/{post['id']}/tags").json == response.json
    assert counts(app) == (1, 3, 0)

    assert api.put(f"/posts/{post['id']}/tags", json=[]).json == []
    assert counts(app) == (1, 0, 0)


@pytest.mark.parametrize(
    ("tags", "path"),
    [
        ([{"product_id": "P"}, {"product_id": 99999}], ("1", "product_id")),
        ([{"product_id": "P"}, {"product_id": "P"}], ("1", "product_id")),
        ([{"product_id": "P", "x": 10}], ("0", "y")),
        ([{"product_id": "P", "y": 10}], ("0", "x")),
        ([{"product_id": "P", "x": 10, "y": None}], ("0", "y")),
        ([{"product_id": "P", "x": 100.01, "y": 1}], ("0", "x")),
        ([{"product_id": "P", "x": -1, "y": 1}], ("0", "x")),
        ([{"product_id": "P", "x": "10", "y": 1}], ("0", "x")),
        ([{"product_id": "P", "x": 1, "y": 1, "z": 1}], ("0", "z")),
        ([{"x": 1, "y": 1}], ("0", "product_id")),
        ([{"product_id": 0}], ("0", "product_id")),
        ({"product_id": "P"}, ("_schema",)),
        ([{"product_id": n} for n in range(1, 52)], ("_schema",)),
    ],
)
def test_bad_tag_lists_are_refused_and_change_nothing(
    app: Flask,
    api: ApiClient,
    session: Session,
    product: Product,
    tags: Any,
    path: tuple[str, ...],
) -> None:
    def fill(value: Any) -> Any:
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: product.id if v == "P" else v for k, v in value.items()}
        return value

    post = create_post(api, tags=[{"product_id": product.id, "x": 5, "y": 5}])
    before = counts(app)
    body = assert_error(api.put(f"/posts/{post['id']}/tags", json=fill(tags)), 422, *path)
    if path == ("1", "product_id"):
        assert "1" in body["message"] or "index 0" in body["errors"]["json"]["1"]["product_id"][0]
    assert counts(app) == before
    assert api.get(f"/posts/{post['id']}/tags").json == post["tags"]


def test_tags_of_an_unknown_post(api: ApiClient) -> None:
    assert_error(api.get("/posts/999/tags"), 404)
    assert_error(api.put("/posts/999/tags", json=[]), 404)
    assert_error(api.put("/posts/999/tags", data="[]"), 415)


# --- links: create ------------------------------------------------------------------------


def test_create_a_post_link_with_channel_defaults(
    app: Flask, api: ApiClient, session: Session
) -> None:
    post = create_post(api, campaign="summer-24")
    response = api.post(
        "/links",
        json={"channel": "instagram", "target": "post", "post_id": post["id"], "partner": "ana"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    link = response.json
    assert response.headers["Location"] == f"/shop/api/links/{link['id']}"
    assert len(link["code"]) == 10
    assert set(link["code"]) <= set(CODE_ALPHABET)
    assert link["url"] == f"http://localhost/shop/s/{link['code']}"
    assert (link["utm_source"], link["utm_medium"], link["utm_campaign"]) == (
        "instagram",
        "social",
        "summer-24",
    )
    assert link["partner"] == "ana"
    # A draft's links are made ahead of publication; they redirect once it is published.
    assert (link["active"], link["live"], link["expires_at"]) == (True, False, None)
    stored = session.scalars(sa.select(TrackedLink)).one()
    assert (stored.code, stored.channel, stored.target, stored.post_id) == (
        link["code"],
        "instagram",
        "post",
        post["id"],
    )


def test_every_channel_gives_its_utm_defaults(api: ApiClient) -> None:
    for name, channel in CHANNELS.items():
        link = create_link(api, channel=name, target="storefront")
        assert (link["utm_source"], link["utm_medium"]) == (channel.utm_source, channel.utm_medium)
        assert link["utm_campaign"] == ""


def test_explicit_utm_values_win(api: ApiClient) -> None:
    post = create_post(api, campaign="summer")
    link = create_link(
        api,
        channel="email",
        target="post",
        post_id=post["id"],
        utm_source=" weekly ",
        utm_medium="newsletter",
        utm_campaign="",
        utm_content="hero",
        utm_term="linen",
        label="Weekly #12",
    )
    assert (
        link["utm_source"],
        link["utm_medium"],
        link["utm_campaign"],
        link["utm_content"],
        link["utm_term"],
        link["label"],
    ) == ("weekly", "newsletter", "", "hero", "linen", "Weekly #12")


def test_product_storefront_and_checkout_links(
    api: ApiClient, session: Session, product: Product
) -> None:
    variant_id = product.variants[0].id
    product_link = create_link(api, channel="pinterest", target="product", product_id=product.id)
    assert product_link["product_id"] == product.id
    assert product_link["post_id"] is None
    storefront = create_link(api, channel="tiktok", target="storefront", label="bio")
    assert storefront["post_id"] is storefront["product_id"] is None
    expires = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    checkout = create_link(
        api,
        channel="x",
        target="checkout",
        variant_id=variant_id,
        quantity=2,
        expires_at=expires.isoformat(),
        active=False,
    )
    assert (checkout["variant_id"], checkout["quantity"], checkout["product_id"]) == (
        variant_id,
        2,
        product.id,
    )
    assert datetime.fromisoformat(checkout["expires_at"]) == expires
    assert (checkout["active"], checkout["live"]) == (False, False)
    codes = {product_link["code"], storefront["code"], checkout["code"]}
    assert len(codes) == 3


def test_a_naive_expiry_is_taken_as_utc(api: ApiClient) -> None:
    moment = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0, tzinfo=None)
    link = create_link(api, channel="blog", target="storefront", expires_at=moment.isoformat())
    assert datetime.fromisoformat(link["expires_at"]) == moment.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": "storefront"}, "channel"),
        ({"channel": "myspace", "target": "storefront"}, "channel"),
        ({"channel": "x"}, "target"),
        ({"channel": "x", "target": "home"}, "target"),
        ({"channel": "x", "target": "post"}, "post_id"),
        ({"channel": "x", "target": "post", "post_id": 99999}, "post_id"),
        ({"channel": "x", "target": "post", "post_id": "POST", "variant_id": "V"}, "variant_id"),
        ({"channel": "x", "target": "product"}, "product_id"),
        ({"channel": "x", "target": "product", "product_id": 99999}, "product_id"),
        ({"channel": "x", "target": "storefront", "product_id": "PRODUCT"}, "product_id"),
        ({"channel": "x", "target": "storefront", "quantity": 1}, "quantity"),
        ({"channel": "x", "target": "checkout", "variant_id": "V"}, "quantity"),
        ({"channel": "x", "target": "checkout", "quantity": 1}, "variant_id"),
        ({"channel": "x", "target": "checkout", "variant_id": "V", "quantity": 0}, "quantity"),
        ({"channel": "x", "target": "checkout", "variant_id": "V", "quantity": 101}, "quantity"),
        ({"channel": "x", "target": "checkout", "variant_id": "V", "quantity": "2"}, "quantity"),
        ({"channel": "x", "target": "checkout", "variant_id": 99999, "quantity": 1}, "variant_id"),
        ({"channel": "x", "target": "checkout", "variant_id": "OFF", "quantity": 1}, "variant_id"),
        (
            {"channel": "x", "target": "checkout", "variant_id": "HIDDEN", "quantity": 1},
            "variant_id",
        ),
        (
            {
                "channel": "x",
                "target": "checkout",
                "variant_id": "V",
                "quantity": 1,
                "product_id": 1,
            },
            "product_id",
        ),
        ({"channel": "x", "target": "storefront", "code": "abcdefghij"}, "code"),
        ({"channel": "x", "target": "storefront", "bogus": 1}, "bogus"),
        ({"channel": "x", "target": "storefront", "utm_source": " "}, "utm_source"),
        ({"channel": "x", "target": "storefront", "utm_medium": ""}, "utm_medium"),
        ({"channel": "x", "target": "storefront", "utm_campaign": "c" * 201}, "utm_campaign"),
        ({"channel": "x", "target": "storefront", "utm_content": "c" * 201}, "utm_content"),
        ({"channel": "x", "target": "storefront", "utm_term": "c" * 201}, "utm_term"),
        ({"channel": "x", "target": "storefront", "partner": "p" * 201}, "partner"),
        ({"channel": "x", "target": "storefront", "label": "l" * 201}, "label"),
        ({"channel": "x", "target": "storefront", "label": 5}, "label"),
        ({"channel": "x", "target": "storefront", "active": "yes"}, "active"),
        ({"channel": "x", "target": "storefront", "expires_at": "PAST"}, "expires_at"),
        ({"channel": "x", "target": "storefront", "expires_at": "tomorrow"}, "expires_at"),
        ({"channel": "x", "target": "post", "post_id": 2**40}, "post_id"),
    ],
)
def test_bad_link_bodies_are_refused_and_write_nothing(
    app: Flask,
    api: ApiClient,
    session: Session,
    product: Product,
    body: dict[str, Any],
    field: str,
) -> None:
    post = create_post(api)
    off = add_product(session, "off-shirt", variant_active=False)
    hidden = add_product(session, "hidden-shirt", active=False)
    values = {
        "V": product.variants[0].id,
        "OFF": off.variants[0].id,
        "HIDDEN": hidden.variants[0].id,
        "POST": post["id"],
        "PRODUCT": product.id,
        "PAST": (utcnow() - timedelta(seconds=5)).isoformat(),
    }
    filled = {k: values.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    before = counts(app)
    assert_error(api.post("/links", json=filled), 422, field)
    assert counts(app) == before


def test_a_link_body_must_be_json(app: Flask, api: ApiClient) -> None:
    assert_error(api.post("/links", data="channel=x&target=storefront"), 415)
    assert counts(app) == (0, 0, 0)


# --- links: list, read, edit --------------------------------------------------------------


def test_list_links_with_filters(api: ApiClient, product: Product) -> None:
    post = create_post(api)
    a = create_link(api, channel="x", target="post", post_id=post["id"], partner="ana")
    b = create_link(api, channel="facebook", target="post", post_id=post["id"])
    c = create_link(api, channel="x", target="product", product_id=product.id, active=False)

    def ids(query: str = "") -> list[int]:
        response = api.get(f"/links?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return [link["id"] for link in response.json]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids("channel=x") == [c["id"], a["id"]]
    assert ids(f"post_id={post['id']}") == [b["id"], a["id"]]
    assert ids(f"product_id={product.id}") == [c["id"]]
    assert ids("partner=ana") == [a["id"]]
    assert ids("active=false") == [c["id"]]
    assert ids("active=true&channel=x") == [a["id"]]
    assert ids("target=product") == [c["id"]]
    assert ids("page_size=1&page=3") == [a["id"]]
    assert json.loads(api.get("/links?page_size=1").headers["X-Pagination"])["total"] == 3


@pytest.mark.parametrize(
    "query",
    ["channel=myspace", "active=maybe", "post_id=x", "post_id=0", "partner=" + "p" * 201],
)
def test_bad_link_filters_are_refused(api: ApiClient, query: str) -> None:
    response = api.get(f"/links?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["errors"]["query"]


def test_get_a_link(api: ApiClient) -> None:
    link = create_link(api, channel="blog", target="storefront")
    assert api.get(f"/links/{link['id']}").json == link
    assert_error(api.get("/links/999"), 404)
    assert_error(api.get(f"/links/{2**40}"), 404)
    assert_error(api.patch(f"/links/{2**63}", json={"label": "x"}), 404)


def test_patch_a_link(api: ApiClient, session: Session) -> None:
    link = create_link(api, channel="x", target="storefront")
    expires = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    response = api.patch(
        f"/links/{link['id']}",
        json={
            "label": "Launch",
            "utm_source": "twitter",
            "utm_medium": "paid",
            "utm_campaign": "launch",
            "utm_content": "v2",
            "utm_term": "shirt",
            "partner": "bo",
            "active": False,
            "expires_at": expires.isoformat(),
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    changed = response.json
    assert (changed["label"], changed["utm_source"], changed["partner"]) == (
        "Launch",
        "twitter",
        "bo",
    )
    assert (changed["active"], changed["live"]) == (False, False)
    assert datetime.fromisoformat(changed["expires_at"]) == expires
    assert changed["code"] == link["code"]
    stored = session.get(TrackedLink, link["id"])
    assert stored is not None
    assert stored.active is False
    assert stored.utm_medium == "paid"

    cleared = api.patch(f"/links/{link['id']}", json={"expires_at": None, "active": True}).json
    assert (cleared["expires_at"], cleared["live"]) == (None, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "abcdefghij"}, "code"),
        ({"target": "storefront"}, "target"),
        ({"channel": "facebook"}, "channel"),
        ({"post_id": 1}, "post_id"),
        ({"product_id": 1}, "product_id"),
        ({"variant_id": 1}, "variant_id"),
        ({"quantity": 2}, "quantity"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"utm_source": ""}, "utm_source"),
        ({"label": "l" * 201}, "label"),
        ({"active": None}, "active"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_link_patches_are_refused(api: ApiClient, body: dict[str, Any], field: str) -> None:
    link = create_link(api, channel="x", target="storefront")
    error = assert_error(api.patch(f"/links/{link['id']}", json=body), 422, field)
    if field in ("code", "target", "channel"):
        assert "new link" in error["errors"]["json"][field][0]
    assert api.get(f"/links/{link['id']}").json == link


def test_links_cannot_be_deleted(app: Flask, api: ApiClient) -> None:
    link = create_link(api, channel="x", target="storefront")
    response = api.delete(f"/links/{link['id']}")
    assert response.status_code == 405
    assert "DELETE" in response.json["message"]
    assert counts(app) == (0, 0, 1)
    assert_error(api.patch("/links/999", json={"label": "x"}), 404)


# --- links: share URLs --------------------------------------------------------------------


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_share_urls_carry_each_channels_own_tracked_link(api: ApiClient, product: Product) -> None:
    caption = "Linen & sun: 50% off? #summer\nSecond line"
    post = published_post(api, product, caption=caption, image_url="/static/look.jpg")
    for name in CHANNELS:
        link = create_link(api, channel=name, target="post", post_id=post["id"])
        response = api.get(f"/links/{link['id']}/share")
        assert response.status_code == 200, response.get_data(as_text=True)
        shared = response.json
        tracked = f"http://localhost/shop/s/{link['code']}"
        assert shared["url"] == tracked == link["url"]
        assert shared["channel"] == name
        assert shared["text"] == caption
        assert shared["image_url"] == "http://localhost/static/look.jpg"
        url = shared["share_url"]
        if name in ("instagram", "tiktok", "youtube", "blog", "other"):
            assert url is None, name
            continue
        parts = urlsplit(url)
        query = _query(url)
        if name == "x":
            assert (parts.scheme, parts.netloc, parts.path) == (
                "https",
                "twitter.com",
                "/intent/tweet",
            )
            assert query["url"] == [tracked]
            assert query["text"] == [caption]
        elif name == "facebook":
            assert parts.netloc == "www.facebook.com"
            assert parts.path == "/sharer/sharer.php"
            assert query == {"u": [tracked]}
        elif name == "linkedin":
            assert parts.path == "/sharing/share-offsite/"
            assert query == {"url": [tracked]}
        elif name == "pinterest":
            assert parts.netloc == "www.pinterest.com"
            assert parts.path == "/pin/create/button/"
            assert query["url"] == [tracked]
            assert query["media"] == ["http://localhost/static/look.jpg"]
            assert query["description"] == [caption]
        elif name == "email":
            assert parts.scheme == "mailto"
            assert parts.path == ""
            assert query["subject"] == ["Linen & sun: 50% off? #summer Second line"]
            assert query["body"] == [caption.replace("\n", "\r\n") + "\r\n\r\n" + tracked]
            assert "+" not in url
        # Nothing of the text leaks out of its parameter.
        assert "#" not in url
        assert "\n" not in url
        assert " " not in url


def test_share_text_defaults_and_overrides(app: Flask, api: ApiClient, product: Product) -> None:
    product_link = create_link(api, channel="x", target="product", product_id=product.id)
    shared = api.get(f"/links/{product_link['id']}/share").json
    assert shared["text"] == "Linen Shirt"
    assert shared["image_url"] == "https://cdn.example.com/shirt.jpg"
    storefront = create_link(api, channel="x", target="storefront")
    shared = api.get(f"/links/{storefront['id']}/share").json
    assert shared["text"] == app.config["SHOPPABLE_SHOP_NAME"]
    assert shared["image_url"] is None
    chosen = api.get(f"/links/{storefront['id']}/share?text=New%20drop%20%26%20more").json
    assert chosen["text"] == "New drop & more"
    assert _query(chosen["share_url"])["text"] == ["New drop & more"]
    response = api.get(f"/links/{storefront['id']}/share?text=" + "t" * 1001)
    assert response.status_code == 422
    assert response.json["errors"]["query"]["text"]


def test_share_of_a_dead_or_unknown_link(
    api: ApiClient, session: Session, product: Product
) -> None:
    off = create_link(api, channel="x", target="storefront", active=False)
    assert "link is inactive" in assert_error(api.get(f"/links/{off['id']}/share"), 409)["message"]
    draft = create_post(api)
    early = create_link(api, channel="x", target="post", post_id=draft["id"])
    body = assert_error(api.get(f"/links/{early['id']}/share"), 409)
    assert "not published" in body["message"]
    hidden = add_product(session, "hidden-hat", active=False)
    hat = create_link(api, channel="x", target="product", product_id=hidden.id)
    assert hat["live"] is False
    assert (
        "product is inactive" in assert_error(api.get(f"/links/{hat['id']}/share"), 409)["message"]
    )
    ended = create_link(api, channel="x", target="storefront")
    session.execute(
        sa.update(TrackedLink)
        .where(TrackedLink.id == ended["id"])
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    assert api.get(f"/links/{ended['id']}").json["live"] is False
    assert "expired" in assert_error(api.get(f"/links/{ended['id']}/share"), 409)["message"]
    assert_error(api.get("/links/999/share"), 404)


def test_share_links_use_the_public_url_when_set(
    app: Flask, api: ApiClient, product: Product
) -> None:
    app.config["SHOPPABLE_PUBLIC_URL"] = "https://shop.example.com"
    post = published_post(api, product, image_url="/media/a.jpg")
    link = create_link(api, channel="pinterest", target="post", post_id=post["id"])
    assert link["url"] == f"https://shop.example.com/shop/s/{link['code']}"
    shared = api.get(f"/links/{link['id']}/share").json
    assert _query(shared["share_url"])["url"] == [link["url"]]
    assert _query(shared["share_url"])["media"] == ["https://shop.example.com/media/a.jpg"]


# --- channels, auth, OpenAPI --------------------------------------------------------------


def test_channels_list(api: ApiClient) -> None:
    response = api.get("/channels")
    assert response.status_code == 200
    by_name = {c["name"]: c for c in response.json}
    assert list(by_name) == [
        "facebook",
        "instagram",
        "x",
        "linkedin",
        "pinterest",
        "tiktok",
        "youtube",
        "blog",
        "email",
        "other",
    ]
    assert by_name["facebook"] == {
        "name": "facebook",
        "label": "Facebook",
        "utm_source": "facebook",
        "utm_medium": "social",
        "can_share": True,
    }
    assert by_name["instagram"]["can_share"] is False


def test_a_read_key_reads_but_does_not_write(
    app: Flask, client: FlaskClient, read_auth: dict[str, str]
) -> None:
    assert client.get("/shop/api/posts", headers=read_auth).status_code == 200
    assert client.get("/shop/api/links", headers=read_auth).status_code == 200
    assert client.get("/shop/api/channels", headers=read_auth).status_code == 200
    response = client.post("/shop/api/posts", json={"caption": "x"}, headers=read_auth)
    assert_error(response, 403)
    response = client.post(
        "/shop/api/links", json={"channel": "x", "target": "storefront"}, headers=read_auth
    )
    assert_error(response, 403)
    assert_error(client.get("/shop/api/posts"), 401)
    assert counts(app) == (0, 0, 0)


INSTAGRAM_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Instagram 329.0.0.0.0 (iPhone15,2; iOS 17_4; en_US)"
)


def follow(client: FlaskClient, url: str) -> Any:
    """A shopper's click on the tracked URL the API gave (a phone's in-app browser)."""
    return client.get(urlsplit(url).path, headers={"User-Agent": INSTAGRAM_UA})


def clicks(app: Flask) -> list[Interaction]:
    app.extensions["shoppable"].recorder.flush()
    with app.extensions["shoppable"].session_factory() as s:
        return list(s.scalars(sa.select(Interaction).order_by(Interaction.occurred_at)))


def test_a_newcomer_creates_product_post_and_link_then_a_click_lands_and_is_recorded(
    app: Flask, client: FlaskClient, api: ApiClient
) -> None:
    response = api.post(
        "/products",
        json={"title": "Linen Shirt", "variants": [{"price": {"amount": 4500, "currency": "USD"}}]},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    product_id = response.json["id"]
    post = create_post(
        api,
        caption="Summer look",
        image_url="https://cdn.example.com/look.jpg",
        campaign="summer",
        tags=[{"product_id": product_id, "x": 50, "y": 50}],
    )
    assert api.post(f"/posts/{post['id']}/publish").json["status"] == "published"
    link = create_link(
        api, channel="instagram", target="post", post_id=post["id"], utm_content="bio"
    )
    assert link["utm_campaign"] == "summer"

    redirect = follow(client, link["url"])
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["Location"])
    assert location.path == "/shop/p/summer-look"
    page = client.get(f"{location.path}?{location.query}", headers={"User-Agent": INSTAGRAM_UA})
    assert page.status_code == 200
    assert "Summer look" in page.get_data(as_text=True)

    [click] = clicks(app)
    assert click.kind == "click"
    assert (click.link_id, click.post_id, click.channel) == (link["id"], post["id"], "instagram")
    assert (click.utm_source, click.utm_medium, click.utm_campaign, click.utm_content) == (
        "instagram",
        "social",
        "summer",
        "bio",
    )


def test_merchant_edits_reach_the_next_click_at_once(
    app: Flask, client: FlaskClient, api: ApiClient, product: Product
) -> None:
    """The API clears this process's link cache after each change a redirect depends on."""
    post = published_post(api, product, caption="Summer look")
    link = create_link(api, channel="x", target="post", post_id=post["id"])
    assert follow(client, link["url"]).status_code == 302  # now cached

    api.patch(f"/links/{link['id']}", json={"active": False})
    assert follow(client, link["url"]).status_code == 404
    api.patch(f"/links/{link['id']}", json={"active": True})
    assert follow(client, link["url"]).status_code == 302

    api.patch(f"/posts/{post['id']}", json={"slug": "renamed"})
    assert urlsplit(follow(client, link["url"]).headers["Location"]).path == "/shop/p/renamed"

    api.post(f"/posts/{post['id']}/archive")
    assert follow(client, link["url"]).status_code == 404
    api.post(f"/posts/{post['id']}/publish")
    assert follow(client, link["url"]).status_code == 302

    assert len(clicks(app)) == 4  # the 404s are not counted


def test_openapi_document_is_valid_and_documents_posts_and_links(client: FlaskClient) -> None:
    spec = client.get("/shop/api/openapi.json").json
    validate_openapi(deepcopy(spec))
    paths = spec["paths"]
    for path, methods in {
        "/shop/api/posts": {"get", "post"},
        "/shop/api/posts/{post_id}": {"get", "patch", "delete"},
        "/shop/api/posts/{post_id}/publish": {"post"},
        "/shop/api/posts/{post_id}/archive": {"post"},
        "/shop/api/posts/{post_id}/tags": {"get", "put"},
        "/shop/api/links": {"get", "post"},
        "/shop/api/links/{link_id}": {"get", "patch"},
        "/shop/api/links/{link_id}/share": {"get"},
        "/shop/api/channels": {"get"},
    }.items():
        assert set(paths[path]) & {"get", "post", "put", "patch", "delete"} == methods, path
    schemas = spec["components"]["schemas"]
    assert schemas["Post"]["additionalProperties"] is False
    assert schemas["Link"]["properties"]["url"]["readOnly"] is True
    assert schemas["Link"]["properties"]["channel"]["enum"] == list(CHANNELS)
    tags_body = paths["/shop/api/posts/{post_id}/tags"]["put"]["requestBody"]
    assert tags_body["content"]["application/json"]["schema"]["type"] == "array"
    assert "X-Pagination" in paths["/shop/api/links"]["get"]["responses"]["200"]["headers"]
    assert "deactivate" in " ".join(t.get("description", "") for t in spec["tags"])


# --- races (PostgreSQL: a writer waits for the other's uncommitted row) ---------------------


def _hold_slug(app: Flask, slug: str) -> tuple[Session, threading.Timer]:
    """Insert a post with ``slug`` in another transaction, committed a second later."""
    other = app.extensions["shoppable"].session_factory()
    other.add(Post(slug=slug, caption="first"))
    other.flush()
    timer = threading.Timer(1.0, other.commit)
    timer.start()
    return other, timer


@pytest.mark.postgresql_only
def test_a_generated_slug_taken_concurrently_is_made_again(app: Flask, api: ApiClient) -> None:
    other, timer = _hold_slug(app, "race-day")
    try:
        response = api.post("/posts", json={"caption": "Race day"})
    finally:
        timer.join()
        other.close()
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["slug"] == "race-day-2"
    assert counts(app) == (2, 0, 0)


@pytest.mark.postgresql_only
def test_an_explicit_slug_taken_concurrently_is_409(app: Flask, api: ApiClient) -> None:
    other, timer = _hold_slug(app, "race-day")
    try:
        response = api.post("/posts", json={"caption": "Race day", "slug": "race-day"})
    finally:
        timer.join()
        other.close()
    assert_error(response, 409, "slug")
    assert counts(app) == (1, 0, 0)
