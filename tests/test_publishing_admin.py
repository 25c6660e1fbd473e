"""The Channels admin page: connect, publish (and its refusals), disconnect, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable.publishing.models import ChannelAccount, Publication
from tests.admin_helpers import ADMIN, AdminClient, admin  # noqa: F401  (fixture)

from .publishing_helpers import ACCOUNT_IDS, Fakes, run_outbox, running_fakes, shop_post


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture
def app_config(fakes: Fakes) -> dict[str, Any]:
    return fakes.config()


def test_connect_publish_and_disconnect_from_the_channels_page(
    app: Flask,
    admin: AdminClient,  # noqa: F811
    session: Session,
    fakes: Fakes,
) -> None:
    page = admin.get(f"{ADMIN}/channels")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="nav-channels"' in html
    assert "No account connected yet" in html

    token = fakes.tokens["x"]
    connected = admin.post(
        f"{ADMIN}/channels/connect",
        data={"channel": "x", "account_id": ACCOUNT_IDS["x"], "name": "Shop X", "token": token},
    )
    assert connected.status_code == 302
    account = session.scalars(select(ChannelAccount)).one()
    listing = admin.get(f"{ADMIN}/channels").get_data(as_text=True)
    assert "Shop X" in listing
    assert token not in listing  # never shown again

    refused = admin.post(
        f"{ADMIN}/channels/connect",
        data={"channel": "instagram", "account_id": "not-a-number", "token": "secret-token-x"},
    )
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "Must be the Instagram business account id (digits)." in body
    assert "secret-token-x" not in body  # the typed token is not echoed back

    post = shop_post(session, fakes.images.image_url(), caption="w " * 200)
    too_long = admin.post(
        f"{ADMIN}/channels/publish", data={"post_id": str(post.id), "accounts": str(account.id)}
    )
    assert too_long.status_code == 422
    assert "X allows 280" in too_long.get_data(as_text=True)
    past = admin.post(
        f"{ADMIN}/channels/publish",
        data={
            "post_id": str(post.id),
            "accounts": str(account.id),
            "publish_at": "2020-01-01T10:00",
        },
    )
    assert past.status_code == 422
    assert "is in the past" in past.get_data(as_text=True)
    assert session.scalars(select(Publication)).all() == []

    post.caption = "Linen for the long evenings"
    session.commit()
    published = admin.post(
        f"{ADMIN}/channels/publish", data={"post_id": str(post.id), "accounts": str(account.id)}
    )
    assert published.status_code == 302
    assert run_outbox(app) == 1
    (tweet,) = fakes.x.tweets
    listing = admin.get(f"{ADMIN}/channels").get_data(as_text=True)
    assert tweet["id"] in listing
    assert ">published<" in listing

    gone = admin.post(f"{ADMIN}/channels/{account.id}/disconnect")
    assert gone.status_code == 302
    session.expire_all()
    assert session.get(ChannelAccount, account.id).token_encrypted is None  # type: ignore[union-attr]
    assert "disconnected" in admin.get(f"{ADMIN}/channels").get_data(as_text=True)


def test_the_channels_page_needs_a_merchant(app: Flask, client: Any) -> None:
    assert client.get(f"{ADMIN}/channels").status_code in (302, 401)
    assert client.post(f"{ADMIN}/channels/publish", data={}).status_code in (400, 401, 403)
