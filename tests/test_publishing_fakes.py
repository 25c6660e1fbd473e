"""The platform fakes refuse what the platforms refuse (so a test passing against them means
something): tokens, versioned headers, payload shapes, limits, duplicates, not-ready media."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from .publishing_helpers import BOARD_ID, IG_ACCOUNT, ORG_ID, PAGE_ID, Fakes, running_fakes


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_graph_tokens_and_instagram_publishing(fakes: Fakes) -> None:
    graph, token = fakes.graph, fakes.tokens["instagram"]
    base = f"{graph.url}/v21.0"
    data = {"image_url": "https://cdn.example.com/a.jpg", "caption": "Hi"}
    with requests.Session() as http:
        missing = http.post(f"{base}/{IG_ACCOUNT}/media", data=data)
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == 2500
        expired = graph.add_token(expired=True)
        refused = http.post(f"{base}/{IG_ACCOUNT}/media", data=data, headers=_bearer(expired))
        assert refused.status_code == 401
        assert (refused.json()["error"]["code"], refused.json()["error"]["error_subcode"]) == (
            190,
            463,
        )
        unknown = http.post(f"{base}/999/media", data=data, headers=_bearer(token))
        assert unknown.json()["error"]["error_subcode"] == 33
        no_image = http.post(
            f"{base}/{IG_ACCOUNT}/media", data={"caption": "x"}, headers=_bearer(token)
        )
        assert no_image.status_code == 400
        long = http.post(
            f"{base}/{IG_ACCOUNT}/media",
            data={**data, "caption": "c" * 2201},
            headers=_bearer(token),
        )
        assert long.status_code == 400
        bad_tags = http.post(
            f"{base}/{IG_ACCOUNT}/media",
            data={**data, "product_tags": json.dumps([{"product_id": "1", "x": 2, "y": 0}])},
            headers=_bearer(token),
        )
        assert "from 0.0 to 1.0" in bad_tags.json()["error"]["message"]

        graph.publishing.in_progress_polls = 1
        container = http.post(f"{base}/{IG_ACCOUNT}/media", data=data, headers=_bearer(token))
        creation = container.json()["id"]
        early = http.post(
            f"{base}/{IG_ACCOUNT}/media_publish",
            data={"creation_id": creation},
            headers=_bearer(token),
        )
        assert (early.json()["error"]["code"], early.json()["error"]["error_subcode"]) == (
            9007,
            2207027,
        )
        status = http.get(
            f"{base}/{creation}", params={"fields": "status_code"}, headers=_bearer(token)
        )
        assert status.json()["status_code"] == "IN_PROGRESS"
        status = http.get(
            f"{base}/{creation}", params={"fields": "status_code"}, headers=_bearer(token)
        )
        assert status.json()["status_code"] == "FINISHED"
        done = http.post(
            f"{base}/{IG_ACCOUNT}/media_publish",
            data={"creation_id": creation},
            headers=_bearer(token),
        )
        assert done.status_code == 200
        twice = http.post(
            f"{base}/{IG_ACCOUNT}/media_publish",
            data={"creation_id": creation},
            headers=_bearer(token),
        )
        assert twice.status_code == 400  # a container publishes once
        assert len(graph.publishing.media) == 1
        photo = http.post(
            f"{base}/{PAGE_ID}/photos",
            data={"url": "not a url", "message": "m"},
            headers=_bearer(token),
        )
        assert photo.status_code == 400
        graph.publishing.rate_limit(1, minutes=3)
        throttled = http.post(f"{base}/{PAGE_ID}/photos", data={"url": data["image_url"]})
        assert throttled.status_code == 400
        assert throttled.json()["error"]["code"] == 80002
        usage = json.loads(throttled.headers["X-Business-Use-Case-Usage"])
        assert usage["x"][0]["estimated_time_to_regain_access"] == 3


def test_pinterest_checks(fakes: Fakes) -> None:
    url, token = f"{fakes.pinterest.url}/v5/pins", fakes.tokens["pinterest"]
    pin = {
        "board_id": BOARD_ID,
        "media_source": {"source_type": "image_url", "url": "https://cdn.example.com/a.jpg"},
        "link": "https://shop.example.com/shop/s/abcdefghij",
        "title": "T",
        "description": "D",
    }
    with requests.Session() as http:
        assert http.post(url, json=pin).status_code == 401
        assert (
            http.post(url, json={**pin, "title": "t" * 101}, headers=_bearer(token)).status_code
            == 400
        )
        assert (
            http.post(url, json={**pin, "board_id": "1"}, headers=_bearer(token)).status_code == 404
        )
        wrong = {**pin, "media_source": {"source_type": "image_base64", "data": "x"}}
        assert http.post(url, json=wrong, headers=_bearer(token)).status_code == 400
        fakes.pinterest.rate_limit(1, reset=7)
        limited = http.post(url, json=pin, headers=_bearer(token))
        assert limited.status_code == 429
        assert limited.headers["X-RateLimit-Reset"] == "7"
        assert http.post(url, json=pin, headers=_bearer(token)).status_code == 201


def test_linkedin_checks(fakes: Fakes) -> None:
    url, token = f"{fakes.linkedin.url}/rest/posts", fakes.tokens["linkedin"]
    body = {
        "author": f"urn:li:organization:{ORG_ID}",
        "commentary": "c",
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
    }
    versioned = {
        **_bearer(token),
        "LinkedIn-Version": "202610",
        "X-Restli-Protocol-Version": "2.0.0",
    }
    with requests.Session() as http:
        no_version = http.post(url, json=body, headers=_bearer(token))
        assert no_version.json()["code"] == "VERSION_MISSING"
        no_restli = http.post(
            url, json=body, headers={**_bearer(token), "LinkedIn-Version": "202610"}
        )
        assert no_restli.status_code == 400
        person = http.post(url, json={**body, "author": "someone"}, headers=versioned)
        assert person.status_code == 422
        other_org = http.post(
            url, json={**body, "author": "urn:li:organization:1"}, headers=versioned
        )
        assert other_org.status_code == 403
        made = http.post(url, json=body, headers=versioned)
        assert made.status_code == 201
        assert made.content == b""
        assert made.headers["x-restli-id"].startswith("urn:li:share:")
        fakes.linkedin.expire_token(token)
        assert http.post(url, json=body, headers=versioned).json()["code"] == "EXPIRED_ACCESS_TOKEN"


def test_x_checks(fakes: Fakes) -> None:
    url, token = f"{fakes.x.url}/2/tweets", fakes.tokens["x"]
    with requests.Session() as http:
        assert http.post(url, json={"text": "hi"}).status_code == 401
        long = "a" * 258 + " https://shop.example.com/shop/s/abcdefghij"  # 258 + 1 + 23 = 282
        assert http.post(url, json={"text": long}, headers=_bearer(token)).status_code == 400
        assert (
            http.post(url, json={"text": "hi", "foo": 1}, headers=_bearer(token)).status_code == 400
        )
        assert http.post(url, json={"text": "Linen"}, headers=_bearer(token)).status_code == 201
        duplicate = http.post(url, json={"text": "Linen"}, headers=_bearer(token))
        assert duplicate.status_code == 403
        fakes.x.rate_limit(1, reset_in=60)
        limited = http.post(url, json={"text": "Other"}, headers=_bearer(token))
        assert limited.status_code == 429
        assert int(limited.headers["x-rate-limit-reset"]) > 1_700_000_000
