"""The embed card, its impressions, embed.js and the oEmbed provider, on both backends.

The "Done when" check: an oEmbed consumer library (micawber) discovers the provider
from the post page's ``<link rel="alternate" type="application/json+oembed">`` and
fetches the embed over a real local HTTP connection.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import micawber
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.social import embed as embeds
from flask_shoppable.social.models import TrackedLink
from flask_shoppable.tracking.models import Interaction
from tests.pages_data import look, make_post, make_product, serve

BASE = "http://localhost"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
DESKTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


def impressions(app: Flask, session: Session) -> list[Interaction]:
    app.extensions["shoppable"].recorder.flush()
    session.expire_all()
    return list(session.scalars(select(Interaction).order_by(Interaction.occurred_at)))


class Links(HTMLParser):
    """The ``<link>`` and ``<a>`` tags of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self.anchors: list[dict[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "link":
            self.links.append({k: v or "" for k, v in attrs})
        elif tag == "a":
            self.anchors.append({k: v or "" for k, v in attrs})


# --- the card ----------------------------------------------------------------------------


def test_embed_card_is_the_one_frameable_page(client: FlaskClient, session: Session) -> None:
    look(session)
    response = client.get("/shop/embed/summer-look", headers={"User-Agent": IPHONE})
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert response.headers["Content-Security-Policy"] == "frame-ancestors *"
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert "Set-Cookie" not in response.headers
    html = response.get_data(as_text=True)
    assert "Linen Shirt" in html
    assert '<base target="_blank">' in html
    for path in ("/shop/", "/shop/p/summer-look", "/shop/products/linen-shirt", "/shop/oembed"):
        other = client.get(path)
        assert other.headers["X-Frame-Options"] == "DENY", path
        assert other.headers["Content-Security-Policy"] == "frame-ancestors 'none'", path


def test_embed_view_is_recorded_as_an_impression(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    data = look(session)
    referrer = "https://blog.example.com/posts/summer?" + "x" * 2000
    client.get(
        "/shop/embed/summer-look",
        headers={"User-Agent": IPHONE, "Referer": referrer, "DNT": "1"},
    )
    (row,) = impressions(app, session)
    assert row.kind == "impression"
    assert row.post_id == data["post"].id
    assert row.channel == "blog"
    assert (row.utm_source, row.utm_medium, row.utm_campaign) == ("blog", "referral", "summer-25")
    assert row.referrer == referrer[:500]
    assert row.ua_class == "mobile"
    assert row.visitor_id is None
    assert row.ip_hash == ""
    assert row.link_id is None
    assert row.detail == {"source": "embed"}


@pytest.mark.parametrize(
    ("asked", "recorded"),
    [("email", "email"), ("PINTEREST", "pinterest"), ("myspace", "blog"), ("", "blog")],
)
def test_embed_channel_from_the_query(
    app: Flask, client: FlaskClient, session: Session, asked: str, recorded: str
) -> None:
    look(session)
    client.get(f"/shop/embed/summer-look?channel={asked}", headers={"User-Agent": DESKTOP})
    (row,) = impressions(app, session)
    assert row.channel == recorded
    assert row.ua_class == "desktop"


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"},
        {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
        {"User-Agent": "Twitterbot/1.0"},
        {"User-Agent": ""},
        {},
        {"User-Agent": IPHONE, "Sec-Purpose": "prefetch"},
        {"User-Agent": IPHONE, "Purpose": "prefetch"},
    ],
)
def test_bots_and_prefetches_are_not_counted(
    app: Flask, client: FlaskClient, session: Session, headers: dict[str, str]
) -> None:
    look(session)
    client.environ_base.pop("HTTP_USER_AGENT", None)
    response = client.get("/shop/embed/summer-look", headers=headers)
    assert response.status_code == 200
    assert impressions(app, session) == []


def test_head_requests_are_not_counted(app: Flask, client: FlaskClient, session: Session) -> None:
    look(session)
    assert client.head("/shop/embed/summer-look", headers={"User-Agent": IPHONE}).status_code == 200
    assert impressions(app, session) == []


def test_unpublished_embed_is_404_and_not_counted(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    make_post(session, "draft", status="draft")
    session.commit()
    assert client.get("/shop/embed/draft", headers={"User-Agent": IPHONE}).status_code == 404
    assert client.get("/shop/embed/nope", headers={"User-Agent": IPHONE}).status_code == 404
    assert impressions(app, session) == []


def test_a_failing_recorder_does_not_break_the_card(
    app: Flask, client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    look(session)

    def broken(row: dict[str, Any]) -> None:
        raise RuntimeError("database is down")

    monkeypatch.setattr(app.extensions["shoppable"].recorder, "record", broken)
    response = client.get("/shop/embed/summer-look", headers={"User-Agent": IPHONE})
    assert response.status_code == 200
    assert b"Shop the look" in response.data


def test_card_links_go_through_one_tracked_link_of_the_channel(
    client: FlaskClient, session: Session
) -> None:
    data = look(session)
    first = client.get("/shop/embed/summer-look?channel=email", headers={"User-Agent": IPHONE})
    client.get("/shop/embed/summer-look?channel=email", headers={"User-Agent": IPHONE})
    (link,) = session.scalars(select(TrackedLink)).all()
    assert (link.channel, link.target, link.post_id) == ("email", "post", data["post"].id)
    assert (link.utm_source, link.utm_medium) == ("newsletter", "email")
    assert (link.utm_campaign, link.utm_content) == ("summer-25", "embed")
    hrefs = {a["href"] for a in Links(first.get_data(as_text=True)).anchors}
    assert f"{BASE}/shop/s/{link.code}" in hrefs
    assert f"{BASE}/shop/s/{link.code}#product-{data['shirt'].id}" in hrefs
    assert all(a.get("rel") == "noopener" for a in Links(first.get_data(as_text=True)).anchors)


# --- embed.js ----------------------------------------------------------------------------


def test_embed_js_is_small_and_cacheable(client: FlaskClient) -> None:
    response = client.get("/shop/embed.js")
    assert response.status_code == 200
    assert response.content_type == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert len(response.data) < 5_000
    body = response.get_data(as_text=True)
    assert "event.origin !== origin" in body
    assert (
        client.get(
            "/shop/embed.js", headers={"If-None-Match": response.headers["ETag"]}
        ).status_code
        == 304
    )


# --- oEmbed ------------------------------------------------------------------------------


def oembed(client: FlaskClient, **params: str) -> Any:
    return client.get("/shop/oembed", query_string=params)


def test_oembed_answers_for_a_post_page(client: FlaskClient, session: Session) -> None:
    look(session)
    response = oembed(client, url=f"{BASE}/shop/p/summer-look")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    doc = response.json
    assert doc["version"] == "1.0"
    assert doc["type"] == "rich"
    assert doc["title"] == "Summer in linen ☀️ & a cap"
    assert doc["provider_name"] == "Shop"
    assert doc["provider_url"] == f"{BASE}/shop/"
    assert doc["width"] == 480
    assert doc["height"] == embeds.card_height(480, 3)
    assert doc["html"].startswith(f'<iframe src="{BASE}/shop/embed/summer-look" width="480"')
    assert 'title="Summer in linen ☀️ &amp; a cap (Shop)"' in doc["html"]
    assert "thumbnail_url" not in doc  # its size is unknown, and the spec wants all three


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/shop/p/summer-look?utm_source=x&st=abc",
        f"{BASE}/shop/p/summer-look#product-1",
        "https://localhost/shop/p/summer-look",
        "HTTP://LOCALHOST/shop/p/summer-look",
        "http://localhost:80/shop/p/summer-look",
        f"{BASE}/shop/embed/summer-look",
    ],
)
def test_oembed_accepts_this_sites_post_urls(
    client: FlaskClient, session: Session, url: str
) -> None:
    look(session)
    assert oembed(client, url=url).status_code == 200, url


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"url": "https://evil.example/shop/p/summer-look"}, 404),
        ({"url": "http://localhost.evil.example/shop/p/summer-look"}, 404),
        ({"url": "http://localhost:8080/shop/p/summer-look"}, 404),
        ({"url": "http://user@evil.example/shop/p/summer-look"}, 404),
        ({"url": "javascript:alert(1)//localhost/shop/p/summer-look"}, 404),
        ({"url": "/shop/p/summer-look"}, 404),
        ({"url": f"{BASE}/shop/p/unknown"}, 404),
        ({"url": f"{BASE}/shop/p/draft"}, 404),
        ({"url": f"{BASE}/shop/products/linen-shirt"}, 404),
        ({"url": f"{BASE}/shop/"}, 404),
        ({"url": f"{BASE}/shop/p/summer-look/extra"}, 404),
        ({"url": "http://[::1/shop/p/x"}, 404),
        ({"url": "http://localhost:99999/shop/p/summer-look"}, 404),
        ({"url": f"{BASE}/shop/p/" + "a" * 5000}, 404),
        ({}, 400),
        ({"url": "  "}, 400),
        ({"url": f"{BASE}/shop/p/summer-look", "format": "xml"}, 501),
        ({"url": f"{BASE}/shop/p/summer-look", "format": "yaml"}, 501),
        ({"url": f"{BASE}/shop/p/unknown", "format": "xml"}, 501),
    ],
)
def test_oembed_refuses(
    client: FlaskClient, session: Session, params: dict[str, str], status: int
) -> None:
    look(session)
    make_post(session, "draft", status="draft")
    session.commit()
    response = oembed(client, **params)
    assert response.status_code == status
    assert response.content_type == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("maxwidth", "maxheight", "width", "height"),
    [
        ("320", None, 320, embeds.card_height(320, 3)),
        ("1000000000000", None, 480, embeds.card_height(480, 3)),
        ("99999999999999999999999999999", "99999999999999999", 480, embeds.card_height(480, 3)),
        ("abc", "-5", 480, embeds.card_height(480, 3)),
        ("0", "0", 480, embeds.card_height(480, 3)),
        ("300", "200", 300, 200),
        (None, "150", 480, 150),
        (" 250 ", None, 250, embeds.card_height(250, 3)),
        ("1.5", None, 480, embeds.card_height(480, 3)),
    ],
)
def test_oembed_respects_and_clamps_sizes(
    client: FlaskClient,
    session: Session,
    maxwidth: str | None,
    maxheight: str | None,
    width: int,
    height: int,
) -> None:
    look(session)
    params = {"url": f"{BASE}/shop/p/summer-look"}
    if maxwidth is not None:
        params["maxwidth"] = maxwidth
    if maxheight is not None:
        params["maxheight"] = maxheight
    doc = oembed(client, **params).json
    assert (doc["width"], doc["height"]) == (width, height)
    assert f'width="{width}" height="{height}"' in doc["html"]


@pytest.mark.parametrize("app_config", [{"SHOPPABLE_PUBLIC_URL": "https://shop.example.com"}])
def test_oembed_with_a_public_url(client: FlaskClient, session: Session) -> None:
    look(session)
    ok = oembed(client, url="https://shop.example.com/shop/p/summer-look")
    assert ok.status_code == 200
    assert ok.json["html"].startswith(
        '<iframe src="https://shop.example.com/shop/embed/summer-look"'
    )
    assert ok.json["provider_url"] == "https://shop.example.com/shop/"
    # The request's own host is not the site when a public URL is configured.
    assert oembed(client, url=f"{BASE}/shop/p/summer-look").status_code == 404


def test_oembed_of_a_post_without_products(client: FlaskClient, session: Session) -> None:
    make_product(session, "unused")
    make_post(session, "plain", caption="")
    session.commit()
    doc = oembed(client, url=f"{BASE}/shop/p/plain").json
    assert doc["title"] == "A post by Shop"
    assert doc["height"] == embeds.card_height(480, 0)


# --- a real consumer ---------------------------------------------------------------------


def test_an_oembed_consumer_library_discovers_and_embeds_the_post(
    app: Flask, session: Session
) -> None:
    """micawber, over real HTTP: discovery from the page, then the provider's answer."""
    look(session)
    with serve(app) as base:
        page_url = f"{base}/shop/p/summer-look"
        # Discovery: the consumer reads the page's oEmbed <link> (micawber takes providers
        # by URL pattern, so the discovered endpoint is registered for this site's posts).
        page = micawber.providers.fetch(page_url)
        (discovered,) = [
            link
            for link in Links(page).links
            if link.get("rel") == "alternate" and link.get("type") == "application/json+oembed"
        ]
        endpoint = discovered["href"].split("?", 1)[0]
        assert endpoint == f"{base}/shop/oembed"
        registry = micawber.ProviderRegistry()
        registry.register(rf"{base}/shop/p/\S+", micawber.Provider(endpoint))

        data = registry.request(page_url, maxwidth=360)
        assert data["type"] == "rich"
        assert data["version"] == "1.0"
        assert data["provider_name"] == "Shop"
        assert data["width"] == 360
        assert data["html"].startswith(f'<iframe src="{base}/shop/embed/summer-look"')

        html = registry.parse_text(f"Look at this:\n{page_url}\n", maxwidth=400)
        assert f'<iframe src="{base}/shop/embed/summer-look" width="400"' in html

        with pytest.raises(micawber.ProviderException):
            registry.request(f"{base}/shop/p/does-not-exist")
    assert urlsplit(endpoint).hostname == "127.0.0.1"
