"""The merchant pages over HTTP: settings, products and variants, posts and tags, links."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.admin.models import ShopSettings
from flask_shoppable.catalog.models import Product, Variant
from flask_shoppable.social.models import Post, PostTag, TrackedLink
from tests.admin_helpers import ADMIN, AdminClient, admin  # noqa: F401  (fixture)
from tests.pages_data import make_post, make_product

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
JPEG = b"\xff\xd8\xff\xe0" + bytes(200)


def errors(response: Any) -> dict[str, str]:
    """Field name -> the message shown beside it."""
    html = response.get_data(as_text=True)
    return dict(re.findall(r'id="([\w-]+)-error" data-testid="error-[\w-]+">([^<]*)<', html))


def form_errors(response: Any) -> str:
    html = response.get_data(as_text=True)
    match = re.search(r'data-testid="form-errors">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


def value_of(response: Any, name: str) -> str | None:
    html = response.get_data(as_text=True)
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', html)
    return match.group(1) if match else None


def product_form(**extra: str) -> dict[str, str]:
    data = {
        "title": "Linen shirt",
        "options": "Size",
        "currency": "USD",
        "active": "on",
        "variants-0-options": "S",
        "variants-0-price": "49.00",
        "variants-0-stock": "5",
        "variants-0-active": "on",
        "variants-1-options": "M",
        "variants-1-price": "49.00",
        "variants-1-stock": "3",
        "variants-1-active": "on",
    }
    data.update(extra)
    return data


def create_product(admin: AdminClient, **extra: str) -> int:  # noqa: F811
    response = admin.post(f"{ADMIN}/products/new", data=product_form(**extra))
    assert response.status_code == 302, errors(response) or form_errors(response)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def create_post(admin: AdminClient, caption: str = "Summer look") -> int:  # noqa: F811
    response = admin.post(
        f"{ADMIN}/posts/new",
        data={"caption": caption, "image": (io.BytesIO(PNG), "look.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, errors(response)
    return int(re.search(r"/posts/(\d+)", response.headers["Location"]).group(1))  # type: ignore[union-attr]


# --- settings ----------------------------------------------------------------------------


def test_settings_show_on_the_storefront_post_pages_and_embeds(
    admin: AdminClient,  # noqa: F811
    session: Session,
) -> None:
    before = admin.get("/shop/").get_data(as_text=True)
    assert "Bloom &amp; Thread" not in before
    response = admin.post(
        f"{ADMIN}/settings",
        data={
            "name": "Bloom & Thread",
            "accent_color": "#AA3366",
            "handle_instagram": "@bloomthread",
            "terms_url": "https://bloom.example/terms",
            "contact_email": "hello@bloom.example",
        },
    )
    assert response.status_code == 302
    row = session.scalar(select(ShopSettings))
    assert row is not None
    assert (row.name, row.accent_color) == ("Bloom & Thread", "#aa3366")
    assert row.social_handles == {"instagram": "bloomthread"}
    storefront = admin.get("/shop/").get_data(as_text=True)
    assert '<h1 id="shop-title" class="profile__name">Bloom &amp; Thread</h1>' in storefront
    assert "--accent: #aa3366" in storefront
    assert 'href="https://www.instagram.com/bloomthread"' in storefront
    assert 'href="https://bloom.example/terms"' in storefront
    assert "mailto:hello@bloom.example" in storefront
    # A post page and its embed use the same name and colour.
    product_id = create_product(admin)
    post_id = create_post(admin)
    admin.post(
        f"{ADMIN}/posts/{post_id}/tags",
        data={"tags-0-product_id": str(product_id), "tags-0-x": "40", "tags-0-y": "60"},
    )
    assert admin.post(f"{ADMIN}/posts/{post_id}/publish").status_code == 302
    slug = session.scalar(select(Post.slug).where(Post.id == post_id))
    post_page = admin.get(f"/shop/p/{slug}").get_data(as_text=True)
    assert "Bloom &amp; Thread" in post_page
    assert "--accent: #aa3366" in post_page
    embed = admin.get(f"/shop/embed/{slug}").get_data(as_text=True)
    assert "Bloom &amp; Thread" in embed
    assert "#aa3366" in embed
    # Emptying the name falls back to SHOPPABLE_SHOP_NAME.
    admin.post(f"{ADMIN}/settings", data={"name": ""})
    app_name = admin.client.application.config["SHOPPABLE_SHOP_NAME"]
    assert f'class="profile__name">{app_name}</h1>' in admin.get("/shop/").get_data(as_text=True)


def test_settings_reject_bad_values_beside_the_field_and_keep_them(
    admin: AdminClient,  # noqa: F811
    session: Session,
) -> None:
    response = admin.post(
        f"{ADMIN}/settings",
        data={
            "name": "Fine name",
            "accent_color": "red",
            "handle_tiktok": "https://tiktok.com/@me",
            "privacy_url": "javascript:alert(1)",
            "logo_url": "http://insecure.example/logo.png",
            "contact_email": "nope",
        },
    )
    assert response.status_code == 422
    found = errors(response)
    assert set(found) == {
        "accent_color",
        "handle_tiktok",
        "privacy_url",
        "logo_url",
        "contact_email",
    }
    assert "#rrggbb" in found["accent_color"]
    assert value_of(response, "accent_color") == "red"
    assert value_of(response, "name") == "Fine name"
    assert value_of(response, "privacy_url") == "javascript:alert(1)"
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert session.scalar(select(ShopSettings)) is None  # nothing half-saved


def test_a_logo_upload_is_stored_served_and_shown(admin: AdminClient, session: Session) -> None:  # noqa: F811
    response = admin.post(
        f"{ADMIN}/settings",
        data={"name": "Logo shop", "logo": (io.BytesIO(JPEG), "logo.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    logo = session.scalar(select(ShopSettings.logo_url))
    assert logo is not None
    assert re.fullmatch(r"/shop/media/[0-9a-f]{32}\.jpg", logo)
    served = admin.get(logo)
    assert served.status_code == 200
    assert served.content_type == "image/jpeg"
    assert served.data == JPEG
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    served.close()  # a file response: close it (filterwarnings=error)
    assert f'src="{logo}"' in admin.get("/shop/").get_data(as_text=True)
    assert admin.get("/shop/media/../../etc/passwd").status_code == 404
    assert admin.get("/shop/media/nothere.png").status_code == 404


@pytest.mark.parametrize("app_config", [{"SHOPPABLE_ADMIN_UPLOAD_MAX_BYTES": 1024}])
def test_uploads_are_checked_for_type_and_size(admin: AdminClient, session: Session) -> None:  # noqa: F811
    def upload(body: bytes, name: str) -> Any:
        return admin.post(
            f"{ADMIN}/posts/new",
            data={"caption": "Kept caption", "image": (io.BytesIO(body), name)},
            content_type="multipart/form-data",
        )

    svg = upload(
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.png"
    )
    assert svg.status_code == 422
    assert errors(svg)["image"] == "Choose a PNG, JPEG, GIF or WebP image."
    assert "Kept caption" in svg.get_data(as_text=True)
    html = upload(b"<html><script>alert(1)</script></html>", "x.jpg")
    assert errors(html)["image"] == "Choose a PNG, JPEG, GIF or WebP image."
    big = upload(PNG + bytes(2048), "big.png")
    assert big.status_code == 422
    assert "larger than 1 KB" in errors(big)["image"]
    # Far above the limit: the request is refused whole (413), never read into memory.
    body = b'--b\r\nContent-Disposition: form-data; name="image"; filename="h.png"\r\n\r\n'
    huge = admin.client.post(
        f"{ADMIN}/posts/new",
        data=body + PNG + bytes(1024 * 1024) + b"\r\n--b--\r\n",
        content_type="multipart/form-data; boundary=b",
    )
    assert huge.status_code == 413
    assert session.scalar(select(Post)) is None
    media = admin.client.application.instance_path + "/shoppable-media"
    import os

    assert not os.path.exists(media) or not os.listdir(media)


# --- products ---------------------------------------------------------------------------


def test_a_product_with_two_variants_made_on_the_page_is_in_the_database(
    admin: AdminClient,  # noqa: F811
    session: Session,
) -> None:
    product_id = create_product(admin, **{"variants-0-sku": "LIN-S"})
    product = session.get(Product, product_id)
    assert product is not None
    assert product.title == "Linen shirt"
    assert product.options == ["Size"]
    assert [(v.option1, v.price_amount, v.currency, v.stock, v.sku) for v in product.variants] == [
        ("S", 4900, "USD", 5, "LIN-S"),
        ("M", 4900, "USD", 3, None),
    ]
    page = admin.get(f"{ADMIN}/products/{product_id}")
    assert page.status_code == 200
    assert "created with 2 variant(s)" in page.get_data(as_text=True)
    listing = admin.get(f"{ADMIN}/products").get_data(as_text=True)
    assert "Linen shirt" in listing
    assert "49.00 USD" in listing
    assert "created with" not in listing  # a message is shown once


def test_the_product_form_shows_the_catalogs_messages_beside_the_fields(
    admin: AdminClient,  # noqa: F811
    session: Session,
) -> None:
    response = admin.post(
        f"{ADMIN}/products/new",
        data=product_form(
            title="   ",
            **{"variants-1-price": "12.345", "variants-1-options": "M / Blue"},
        ),
    )
    assert response.status_code == 422
    found = errors(response)
    assert "variants-1-price" in found
    assert "12.345" in found["variants-1-price"]
    assert "variants-1-options" in found
    assert "Size" in found["variants-1-options"]
    assert value_of(response, "variants-1-price") == "12.345"
    assert value_of(response, "variants-0-price") == "49.00"
    # The conversions pass: the schema's own rules answer (a blank title, same options).
    again = admin.post(
        f"{ADMIN}/products/new",
        data=product_form(title="   ", **{"variants-1-options": "S"}),
    )
    assert again.status_code == 422
    found = errors(again)
    assert found["title"] == "Must not be blank."
    assert "variants-1-options" in found
    assert session.scalar(select(Product)) is None
    # A taken SKU is the service's answer (409), shown beside the SKU.
    create_product(admin, **{"variants-0-sku": "TAKEN"})
    clash = admin.post(
        f"{ADMIN}/products/new",
        data=product_form(title="Other", **{"variants-0-sku": "TAKEN"}),
    )
    assert clash.status_code == 422
    assert "TAKEN" in errors(clash)["variants-0-sku"]


def test_stock_price_and_active_are_edited_per_variant(
    admin: AdminClient,  # noqa: F811
    session: Session,
) -> None:
    product_id = create_product(admin)
    variants = session.scalars(select(Variant).order_by(Variant.position)).all()
    first = variants[0]
    base = f"{ADMIN}/products/{product_id}/variants/{first.id}"
    bad = admin.post(base, data={f"v{first.id}-price": "49.00", f"v{first.id}-stock": "-2"})
    assert bad.status_code == 422
    assert "whole number" in errors(bad)[f"v{first.id}-stock"]
    assert value_of(bad, f"v{first.id}-stock") == "-2"
    ok = admin.post(
        base,
        data={
            f"v{first.id}-price": "45.50",
            f"v{first.id}-stock": "12",
            f"v{first.id}-options": "S",
        },
    )
    assert ok.status_code == 302
    session.expire_all()
    fresh = session.get(Variant, first.id)
    assert fresh is not None
    assert (fresh.price_amount, fresh.stock, fresh.active) == (4550, 12, False)
    added = admin.post(
        f"{ADMIN}/products/{product_id}/variants/new",
        data={"new-options": "L", "new-price": "52", "new-active": "on"},
    )
    assert added.status_code == 302
    duplicate = admin.post(
        f"{ADMIN}/products/{product_id}/variants/new",
        data={"new-options": "L", "new-price": "52"},
    )
    assert duplicate.status_code == 422
    assert "already has these option values" in errors(duplicate)["new-options"]
    hide = admin.post(
        f"{ADMIN}/products/{product_id}",
        data={"title": "Linen shirt", "handle": "linen-shirt", "options": "Size"},
    )
    assert hide.status_code == 302
    session.expire_all()
    product = session.get(Product, product_id)
    assert product is not None
    assert product.active is False
    assert len(product.variants) == 3


# --- posts -------------------------------------------------------------------------------


def test_a_post_is_created_tagged_previewed_and_published(
    admin: AdminClient,  # noqa: F811
    session: Session,
) -> None:
    product_id = create_product(admin)
    post_id = create_post(admin)
    post = session.get(Post, post_id)
    assert post is not None
    assert post.status == "draft"
    assert post.image_url.startswith("/shop/media/")
    early = admin.post(f"{ADMIN}/posts/{post_id}/publish")
    assert early.status_code == 302
    assert "no tagged product is active" in admin.get(early.headers["Location"]).get_data(
        as_text=True
    )
    bad = admin.post(
        f"{ADMIN}/posts/{post_id}/tags",
        data={"tags-0-product_id": str(product_id), "tags-0-x": "140", "tags-0-y": "20"},
    )
    assert bad.status_code == 422
    assert "less than or equal to 100" in errors(bad)["tags-0-x"]
    assert value_of(bad, "tags-0-x") == "140"
    one_axis = admin.post(
        f"{ADMIN}/posts/{post_id}/tags",
        data={"tags-0-product_id": str(product_id), "tags-0-x": "14", "tags-0-y": ""},
    )
    assert "Give both x and y" in errors(one_axis)["tags-0-y"]
    ok = admin.post(
        f"{ADMIN}/posts/{post_id}/tags",
        data={"tags-0-product_id": str(product_id), "tags-0-x": "33.5", "tags-0-y": "61.25"},
    )
    assert ok.status_code == 302
    tags = session.scalars(select(PostTag)).all()
    assert [(t.product_id, t.x, t.y) for t in tags] == [(product_id, 33.5, 61.25)]
    preview = admin.get(f"{ADMIN}/posts/{post_id}/preview")
    assert preview.status_code == 200
    assert 'data-testid="preview-banner"' in preview.get_data(as_text=True)
    assert "Linen shirt" in preview.get_data(as_text=True)
    slug = session.scalar(select(Post.slug).where(Post.id == post_id))
    assert admin.get(f"/shop/p/{slug}").status_code == 404  # still a draft
    assert admin.post(f"{ADMIN}/posts/{post_id}/publish").status_code == 302
    session.expire_all()
    assert session.scalar(select(Post.status).where(Post.id == post_id)) == "published"
    assert admin.get(f"/shop/p/{slug}").status_code == 200
    assert admin.post(f"{ADMIN}/posts/{post_id}/archive").status_code == 302
    assert admin.get(f"/shop/p/{slug}").status_code == 404


def test_a_post_may_link_an_image_instead(admin: AdminClient, session: Session) -> None:  # noqa: F811
    bad = admin.post(f"{ADMIN}/posts/new", data={"caption": "x", "image_url": "ftp://x/y.png"})
    assert bad.status_code == 422
    assert "image_url" in errors(bad)
    assert value_of(bad, "image_url") == "ftp://x/y.png"
    ok = admin.post(
        f"{ADMIN}/posts/new",
        data={"caption": "Linked", "image_url": "https://cdn.example/look.jpg", "slug": "linked"},
    )
    assert ok.status_code == 302
    assert session.scalar(select(Post.image_url).where(Post.slug == "linked")) == (
        "https://cdn.example/look.jpg"
    )
    taken = admin.post(f"{ADMIN}/posts/new", data={"caption": "Again", "slug": "linked"})
    assert taken.status_code == 422
    assert "already used" in errors(taken)["slug"]


# --- links ---------------------------------------------------------------------------------


def test_links_per_channel_with_copy_share_and_qr(admin: AdminClient, session: Session) -> None:  # noqa: F811
    product_id = create_product(admin)
    post_id = create_post(admin)
    admin.post(
        f"{ADMIN}/posts/{post_id}/tags",
        data={"tags-0-product_id": str(product_id), "tags-0-x": "50", "tags-0-y": "50"},
    )
    admin.post(f"{ADMIN}/posts/{post_id}/publish")
    for channel in ("instagram", "facebook"):
        response = admin.post(
            f"{ADMIN}/links/new",
            data={"channel": channel, "target": "post", "post_id": str(post_id), "partner": "ana"},
        )
        assert response.status_code == 302
    links = session.scalars(select(TrackedLink).order_by(TrackedLink.id)).all()
    assert [(link.channel, link.post_id, link.partner, link.utm_source) for link in links] == [
        ("instagram", post_id, "ana", "instagram"),
        ("facebook", post_id, "ana", "facebook"),
    ]
    page = admin.get(f"{ADMIN}/links?post={post_id}").get_data(as_text=True)
    for link in links:
        assert f'value="http://localhost/shop/s/{link.code}"' in page
        assert f'data-copy="#link-url-{link.id}"' in page
    assert (
        "https://www.facebook.com/sharer/sharer.php?u=http%3A%2F%2Flocalhost%2Fshop%2Fs%2F" in page
    )
    assert page.count('<svg viewBox="0 0') >= 2  # an inline QR code per link
    qr = admin.get(f"{ADMIN}/links/{links[0].id}/qr.svg")
    assert qr.status_code == 200
    assert qr.content_type == "image/svg+xml"
    assert qr.data.startswith(b"<?xml")
    # The link works for a shopper.
    follow = admin.client.application.test_client().get(f"/shop/s/{links[0].code}")
    assert follow.status_code == 302
    # Bad values are named beside the fields.
    bad = admin.post(f"{ADMIN}/links/new", data={"channel": "myspace", "target": "post"})
    assert bad.status_code == 422
    found = errors(bad)
    assert "channel" in found
    assert "post_id" in found
    off = admin.post(f"{ADMIN}/links/{links[0].id}/active", data={})
    assert off.status_code == 302
    session.expire_all()
    assert session.get(TrackedLink, links[0].id).active is False  # type: ignore[union-attr]


def test_pages_name_fields_for_people_and_browser_tests(admin: AdminClient) -> None:  # noqa: F811
    """Every input of the pages has a label pointing at it (by id)."""
    create_product(admin)
    post_id = create_post(admin)
    for path in (
        f"{ADMIN}/settings",
        f"{ADMIN}/products/new",
        f"{ADMIN}/products/1",
        f"{ADMIN}/posts/new",
        f"{ADMIN}/posts/{post_id}",
        f"{ADMIN}/links",
    ):
        html = admin.get(path).get_data(as_text=True)
        ids = re.findall(
            r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\sid="([^"]+)"', html
        )
        assert ids, path
        labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
        assert not [i for i in ids if i not in labelled], path


def test_unknown_ids_are_404(admin: AdminClient, app: Flask) -> None:  # noqa: F811
    for path in (f"{ADMIN}/products/999", f"{ADMIN}/posts/999", f"{ADMIN}/posts/999/preview"):
        assert admin.get(path).status_code == 404
    assert admin.post(f"{ADMIN}/links/999/active").status_code == 404


def test_a_product_image_may_be_uploaded(admin: AdminClient, session: Session) -> None:  # noqa: F811
    data: dict[str, Any] = product_form(image_alt="The shirt")
    data["image"] = (io.BytesIO(PNG), "shirt.png")
    response = admin.post(f"{ADMIN}/products/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    images = session.scalar(select(Product.images))
    assert images is not None
    assert re.fullmatch(r"http://localhost/shop/media/[0-9a-f]{32}\.png", images[0]["url"])
    assert images[0]["alt"] == "The shirt"
    served = admin.get(images[0]["url"].removeprefix("http://localhost"))
    assert served.data == PNG
    served.close()
    bad = dict(product_form(title="Other"), image=(io.BytesIO(b"GIF00a"), "x.gif"))
    refused = admin.post(f"{ADMIN}/products/new", data=bad, content_type="multipart/form-data")
    assert refused.status_code == 422
    assert errors(refused)["image"] == "Choose a PNG, JPEG, GIF or WebP image."
    assert value_of(refused, "title") == "Other"


@pytest.mark.parametrize("listing", ["products", "posts", "links"])
def test_long_lists_are_paged_keeping_their_filters(
    admin: AdminClient,  # noqa: F811
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    listing: str,
) -> None:
    """Five rows, two a page: pages 1 to 3, newest first, the filter kept in the pager's
    links, a page past the end showing the last one; nothing beyond the list lost."""
    import flask_shoppable.admin.listing as listing_module
    import flask_shoppable.admin.posts as posts_module
    import flask_shoppable.admin.products as products_module

    for module in (listing_module, products_module, posts_module):
        monkeypatch.setattr(module, "PAGE_SIZE", 2)
    names = [f"item-{i}" for i in range(5)]
    if listing == "products":
        for name in names:
            make_product(session, name, title=name.replace("-", " ").title())
        make_product(session, "other-thing", title="Other Thing")
        query, marker = "q=Item", lambda name: name.replace("-", " ").title()
        excluded = "Other Thing"
    elif listing == "posts":
        for name in names:
            make_post(session, name, caption=f"Caption {name}", status="draft")
        make_post(session, "published-one", caption="Caption published-one")
        query, marker = "status=draft", lambda name: f"Caption {name}"
        excluded = "Caption published-one"
    else:
        post = make_post(session, "the-post", caption="The post")
        session.flush()
        for name in names:
            session.add(_link(post.id, f"{name}xyzw", "instagram", name))
        session.add(_link(post.id, "facebookxyzw", "facebook", "on-facebook"))
        query, marker = "channel=instagram", lambda name: f"{name}xyzw"
        excluded = "facebookxyzw"
    session.commit()
    seen: list[str] = []
    for number in (1, 2, 3):
        html = admin.get(f"{ADMIN}/{listing}?{query}&page={number}").get_data(as_text=True)
        assert f"Page {number} of 3" in html
        seen += sorted((n for n in names if marker(n) in html), key=lambda n: html.index(marker(n)))
        if number < 3:
            assert re.search(rf'href="[^"]*{query}[^"]*page={number + 1}|'
                             rf'href="[^"]*page={number + 1}[^"]*{query}', html)  # fmt: skip
        assert excluded not in html
    assert seen == list(reversed(names))  # each once, newest first
    last = admin.get(f"{ADMIN}/{listing}?{query}&page=99").get_data(as_text=True)
    assert "Page 3 of 3" in last
    assert marker(names[0]) in last
    assert admin.get(f"{ADMIN}/{listing}?{query}&page=x").status_code == 200
    # url_for's own options never come from the URL (no javascript: pager links).
    crafted = "_external=1&_scheme=javascript&_anchor=%0Aalert(1)"
    html = admin.get(f"{ADMIN}/{listing}?{query}&{crafted}").get_data(as_text=True)
    assert "Page 1 of 3" in html
    assert "javascript" not in html
    assert "alert(1)" not in html


def _link(post_id: int, code: str, channel: str, label: str) -> TrackedLink:
    return TrackedLink(
        code=code,
        target="post",
        post_id=post_id,
        channel=channel,
        utm_source=channel,
        utm_medium="social",
        label=label,
    )
