"""Catalog feeds (Meta CSV, Google Merchant RSS) over HTTP, parsed back, on both backends."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.social import feeds
from flask_shoppable.social.models import TrackedLink
from tests.pages_data import look, make_product

BASE = "http://localhost"
G = "{http://base.google.com/ns/1.0}"


def meta_rows(client: FlaskClient, query: str = "") -> tuple[list[str], list[dict[str, str]]]:
    response = client.get(f"/shop/feeds/meta.csv{query}")
    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    reader = csv.DictReader(io.StringIO(response.get_data(as_text=True), newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def google_items(client: FlaskClient, query: str = "") -> tuple[ET.Element, list[ET.Element]]:
    response = client.get(f"/shop/feeds/google.xml{query}")
    assert response.status_code == 200
    assert response.content_type == "application/xml; charset=utf-8"
    root = ET.fromstring(response.data)  # noqa: S314 (our own feed)
    return root, root.findall("./channel/item")


def links_by_product(session: Session) -> dict[tuple[int | None, str], TrackedLink]:
    session.expire_all()
    return {(link.product_id, link.channel): link for link in session.scalars(select(TrackedLink))}


def test_meta_csv(client: FlaskClient, session: Session) -> None:
    data = look(session)
    shirt, cap, mug = data["shirt"], data["cap"], data["mug"]
    make_product(session, "retired", active=False)
    make_product(session, "hidden-variant", variants=[{"sku": "HID", "active": False}])
    session.commit()

    columns, rows = meta_rows(client)
    assert columns == [
        "id",
        "title",
        "description",
        "availability",
        "condition",
        "price",
        "sale_price",
        "link",
        "image_link",
        "brand",
        "item_group_id",
        "size",
        "color",
    ]
    assert [r["id"] for r in rows] == [
        "SHIRT-S",
        "SHIRT-M",
        "SHIRT-L",
        f"variant-{cap.variants[0].id}",
        f"variant-{mug.variants[0].id}",
    ]
    by_id = {r["id"]: r for r in rows}
    links = links_by_product(session)
    shirt_link = links[(shirt.id, "facebook")]
    assert by_id["SHIRT-S"] == {
        "id": "SHIRT-S",
        "title": "Linen Shirt - S",
        "description": "Breathable linen. Made in Portugal.",
        "availability": "out of stock",
        "condition": "new",
        "price": "49.00 USD",
        "sale_price": "",
        "link": f"{BASE}/shop/s/{shirt_link.code}",
        "image_link": f"{BASE}/img/linen-shirt.svg",
        "brand": "Harbour & Pine",
        "item_group_id": "linen-shirt",
        "size": "S",
        "color": "",
    }
    assert by_id["SHIRT-M"]["availability"] == "in stock"
    # On sale: price is the regular price, sale_price what the shopper pays.
    assert (by_id["SHIRT-L"]["price"], by_id["SHIRT-L"]["sale_price"]) == ("60.00 USD", "54.00 USD")
    assert by_id["SHIRT-L"]["availability"] == "in stock"  # not stock-tracked
    cap_row = by_id[f"variant-{cap.variants[0].id}"]
    assert cap_row["item_group_id"] == ""  # a product without variants is not a group
    assert cap_row["title"] == "Canvas Cap"
    assert cap_row["description"] == "Canvas Cap"  # required: falls back to the title
    assert cap_row["brand"] == "Shop"
    assert by_id[f"variant-{mug.variants[0].id}"]["availability"] == "out of stock"

    assert (shirt_link.target, shirt_link.utm_source, shirt_link.utm_medium) == (
        "product",
        "facebook",
        "social",
    )
    assert shirt_link.utm_content == feeds.FEED_UTM_CONTENT
    assert shirt_link.active
    assert {channel for (_pid, channel) in links} == {"facebook"}
    assert len(links) == 3  # one per listed product, none for the left-out ones


def test_feed_links_are_minted_once_and_reused(client: FlaskClient, session: Session) -> None:
    look(session)
    _, first = meta_rows(client)
    _, again = meta_rows(client)
    assert [r["link"] for r in first] == [r["link"] for r in again]
    assert len(links_by_product(session)) == 3
    _, instagram = meta_rows(client, "?channel=instagram")
    assert {r["link"] for r in instagram}.isdisjoint({r["link"] for r in first})
    channels = {channel for (_pid, channel) in links_by_product(session)}
    assert channels == {"facebook", "instagram"}
    _, other = meta_rows(client, "?channel=tiktok")  # not a channel this feed serves
    assert [r["link"] for r in other] == [r["link"] for r in first]


def test_feed_link_redirects_to_the_product_page(client: FlaskClient, session: Session) -> None:
    look(session)
    _, rows = meta_rows(client)
    path = rows[0]["link"].removeprefix(BASE)
    response = client.get(path, headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile Safari"})
    assert response.status_code == 302
    assert response.headers["Location"].split("?")[0].endswith("/shop/products/linen-shirt")


def test_google_xml(client: FlaskClient, session: Session) -> None:
    data = look(session)
    shirt = data["shirt"]
    root, items = google_items(client)
    assert root.tag == "rss"
    assert root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("title") == "Shop"
    assert channel.findtext("link") == f"{BASE}/shop/"
    assert channel.findtext("description")

    def fields(item: ET.Element) -> dict[str, Any]:
        return {child.tag.replace(G, "g:"): child.text for child in item}

    parsed = [fields(item) for item in items]
    assert [p["g:id"] for p in parsed][:3] == ["SHIRT-S", "SHIRT-M", "SHIRT-L"]
    link = links_by_product(session)[(shirt.id, "other")]
    assert parsed[0] == {
        "g:id": "SHIRT-S",
        "title": "Linen Shirt - S",
        "description": "Breathable linen. Made in Portugal.",
        "link": f"{BASE}/shop/s/{link.code}",
        "g:image_link": f"{BASE}/img/linen-shirt.svg",
        "g:availability": "out_of_stock",
        "g:price": "49.00 USD",
        "g:condition": "new",
        "g:brand": "Harbour & Pine",
        "g:item_group_id": "linen-shirt",
        "g:size": "S",
    }
    assert parsed[1]["g:availability"] == "in_stock"
    assert (parsed[2]["g:price"], parsed[2]["g:sale_price"]) == ("60.00 USD", "54.00 USD")
    cap = parsed[3]
    assert "g:item_group_id" not in cap
    assert cap["g:brand"] == "Shop"
    assert (link.utm_source, link.utm_medium) == ("other", "referral")

    _, pinterest = google_items(client, "?channel=pinterest")
    assert links_by_product(session)[(shirt.id, "pinterest")].code in pinterest[0].findtext(
        "link", ""
    )


def test_feeds_survive_hostile_product_data(client: FlaskClient, session: Session) -> None:
    make_product(
        session,
        "weird",
        title='Shirt, "quoted" <b>&amp;</b>\x08\x0b\x1f',
        description="Line one\r\nline two,\ttabbed ]]> <![CDATA[",
        vendor="A & B <Co>",
        options=["Colour", "Size"],
        variants=[{"sku": "W-1", "options": ["Red, dark", "M"], "price": 100, "currency": "JPY"}],
        images=[{"url": "javascript:alert(1)"}],
    )
    session.commit()
    _, rows = meta_rows(client)
    (row,) = rows
    assert row["title"] == 'Shirt, "quoted" <b>&amp;</b>'
    assert row["description"] == "Line one line two, tabbed ]]> <![CDATA["
    assert row["price"] == "100 JPY"
    assert row["color"] == "Red, dark"
    assert row["size"] == "M"
    assert row["image_link"] == ""
    assert row["brand"] == "A & B <Co>"
    _, items = google_items(client)
    (item,) = items
    assert item.findtext("title") == 'Shirt, "quoted" <b>&amp;</b>'
    assert item.findtext(f"{G}brand") == "A & B <Co>"
    assert item.findtext(f"{G}color") == "Red, dark"
    assert item.find(f"{G}image_link") is None


def test_empty_feeds(client: FlaskClient) -> None:
    columns, rows = meta_rows(client)
    assert columns[0] == "id"
    assert rows == []
    _, items = google_items(client)
    assert items == []


@pytest.mark.parametrize(
    "name", ["meta.xml", "google.csv", "tiktok.csv", "..%2Fconfig", "META.CSV", ""]
)
def test_unknown_feed_is_404(client: FlaskClient, name: str) -> None:
    assert client.get(f"/shop/feeds/{name}").status_code == 404


@pytest.mark.parametrize("app_config", [{"SHOPPABLE_PUBLIC_URL": "https://shop.example.com"}])
def test_feed_urls_use_the_public_url(client: FlaskClient, session: Session) -> None:
    look(session)
    _, rows = meta_rows(client)
    assert all(r["link"].startswith("https://shop.example.com/shop/s/") for r in rows)
    assert rows[0]["image_link"] == "https://shop.example.com/img/linen-shirt.svg"
