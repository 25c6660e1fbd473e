"""Channels and their share-intent URLs (pure logic: parsed back with urllib.parse)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from flask_shoppable.social.channels import (
    CHANNELS,
    EMAIL_SUBJECT_MAX,
    PINTEREST_TEXT_MAX,
    X_TEXT_MAX,
    Channel,
    share_url,
)

TRACKED = "https://shop.example.com/shop/s/aB3dE5gH7j"
IMAGE = "https://cdn.example.com/look.jpg?w=1200&h=630"
#: Every character that could break out of a query parameter or a URL.
NASTY = 'Linen & sun = 50% off? #summer / a+b "quoted" <b>tag</b>\nline two é 🌞'


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)


def test_the_channels_and_their_utm_defaults() -> None:
    assert list(CHANNELS) == [
        "facebook",
        "instagram",
        "x",
        "linkedin",
        "pinterest",
        "tiktok",
        "youtube",
        "blog",
        "email",
        "other",
    ]
    for name, channel in CHANNELS.items():
        assert channel.name == name
        assert channel.label
        assert channel.utm_source
        assert channel.utm_medium
    assert (CHANNELS["instagram"].utm_source, CHANNELS["instagram"].utm_medium) == (
        "instagram",
        "social",
    )
    assert CHANNELS["email"].utm_medium == "email"


@pytest.mark.parametrize("name", ["instagram", "tiktok", "youtube", "blog", "other"])
def test_channels_without_a_share_intent(name: str) -> None:
    assert CHANNELS[name].can_share is False
    assert share_url(name, TRACKED, NASTY, IMAGE) is None


def test_x_intent() -> None:
    url = share_url("x", TRACKED, NASTY, IMAGE)
    assert url is not None
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        "https",
        "twitter.com",
        "/intent/tweet",
        "",
    )
    assert query(url) == {"text": [NASTY], "url": [TRACKED]}


def test_facebook_sharer_takes_only_the_url() -> None:
    url = share_url("facebook", TRACKED, NASTY, IMAGE)
    assert url is not None
    assert url.startswith("https://www.facebook.com/sharer/sharer.php?")
    assert query(url) == {"u": [TRACKED]}


def test_linkedin_share_takes_only_the_url() -> None:
    url = share_url("linkedin", TRACKED, NASTY, IMAGE)
    assert url is not None
    assert url.startswith("https://www.linkedin.com/sharing/share-offsite/?")
    assert query(url) == {"url": [TRACKED]}


def test_pinterest_pin_create_with_and_without_an_image() -> None:
    url = share_url("pinterest", TRACKED, NASTY, IMAGE)
    assert url is not None
    assert url.startswith("https://www.pinterest.com/pin/create/button/?")
    assert query(url) == {"url": [TRACKED], "media": [IMAGE], "description": [NASTY]}
    without = share_url("pinterest", TRACKED, "Look")
    assert without is not None
    assert query(without) == {"url": [TRACKED], "description": ["Look"]}


def test_mailto_follows_rfc_6068() -> None:
    url = share_url("email", TRACKED, NASTY)
    assert url is not None
    parts = urlsplit(url)
    assert (parts.scheme, parts.path) == ("mailto", "")
    # Spaces are %20 (a + would stay a + in a mail client), line breaks CRLF.
    assert "+" not in url.replace("%2B", "")
    fields = query(url)
    assert fields["subject"] == [" ".join(NASTY.split())]
    assert fields["body"] == [NASTY.replace("\n", "\r\n") + "\r\n\r\n" + TRACKED]
    assert query(share_url("email", TRACKED) or "") == {"body": [TRACKED]}


def test_long_texts_are_cut_to_what_the_platform_takes() -> None:
    text = "word " * 400
    x = query(share_url("x", TRACKED, text) or "")["text"][0]
    assert len(x) <= X_TEXT_MAX
    assert x.endswith("\u2026")
    pin = query(share_url("pinterest", TRACKED, text) or "")["description"][0]
    assert len(pin) <= PINTEREST_TEXT_MAX
    subject = query(share_url("email", TRACKED, text) or "")["subject"][0]
    assert len(subject) <= EMAIL_SUBJECT_MAX


def test_a_channel_object_or_name_and_unknown_names() -> None:
    assert share_url(CHANNELS["x"], TRACKED) == share_url("x", TRACKED)
    assert CHANNELS["x"].share_url(TRACKED, "hi") == share_url("x", TRACKED, "hi")
    with pytest.raises(KeyError):
        share_url("myspace", TRACKED)
    assert Channel("custom", "Custom", "custom", "referral").share_url(TRACKED) is None
