"""``GET /shop/s/<code>`` at the HTTP level, on SQLite and PostgreSQL.

Posts, products and links are arranged through the ORM; what the redirect answers is
read from the response, and what it recorded from the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flask_shoppable import db
from flask_shoppable.catalog.models import Product, Variant
from flask_shoppable.social.models import Post, PostTag, TrackedLink
from flask_shoppable.tracking import linkcache, tokens
from flask_shoppable.tracking.models import Interaction
from flask_shoppable.tracking.recorder import Recorder

INSTAGRAM_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Instagram 300.0.0.29.110 (iPhone15,3; iOS 17_1; "
    "en_US; en; scale=3.00; 1290x2796; 518036545)"
)
TIKTOK_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 musical_ly_31.5.0 JsSdk/2.0 NetType/WIFI "
    "ByteLocale/en Region/US BytedanceWebview/d8a21c6"
)
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
BOT_UAS = [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "WhatsApp/2.23.20.0 A",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Pinterest/0.2 (+https://www.pinterest.com/bot.html)",
    "",
]
COOKIE = "shoppable_vid"


@dataclass
class Shop:
    product: Product
    variant: Variant
    post: Post
    links: dict[str, TrackedLink]


def _link(session: Session, code: str, **fields: Any) -> TrackedLink:
    values: dict[str, Any] = {
        "channel": "instagram",
        "utm_source": "instagram",
        "utm_medium": "social",
        "target": "post",
    }
    values.update(fields)
    link = TrackedLink(code=code, **values)
    session.add(link)
    return link


@pytest.fixture
def shop(session: Session) -> Shop:
    product = Product(
        handle="linen-shirt",
        title="Linen shirt",
        description="A shirt for summer.",
        images=[{"url": "https://img.example.com/shirt.jpg", "alt": "Shirt"}],
    )
    variant = Variant(price_amount=4500, currency="USD", stock=10)
    product.variants.append(variant)
    draft_product = Product(handle="old-shirt", title="Old shirt", active=False)
    draft_product.variants.append(Variant(price_amount=100, currency="USD"))
    post = Post(
        slug="summer-look",
        caption="Summer look <script>alert(1)</script>",
        image_url="https://img.example.com/look.jpg",
        image_alt="A person in a linen shirt",
        status="published",
        published_at=db.utcnow(),
    )
    draft = Post(slug="draft-look", caption="Not yet", status="draft")
    session.add_all([product, draft_product, post, draft])
    session.flush()
    session.add(PostTag(post_id=post.id, product_id=product.id, x=40.0, y=60.0))
    now = db.utcnow()
    links = {
        "post": _link(
            session,
            "PostLink01",
            post_id=post.id,
            utm_campaign="summer",
            utm_content="bio",
            partner="ana",
        ),
        "product": _link(
            session,
            "ProdLink01",
            channel="pinterest",
            target="product",
            product_id=product.id,
            utm_source="pinterest",
            utm_medium="social",
        ),
        "storefront": _link(
            session,
            "ShopLink01",
            channel="tiktok",
            target="storefront",
            utm_source="tiktok",
            utm_medium="social",
        ),
        "checkout": _link(
            session,
            "CartLink01",
            channel="email",
            target="checkout",
            variant_id=variant.id,
            quantity=2,
            utm_source="newsletter",
            utm_medium="email",
        ),
        "inactive": _link(session, "OffLink001", post_id=post.id, active=False),
        "expired": _link(
            session, "OldLink001", post_id=post.id, expires_at=now - timedelta(minutes=1)
        ),
        "draft": _link(session, "DraftLnk01", post_id=draft.id),
        "draft_product": _link(
            session, "DraftProd1", target="product", product_id=draft_product.id
        ),
        "future": _link(session, "FutureLnk1", post_id=post.id, expires_at=now + timedelta(days=1)),
    }
    session.commit()
    return Shop(product, variant, post, links)


def interactions(app: Flask) -> list[Interaction]:
    """Every recorded interaction (after writing what the recorder buffers)."""
    state = app.extensions["shoppable"]
    assert state.recorder.flush()
    with state.session_factory() as s:
        return list(s.scalars(select(Interaction).order_by(Interaction.id)))


def click(client: FlaskClient, code: str, *, ua: str = INSTAGRAM_UA, **kwargs: Any) -> Any:
    headers = {"User-Agent": ua, **kwargs.pop("headers", {})}
    return client.get(f"/shop/s/{code}", headers=headers, **kwargs)


def query(response: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(response.headers["Location"]).query)


def set_cookie_header(response: Any) -> str:
    cookies = [v for v in response.headers.getlist("Set-Cookie") if v.startswith(f"{COOKIE}=")]
    assert len(cookies) <= 1
    return cookies[0] if cookies else ""


# --- the click ------------------------------------------------------------------------


def test_click_redirects_to_the_post_and_records_everything(
    app: Flask, client: FlaskClient, shop: Shop
) -> None:
    response = click(
        client,
        "PostLink01",
        query_string={"utm_campaign": "creator-story", "fbclid": "IwAR0abc", "gclid": "Cj0K"},
        headers={"Referer": "https://l.instagram.com/"},
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/shop/p/summer-look"
    assert not location.netloc
    params = query(response)
    # The link's own labels travel to the page, the request's do not.
    assert params["utm_source"] == ["instagram"]
    assert params["utm_campaign"] == ["summer"]
    assert params["utm_content"] == ["bio"]
    assert response.headers["Cache-Control"] == "no-store"
    # The plugin's security headers, each once (built into the redirect, not added after).
    for name, value in (
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", "frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ):
        assert response.headers.getlist(name) == [value]

    [row] = interactions(app)
    assert (
        tokens.verify(params["st"][0], secret=app.config["SHOPPABLE_SECRET_KEY"], max_age_days=7)
        == row.id
    )
    visitor = set_cookie_header(response).split(";")[0].split("=", 1)[1]
    assert row.kind == "click"
    assert row.visitor_id == visitor
    assert row.link_id == shop.links["post"].id
    assert row.post_id == shop.post.id
    assert row.product_id is None
    assert row.channel == "instagram"
    assert (row.utm_source, row.utm_medium) == ("instagram", "social")
    assert row.utm_campaign == "creator-story"  # the request's value wins
    assert row.utm_content == "bio"
    assert row.partner == "ana"
    assert row.click_ids == {"fbclid": "IwAR0abc", "gclid": "Cj0K"}
    assert row.referrer == "https://l.instagram.com/"
    assert len(row.ip_hash) == 64
    assert "127.0.0.1" not in row.ip_hash
    assert row.ua_class == "instagram-app"
    assert abs((db.utcnow() - row.occurred_at).total_seconds()) < 60


@pytest.mark.parametrize(
    ("name", "path", "query_part"),
    [
        ("product", "/shop/products/linen-shirt", None),
        ("storefront", "/shop/", None),
        ("checkout", "/shop/checkout/cart", "products"),
    ],
)
def test_other_targets(
    app: Flask, client: FlaskClient, shop: Shop, name: str, path: str, query_part: str | None
) -> None:
    response = click(client, shop.links[name].code, ua=TIKTOK_UA)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == path
    params = query(response)
    if query_part:
        assert params[query_part] == [f"{shop.variant.id}:2"]
    [row] = interactions(app)
    assert row.link_id == shop.links[name].id
    assert row.channel == shop.links[name].channel
    assert row.ua_class == "tiktok-app"
    if name in ("product", "checkout"):
        assert row.product_id == shop.product.id
    assert (
        tokens.verify(params["st"][0], secret=app.config["SHOPPABLE_SECRET_KEY"], max_age_days=7)
        == row.id
    )


def test_link_that_expires_later_works(app: Flask, client: FlaskClient, shop: Shop) -> None:
    assert click(client, "FutureLnk1").status_code == 302
    assert len(interactions(app)) == 1


def test_each_click_is_its_own_interaction(app: Flask, client: FlaskClient, shop: Shop) -> None:
    first = click(client, "PostLink01")
    second = click(client, "PostLink01")
    rows = interactions(app)
    assert len(rows) == 2
    assert query(first)["st"] != query(second)["st"]
    # The second click came with the cookie of the first: same visitor, no new cookie.
    assert rows[0].visitor_id == rows[1].visitor_id
    assert set_cookie_header(second) == ""


# --- the cookie -----------------------------------------------------------------------


def test_cookie_attributes_over_http(client: FlaskClient, shop: Shop, app: Flask) -> None:
    header = set_cookie_header(click(client, "PostLink01"))
    parts = [p.strip().lower() for p in header.split(";")]
    assert "httponly" in parts
    assert "samesite=lax" in parts
    assert "path=/" in parts
    assert f"max-age={365 * 86400}" in parts
    assert "secure" not in parts


def test_cookie_is_secure_under_https(app: Flask, shop: Shop) -> None:
    client = app.test_client()
    response = click(client, "PostLink01", base_url="https://shop.example.com")
    assert response.status_code == 302
    parts = [p.strip().lower() for p in set_cookie_header(response).split(";")]
    assert "secure" in parts
    assert "httponly" in parts


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-visitor",
        "A" * 32,
        "0" * 31,
        "0" * 33,
        "g" * 32,
        "'; DROP TABLE shoppable_interaction; --",
        "%00%00",
    ],
)
def test_invalid_cookie_is_replaced(app: Flask, client: FlaskClient, shop: Shop, bad: str) -> None:
    client.set_cookie(COOKIE, bad)
    response = click(client, "PostLink01")
    assert response.status_code == 302
    header = set_cookie_header(response)
    new = header.split(";")[0].split("=", 1)[1]
    assert new != bad
    [row] = interactions(app)
    assert row.visitor_id == new
    assert len(new) == 32


def test_valid_cookie_is_kept(app: Flask, client: FlaskClient, shop: Shop) -> None:
    client.set_cookie(COOKIE, "0123456789abcdef0123456789abcdef")
    response = click(client, "PostLink01")
    assert set_cookie_header(response) == ""
    [row] = interactions(app)
    assert row.visitor_id == "0123456789abcdef0123456789abcdef"


# --- bad input ------------------------------------------------------------------------


def test_utm_click_ids_and_referrer_are_cleaned_and_bounded(
    app: Flask, client: FlaskClient, shop: Shop
) -> None:
    response = click(
        client,
        "PostLink01",
        query_string={
            "utm_source": "s" * 10_000,
            "utm_medium": "line\nbreak\x00nul\ttab",
            "utm_term": "  spaced  ",
            "utm_content": "",
            "fbclid": "f" * 5_000,
            "ttclid": "tt",
            "li_fat_id": "li",
            "epik": "ep",
            "twclid": "tw",
            "unknown_click_id": "ignored",
        },
        headers={"Referer": "https://example.com/" + "r" * 5_000},
    )
    assert response.status_code == 302
    [row] = interactions(app)
    assert row.utm_source == "s" * 200
    assert row.utm_medium == "line break nul tab"
    assert row.utm_term == "spaced"
    assert row.utm_content == "bio"  # empty in the request: the link's value stays
    assert row.click_ids == {
        "fbclid": "f" * 255,
        "ttclid": "tt",
        "li_fat_id": "li",
        "epik": "ep",
        "twclid": "tw",
    }
    assert len(row.referrer) == 500


@pytest.mark.parametrize(
    "raw_query",
    [
        "utm_source=%ff%fe%00&utm_campaign=%E2%82%AC%F0%9F%98%80",
        "utm_source=a&utm_source=b&utm_source=c",
        "&&&===&utm_medium&=x",
        "%",
        "utm_campaign=" + "%25" * 3000,
        "&".join(f"p{i}={i}" for i in range(2000)),
        "st=forged-token&next=https://evil.example&url=//evil.example",
    ],
)
def test_absurd_query_strings_still_redirect_and_record(
    app: Flask, client: FlaskClient, shop: Shop, raw_query: str
) -> None:
    response = click(client, f"PostLink01?{raw_query}")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/shop/p/summer-look"
    assert not location.netloc
    assert "evil" not in response.headers["Location"]
    st = query(response)["st"]
    assert len(st) == 1
    [row] = interactions(app)
    assert tokens.verify(st[0], secret=app.config["SHOPPABLE_SECRET_KEY"], max_age_days=7) == row.id
    assert len(row.utm_source) <= 200
    assert len(row.utm_campaign) <= 200
    assert "\x00" not in row.utm_source


@pytest.mark.parametrize(
    "path",
    [
        "/shop/s/NoSuchCode",
        "/shop/s/short",
        "/shop/s/" + "a" * 33,
        "/shop/s/PostLink01!",
        "/shop/s/Post%2FLink01",
        "/shop/s/%2F%2Fevil.example",
        "/shop/s//evil.example",
        "/shop/s/%00%00%00%00%00%00%00%00",
        "/shop/s/%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9",
        "/shop/s/OffLink001",
        "/shop/s/OldLink001",
        "/shop/s/DraftLnk01",
        "/shop/s/DraftProd1",
        "/shop/s/NoSuchCode?next=https://evil.example",
        "/shop/s/NoSuchCode?url=//evil.example",
    ],
)
def test_unknown_inactive_expired_and_hidden_targets_get_404(
    app: Flask, client: FlaskClient, shop: Shop, path: str
) -> None:
    response = client.get(path, headers={"User-Agent": INSTAGRAM_UA})
    if response.status_code == 308:
        # Werkzeug merges repeated slashes with a redirect on the same site; it 404s.
        location = urlsplit(response.headers["Location"])
        assert location.netloc == "localhost"
        assert location.path.startswith("/shop/s/")
        response = client.get(location.path, headers={"User-Agent": INSTAGRAM_UA})
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert set_cookie_header(response) == ""
    if "/" not in unquote(path.removeprefix("/shop/s/").split("?")[0]):
        # The route matched: the plugin's own page, not Werkzeug's.
        assert response.mimetype == "text/html"
        assert b"doesn" in response.data
        assert b"evil" not in response.data
    assert interactions(app) == []


def test_target_never_comes_from_the_request(app: Flask, client: FlaskClient, shop: Shop) -> None:
    for extra in (
        "?next=https://evil.example",
        "?url=//evil.example",
        "?redirect=https:%2F%2Fevil.example",
        "?target=storefront&path=/admin",
    ):
        response = click(client, f"PostLink01{extra}")
        location = response.headers["Location"]
        assert urlsplit(location).path == "/shop/p/summer-look"
        assert "evil" not in location
        assert "admin" not in location


# --- bots, HEAD and prefetch ----------------------------------------------------------


@pytest.mark.parametrize("ua", BOT_UAS)
def test_bots_get_the_post_page_with_preview_tags_and_are_not_counted(
    app: Flask, client: FlaskClient, shop: Shop, ua: str
) -> None:
    response = click(client, "PostLink01", ua=ua)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'property="og:title"' in html
    assert 'property="og:image"' in html
    assert "https://img.example.com/look.jpg" in html
    assert "<script>alert(1)</script>" not in html
    assert set_cookie_header(response) == ""
    assert interactions(app) == []


def test_bots_get_a_preview_of_a_checkout_link(app: Flask, client: FlaskClient, shop: Shop) -> None:
    response = click(client, "CartLink01", ua="Twitterbot/1.0")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<meta property="og:title" content="Linen shirt">' in html
    assert "https://img.example.com/shirt.jpg" in html
    assert interactions(app) == []


def test_bots_still_get_404_for_dead_links(app: Flask, client: FlaskClient, shop: Shop) -> None:
    assert click(client, "OffLink001", ua="Twitterbot/1.0").status_code == 404


def test_head_and_prefetch_redirect_without_counting(
    app: Flask, client: FlaskClient, shop: Shop
) -> None:
    head = client.head("/shop/s/PostLink01", headers={"User-Agent": INSTAGRAM_UA})
    assert head.status_code == 302
    assert "st" not in query(head)
    prefetch = click(client, "PostLink01", headers={"Sec-Purpose": "prefetch;prerender"})
    assert prefetch.status_code == 302
    assert "st" not in query(prefetch)
    assert set_cookie_header(prefetch) == ""
    assert interactions(app) == []


# --- privacy --------------------------------------------------------------------------


@pytest.mark.parametrize("header", [{"DNT": "1"}, {"Sec-GPC": "1"}])
def test_dnt_and_gpc_count_the_click_but_keep_nothing_personal(
    app: Flask, client: FlaskClient, shop: Shop, header: dict[str, str]
) -> None:
    response = click(client, "PostLink01", headers=header, query_string={"fbclid": "x"})
    assert response.status_code == 302
    assert set_cookie_header(response) == ""
    [row] = interactions(app)
    assert row.visitor_id is None
    assert row.ip_hash == ""
    assert row.click_ids == {}
    assert row.channel == "instagram"
    assert (
        tokens.verify(
            query(response)["st"][0], secret=app.config["SHOPPABLE_SECRET_KEY"], max_age_days=7
        )
        == row.id
    )


class TestDntNotHonoured:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"SHOPPABLE_HONOR_DNT": False}

    def test_cookie_is_set_despite_dnt(self, app: Flask, client: FlaskClient, shop: Shop) -> None:
        response = click(client, "PostLink01", headers={"DNT": "1", "Sec-GPC": "1"})
        assert set_cookie_header(response)
        [row] = interactions(app)
        assert row.visitor_id is not None
        assert row.ip_hash


class TestConsentRequired:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"SHOPPABLE_REQUIRE_CONSENT": True, "SHOPPABLE_CONSENT_COOKIE": "cookie_ok"}

    def test_without_consent_no_cookie(self, app: Flask, client: FlaskClient, shop: Shop) -> None:
        response = click(client, "PostLink01")
        assert response.status_code == 302
        assert set_cookie_header(response) == ""
        [row] = interactions(app)
        assert row.visitor_id is None
        assert row.ip_hash == ""

    def test_refused_consent_no_cookie(self, app: Flask, client: FlaskClient, shop: Shop) -> None:
        client.set_cookie("cookie_ok", "0")
        assert set_cookie_header(click(client, "PostLink01")) == ""

    def test_with_consent_cookie_is_set(self, app: Flask, client: FlaskClient, shop: Shop) -> None:
        client.set_cookie("cookie_ok", "1")
        response = click(client, "PostLink01")
        assert set_cookie_header(response)
        [row] = interactions(app)
        assert row.visitor_id is not None


# --- the link cache -------------------------------------------------------------------


def _deactivate(session: Session, link: TrackedLink) -> None:
    link.active = False
    session.add(link)
    session.commit()


def test_an_edit_applies_at_once_after_invalidate(
    app: Flask, client: FlaskClient, shop: Shop, session: Session
) -> None:
    assert click(client, "PostLink01").status_code == 302  # now cached
    _deactivate(session, shop.links["post"])
    # Another process's edit: this one still has the link, for at most the TTL.
    assert click(client, "PostLink01").status_code == 302
    with app.app_context():
        linkcache.invalidate("PostLink01")
    assert click(client, "PostLink01").status_code == 404


def test_an_edit_applies_within_the_ttl(
    app: Flask, client: FlaskClient, shop: Shop, session: Session
) -> None:
    now = [1000.0]
    cache = linkcache.cache_for(app)
    cache._clock = lambda: now[0]
    assert cache.ttl == app.config["SHOPPABLE_LINK_CACHE_SECONDS"]
    assert click(client, "PostLink01").status_code == 302
    _deactivate(session, shop.links["post"])
    now[0] += cache.ttl - 0.5
    assert click(client, "PostLink01").status_code == 302
    now[0] += 1.0
    assert click(client, "PostLink01").status_code == 404


def test_unknown_codes_are_remembered_briefly(
    app: Flask, client: FlaskClient, shop: Shop, session: Session
) -> None:
    now = [1000.0]
    cache = linkcache.cache_for(app)
    cache._clock = lambda: now[0]
    assert click(client, "LateLink01").status_code == 404
    _link(session, "LateLink01", post_id=shop.post.id)
    session.commit()
    assert click(client, "LateLink01").status_code == 404  # remembered as unknown
    now[0] += linkcache.NEGATIVE_SECONDS + 0.1
    assert click(client, "LateLink01").status_code == 302


def test_expiry_applies_to_a_cached_link(
    app: Flask, client: FlaskClient, shop: Shop, session: Session
) -> None:
    link = _link(session, "SoonGone01", post_id=shop.post.id)
    link.expires_at = db.utcnow() + timedelta(seconds=1)
    session.commit()
    assert click(client, "SoonGone01").status_code == 302
    time.sleep(1.1)
    assert click(client, "SoonGone01").status_code == 404


# --- recording failures ---------------------------------------------------------------


DEAD_URL = "postgresql://postgres@127.0.0.1:1/nowhere"


@pytest.fixture
def database_down(app: Flask) -> Iterator[Callable[[str], Recorder]]:
    """Swap in a recorder whose database is unreachable (the real one comes back after)."""
    state = app.extensions["shoppable"]
    good = state.recorder
    made: list[Recorder] = []

    def down(mode: str) -> Recorder:
        dead = db.make_engine(DEAD_URL, {"pool_pre_ping": False})
        config = {**app.config, "SHOPPABLE_CLICK_WRITE_MODE": mode}
        broken = Recorder(config, sessionmaker(bind=dead))
        made.append(broken)
        state.recorder = broken
        return broken

    yield down
    state.recorder = good
    for broken in made:
        broken.close(timeout=0.5)


def test_durable_recording_failure_still_redirects(
    app: Flask,
    client: FlaskClient,
    shop: Shop,
    caplog: pytest.LogCaptureFixture,
    database_down: Callable[[str], Recorder],
) -> None:
    assert click(client, "PostLink01").status_code == 302  # the link is cached now
    assert len(interactions(app)) == 1
    database_down("durable")
    with caplog.at_level(logging.ERROR, logger="flask_shoppable.tracking"):
        response = click(client, "PostLink01")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/shop/p/summer-look"
    assert "st" not in query(response)  # no token for a click that was not written
    assert any("recording a click" in r.getMessage() for r in caplog.records)
    assert len(interactions(app)) == 1  # the first click only


def test_buffered_recording_failure_keeps_the_click(
    app: Flask,
    client: FlaskClient,
    shop: Shop,
    caplog: pytest.LogCaptureFixture,
    database_down: Callable[[str], Recorder],
) -> None:
    assert click(client, "PostLink01").status_code == 302  # the link is cached now
    assert len(interactions(app)) == 1
    good_engine = app.extensions["shoppable"].engine
    broken = database_down("buffered")
    with caplog.at_level(logging.ERROR, logger="flask_shoppable.tracking"):
        response = click(client, "PostLink01")
        assert response.status_code == 302
        assert not broken.flush()
    assert broken.pending == 1
    assert any("keeping them to retry" in r.getMessage() for r in caplog.records)
    # The database is back: the click kept is written.
    broken.engine = good_engine
    assert broken.flush()
    rows = interactions(app)
    assert len(rows) == 2
    st = query(response)["st"][0]
    assert (
        tokens.verify(st, secret=app.config["SHOPPABLE_SECRET_KEY"], max_age_days=7) == rows[1].id
    )


def test_database_down_and_link_not_cached_is_503(
    app: Flask,
    client: FlaskClient,
    shop: Shop,
    caplog: pytest.LogCaptureFixture,
    database_down: Callable[[str], Recorder],
) -> None:
    database_down("buffered")
    with caplog.at_level(logging.ERROR, logger="flask_shoppable.tracking"):
        response = click(client, "PostLink01")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers
    assert any("looking up link" in r.getMessage() for r in caplog.records)


def test_a_stale_link_is_served_while_the_database_is_down(
    app: Flask,
    client: FlaskClient,
    shop: Shop,
    database_down: Callable[[str], Recorder],
) -> None:
    now = [1000.0]
    cache = linkcache.cache_for(app)
    cache._clock = lambda: now[0]
    assert click(client, "PostLink01").status_code == 302
    now[0] += cache.ttl + 1  # expired in the cache: it would be read again
    database_down("buffered")
    response = click(client, "PostLink01")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/shop/p/summer-look"


class TestDurableMode:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"SHOPPABLE_CLICK_WRITE_MODE": "durable"}

    def test_click_is_committed_before_the_redirect(
        self, app: Flask, client: FlaskClient, shop: Shop
    ) -> None:
        response = click(client, "PostLink01")
        assert response.status_code == 302
        with app.extensions["shoppable"].session_factory() as s:
            [row] = s.scalars(select(Interaction)).all()
        assert (
            tokens.verify(
                query(response)["st"][0], secret=app.config["SHOPPABLE_SECRET_KEY"], max_age_days=7
            )
            == row.id
        )


@pytest.mark.parametrize("mode", ["buffered", "durable"])
def test_interaction_recorded_is_sent_once_written(
    app: Flask, client: FlaskClient, shop: Shop, mode: str
) -> None:
    from flask_shoppable.signals import interaction_recorded

    app.extensions["shoppable"].recorder.mode = mode
    received: list[dict[str, Any]] = []

    def receiver(sender: Flask, interaction: dict[str, Any], **extra: Any) -> None:
        assert sender is app
        received.append(interaction)

    with interaction_recorded.connected_to(receiver, sender=app):
        response = click(client, "PostLink01")
        [row] = interactions(app)
    assert len(received) == 1
    assert received[0]["id"] == row.id
    assert received[0]["kind"] == "click"
    assert received[0]["channel"] == "instagram"
    st = query(response)["st"][0]
    assert tokens.verify(st, secret=app.config["SHOPPABLE_SECRET_KEY"], max_age_days=7) == row.id
