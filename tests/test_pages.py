"""The storefront, post and product pages over HTTP, on SQLite and PostgreSQL.

Preview tags are read back with extruct (the Open Graph and JSON-LD extractor many
crawlers build on) and with the standard library's HTML parser, never with regexes.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import extruct
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.social.seo import json_ld
from flask_shoppable.tracking import tokens
from flask_shoppable.tracking.models import Interaction
from tests.conftest import ApiClient
from tests.pages_data import look, make_post, make_product

BASE = "http://localhost"


class Page(HTMLParser):
    """The parts of a page the tests look at: meta/link tags, elements by attribute."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, list[str]] = {}
        self.links: list[dict[str, str]] = []
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.elements.append((tag, values))
        if tag == "meta":
            key = values.get("property") or values.get("name")
            if key:
                self.meta.setdefault(key, []).append(values.get("content", ""))
        elif tag == "link":
            self.links.append(values)
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if not self._in_script:
            self.text.append(data)

    def one(self, key: str) -> str:
        values = self.meta.get(key, [])
        assert len(values) == 1, f"{key}: {values}"
        return values[0]

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.elements
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def body_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def get_page(client: FlaskClient, path: str) -> tuple[Any, Page]:
    response = client.get(path)
    return response, Page(response.get_data(as_text=True))


def extract(html: str, url: str) -> dict[str, Any]:
    return extruct.extract(html, base_url=url, syntaxes=["opengraph", "json-ld"], uniform=True)


def assert_not_frameable(response: Any) -> None:
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# --- storefront --------------------------------------------------------------------------


def test_storefront_lists_published_posts_newest_first(
    client: FlaskClient, session: Session
) -> None:
    product = make_product(session, "tee")
    make_post(session, "older", caption="Older", tags=[(product, 10, 10)], age_days=5)
    make_post(session, "newest", caption="Newest", tags=[(product, 10, 10)], age_days=1)
    make_post(session, "middle", caption="Middle", age_days=3)
    make_post(session, "a-draft", caption="Draft", status="draft")
    make_post(session, "gone", caption="Archived", status="archived")
    session.commit()

    response, page = get_page(client, "/shop/")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert_not_frameable(response)
    hrefs = [a["href"] for a in page.find("a", **{"class": "tile__link"})]
    assert hrefs == ["/shop/p/newest", "/shop/p/middle", "/shop/p/older"]
    assert "Draft" not in page.body_text()
    assert page.one("og:type") == "website"
    assert page.one("og:url") == f"{BASE}/shop/"
    assert page.one("og:image") == f"{BASE}/img/post-newest.svg"
    assert page.one("og:site_name") == "Shop"
    assert page.one("twitter:card") == "summary_large_image"


@pytest.mark.parametrize("app_config", [{"SHOPPABLE_POSTS_PER_PAGE": 2}])
def test_storefront_pages_and_bad_page_numbers(client: FlaskClient, session: Session) -> None:
    for i in range(5):
        make_post(session, f"post-{i}", caption=f"Post {i}", age_days=i)
    session.commit()

    _, first = get_page(client, "/shop/")
    assert [a["href"] for a in first.find("a", rel="next")] == ["/shop/?page=2"]
    assert [link["href"] for link in first.links if link.get("rel") == "next"] == [
        f"{BASE}/shop/?page=2"
    ]
    _, third = get_page(client, "/shop/?page=3")
    assert [a["href"] for a in third.find("a", **{"class": "tile__link"})] == ["/shop/p/post-4"]
    assert [a["href"] for a in third.find("a", rel="prev")] == ["/shop/?page=2"]
    assert third.find("a", rel="next") == []
    _, second = get_page(client, "/shop/?page=2")
    assert [a["href"] for a in second.find("a", rel="prev")] == ["/shop/"]

    assert client.get("/shop/?page=4").status_code == 404
    for junk in ("abc", "-1", "0", "1e9", "99999999999999999999", "%00"):
        response = client.get(f"/shop/?page={junk}")
        assert response.status_code in (200, 404), junk
    assert client.get("/shop/?page=abc").status_code == 200


def test_storefront_carries_the_attribution_token_into_post_links(
    client: FlaskClient, session: Session
) -> None:
    make_post(session, "one")
    session.commit()
    _, page = get_page(client, "/shop/?st=abc.DEF_123-x")
    assert [a["href"] for a in page.find("a", **{"class": "tile__link"})] == [
        "/shop/p/one?st=abc.DEF_123-x"
    ]
    _, page = get_page(client, '/shop/?st="><script>')
    assert [a["href"] for a in page.find("a", **{"class": "tile__link"})] == ["/shop/p/one"]


def test_empty_storefront(client: FlaskClient) -> None:
    response, page = get_page(client, "/shop/")
    assert response.status_code == 200
    assert "Nothing here yet" in page.body_text()
    assert page.one("twitter:card") == "summary"
    assert "og:image" not in page.meta


# --- post page -----------------------------------------------------------------------------


def test_post_page_shows_image_hotspots_products_and_the_buy_form(
    client: FlaskClient, session: Session
) -> None:
    data = look(session)
    shirt, cap, mug = data["shirt"], data["cap"], data["mug"]
    response, page = get_page(client, "/shop/p/summer-look?st=tok_1")
    assert response.status_code == 200
    assert_not_frameable(response)

    (image,) = page.find("img", **{"class": "media__img"})
    assert image["src"] == f"{BASE}/img/post-summer-look.svg"
    assert image["alt"] == "A person in a linen shirt and a canvas cap on a pier"

    hotspots = page.find("button", **{"class": "hotspot"})
    assert [(h["aria-label"], h["style"]) for h in hotspots] == [
        ("Linen Shirt, 49.00 USD", "left: 30.00%; top: 40.00%"),
        ("Canvas Cap, 25.00 USD", "left: 70.50%; top: 12.25%"),
    ]  # the mug's tag has no position: listed, not pinned
    assert all(h["type"] == "button" for h in hotspots)

    (form,) = page.find("form")
    assert form["method"] == "post"
    assert form["action"] == "/shop/checkout"
    assert page.find("input", name="st") == [{"type": "hidden", "name": "st", "value": "tok_1"}]
    assert page.find("input", name="post")[0]["value"] == "summer-look"
    picks = page.find("input", name="product")
    assert [p["value"] for p in picks] == [str(shirt.id), str(cap.id), str(mug.id)]
    assert all(p["type"] == "checkbox" for p in picks)
    assert "disabled" in picks[2]  # the mug is sold out
    assert all("checked" not in p for p in picks)
    # Every enabled pick has a label naming its product.
    labels = {a.get("for") for a in page.find("label")}
    assert {f"pick-{shirt.id}", f"variant-{shirt.id}", f"quantity-{shirt.id}"} <= labels

    options = [a for t, a in page.elements if t == "option"]
    by_variant = {v.sku: v.id for v in shirt.variants}
    assert [(o["value"], "disabled" in o, "selected" in o) for o in options] == [
        (str(by_variant["SHIRT-S"]), True, False),  # sold out
        (str(by_variant["SHIRT-M"]), False, True),  # the first one in stock
        (str(by_variant["SHIRT-L"]), False, False),
    ]
    (quantity,) = page.find("input", name=f"quantity-{shirt.id}")
    assert (quantity["type"], quantity["min"], quantity["max"], quantity["value"]) == (
        "number",
        "1",
        "3",
        "1",
    )
    assert page.find("input", name=f"variant-{cap.id}")[0]["value"] == str(cap.variants[0].id)

    text = page.body_text()
    assert "Linen Shirt" in text
    assert "49.00 USD" in text
    assert "Only 3 left" in text
    assert "Sold out" in text
    assert page.find("a", href="/shop/products/linen-shirt?st=tok_1")


def test_a_single_product_post_is_preselected(client: FlaskClient, session: Session) -> None:
    product = make_product(session, "only-one")
    make_post(session, "solo", tags=[(product, 50, 50)])
    session.commit()
    _, page = get_page(client, "/shop/p/solo")
    (pick,) = page.find("input", name="product")
    assert "checked" in pick
    assert page.find("input", name="st") == []


def test_quantity_picker_follows_the_checkout_limit(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    """The page offers no more than the checkout accepts (SHOPPABLE_MAX_LINE_QUANTITY)."""
    unlimited = make_product(session, "unlimited", variants=[{"stock": None}])
    plenty = make_product(session, "plenty", variants=[{"stock": 1000}])
    few = make_product(session, "few", variants=[{"stock": 3}])
    make_post(session, "look", tags=[(unlimited, 10, 10), (plenty, 50, 50), (few, 90, 90)])
    session.commit()
    _, page = get_page(client, "/shop/p/look")
    limit = str(app.config["SHOPPABLE_MAX_LINE_QUANTITY"])
    assert [q["max"] for q in page.find("input", type="number")] == [limit, limit, "3"]


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_unpublished_and_unknown_posts_are_404(
    client: FlaskClient, session: Session, status: str
) -> None:
    make_post(session, "hidden", status=status, caption="secret caption")
    session.commit()
    for path in ("/shop/p/hidden", "/shop/p/nope", "/shop/p/%3Cscript%3E", "/shop/embed/hidden"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"secret caption" not in response.data
        assert b"<script>" not in response.data
    response = client.get("/shop/p/hidden")
    assert b"See all posts" in response.data
    assert_not_frameable(response)


def test_captions_and_names_are_escaped(client: FlaskClient, session: Session) -> None:
    product = make_product(
        session,
        "evil",
        title='</script><script>alert("name")</script>',
        vendor="<b>Vendor</b> & Co",
        description="<img src=x onerror=alert(1)>",
    )
    make_post(
        session,
        "evil-post",
        caption="<script>alert('caption')</script>",
        image_alt='"><script>alert(1)</script>',
        tags=[(product, 50, 50)],
    )
    session.commit()
    for path in ("/shop/p/evil-post", "/shop/products/evil", "/shop/", "/shop/embed/evil-post"):
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert "<script>alert" not in body, path
        assert "<img src=x" not in body, path
        assert "<b>Vendor" not in body, path
    _, page = get_page(client, "/shop/p/evil-post")
    assert "<script>alert('caption')</script>" in page.body_text()
    assert page.one("og:description") == "<script>alert('caption')</script>"
    html = client.get("/shop/p/evil-post").get_data(as_text=True)
    data = extract(html, f"{BASE}/shop/p/evil-post")
    assert data["json-ld"][0]["name"] == '</script><script>alert("name")</script>'
    assert data["json-ld"][0]["brand"]["name"] == "<b>Vendor</b> & Co"


def test_json_ld_escaping_is_reversible() -> None:
    text = str(json_ld({"name": "a</script><!--b & c>\u2028"}))
    for raw in ("<", ">", "&", "\u2028"):
        assert raw not in text
    assert json.loads(text) == {"name": "a</script><!--b & c>\u2028"}


def test_post_page_preview_tags_read_by_extruct(client: FlaskClient, session: Session) -> None:
    data = look(session)
    shirt = data["shirt"]
    url = f"{BASE}/shop/p/summer-look"
    response = client.get("/shop/p/summer-look")
    extracted = extract(response.get_data(as_text=True), url)

    (og,) = extracted["opengraph"]
    assert og["og:title"] == "Summer in linen ☀️ & a cap"
    assert og["og:description"] == "Summer in linen ☀️ & a cap"
    assert og["og:url"] == url
    assert og["@type"] == "website"  # extruct's uniform form of og:type
    assert og["og:image"] == f"{BASE}/img/post-summer-look.svg"
    assert og["og:site_name"] == "Shop"

    products = {p["name"]: p for p in extracted["json-ld"]}
    assert set(products) == {"Linen Shirt", "Canvas Cap", "Stone Mug"}
    linen = products["Linen Shirt"]
    assert linen["@context"] == "https://schema.org"
    assert linen["@type"] == "Product"
    assert linen["url"] == f"{BASE}/shop/products/linen-shirt"
    assert linen["image"] == [f"{BASE}/img/linen-shirt.svg"]
    assert linen["brand"] == {"@type": "Brand", "name": "Harbour & Pine"}
    assert linen["sku"] == "SHIRT-S"
    offers = {o["sku"]: o for o in linen["offers"]}
    variant_ids = {v.sku: v.id for v in shirt.variants}
    assert offers["SHIRT-S"] == {
        "@type": "Offer",
        "url": f"{BASE}/shop/products/linen-shirt?variant={variant_ids['SHIRT-S']}",
        "price": "49.00",
        "priceCurrency": "USD",
        "availability": "https://schema.org/OutOfStock",
        "itemCondition": "https://schema.org/NewCondition",
        "sku": "SHIRT-S",
        "name": "S",
    }
    assert offers["SHIRT-M"]["availability"] == "https://schema.org/InStock"
    assert offers["SHIRT-L"]["price"] == "54.00"
    assert offers["SHIRT-L"]["availability"] == "https://schema.org/InStock"  # unlimited
    assert products["Canvas Cap"]["offers"]["price"] == "25.00"
    assert products["Canvas Cap"]["brand"]["name"] == "Shop"  # no vendor: the shop
    assert products["Stone Mug"]["offers"]["availability"] == "https://schema.org/OutOfStock"

    page = Page(response.get_data(as_text=True))
    assert page.one("twitter:card") == "summary_large_image"
    assert page.one("twitter:title") == "Summer in linen ☀️ & a cap"
    assert page.one("twitter:image") == f"{BASE}/img/post-summer-look.svg"
    assert page.one("twitter:image:alt") == "A person in a linen shirt and a canvas cap on a pier"
    (oembed,) = [link for link in page.links if link.get("type") == "application/json+oembed"]
    assert oembed["rel"] == "alternate"
    assert oembed["href"] == f"{BASE}/shop/oembed?url={url}&format=json"
    (canonical,) = [link for link in page.links if link.get("rel") == "canonical"]
    assert canonical["href"] == url


@pytest.mark.parametrize("app_config", [{"SHOPPABLE_PUBLIC_URL": "https://shop.example.com"}])
def test_absolute_urls_use_the_public_url(client: FlaskClient, session: Session) -> None:
    look(session)
    product = make_product(
        session,
        "cdn-product",
        images=[{"url": "https://cdn.example.net/a.jpg", "alt": "A"}, {"url": "javascript:x"}],
    )
    make_post(session, "cdn", image_url="https://cdn.example.net/post.jpg", tags=[(product, 1, 1)])
    session.commit()
    _, page = get_page(client, "/shop/p/summer-look")
    assert page.one("og:url") == "https://shop.example.com/shop/p/summer-look"
    assert page.one("og:image") == "https://shop.example.com/img/post-summer-look.svg"
    _, page = get_page(client, "/shop/p/cdn")
    assert page.one("og:image") == "https://cdn.example.net/post.jpg"
    html = client.get("/shop/products/cdn-product").get_data(as_text=True)
    assert "javascript:" not in html
    (ld,) = extract(html, "https://shop.example.com/shop/products/cdn-product")["json-ld"]
    assert ld["image"] == ["https://cdn.example.net/a.jpg"]


def test_inactive_products_and_variants_are_left_out_of_posts(
    client: FlaskClient, session: Session
) -> None:
    live = make_product(
        session,
        "live",
        options=["Size"],
        variants=[
            {"options": ["S"], "price": 1000},
            {"options": ["XL"], "price": 1200, "active": False},
        ],
    )
    retired = make_product(session, "retired", title="Retired Thing", active=False)
    make_post(session, "mixed", tags=[(live, 10, 10), (retired, 20, 20)])
    session.commit()
    _, page = get_page(client, "/shop/p/mixed")
    assert [p["value"] for p in page.find("input", name="product")] == [str(live.id)]
    assert len(page.find("button", **{"class": "hotspot"})) == 1
    assert "Retired Thing" not in page.body_text()
    assert "XL" not in page.body_text()


# --- product page --------------------------------------------------------------------------


def test_product_page(client: FlaskClient, session: Session) -> None:
    data = look(session)
    shirt = data["shirt"]
    make_post(session, "draft-with-shirt", status="draft", tags=[(shirt, 1, 1)])
    make_post(session, "also-shirt", caption="Another look", tags=[(shirt, 1, 1)], age_days=9)
    session.commit()
    response, page = get_page(client, "/shop/products/linen-shirt?st=t0k")
    assert response.status_code == 200
    assert_not_frameable(response)
    text = page.body_text()
    assert "Linen Shirt" in text
    assert "Harbour & Pine" in text
    assert "49.00 USD" in text
    assert "Only 3 left" in text
    assert "Breathable linen." in text

    (form,) = page.find("form")
    assert form["action"] == "/shop/checkout"
    assert page.find("input", name="product")[0]["value"] == str(shirt.id)
    assert page.find("input", name="st")[0]["value"] == "t0k"
    assert page.find("select", name=f"variant-{shirt.id}")
    assert page.find("input", name=f"quantity-{shirt.id}")
    assert page.find("input", name="post") == []

    seen = [a["href"] for a in page.find("a", **{"class": "tile__link"})]
    assert seen == ["/shop/p/summer-look?st=t0k", "/shop/p/also-shirt?st=t0k"]

    assert page.one("og:type") == "product"
    assert page.one("og:title") == "Linen Shirt"
    assert page.one("og:url") == f"{BASE}/shop/products/linen-shirt"
    assert page.one("og:image") == f"{BASE}/img/linen-shirt.svg"
    assert page.one("product:price:amount") == "49.00"
    assert page.one("product:price:currency") == "USD"
    (ld,) = extract(response.get_data(as_text=True), f"{BASE}/shop/products/linen-shirt")["json-ld"]
    assert ld["name"] == "Linen Shirt"
    assert len(ld["offers"]) == 3
    assert not [link for link in page.links if link.get("type") == "application/json+oembed"]


def test_product_page_preselects_a_requested_variant(client: FlaskClient, session: Session) -> None:
    shirt = look(session)["shirt"]
    ids = {v.sku: v.id for v in shirt.variants}
    for asked, expected in (
        (ids["SHIRT-L"], ids["SHIRT-L"]),
        (ids["SHIRT-S"], ids["SHIRT-M"]),  # sold out: the first in stock instead
        (999999, ids["SHIRT-M"]),
    ):
        _, page = get_page(client, f"/shop/products/linen-shirt?variant={asked}")
        selected = [a["value"] for t, a in page.elements if t == "option" and "selected" in a]
        assert selected == [str(expected)]
    _, page = get_page(client, f"/shop/products/linen-shirt?variant={ids['SHIRT-L']}")
    assert page.one("product:price:amount") == "54.00"
    assert "60.00 USD" in page.body_text()


def test_sold_out_product_page(client: FlaskClient, session: Session) -> None:
    look(session)
    _, page = get_page(client, "/shop/products/stone-mug")
    (button,) = page.find("button", type="submit")
    assert "disabled" in button
    assert "Sold out" in page.body_text()
    (ld,) = extract(client.get("/shop/products/stone-mug").get_data(as_text=True), BASE)["json-ld"]
    assert ld["offers"]["availability"] == "https://schema.org/OutOfStock"


def test_inactive_and_unknown_products_are_404(client: FlaskClient, session: Session) -> None:
    make_product(session, "retired", active=False)
    make_product(session, "no-variants", variants=[{"active": False}])
    session.commit()
    for handle in ("retired", "no-variants", "nope"):
        response = client.get(f"/shop/products/{handle}")
        assert response.status_code == 404, handle
        assert_not_frameable(response)


# --- assets --------------------------------------------------------------------------------


def test_assets_are_small_versioned_and_cached(client: FlaskClient, session: Session) -> None:
    make_post(session, "one")
    session.commit()
    _, page = get_page(client, "/shop/p/one")
    (css,) = [link["href"] for link in page.links if link.get("rel") == "stylesheet"]
    assert css.startswith("/shop/assets/shoppable.css?v=")
    response = client.get(css)
    assert response.status_code == 200
    assert response.content_type == "text/css; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert len(response.data) < 16_000
    etag = response.headers["ETag"]
    assert client.get(css, headers={"If-None-Match": etag}).status_code == 304
    (script,) = [a["src"] for a in page.find("script") if a.get("src")]
    js = client.get(script)
    assert js.content_type == "text/javascript; charset=utf-8"
    assert len(js.data) < 12_000
    assert client.get("/shop/assets/shoppable.css").headers["Cache-Control"] == (
        "public, max-age=300"
    )
    assert client.get("/shop/assets/../pages.py").status_code == 404
    assert client.get("/shop/assets/embed.css").status_code == 404


def test_pages_are_small(client: FlaskClient, session: Session) -> None:
    look(session)
    for path in ("/shop/", "/shop/p/summer-look", "/shop/products/linen-shirt"):
        assert len(client.get(path).data) < 30_000, path


# --- the newcomer's path -------------------------------------------------------------------


def test_newcomer_path_api_to_link_to_post_page_with_the_token_in_the_form(
    app: Flask, client: FlaskClient, api: ApiClient, session: Session
) -> None:
    """Product, post and link through the API; the link's click lands on the post page,
    whose buy form carries the redirect's signed token; the click is in the database."""
    product = api.post(
        "/products",
        json={
            "title": "Linen Shirt",
            "images": [{"url": "https://cdn.example.com/shirt.jpg", "alt": "A shirt"}],
            "variants": [{"price": {"amount": 4900, "currency": "USD"}, "stock": 4}],
        },
    )
    assert product.status_code == 201, product.get_data(as_text=True)
    post = api.post(
        "/posts",
        json={
            "slug": "newcomer",
            "caption": "My first shoppable post",
            "image_url": "https://cdn.example.com/look.jpg",
            "campaign": "launch",
            "tags": [{"product_id": product.json["id"], "x": 40, "y": 60}],
        },
    )
    assert post.status_code == 201, post.get_data(as_text=True)
    assert client.get("/shop/p/newcomer").status_code == 404  # still a draft
    assert api.post(f"/posts/{post.json['id']}/publish").status_code == 200
    link = api.post(
        "/links",
        json={"channel": "instagram", "target": "post", "post_id": post.json["id"],
              "utm_campaign": "launch", "utm_content": "story-1"},
    )  # fmt: skip
    assert link.status_code == 201, link.get_data(as_text=True)
    code = link.json["code"]

    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148 Instagram 330"
    redirect = client.get(f"/shop/s/{code}?fbclid=abc", headers={"User-Agent": iphone})
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["Location"])
    assert location.path == "/shop/p/newcomer"
    token = parse_qs(location.query)["st"][0]

    landed, page = get_page(client, f"{location.path}?{location.query}")
    assert landed.status_code == 200
    assert page.find("input", name="st")[0]["value"] == token
    assert page.find("input", name="product")[0]["value"] == str(product.json["id"])

    app.extensions["shoppable"].recorder.flush()
    (click,) = session.scalars(select(Interaction)).all()
    assert (click.kind, click.channel, click.post_id) == ("click", "instagram", post.json["id"])
    assert (click.utm_source, click.utm_medium) == ("instagram", "social")
    assert (click.utm_campaign, click.utm_content) == ("launch", "story-1")
    with app.app_context():
        assert tokens.verify(token) == click.id
