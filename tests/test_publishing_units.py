"""Publishing's pure parts (image headers, platform rules, token encryption) and its commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_shoppable._fakes.images import image_bytes
from flask_shoppable.config import ConfigError
from flask_shoppable.publishing import crypto, rules
from flask_shoppable.publishing.images import ImageInfo, probe
from flask_shoppable.publishing.models import ChannelAccount, Publication
from flask_shoppable.publishing.service import compose

from .conftest import make_app
from .publishing_helpers import shop_post

# --- image headers and rules (pure) ------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name"), [("jpg", "jpeg"), ("png", "png"), ("gif", "gif"), ("webp", "webp")]
)
def test_probe_reads_format_and_size(fmt: str, name: str) -> None:
    assert probe(image_bytes(fmt, 1080, 1350)) == (name, 1080, 1350)


def test_probe_of_what_is_no_image() -> None:
    assert probe(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>") == ("", 0, 0)
    assert probe(b"") == ("", 0, 0)


def test_rules_name_the_broken_one() -> None:
    square = ImageInfo("jpeg", 1080, 1080, 200_000, "image/jpeg")
    assert rules.image_problems("instagram", square) == []
    assert rules.image_problems("x", ImageInfo("", 0, 0, 10, "image/svg+xml")) == []  # no image
    svg = ImageInfo("", 0, 0, 1000, "image/svg+xml")
    assert rules.image_problems("pinterest", svg) == [
        "image type: Pinterest takes BMP, JPEG, PNG, TIFF, GIF, WEBP; this image is not an "
        "image format we know (image/svg+xml)"
    ]
    edge = ImageInfo("jpeg", 1080, 1350, 1000, "image/jpeg")  # exactly 4:5
    assert rules.image_problems("instagram", edge) == []


def test_caption_lengths_as_the_platforms_count() -> None:
    url = "http://shop.example.com/shop/s/aB3dE5gH7j"
    assert rules.caption_length("x", f"{'a' * 256} {url}") == 280
    assert rules.caption_problems("x", f"{'a' * 256} {url}") == []
    assert rules.caption_problems("x", f"{'a' * 257} {url}")[0].startswith(
        "the caption is 281 characters (each URL counted as 23), X allows 280"
    )
    assert rules.caption_problems("pinterest", "d" * 801)[0].startswith(
        "the description is 801 characters, Pinterest allows 800"
    )
    assert rules.caption_problems("pinterest", "ok", title="t" * 101) == [
        "the title is 101 characters, Pinterest allows 100"
    ]
    assert rules.caption_problems("linkedin", "c" * 3000) == []
    assert compose("instagram", "  Hi ", url) == "Hi\n\nShop this look: link in bio."
    assert compose("x", "", url) == url


# --- tokens at rest -----------------------------------------------------------------------


def test_multifernet_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = crypto.build({"SHOPPABLE_TOKEN_KEYS": [old]})
    stored = crypto.encrypt("EAAG-secret", before)
    after = crypto.build({"SHOPPABLE_TOKEN_KEYS": f"{new},{old}"})
    assert crypto.decrypt(stored, after) == "EAAG-secret"
    assert not crypto.is_newest(stored, after)
    rotated = crypto.rotate(stored, after)
    assert crypto.is_newest(rotated, after)
    only_new = crypto.build({"SHOPPABLE_TOKEN_KEYS": [new]})
    assert crypto.decrypt(rotated, only_new) == "EAAG-secret"
    with pytest.raises(crypto.TokenKeyError, match="reconnect the account"):
        crypto.decrypt(stored, only_new)
    derived = crypto.build({"SHOPPABLE_TOKEN_KEYS": [], "SHOPPABLE_SECRET_KEY": "s" * 32})
    assert crypto.decrypt(crypto.encrypt("t", derived), derived) == "t"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SHOPPABLE_TOKEN_KEYS", ["not-a-fernet-key"]),
        ("SHOPPABLE_TOKEN_KEYS", 42),
        ("SHOPPABLE_X_API_URL", "api.x.com"),
        ("SHOPPABLE_LINKEDIN_VERSION", "2026-10"),
        ("SHOPPABLE_INSTAGRAM_POLLS", 0),
        ("SHOPPABLE_PUBLISH_TIMEOUT", 0),
    ],
)
def test_bad_settings_fail_at_start_naming_the_key(
    database_url: str, tmp_path: Path, key: str, value: Any
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_app(database_url, tmp_path / "instance", **{key: value})
    assert caught.value.key == key


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"SHOPPABLE_TOKEN_KEYS": [OLD_KEY]}


OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def test_rotate_token_keys_command(app: Flask, session: Session) -> None:
    with app.test_request_context():
        stored = crypto.encrypt("EAAG-token-of-a-page")
    session.add(ChannelAccount(channel="facebook", account_id="1", token_encrypted=stored))
    session.add(ChannelAccount(channel="x", account_id="2", token_encrypted=None))
    session.commit()
    app.config["SHOPPABLE_TOKEN_KEYS"] = [NEW_KEY, OLD_KEY]
    app.extensions["shoppable"].extra.pop("publishing_fernet", None)
    result = app.test_cli_runner().invoke(args=["shoppable", "rotate-token-keys"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 of 1 stored tokens" in result.output
    session.expire_all()
    row = session.scalars(select(ChannelAccount).where(ChannelAccount.channel == "facebook")).one()
    assert row.token_encrypted != stored
    new_only = crypto.build({"SHOPPABLE_TOKEN_KEYS": [NEW_KEY]})
    assert crypto.decrypt(row.token_encrypted or "", new_only) == "EAAG-token-of-a-page"
    assert "EAAG-token-of-a-page" not in result.output


def test_publish_demo_command_publishes_to_local_fakes(app: Flask, session: Session) -> None:
    post = shop_post(session, "/static/demo/linen.svg")  # an SVG, as the demo's are
    runner = app.test_cli_runner()
    result = runner.invoke(args=["shoppable", "publish-demo", "--post", post.slug])
    assert result.exit_code == 0, result.output
    rows = session.scalars(select(Publication)).all()
    assert sorted(r.channel for r in rows) == [
        "facebook",
        "instagram",
        "linkedin",
        "pinterest",
        "x",
    ]
    assert {r.state for r in rows} == {"published"}
    for row in rows:
        assert row.platform_post_id in result.output
    assert "/shop/s/" in result.output
    # The demo accounts go with the fakes; a second run says the post is already there.
    assert all(not a.connected for a in session.scalars(select(ChannelAccount)))
    again = runner.invoke(args=["shoppable", "publish-demo", "--post", post.slug])
    assert again.exit_code != 0
    assert "already published" in again.output
