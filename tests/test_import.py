"""``flask shoppable import-products`` at the CLI, on SQLite and PostgreSQL.

The fixtures in tests/data/ are Shopify-style exports: a good one (multi-variant, images,
a multi-line Body cell, a per-row currency) and broken ones. Every refused import is
checked for naming each bad line and for leaving the tables exactly as they were.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask

from flask_shoppable.catalog import service
from flask_shoppable.catalog.models import Product, Variant
from flask_shoppable.catalog.schemas import ProductSchema

from .conftest import ApiClient

DATA = Path(__file__).parent / "data"


def run_import(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["shoppable", "import-products", *args])


def counts(app: Flask) -> tuple[int, int]:
    with app.extensions["shoppable"].engine.connect() as conn:
        products = conn.scalar(sa.select(sa.func.count()).select_from(Product))
        variants = conn.scalar(sa.select(sa.func.count()).select_from(Variant))
    return int(products or 0), int(variants or 0)


def product(api: ApiClient, handle: str) -> dict[str, Any]:
    response = api.get(f"/products?q={handle}")
    (found,) = [p for p in response.json if p["handle"] == handle]
    return found


def problem_lines(result: Result) -> dict[int, list[str]]:
    """``{line: [message, ...]}`` from the command's error output."""
    lines: dict[int, list[str]] = {}
    for text in result.stderr.splitlines():
        if ": line " not in text:
            continue
        _file, _, rest = text.partition(": line ")
        number, _, message = rest.partition(": ")
        lines.setdefault(int(number), []).append(message)
    return lines


# --- a good file ----------------------------------------------------------------------------


def test_imports_a_shopify_export(app: Flask, api: ApiClient) -> None:
    result = run_import(app, str(DATA / "products_good.csv"))
    assert result.exit_code == 0, result.output
    assert "Imported 3 products with 7 variants" in result.stdout
    assert counts(app) == (3, 7)

    shirt = product(api, "linen-shirt")
    assert shirt["title"] == "Linen Shirt"
    assert shirt["description"] == "<p>Breathable linen.</p>\n<p>Made in Portugal, café-dyed.</p>"
    assert shirt["vendor"] == "Harbour & Pine"
    assert shirt["product_type"] == "Shirts"
    assert shirt["tags"] == ["summer", "linen", "new"]
    assert shirt["active"] is True
    assert shirt["options"] == ["Size", "Colour"]
    assert shirt["images"] == [
        {"url": "https://cdn.example.com/linen-front.jpg", "alt": "Linen shirt, front"},
        {"url": "https://cdn.example.com/linen-back.jpg", "alt": "Linen shirt, back"},
        {"url": "https://cdn.example.com/linen-detail.jpg", "alt": ""},
    ]
    variants = shirt["variants"]
    assert [v["title"] for v in variants] == ["S / Sand", "M / Sand", "S / Navy", "M / Navy"]
    assert [v["sku"] for v in variants] == ["LS-S-SAND", "LS-M-SAND", "LS-S-NAVY", "LS-M-NAVY"]
    assert [v["stock"] for v in variants] == [5, 0, 12, None]  # blank tracker: unlimited
    assert [v["in_stock"] for v in variants] == [True, False, True, True]
    assert [v["price"]["amount"] for v in variants] == [4500, 4500, 4750, 4750]
    assert variants[0]["price"]["currency"] == "USD"
    assert variants[0]["compare_at_price"]["formatted"] == "60.00"
    assert variants[2]["compare_at_price"] is None
    assert [v["position"] for v in variants] == [0, 1, 2, 3]

    mug = product(api, "ceramic-mug")
    assert mug["options"] == []  # Shopify's "Title / Default Title"
    assert mug["active"] is False  # Status draft
    assert mug["product_type"] == "Mugs"  # last level of Product Category
    (default,) = mug["variants"]
    assert default["title"] == "Default"
    assert default["stock"] is None
    assert default["price"] == {"amount": 1800, "currency": "USD", "formatted": "18.00"}

    card = product(api, "gift-card")
    assert card["active"] is False  # Published FALSE
    assert [v["price"]["formatted"] for v in card["variants"]] == ["5000", "10000"]
    assert {v["price"]["currency"] for v in card["variants"]} == {"JPY"}
    assert {v["requires_shipping"] for v in card["variants"]} == {False}


def test_currency_option(app: Flask, api: ApiClient) -> None:
    result = run_import(app, str(DATA / "products_good.csv"), "--currency", "eur")
    assert result.exit_code == 0, result.output
    assert product(api, "linen-shirt")["variants"][0]["price"]["currency"] == "EUR"
    assert product(api, "gift-card")["variants"][0]["price"]["currency"] == "JPY"  # per row


@pytest.mark.parametrize("app_config", [{"SHOPPABLE_DEFAULT_CURRENCY": "KWD"}])
def test_default_currency_comes_from_config(app: Flask, api: ApiClient) -> None:
    assert run_import(app, str(DATA / "products_bom.csv")).exit_code == 0
    price = product(api, "tote-bag")["variants"][0]["price"]
    assert price == {"amount": 12500, "currency": "KWD", "formatted": "12.500"}


def test_unknown_currency_option_is_refused(app: Flask) -> None:
    result = run_import(app, str(DATA / "products_good.csv"), "--currency", "XXX")
    assert result.exit_code == 2
    assert "--currency" in result.output
    assert counts(app) == (0, 0)


def test_bom_crlf_and_no_tracker_column(app: Flask, api: ApiClient) -> None:
    result = run_import(app, str(DATA / "products_bom.csv"))
    assert result.exit_code == 0, result.output
    assert counts(app) == (2, 2)
    tote = product(api, "tote-bag")
    assert tote["variants"][0]["stock"] == 7  # no tracker column: a quantity means tracked
    assert tote["variants"][0]["sku"] == "TOTE-1"
    towel = product(api, "tea-towel")
    assert towel["variants"][0]["stock"] is None
    assert towel["variants"][0]["sku"] is None


def test_dry_run_writes_nothing(app: Flask) -> None:
    result = run_import(app, str(DATA / "products_good.csv"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "3 products with 7 variants would be imported" in result.stdout
    assert counts(app) == (0, 0)


# --- refused files --------------------------------------------------------------------------


#: Line → the column each problem on it names (tests/data/products_bad_rows.csv).
BAD_ROWS: dict[int, str] = {
    4: "Variant Price",  # 12.345 USD
    5: "Variant SKU",  # the same SKU as line 2, same product
    6: "Option values",  # the same option values as line 2
    7: "Image Src",  # ftp://
    8: "Variant Inventory Qty",  # -3
    9: "Variant Inventory Qty",  # "lots"
    10: "Handle",  # "Bad Handle"
    11: "Title",  # blank
    12: "Handle",  # empty
    13: "Status",  # "sold"
    14: "Published",  # "maybe"
    15: "Variant Currency",  # XYZ
    16: "Variant Price",  # 10.5 JPY
    17: "Variant Price",  # -1
    18: "Variant Price",  # "free"
    19: "Variant Price",  # a product with no variant row
    20: "Variant SKU",  # G-S again, another product
    21: "Variant Requires Shipping",  # "perhaps"
    22: "Option2 Value",  # a value without a name
    23: "Option1 Name",  # Option2 Name without Option1 Name
    24: "Variant Compare At Price",  # "abc"
    26: "Option values",  # a second variant of a product without options
    27: "Option value for 'Size'",  # blank
    28: "",  # more cells than columns
    30: "Handle",  # already in the database
    31: "Variant Price",  # a variant row without a price
}


def test_every_bad_row_is_reported_and_nothing_written(app: Flask, api: ApiClient) -> None:
    taken = api.post(
        "/products",
        json={
            "title": "Taken",
            "handle": "db-taken",
            "variants": [{"price": {"amount": 1, "currency": "USD"}}],
        },
    )
    assert taken.status_code == 201
    before = counts(app)

    result = run_import(app, str(DATA / "products_bad_rows.csv"))
    assert result.exit_code == 1
    reported = problem_lines(result)
    assert set(reported) == set(BAD_ROWS), result.stderr
    for line, column in BAD_ROWS.items():
        if column:
            assert any(m.startswith(f"{column}: ") for m in reported[line]), (line, reported[line])
    assert "line 2" in reported[5][0]  # the duplicate names the first line
    assert "line 2" in reported[6][0]
    assert "line 2" in reported[20][0]
    assert "nothing was imported" in result.stderr
    assert f"{sum(len(m) for m in reported.values())} problems" in result.stderr
    assert counts(app) == before  # the valid products (good-mug) were not written either


def test_a_handle_already_in_the_database_is_an_error(app: Flask) -> None:
    assert run_import(app, str(DATA / "products_good.csv")).exit_code == 0
    before = counts(app)
    result = run_import(app, str(DATA / "products_good.csv"))
    assert result.exit_code == 1
    reported = problem_lines(result)
    assert any("'linen-shirt' already exists" in m for m in reported[2])
    assert any("'ceramic-mug' already exists" in m for m in reported[8])
    assert any("'gift-card' already exists" in m for m in reported[9])
    assert any("LS-M-SAND" in m for m in reported[4])  # and each SKU
    assert counts(app) == before


def test_not_utf8_names_the_line(app: Flask) -> None:
    result = run_import(app, str(DATA / "products_latin1.csv"))
    assert result.exit_code == 1
    reported = problem_lines(result)
    assert list(reported) == [3]
    assert "not UTF-8" in reported[3][0]
    assert "0xE9" in reported[3][0]
    assert counts(app) == (0, 0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("products_missing_columns.csv", "missing required column(s): Title, Variant Price"),
        ("products_semicolons.csv", "';' between columns"),
        ("products_empty.csv", "the file is empty"),
        ("products_header_only.csv", "no product rows"),
    ],
)
def test_unusable_files(app: Flask, name: str, expected: str) -> None:
    result = run_import(app, str(DATA / name))
    assert result.exit_code == 1
    assert expected in result.stderr
    assert "nothing was imported" in result.stderr
    assert counts(app) == (0, 0)


def test_missing_file_is_a_usage_error(app: Flask, tmp_path: Path) -> None:
    result = run_import(app, str(tmp_path / "nope.csv"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'mug,Mug,1.00\ncup,"Cup"s,2.00\n', "line 3: this is not valid CSV"),
        (b'mug,Mug,1.00\ncup,"Cup,2.00\nbowl,Bowl,3.00\n', "line 3: this is not valid CSV"),
        (b"mug,Mug,1.00\ncup,Cup\x00,2.00\n", "line 3: Title: Must not contain NUL"),
        (b"mug,Mug,1.00\ncu\x00p,Cup,2.00\n", "line 3: Handle: Must not contain NUL"),
    ],
)
def test_broken_cells_name_the_line(app: Flask, tmp_path: Path, body: bytes, expected: str) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(b"Handle,Title,Variant Price\n" + body)
    result = run_import(app, str(path))
    assert result.exit_code == 1
    assert expected in result.stderr
    assert counts(app) == (0, 0)


# --- all or nothing, and size -----------------------------------------------------------------


@pytest.mark.postgresql_only
def test_a_conflict_while_writing_rolls_back_everything(app: Flask) -> None:
    """A concurrent writer takes a SKU after the checks passed: nothing is written."""
    other = ProductSchema().load(
        {
            "title": "Other Mug",
            "variants": [{"sku": "MUG-1", "price": {"amount": 1, "currency": "USD"}}],
        }
    )
    with app.extensions["shoppable"].session_factory() as first:
        service.create_product(first, other, commit=False)  # holds MUG-1, uncommitted
        timer = threading.Timer(1.0, first.commit)
        timer.start()
        try:
            result = run_import(app, str(DATA / "products_good.csv"))
        finally:
            timer.join()
    assert result.exit_code == 1
    reported = problem_lines(result)
    assert list(reported) == [8]  # ceramic-mug's row, the one with MUG-1
    assert "MUG-1" in reported[8][0]
    assert counts(app) == (1, 1)  # the other writer's product only: linen-shirt rolled back


def _write_long_file(path: Path, products: int) -> int:
    """A file of ``products`` products with 3 variants and 1 extra image each."""
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = "Handle,Title,Option1 Name,Option1 Value,Variant SKU,Variant Price"
        header += ",Variant Inventory Tracker,Variant Inventory Qty,Image Src"
        writer.writerow(header.split(","))
        for n in range(products):
            handle_name = f"product-{n}"
            for i, size in enumerate(("S", "M", "L")):
                first = i == 0
                writer.writerow(
                    [
                        handle_name,
                        f"Product {n}" if first else "",
                        "Size" if first else "",
                        size,
                        f"SKU-{n}-{size}",
                        f"{n % 50 + 1}.99",
                        "shopify",
                        str(n % 7),
                        f"https://cdn.example.com/{n}.jpg" if first else "",
                    ]
                )
                rows += 1
            writer.writerow(
                [handle_name, "", "", "", "", "", "", "", f"https://cdn.example.com/{n}-b.jpg"]
            )
            rows += 1
    return rows


def test_a_long_file(app: Flask, api: ApiClient, tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    rows = _write_long_file(path, 1000)
    assert rows == 4000
    result = run_import(app, str(path))
    assert result.exit_code == 0, result.output
    assert "Imported 1000 products with 3000 variants" in result.stdout
    assert "Importing products" in result.stderr  # the progress bar, on stderr
    assert counts(app) == (1000, 3000)
    last = product(api, "product-999")
    assert [v["sku"] for v in last["variants"]] == ["SKU-999-S", "SKU-999-M", "SKU-999-L"]
    assert len(last["images"]) == 2


def test_a_long_file_with_one_bad_row_writes_nothing(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    _write_long_file(path, 1000)
    text = path.read_text(encoding="utf-8").replace("SKU-998-M,49.99", "SKU-998-M,49.999")
    path.write_text(text, encoding="utf-8")
    result = run_import(app, str(path))
    assert result.exit_code == 1
    assert list(problem_lines(result)) == [998 * 4 + 3]  # header + 4 rows per product
    assert counts(app) == (0, 0)


def test_the_storefront_example_file_imports(app: Flask) -> None:
    example = Path(__file__).parent.parent / "examples" / "storefront" / "products.csv"
    result = run_import(app, str(example))
    assert result.exit_code == 0, result.output
    assert "Imported 3 products with 6 variants" in result.stdout
