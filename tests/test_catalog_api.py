"""The catalog's merchant API over HTTP, on SQLite and PostgreSQL.

Every refused request is checked for the stable error shape, for the field it names in
``errors``, and for leaving the tables exactly as they were.
"""

from __future__ import annotations

import json
import threading
from copy import deepcopy
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate as validate_openapi

from flask_shoppable.catalog import service
from flask_shoppable.catalog.models import Product, Variant
from flask_shoppable.catalog.schemas import ProductSchema
from flask_shoppable.money import MAX_AMOUNT

from .conftest import ApiClient


def shirt(**overrides: Any) -> dict[str, Any]:
    """A valid product body with two variants (Size M and L)."""
    body: dict[str, Any] = {
        "title": "Linen Shirt",
        "description": "<p>Breathable.</p>",
        "vendor": "Harbour",
        "product_type": "Shirts",
        "tags": ["summer", "linen"],
        "images": [{"url": "https://cdn.example.com/shirt.jpg", "alt": "A shirt"}],
        "options": ["Size"],
        "variants": [
            {
                "sku": "SHIRT-M",
                "options": {"Size": "M"},
                "price": {"amount": 4500, "currency": "USD"},
                "compare_at_price": {"amount": 6000, "currency": "USD"},
                "stock": 3,
            },
            {
                "sku": "SHIRT-L",
                "options": {"Size": "L"},
                "price": {"amount": 4500, "currency": "USD"},
            },
        ],
    }
    body.update(overrides)
    return body


def simple(title: str = "Mug", **overrides: Any) -> dict[str, Any]:
    """A valid product body without options: one default variant."""
    body: dict[str, Any] = {
        "title": title,
        "variants": [{"price": {"amount": 1200, "currency": "USD"}}],
    }
    body.update(overrides)
    return body


def counts(app: Flask) -> tuple[int, int]:
    """(products, variants) as the database has them now."""
    with app.extensions["shoppable"].engine.connect() as conn:
        products = conn.scalar(sa.select(sa.func.count()).select_from(Product))
        variants = conn.scalar(sa.select(sa.func.count()).select_from(Variant))
    return int(products or 0), int(variants or 0)


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


def create(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/products", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    result: dict[str, Any] = response.json
    return result


# --- create ---------------------------------------------------------------------------


def test_create_product_with_variants(app: Flask, api: ApiClient) -> None:
    response = api.post("/products", json=shirt())
    assert response.status_code == 201
    product = response.json
    assert response.headers["Location"] == f"/shop/api/products/{product['id']}"
    assert product["handle"] == "linen-shirt"
    assert product["tags"] == ["summer", "linen"]
    assert product["images"] == [{"url": "https://cdn.example.com/shirt.jpg", "alt": "A shirt"}]
    assert product["options"] == ["Size"]
    assert product["active"] is True
    medium, large = product["variants"]
    assert medium["product_id"] == product["id"]
    assert medium["title"] == "M"
    assert medium["options"] == {"Size": "M"}
    assert medium["price"] == {"amount": 4500, "currency": "USD", "formatted": "45.00"}
    assert medium["compare_at_price"]["formatted"] == "60.00"
    assert medium["stock"] == 3
    assert medium["in_stock"] is True
    assert medium["requires_shipping"] is True
    assert large["stock"] is None
    assert large["in_stock"] is True
    assert large["compare_at_price"] is None
    assert [medium["position"], large["position"]] == [0, 1]

    fetched = api.get(response.headers["Location"].removeprefix("/shop/api"))
    assert fetched.status_code == 200
    assert fetched.json == product
    assert counts(app) == (1, 2)


def test_product_without_options_has_one_default_variant(api: ApiClient) -> None:
    product = create(api, simple(variants=[{"price": {"amount": 1200, "currency": "USD"}}]))
    (variant,) = product["variants"]
    assert variant["title"] == "Default"
    assert variant["options"] == {}


def test_sold_out_variant_is_not_in_stock(api: ApiClient) -> None:
    product = create(
        api, simple(variants=[{"price": {"amount": 1, "currency": "USD"}, "stock": 0}])
    )
    assert product["variants"][0]["in_stock"] is False


def test_handle_is_made_from_title_and_kept_unique(api: ApiClient) -> None:
    handles = [create(api, simple("Red Shirt!"))["handle"] for _ in range(3)]
    assert handles == ["red-shirt", "red-shirt-2", "red-shirt-3"]
    assert create(api, simple("Café Crème"))["handle"] == "cafe-creme"
    assert create(api, simple("!!!"))["handle"] == "product"
    # A product named like an existing suffix does not confuse the numbering.
    assert create(api, simple("Red Shirt 2"))["handle"] == "red-shirt-2-2"


def test_explicit_handle_is_kept(api: ApiClient) -> None:
    assert create(api, simple(handle="the-mug"))["handle"] == "the-mug"


def test_duplicate_explicit_handle_is_409(app: Flask, api: ApiClient) -> None:
    create(api, simple(handle="the-mug"))
    before = counts(app)
    body = assert_error(api.post("/products", json=simple(handle="the-mug")), 409, "handle")
    assert "the-mug" in body["errors"]["json"]["handle"][0]
    assert counts(app) == before


@pytest.mark.parametrize("handle", ["Red", "red_shirt", "-red", "red-", "rouge é", "", "a" * 256])
def test_bad_handle_is_422(app: Flask, api: ApiClient, handle: str) -> None:
    assert_error(api.post("/products", json=simple(handle=handle)), 422, "handle")
    assert counts(app) == (0, 0)


@pytest.mark.parametrize(
    ("currency", "amount", "formatted"),
    [("JPY", 1500, "1500"), ("KWD", 1234, "1.234"), ("usd", 5, "0.05"), ("EUR", 0, "0.00")],
)
def test_money_is_formatted_by_currency_exponent(
    api: ApiClient, currency: str, amount: int, formatted: str
) -> None:
    product = create(api, simple(variants=[{"price": {"amount": amount, "currency": currency}}]))
    price = product["variants"][0]["price"]
    assert price == {"amount": amount, "currency": currency.upper(), "formatted": formatted}


# --- create: refused ------------------------------------------------------------------


def _with_price(price: Any) -> dict[str, Any]:
    return simple(variants=[{"price": price}])


@pytest.mark.parametrize(
    ("price", "field"),
    [
        ({"amount": -1, "currency": "USD"}, "amount"),
        ({"amount": 12.5, "currency": "USD"}, "amount"),
        ({"amount": 12.0, "currency": "USD"}, "amount"),
        ({"amount": "12", "currency": "USD"}, "amount"),
        ({"amount": True, "currency": "USD"}, "amount"),
        ({"amount": None, "currency": "USD"}, "amount"),
        ({"amount": MAX_AMOUNT + 1, "currency": "USD"}, "amount"),
        ({"currency": "USD"}, "amount"),
        ({"amount": 100, "currency": "XXX"}, "currency"),
        ({"amount": 100, "currency": "dollars"}, "currency"),
        ({"amount": 100, "currency": 840}, "currency"),
        ({"amount": 100}, "currency"),
        ({"amount": 100, "currency": "USD", "formatted": "1.00"}, "formatted"),
        ({"amount": 100, "currency": "USD", "cents": 5}, "cents"),
    ],
)
def test_bad_money_is_422_naming_the_field(
    app: Flask, api: ApiClient, price: dict[str, Any], field: str
) -> None:
    response = api.post("/products", json=_with_price(price))
    assert_error(response, 422, "variants", "0", "price", field)
    assert counts(app) == (0, 0)


def test_unknown_currency_message_names_the_code(api: ApiClient) -> None:
    body = assert_error(
        api.post("/products", json=_with_price({"amount": 1, "currency": "XXX"})),
        422,
        "variants",
        "0",
        "price",
        "currency",
    )
    assert "XXX" in body["errors"]["json"]["variants"]["0"]["price"]["currency"][0]


@pytest.mark.parametrize("price", ["19.99", 1999, [1999, "USD"], None])
def test_price_must_be_a_money_object(app: Flask, api: ApiClient, price: Any) -> None:
    assert_error(api.post("/products", json=_with_price(price)), 422, "variants", "0", "price")
    assert counts(app) == (0, 0)


def test_compare_at_price_in_another_currency_is_422(app: Flask, api: ApiClient) -> None:
    body = simple(
        variants=[
            {
                "price": {"amount": 100, "currency": "USD"},
                "compare_at_price": {"amount": 200, "currency": "EUR"},
            }
        ]
    )
    assert_error(api.post("/products", json=body), 422, "variants", "0", "compare_at_price")
    assert counts(app) == (0, 0)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"id": 5}, ("id",)),
        ({"colour": "red"}, ("colour",)),
        ({"created_at": "2020-01-01T00:00:00Z"}, ("created_at",)),
        (
            {"variants": [{"price": {"amount": 1, "currency": "USD"}, "weight": 3}]},
            ("variants", "0", "weight"),
        ),
        (
            {"variants": [{"price": {"amount": 1, "currency": "USD"}, "in_stock": True}]},
            ("variants", "0", "in_stock"),
        ),
        ({"images": [{"url": "https://x.example/a.png", "width": 3}]}, ("images", "0", "width")),
    ],
)
def test_unknown_and_read_only_fields_are_422(
    app: Flask, api: ApiClient, change: dict[str, Any], path: tuple[str, ...]
) -> None:
    assert_error(api.post("/products", json=simple(**change)), 422, *path)
    assert counts(app) == (0, 0)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"title": 5}, ("title",)),
        ({"title": ""}, ("title",)),
        ({"title": "   "}, ("title",)),
        ({"title": "x" * 256}, ("title",)),
        ({"title": None}, ("title",)),
        ({"title": "nul\u0000"}, ("title",)),  # PostgreSQL cannot store NUL in text
        ({"description": ["a"]}, ("description",)),
        ({"description": "a\u0000"}, ("description",)),
        ({"images": [{"url": "https://x.example/a\u0000.png"}]}, ("images", "0", "url")),
        ({"vendor": 3}, ("vendor",)),
        ({"tags": "a,b"}, ("tags",)),
        ({"tags": [1]}, ("tags", "0")),
        ({"tags": [""]}, ("tags", "0")),
        ({"images": [{"url": "ftp://x.example/a.png"}]}, ("images", "0", "url")),
        ({"images": [{"url": "not a url"}]}, ("images", "0", "url")),
        ({"images": [{"alt": "no url"}]}, ("images", "0", "url")),
        ({"images": "https://x.example/a.png"}, ("images",)),
        ({"active": "true"}, ("active",)),
        ({"active": 1}, ("active",)),
        ({"variants": {}}, ("variants",)),
        ({"variants": "one"}, ("variants",)),
    ],
)
def test_wrong_types_are_422(
    app: Flask, api: ApiClient, change: dict[str, Any], path: tuple[str, ...]
) -> None:
    assert_error(api.post("/products", json=simple(**change)), 422, *path)
    assert counts(app) == (0, 0)


@pytest.mark.parametrize(
    ("variant", "field"),
    [
        ({"stock": -1}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"stock": "3"}, "stock"),
        ({"stock": 2**31}, "stock"),
        ({"requires_shipping": "yes"}, "requires_shipping"),
        ({"requires_shipping": 0}, "requires_shipping"),
        ({"active": None}, "active"),
        ({"position": -1}, "position"),
        ({"position": 1.0}, "position"),
        ({"sku": ""}, "sku"),
        ({"sku": 123}, "sku"),
        ({"sku": "x" * 101}, "sku"),
        ({"options": ["M"]}, "options"),
        ({"price": None}, "price"),
    ],
)
def test_bad_variant_fields_are_422(
    app: Flask, api: ApiClient, variant: dict[str, Any], field: str
) -> None:
    body = simple(variants=[{"price": {"amount": 1, "currency": "USD"}, **variant}])
    assert_error(api.post("/products", json=body), 422, "variants", "0", field)
    assert counts(app) == (0, 0)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"variants": [{"price": {"amount": 1, "currency": "USD"}}]}, ("title",)),
        ({"title": "Mug"}, ("variants",)),
        ({"title": "Mug", "variants": []}, ("variants",)),
        ({"title": "Mug", "variants": [{}]}, ("variants", "0", "price")),
        ({"title": "Mug", "variants": [{"sku": "A"}]}, ("variants", "0", "price")),
    ],
)
def test_missing_required_fields_are_422(
    app: Flask, api: ApiClient, body: dict[str, Any], path: tuple[str, ...]
) -> None:
    assert_error(api.post("/products", json=body), 422, *path)
    assert counts(app) == (0, 0)


def test_body_must_be_an_object(app: Flask, api: ApiClient) -> None:
    response = api.post("/products", json=[simple()])
    assert_error(response, 422)
    assert counts(app) == (0, 0)


def _variant(sku: str | None = None, **options: str) -> dict[str, Any]:
    variant: dict[str, Any] = {"options": options, "price": {"amount": 100, "currency": "USD"}}
    if sku is not None:
        variant["sku"] = sku
    return variant


@pytest.mark.parametrize(
    ("options", "variants", "path"),
    [
        # Without options: exactly one variant, without option values.
        ([], [_variant(), _variant()], ("variants", "1", "options")),
        ([], [_variant(Size="M")], ("variants", "0", "options")),
        # With options: each variant names exactly the product's options.
        (["Size"], [_variant()], ("variants", "0", "options")),
        (["Size"], [{"price": {"amount": 1, "currency": "USD"}}], ("variants", "0", "options")),
        (["Size", "Colour"], [_variant(Size="M")], ("variants", "0", "options")),
        (["Size"], [_variant(Size="M", Colour="Red")], ("variants", "0", "options")),
        (["Size"], [_variant(Colour="Red")], ("variants", "0", "options")),
        (["Size"], [_variant(Size="")], ("variants", "0", "options", "Size")),
        (["Size"], [_variant(Size="M"), _variant(Size="M")], ("variants", "1", "options")),
        # Option names: up to three, distinct, not blank, strings.
        (["A", "B", "C", "D"], [_variant(A="1", B="1", C="1", D="1")], ("options",)),
        (["Size", "Size"], [_variant(Size="M")], ("options",)),
        ([""], [_variant()], ("options", "0")),
        ([3], [_variant()], ("options", "0")),
    ],
)
def test_bad_options_are_422(
    app: Flask,
    api: ApiClient,
    options: list[Any],
    variants: list[dict[str, Any]],
    path: tuple[str, ...],
) -> None:
    body = simple(options=options, variants=variants)
    assert_error(api.post("/products", json=body), 422, *path)
    assert counts(app) == (0, 0)


def test_three_options(api: ApiClient) -> None:
    product = create(
        api,
        simple(
            options=["Size", "Colour", "Fabric"],
            variants=[
                _variant(Size="M", Colour="Red", Fabric="Linen"),
                _variant(Size="M", Colour="Red", Fabric="Cotton"),
            ],
        ),
    )
    assert [v["title"] for v in product["variants"]] == ["M / Red / Linen", "M / Red / Cotton"]


def test_duplicate_sku_in_one_request_is_422(app: Flask, api: ApiClient) -> None:
    body = simple(options=["Size"], variants=[_variant("A", Size="M"), _variant("A", Size="L")])
    result = assert_error(api.post("/products", json=body), 422, "variants", "1", "sku")
    assert "'A'" in result["errors"]["json"]["variants"]["1"]["sku"][0]
    assert counts(app) == (0, 0)


def test_sku_taken_by_another_product_is_409(app: Flask, api: ApiClient) -> None:
    create(api, shirt())
    before = counts(app)
    body = simple(
        options=["Size"], variants=[_variant("NEW", Size="S"), _variant("SHIRT-L", Size="L")]
    )
    result = assert_error(api.post("/products", json=body), 409, "variants", "1", "sku")
    assert "SHIRT-L" in result["errors"]["json"]["variants"]["1"]["sku"][0]
    assert "0" not in result["errors"]["json"]["variants"]
    assert counts(app) == before


def test_sku_is_stripped(api: ApiClient) -> None:
    product = create(
        api, simple(variants=[{"sku": " A-1 ", "price": {"amount": 1, "currency": "USD"}}])
    )
    assert product["variants"][0]["sku"] == "A-1"


def test_tags_are_stripped_and_deduplicated(api: ApiClient) -> None:
    assert create(api, simple(tags=[" a", "b", "a "]))["tags"] == ["a", "b"]


# --- request plumbing ---------------------------------------------------------------------


def test_malformed_json_is_400(app: Flask, api: ApiClient) -> None:
    response = api.post("/products", data='{"title": ', content_type="application/json")
    body = assert_error(response, 400)
    assert body["errors"] == {"json": ["Invalid JSON body."]}
    assert counts(app) == (0, 0)


def test_body_that_is_not_json_is_415(app: Flask, api: ApiClient) -> None:
    response = api.post("/products", data={"title": "Mug"})
    assert_error(response, 415)
    assert counts(app) == (0, 0)


@pytest.mark.parametrize("app_config", [{"SHOPPABLE_MAX_BODY_BYTES": 2000}])
def test_oversized_body_is_413(app: Flask, api: ApiClient) -> None:
    small = simple(description="x" * 1000)
    assert api.post("/products", json=small).status_code == 201
    big = simple("Big", description="x" * 3000)
    response = api.post("/products", json=big)
    body = assert_error(response, 413)
    assert "2000" in body["message"]
    assert counts(app) == (1, 1)


def test_unknown_product_is_404(api: ApiClient) -> None:
    for path in ("/products/999", "/products/999/variants", "/variants/999"):
        body = assert_error(api.get(path), 404)
        assert "999" in body["message"]
    # Beyond the id column's range (PostgreSQL would refuse the comparison): still a 404.
    for path in (f"/products/{2**40}", f"/variants/{2**40}", f"/products/{2**40}/variants"):
        assert_error(api.get(path), 404)
    assert_error(api.patch("/products/999", json={"title": "x"}), 404)
    assert_error(api.delete("/products/999"), 404)
    assert_error(api.post("/products/999/variants", json=_variant()), 404)


# --- listing ------------------------------------------------------------------------------


def test_list_is_paginated(app: Flask, api: ApiClient) -> None:
    for n in range(5):
        create(api, simple(f"Mug {n}"))
    response = api.get("/products?page_size=2")
    assert response.status_code == 200
    assert [p["title"] for p in response.json] == ["Mug 0", "Mug 1"]
    meta = json.loads(response.headers["X-Pagination"])
    assert meta == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 1,
        "next_page": 2,
    }
    last = api.get("/products?page_size=2&page=3")
    assert [p["title"] for p in last.json] == ["Mug 4"]
    assert json.loads(last.headers["X-Pagination"])["previous_page"] == 2
    beyond = api.get("/products?page_size=2&page=9")
    assert beyond.status_code == 200
    assert beyond.json == []


def test_list_of_nothing(api: ApiClient) -> None:
    response = api.get("/products")
    assert response.json == []
    assert json.loads(response.headers["X-Pagination"]) == {"total": 0, "total_pages": 0}


@pytest.mark.parametrize(
    "app_config", [{"SHOPPABLE_API_PAGE_SIZE": 3, "SHOPPABLE_API_MAX_PAGE_SIZE": 4}]
)
def test_page_sizes_come_from_config(app: Flask, api: ApiClient) -> None:
    for n in range(5):
        create(api, simple(f"Mug {n}"))
    assert len(api.get("/products").json) == 3
    assert len(api.get("/variants").json) == 3
    assert len(api.get("/products?page_size=4").json) == 4
    for path in ("/products?page_size=5", "/variants?page_size=5"):
        body = api.get(path).json
        assert body["code"] == 422
        assert body["errors"]["query"]["page_size"]


@pytest.mark.parametrize("query", ["page=0", "page_size=0", "page=x", "page_size=-1"])
def test_bad_page_parameters_are_422(api: ApiClient, query: str) -> None:
    response = api.get(f"/products?{query}")
    assert response.status_code == 422
    assert response.json["errors"]["query"]


def test_default_max_page_size(api: ApiClient) -> None:
    assert api.get("/products?page_size=200").status_code == 200
    assert api.get("/products?page_size=201").status_code == 422


def _titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [p["title"] for p in response.json]


def test_list_filters(api: ApiClient) -> None:
    create(api, shirt())
    create(api, simple("Blue Mug", vendor="Potter & Co", tags=["Kitchen"], description="Stoneware"))
    create(api, simple("Hidden 100% Mug", active=False, handle="hidden_mug".replace("_", "-")))

    assert _titles(api.get("/products?active=true")) == ["Linen Shirt", "Blue Mug"]
    assert _titles(api.get("/products?active=false")) == ["Hidden 100% Mug"]
    assert _titles(api.get("/products?sku=SHIRT-L")) == ["Linen Shirt"]
    assert _titles(api.get("/products?sku=shirt-l")) == []
    assert _titles(api.get("/products?sku=SHIRT")) == []
    assert _titles(api.get("/products?q=MUG")) == ["Blue Mug", "Hidden 100% Mug"]
    assert _titles(api.get("/products?q=potter")) == ["Blue Mug"]  # vendor
    assert _titles(api.get("/products?q=kitchen")) == ["Blue Mug"]  # tag
    assert _titles(api.get("/products?q=STONEWARE")) == ["Blue Mug"]  # description
    assert _titles(api.get("/products?q=hidden-mug")) == ["Hidden 100% Mug"]  # handle
    assert _titles(api.get("/products?q=100%25")) == ["Hidden 100% Mug"]  # a literal %
    assert _titles(api.get("/products?q=_")) == []  # not a LIKE wildcard
    assert _titles(api.get("/products?q=mug&active=true")) == ["Blue Mug"]
    assert api.get("/products?active=maybe").status_code == 422
    assert api.get("/products?q=%00").status_code == 422
    assert api.get("/products?sku=%00").status_code == 422


def test_search_finds_non_ascii_tags(api: ApiClient) -> None:
    create(api, simple("Bowl", tags=["café"]))
    assert _titles(api.get("/products?q=café")) == ["Bowl"]


# --- update and delete a product ----------------------------------------------------------


def test_patch_product(app: Flask, api: ApiClient) -> None:
    product = create(api, shirt())
    response = api.patch(
        f"/products/{product['id']}",
        json={"title": "Linen Shirt II", "tags": ["new"], "active": False, "handle": "linen-2"},
    )
    assert response.status_code == 200
    patched = response.json
    assert patched["title"] == "Linen Shirt II"
    assert patched["tags"] == ["new"]
    assert patched["active"] is False
    assert patched["handle"] == "linen-2"
    assert patched["vendor"] == "Harbour"  # untouched
    assert patched["variants"] == product["variants"]

    unchanged = api.patch(f"/products/{product['id']}", json={})
    assert unchanged.status_code == 200
    assert unchanged.json["title"] == "Linen Shirt II"


def test_patch_renames_options(api: ApiClient) -> None:
    product = create(api, shirt())
    response = api.patch(f"/products/{product['id']}", json={"options": ["Taille"]})
    assert response.status_code == 200
    assert [v["options"] for v in response.json["variants"]] == [{"Taille": "M"}, {"Taille": "L"}]


@pytest.mark.parametrize("options", [[], ["Size", "Colour"]])
def test_patch_cannot_add_or_remove_options(app: Flask, api: ApiClient, options: list[str]) -> None:
    product = create(api, shirt())
    response = api.patch(f"/products/{product['id']}", json={"options": options})
    body = assert_error(response, 409, "options")
    assert "renamed" in body["message"]
    assert api.get(f"/products/{product['id']}").json["options"] == ["Size"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"variants": []}, ("variants",)),
        ({"id": 3}, ("id",)),
        ({"title": None}, ("title",)),
        ({"title": ""}, ("title",)),
        ({"handle": "Not Valid"}, ("handle",)),
        ({"options": ["A", "A"]}, ("options",)),
        ({"images": [{"alt": "x"}]}, ("images", "0", "url")),
        ({"active": "no"}, ("active",)),
    ],
)
def test_patch_product_refuses_bad_input(
    api: ApiClient, change: dict[str, Any], path: tuple[str, ...]
) -> None:
    product = create(api, shirt())
    assert_error(api.patch(f"/products/{product['id']}", json=change), 422, *path)
    assert api.get(f"/products/{product['id']}").json == product


def test_patch_product_to_a_taken_handle_is_409(api: ApiClient) -> None:
    create(api, simple(handle="mug"))
    other = create(api, simple(handle="cup"))
    assert_error(api.patch(f"/products/{other['id']}", json={"handle": "mug"}), 409, "handle")
    assert api.patch(f"/products/{other['id']}", json={"handle": "cup"}).status_code == 200


def test_delete_product_cascades_to_variants(app: Flask, api: ApiClient) -> None:
    product = create(api, shirt())
    create(api, simple())
    assert counts(app) == (2, 3)
    response = api.delete(f"/products/{product['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert counts(app) == (1, 1)
    assert api.get(f"/products/{product['id']}").status_code == 404
    assert api.get(f"/variants/{product['variants'][0]['id']}").status_code == 404


# --- variants -----------------------------------------------------------------------------


def test_product_variants_routes(app: Flask, api: ApiClient) -> None:
    product = create(api, shirt())
    listed = api.get(f"/products/{product['id']}/variants")
    assert listed.status_code == 200
    assert listed.json == product["variants"]

    response = api.post(
        f"/products/{product['id']}/variants",
        json={
            "sku": "SHIRT-XL",
            "options": {"Size": "XL"},
            "price": {"amount": 5000, "currency": "USD"},
        },
    )
    assert response.status_code == 201
    variant = response.json
    assert response.headers["Location"] == f"/shop/api/variants/{variant['id']}"
    assert variant["position"] == 2
    assert variant["title"] == "XL"
    assert api.get(f"/variants/{variant['id']}").json == variant
    assert counts(app) == (1, 3)


@pytest.mark.parametrize(
    ("variant", "code", "field"),
    [
        (_variant(Size="M"), 409, "options"),  # the same values as an existing variant
        (_variant("SHIRT-M", Size="XL"), 409, "sku"),
        (_variant(Colour="Red"), 422, "options"),
        (_variant(), 422, "options"),
        ({"options": {"Size": "XL"}}, 422, "price"),
        ({**_variant(Size="XL"), "product_id": 3}, 422, "product_id"),
    ],
)
def test_add_variant_refused(
    app: Flask, api: ApiClient, variant: dict[str, Any], code: int, field: str
) -> None:
    product = create(api, shirt())
    before = counts(app)
    assert_error(api.post(f"/products/{product['id']}/variants", json=variant), code, field)
    assert counts(app) == before


def test_product_without_options_takes_no_second_variant(app: Flask, api: ApiClient) -> None:
    product = create(api, simple())
    response = api.post(f"/products/{product['id']}/variants", json=_variant())
    body = assert_error(response, 422, "options")
    assert "exactly one variant" in body["message"]
    assert counts(app) == (1, 1)


def test_list_variants_with_filters(api: ApiClient) -> None:
    shirt_product = create(api, shirt())
    mug = create(
        api,
        simple(
            variants=[{"sku": "MUG", "price": {"amount": 1, "currency": "USD"}, "active": False}]
        ),
    )

    def skus(query: str) -> list[str | None]:
        response = api.get(f"/variants{query}")
        assert response.status_code == 200
        assert "X-Pagination" in response.headers
        return [v["sku"] for v in response.json]

    assert skus("") == ["SHIRT-M", "SHIRT-L", "MUG"]
    assert skus("?sku=SHIRT-L") == ["SHIRT-L"]
    assert skus("?active=false") == ["MUG"]
    assert skus("?active=true") == ["SHIRT-M", "SHIRT-L"]
    assert skus(f"?product_id={shirt_product['id']}") == ["SHIRT-M", "SHIRT-L"]
    assert skus(f"?product_id={mug['id']}&active=true") == []
    assert skus("?page_size=1&page=2") == ["SHIRT-L"]
    meta = json.loads(api.get("/variants?page_size=1").headers["X-Pagination"])
    assert meta["total"] == 3
    assert api.get("/variants?product_id=x").status_code == 422


def test_patch_variant(api: ApiClient) -> None:
    product = create(api, shirt())
    medium = product["variants"][0]
    response = api.patch(
        f"/variants/{medium['id']}",
        json={
            "price": {"amount": 3900, "currency": "USD"},
            "stock": None,
            "sku": "SHIRT-MED",
            "options": {"Size": "Medium"},
            "requires_shipping": False,
            "position": 5,
        },
    )
    assert response.status_code == 200, response.json
    patched = response.json
    assert patched["price"]["formatted"] == "39.00"
    assert patched["compare_at_price"]["amount"] == 6000  # untouched
    assert patched["stock"] is None
    assert patched["sku"] == "SHIRT-MED"
    assert patched["title"] == "Medium"
    assert patched["requires_shipping"] is False
    assert patched["position"] == 5
    listed = api.get(f"/products/{product['id']}/variants").json
    assert [v["sku"] for v in listed] == ["SHIRT-L", "SHIRT-MED"]

    cleared = api.patch(f"/variants/{medium['id']}", json={"compare_at_price": None, "sku": None})
    assert cleared.json["compare_at_price"] is None
    assert cleared.json["sku"] is None


def test_patch_variant_currency_change_needs_compare_at_too(api: ApiClient) -> None:
    medium = create(api, shirt())["variants"][0]
    path = f"/variants/{medium['id']}"
    assert_error(
        api.patch(path, json={"price": {"amount": 1, "currency": "EUR"}}), 422, "compare_at_price"
    )
    assert_error(
        api.patch(path, json={"compare_at_price": {"amount": 1, "currency": "EUR"}}),
        422,
        "compare_at_price",
    )
    response = api.patch(
        path,
        json={
            "price": {"amount": 1, "currency": "EUR"},
            "compare_at_price": {"amount": 2, "currency": "EUR"},
        },
    )
    assert response.status_code == 200
    assert response.json["compare_at_price"] == {
        "amount": 2,
        "currency": "EUR",
        "formatted": "0.02",
    }


@pytest.mark.parametrize(
    ("change", "code", "path"),
    [
        ({"price": {"amount": 5}}, 422, ("price", "currency")),
        ({"price": {"currency": "USD"}}, 422, ("price", "amount")),
        ({"price": None}, 422, ("price",)),
        ({"stock": -2}, 422, ("stock",)),
        ({"options": {"Size": "L"}}, 409, ("options",)),  # the large one has it
        ({"options": {"Colour": "Red"}}, 422, ("options",)),
        ({"sku": "SHIRT-L"}, 409, ("sku",)),
        ({"id": 1}, 422, ("id",)),
        ({"title": "x"}, 422, ("title",)),
    ],
)
def test_patch_variant_refused(
    api: ApiClient, change: dict[str, Any], code: int, path: tuple[str, ...]
) -> None:
    product = create(api, shirt())
    medium = product["variants"][0]
    assert_error(api.patch(f"/variants/{medium['id']}", json=change), code, *path)
    assert api.get(f"/variants/{medium['id']}").json == medium


def test_patch_variant_keeps_its_own_sku_and_options(api: ApiClient) -> None:
    medium = create(api, shirt())["variants"][0]
    response = api.patch(
        f"/variants/{medium['id']}", json={"sku": "SHIRT-M", "options": {"Size": "M"}}
    )
    assert response.status_code == 200


def test_delete_variant_but_not_the_last(app: Flask, api: ApiClient) -> None:
    medium, large = create(api, shirt())["variants"]
    assert api.delete(f"/variants/{medium['id']}").status_code == 204
    assert counts(app) == (1, 1)
    body = assert_error(api.delete(f"/variants/{large['id']}"), 409)
    assert "last variant" in body["message"]
    assert counts(app) == (1, 1)
    # The freed SKU and option values can be used again.
    response = api.post(
        f"/products/{large['product_id']}/variants", json=_variant("SHIRT-M", Size="M")
    )
    assert response.status_code == 201


# --- one way to validate, and nothing half-written -----------------------------------------


def test_service_takes_what_the_schema_loaded(app: Flask, api: ApiClient) -> None:
    """The service is usable without HTTP (the importer and the seeder call it)."""
    create(api, shirt())
    data = ProductSchema().load(
        simple(variants=[{"sku": "SHIRT-M", "price": {"amount": 1, "currency": "USD"}}])
    )
    before = counts(app)
    with app.extensions["shoppable"].session_factory() as session:
        with pytest.raises(service.CatalogError) as caught:
            service.create_product(session, data)
        assert caught.value.status == 409
        assert caught.value.errors == {
            "variants": {0: {"sku": [service.sku_taken_message("SHIRT-M", 1, "linen-shirt")]}}
        }
    assert counts(app) == before


@pytest.mark.postgresql_only
def test_concurrent_duplicate_sku_is_409(app: Flask, api: ApiClient) -> None:
    """Two writers pass the check at once; the unique constraint stops the second."""
    data = ProductSchema().load(
        simple("First", variants=[{"sku": "RACE", "price": {"amount": 1, "currency": "USD"}}])
    )
    factory = app.extensions["shoppable"].session_factory
    with factory() as first:
        service.create_product(first, data, commit=False)  # flushed, holds the row lock
        timer = threading.Timer(1.0, first.commit)
        timer.start()
        try:
            # The check does not see the uncommitted row; the INSERT waits for the first
            # transaction, then fails on the unique constraint once it commits.
            response = api.post(
                "/products",
                json=simple(
                    "Second", variants=[{"sku": "RACE", "price": {"amount": 1, "currency": "USD"}}]
                ),
            )
        finally:
            timer.join()
    body = assert_error(response, 409, "variants", "0", "sku")
    assert "RACE" in body["errors"]["json"]["variants"]["0"]["sku"][0]
    assert counts(app) == (1, 1)


# --- the OpenAPI document -----------------------------------------------------------------


def test_openapi_document_is_valid_and_documents_the_catalog(client: FlaskClient) -> None:
    spec = client.get("/shop/api/openapi.json").json
    validate_openapi(deepcopy(spec))
    schemas = spec["components"]["schemas"]
    for name in ("Product", "ProductUpdate", "Variant", "VariantUpdate", "Money", "Image", "Error"):
        assert name in schemas
    assert schemas["Money"]["properties"]["amount"]["type"] == "integer"
    assert schemas["Money"]["properties"]["formatted"]["readOnly"] is True
    assert schemas["Product"]["additionalProperties"] is False
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "shp_... API key",
    }
    assert spec["security"] == [{"bearerAuth": []}]
    paths = spec["paths"]
    for path, methods in {
        "/shop/api/products": {"get", "post"},
        "/shop/api/products/{product_id}": {"get", "patch", "delete"},
        "/shop/api/products/{product_id}/variants": {"get", "post"},
        "/shop/api/variants": {"get"},
        "/shop/api/variants/{variant_id}": {"get", "patch", "delete"},
    }.items():
        assert methods <= set(paths[path]), path
    listing = paths["/shop/api/products"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"active", "sku", "q", "page", "page_size"} <= names
    assert "X-Pagination" in listing["responses"]["200"]["headers"]
    assert "409" in paths["/shop/api/products"]["post"]["responses"]
