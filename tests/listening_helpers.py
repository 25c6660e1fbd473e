"""Signed Meta webhook deliveries and the settings of a listening app (for the listening tests)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from flask.testing import FlaskClient

APP_SECRET = "meta-app-secret-for-the-tests"
VERIFY_TOKEN = "verify-me-please"
IG_ACCOUNT = "17841400000000001"
PAGE_ID = "100000000000001"
WEBHOOK = "/shop/webhooks/meta"


def settings(graph_url: str, page_token: str) -> dict[str, Any]:
    return {
        "SHOPPABLE_META_APP_SECRET": APP_SECRET,
        "SHOPPABLE_META_VERIFY_TOKEN": VERIFY_TOKEN,
        "SHOPPABLE_META_PAGE_TOKEN": page_token,
        "SHOPPABLE_META_GRAPH_URL": graph_url,
        "SHOPPABLE_PUBLIC_URL": "http://shop.test",
    }


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def ig_comment(
    comment_id: str, media_id: str, text: str, user_id: str = "9001", username: str = "ana.buys"
) -> dict[str, Any]:
    """One Instagram ``comments`` change, as Meta documents it."""
    return {
        "field": "comments",
        "value": {
            "id": comment_id,
            "text": text,
            "from": {"id": user_id, "username": username},
            "media": {"id": media_id, "media_product_type": "FEED"},
        },
    }


def fb_comment(
    comment_id: str,
    post_id: str,
    message: str,
    user_id: str = "7001",
    name: str = "Bo Buyer",
    created_time: int | None = None,
    verb: str = "add",
) -> dict[str, Any]:
    """One Facebook Page ``feed`` change for a comment, as Meta documents it."""
    value: dict[str, Any] = {
        "item": "comment",
        "verb": verb,
        "comment_id": comment_id,
        "post_id": post_id,
        "message": message,
        "from": {"id": user_id, "name": name},
    }
    if created_time is not None:
        value["created_time"] = created_time
    return {"field": "feed", "value": value}


def delivery(obj: str, account: str, changes: list[dict[str, Any]], **entry: Any) -> bytes:
    body = {
        "object": obj,
        "entry": [{"id": account, "time": 1700000000, "changes": changes, **entry}],
    }
    return json.dumps(body).encode()


def post_delivery(client: FlaskClient, body: bytes, signature: str | None = "good") -> Any:
    headers = {"Content-Type": "application/json"}
    if signature == "good":
        headers["X-Hub-Signature-256"] = sign(body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post(WEBHOOK, data=body, headers=headers)
