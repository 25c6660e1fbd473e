"""Publishing's merchant API: connecting accounts, and every refusal before any call is made."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.db import utcnow
from flask_shoppable.publishing.models import ChannelAccount, Publication
from flask_shoppable.social.models import TrackedLink

from .conftest import ApiClient
from .publishing_helpers import (
    BOARD_ID,
    CHANNELS,
    ORG_ID,
    Fakes,
    connect_all,
    running_fakes,
    shop_post,
)


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture
def app_config(fakes: Fakes) -> dict[str, Any]:
    return fakes.config()


def _calls(fakes: Fakes) -> int:
    """Requests the platforms received (the image host is not a platform)."""
    return sum(len(fake.received) for fake in fakes.all())


# --- accounts ----------------------------------------------------------------------------


def test_connect_list_and_disconnect_never_show_the_token(
    api: ApiClient, session: Session, fakes: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expires = (utcnow() + timedelta(days=60)).replace(microsecond=0)
    token = fakes.tokens["linkedin"]
    response = api.post(
        "/channel-accounts",
        json={
            "channel": "linkedin",
            "account_id": f"urn:li:organization:{ORG_ID}",
            "name": "Linen & Co",
            "token": token,
            "expires_at": expires.isoformat(),
        },
    )
    assert response.status_code == 201, response.json
    account = response.json
    assert account["account_id"] == ORG_ID  # the URN is normalised to the id
    assert account["has_token"] is True
    assert account["expired"] is False
    assert account["expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M:%S"))
    assert "token" not in account
    assert token not in response.get_data(as_text=True)

    listed = api.get("/channel-accounts").json
    assert [a["id"] for a in listed] == [account["id"]]
    assert token not in api.get(f"/channel-accounts/{account['id']}").get_data(as_text=True)
    spec = api.get("/openapi.json").get_data(as_text=True)
    assert "/channel-accounts" in spec
    assert "/posts/{post_id}/publications" in spec

    row = session.get(ChannelAccount, account["id"])
    assert row is not None
    assert row.token_encrypted
    assert token not in row.token_encrypted
    assert token not in caplog.text

    gone = api.delete(f"/channel-accounts/{account['id']}")
    assert gone.status_code == 200
    assert gone.json["connected"] is False
    assert gone.json["has_token"] is False
    session.expire_all()
    assert session.get(ChannelAccount, account["id"]).token_encrypted is None  # type: ignore[union-attr]

    # Reconnecting the same organisation keeps the row (and its history).
    again = api.post(
        "/channel-accounts",
        json={"channel": "linkedin", "account_id": ORG_ID, "token": fakes.linkedin.add_token()},
    )
    assert again.status_code == 200
    assert again.json["id"] == account["id"]
    assert again.json["connected"] is True
    assert again.json["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "myspace", "account_id": "1", "token": "t" * 20}, "channel"),
        ({"channel": "instagram", "account_id": "not-digits", "token": "t" * 20}, "account_id"),
        ({"channel": "x", "account_id": "12"}, "token"),
        ({"channel": "x", "account_id": "12", "token": "t" * 20, "catalog_id": "9"}, "catalog_id"),
        (
            {"channel": "x", "account_id": "12", "token": "t" * 20, "expires_at": "2001-01-01"},
            "expires_at",
        ),
    ],
)
def test_bad_accounts_are_refused(
    api: ApiClient, session: Session, body: dict[str, Any], field: str
) -> None:
    response = api.post("/channel-accounts", json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert session.scalars(select(ChannelAccount)).all() == []


def test_accounts_need_an_api_key(client: Any, read_auth: dict[str, str]) -> None:
    assert client.get("/shop/api/channel-accounts").status_code == 401
    refused = client.post(
        "/shop/api/channel-accounts",
        json={"channel": "x", "account_id": "1", "token": "t" * 20},
        headers=read_auth,
    )
    assert refused.status_code == 403


# --- publishing: what is made ------------------------------------------------------------


def test_publish_makes_one_publication_link_and_message_per_account(
    api: ApiClient, session: Session, fakes: Fakes
) -> None:
    ids = connect_all(api, fakes)
    post = shop_post(session, fakes.images.image_url("look", "jpg", width=1080, height=1350))
    at = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    response = api.post(
        f"/posts/{post.id}/publications",
        json={"accounts": list(ids.values()), "publish_at": at.isoformat()},
    )
    assert response.status_code == 202, response.json
    made = {p["channel"]: p for p in response.json}
    assert set(made) == set(CHANNELS)
    assert all(p["state"] == "scheduled" for p in made.values())

    links = {link.channel: link for link in session.scalars(select(TrackedLink))}
    assert set(links) == set(CHANNELS)  # one link of its own per channel
    for channel, publication in made.items():
        link = links[channel]
        assert publication["link_url"] == f"http://shop.test/shop/s/{link.code}"
        assert link.post_id == post.id
        assert link.utm_campaign == "summer"
        assert link.utm_content == f"publication-{publication['id']}"
    caption = "Linen for the long evenings #summer"
    assert made["instagram"]["caption"] == f"{caption}\n\nShop this look: link in bio."
    assert made["facebook"]["caption"] == f"{caption}\n\nShop: {made['facebook']['link_url']}"
    assert made["linkedin"]["caption"] == f"{caption}\n\nShop: {made['linkedin']['link_url']}"
    assert made["x"]["caption"] == f"{caption} {made['x']['link_url']}"
    assert made["pinterest"]["caption"] == caption  # the pin's link is its own field
    assert made["pinterest"]["title"] == "Linen Summer Shirt"

    messages = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.sink, m.key) for m in messages] == [
        (f"publish_{p['channel']}", f"publication:{p['id']}") for p in response.json
    ]
    assert all(m.next_attempt_at == at and m.status == "pending" for m in messages)
    assert _calls(fakes) == 0  # nothing is sent before it is due

    listed = api.get(f"/posts/{post.id}/publications")
    assert [p["id"] for p in listed.json] == [p["id"] for p in response.json]
    assert api.get(f"/posts/{post.id}/publications?state=published").json == []

    # The same post again on the same account: refused, nothing new.
    again = api.post(f"/posts/{post.id}/publications", json={"channels": ["x"]})
    assert again.status_code == 409
    assert "already scheduled" in again.json["message"]
    assert len(session.scalars(select(Publication)).all()) == 5

    # Cancel one: it is failed with the reason, and can be published anew.
    cancelled = api.post(f"/publications/{made['x']['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json["state"] == "failed"
    assert cancelled.json["failure_reason"] == "cancelled by the merchant"
    assert api.post(f"/publications/{made['x']['id']}/cancel").status_code == 409
    assert api.post(f"/posts/{post.id}/publications", json={"channels": ["x"]}).status_code == 202


# --- publishing: refusals ----------------------------------------------------------------


def _refused(api: ApiClient, session: Session, fakes: Fakes, post_id: int, body: Any) -> Any:
    before = len(session.scalars(select(TrackedLink)).all())
    response = api.post(f"/posts/{post_id}/publications", json=body)
    session.expire_all()
    assert session.scalars(select(Publication)).all() == []  # nothing half-written
    assert session.scalars(select(OutboxMessage)).all() == []
    assert len(session.scalars(select(TrackedLink)).all()) == before
    assert _calls(fakes) == 0
    return response


@pytest.mark.parametrize(
    ("channel", "image", "expected"),
    [
        (
            "instagram",
            {"fmt": "png"},
            "image type: Instagram takes JPEG; this image is PNG",
        ),
        (
            "instagram",
            {"width": 1080, "height": 1920},
            "aspect ratio: Instagram takes 4:5 to 1.91:1; 1080x1920 is 0.56:1, too tall",
        ),
        (
            "instagram",
            {"width": 2000, "height": 1000},
            "aspect ratio: Instagram takes 4:5 to 1.91:1; 2000x1000 is 2.00:1, too wide",
        ),
        (
            "instagram",
            {"size": 9 * 1024 * 1024},
            "image size: Instagram takes JPEG images up to 8.0 MB; this one is 9.0 MB",
        ),
        (
            "facebook",
            {"fmt": "png", "size": 2 * 1024 * 1024},
            "image size: Facebook takes PNG images up to 1.0 MB; this one is 2.0 MB",
        ),
        ("facebook", {"fmt": "webp"}, "image type: Facebook takes JPEG, BMP, PNG, GIF, TIFF"),
    ],
)
def test_an_image_the_platform_cannot_take_says_which_rule(
    api: ApiClient,
    session: Session,
    fakes: Fakes,
    channel: str,
    image: dict[str, Any],
    expected: str,
) -> None:
    connect_all(api, fakes)
    post = shop_post(session, fakes.images.image_url("look", **image))
    response = _refused(api, session, fakes, post.id, {"channels": [channel, "x"]})
    assert response.status_code == 422
    assert expected in response.json["message"]
    (problems,) = response.json["errors"]["json"]["accounts"].values()
    assert any(expected in p for p in problems)


def test_an_image_that_cannot_be_fetched_is_refused(
    api: ApiClient, session: Session, fakes: Fakes
) -> None:
    connect_all(api, fakes)
    post = shop_post(session, f"{fakes.images.url}/missing.txt")
    response = _refused(api, session, fakes, post.id, {"channels": ["facebook"]})
    assert response.status_code == 422
    assert "HTTP 404" in response.json["message"]


def test_a_caption_over_the_limit_is_refused_never_cut(
    api: ApiClient, session: Session, fakes: Fakes
) -> None:
    connect_all(api, fakes)
    post = shop_post(session, fakes.images.image_url(), caption="word " * 60)  # 300 characters
    response = _refused(api, session, fakes, post.id, {"channels": ["x", "facebook"]})
    assert response.status_code == 422
    # 299 characters + a space + the link counted as 23 = 323.
    assert (
        "the caption is 323 characters (each URL counted as 23), X allows 280"
        in (response.json["message"])
    )
    assert "never cut" in response.json["message"]
    # A caption of X's own fixes it; Facebook takes the long one.
    fixed = api.post(
        f"/posts/{post.id}/publications",
        json={"channels": ["x", "facebook"], "captions": {"x": "Linen, at last."}},
    )
    assert fixed.status_code == 202, fixed.json
    by_channel = {p["channel"]: p for p in fixed.json}
    assert by_channel["x"]["caption"].startswith("Linen, at last. http://shop.test/shop/s/")
    assert by_channel["facebook"]["caption"].startswith("word word")


def test_too_many_hashtags_for_instagram(api: ApiClient, session: Session, fakes: Fakes) -> None:
    connect_all(api, fakes)
    caption = " ".join(f"#tag{n}" for n in range(31))
    post = shop_post(session, fakes.images.image_url(), caption=caption)
    response = _refused(api, session, fakes, post.id, {"channels": ["instagram"]})
    assert response.status_code == 422
    assert "Instagram allows at most 30 hashtags" in response.json["message"]


def test_a_schedule_in_the_past_is_400(api: ApiClient, session: Session, fakes: Fakes) -> None:
    connect_all(api, fakes)
    post = shop_post(session, fakes.images.image_url())
    past = (utcnow() - timedelta(minutes=5)).isoformat()
    response = _refused(api, session, fakes, post.id, {"channels": ["x"], "publish_at": past})
    assert response.status_code == 400
    assert "is in the past" in response.json["message"]
    assert "publish_at" in response.json["errors"]["json"]


def test_unknown_and_disconnected_accounts(api: ApiClient, session: Session, fakes: Fakes) -> None:
    ids = connect_all(api, fakes)
    post = shop_post(session, fakes.images.image_url())
    unknown = _refused(api, session, fakes, post.id, {"accounts": [ids["x"], 999]})
    assert unknown.status_code == 422
    assert unknown.json["errors"]["json"]["accounts"] == {"1": ["No channel account with id 999."]}

    assert api.delete(f"/channel-accounts/{ids['pinterest']}").status_code == 200
    gone = _refused(api, session, fakes, post.id, {"accounts": [ids["pinterest"]]})
    assert gone.status_code == 422
    assert (
        f"Pinterest account {ids['pinterest']} 'Shop on pinterest' is disconnected"
        in (gone.json["message"])
    )
    no_channel = _refused(api, session, fakes, post.id, {"channels": ["pinterest"]})
    assert no_channel.status_code == 422
    assert "No connected Pinterest account" in str(no_channel.json["errors"])
    nothing = _refused(api, session, fakes, post.id, {})
    assert nothing.status_code == 422
    assert api.post("/posts/999/publications", json={"channels": ["x"]}).status_code == 404


def test_an_expired_token_at_schedule_time(api: ApiClient, session: Session, fakes: Fakes) -> None:
    ids = connect_all(api, fakes, expires_in=timedelta(days=1))
    post = shop_post(session, fakes.images.image_url())
    row = session.get(ChannelAccount, ids["instagram"])
    assert row is not None
    row.token_expires_at = utcnow() - timedelta(minutes=1)
    session.commit()
    response = _refused(api, session, fakes, post.id, {"accounts": [ids["instagram"]]})
    assert response.status_code == 422
    assert "token expired at" in response.json["message"]
    assert "reconnect it with a fresh token" in response.json["message"]
    listed = {a["id"]: a for a in api.get("/channel-accounts").json}
    assert listed[ids["instagram"]]["expired"] is True


def test_a_draft_post_is_not_published(api: ApiClient, session: Session, fakes: Fakes) -> None:
    connect_all(api, fakes)
    post = shop_post(session, fakes.images.image_url(), status="draft")
    response = _refused(api, session, fakes, post.id, {"channels": ["x"]})
    assert response.status_code == 409
    assert "publish it there first" in response.json["message"]


def test_unknown_fields_and_channels(api: ApiClient, session: Session, fakes: Fakes) -> None:
    post = shop_post(session, fakes.images.image_url())
    for body in ({"channels": ["myspace"]}, {"channels": ["x"], "when": "now"}):
        response = _refused(api, session, fakes, post.id, body)
        assert response.status_code == 422


def test_board_id_is_the_pinterest_account(api: ApiClient, fakes: Fakes) -> None:
    connected = connect_all(api, fakes)
    listed = {a["channel"]: a for a in api.get("/channel-accounts?channel=pinterest").json}
    assert listed["pinterest"]["account_id"] == BOARD_ID
    assert listed["pinterest"]["id"] == connected["pinterest"]


def test_an_image_on_a_private_address_is_refused(
    app: Any, api: ApiClient, session: Session, fakes: Fakes
) -> None:
    app.config["SHOPPABLE_PUBLISH_LOCAL_IMAGES"] = False  # as in production
    connect_all(api, fakes)
    post = shop_post(session, fakes.images.image_url())
    response = _refused(api, session, fakes, post.id, {"channels": ["instagram"]})
    assert response.status_code == 422
    assert "an address the platforms cannot reach (127.0.0.1)" in response.json["message"]
    assert fakes.images.received == []  # not even fetched
