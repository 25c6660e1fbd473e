"""Reading Meta webhook deliveries: the entry shapes Meta documents, as plain changes.

* Instagram (``"object": "instagram"``): ``entry[].changes[]`` with ``field`` "comments",
  "live_comments" or "mentions" and ``value`` ``{id, text, from: {id, username}, media:
  {id, media_product_type}}`` (a mention may instead carry ``comment_id`` and
  ``media_id``); Business Login for Instagram's examples put one ``field``/``value`` in
  the entry itself, which is read the same way.
* Facebook Page (``"object": "page"``): ``entry[].changes[]`` with ``field`` "feed" and
  ``value`` ``{item: "comment", verb: "add", comment_id, post_id, message,
  from: {id, name}, created_time}``.
* ``entry[].messaging[]`` (Messenger / Instagram Direct) and any other field: stored,
  not ours, ignored.

:func:`parse` checks the envelope (400 when it is not one); each change becomes a
:class:`Change` with a stable ``key`` (the comment's platform and id for comments, else
a hash of the change) so that redeliveries are recognised. A change that is ours but
malformed is still a Change, with ``problem`` saying what is wrong (stored, ignored).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Longest text kept of a comment (Instagram allows 2,200 characters, Facebook 8,000).
MAX_TEXT = 8000
MAX_ID = 64


class MalformedDelivery(ValueError):
    """The body is not a Meta webhook delivery."""


@dataclass(frozen=True)
class CommentEvent:
    platform: str  # instagram, facebook
    kind: str  # comment, mention
    comment_id: str
    account_id: str
    media_id: str
    user_id: str
    username: str
    text: str
    created_at: datetime | None


@dataclass(frozen=True)
class Change:
    key: str
    object: str
    account_id: str
    field: str
    payload: dict[str, Any]
    comment: CommentEvent | None = None
    problem: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    if not text or len(text) > MAX_ID or not text.replace("_", "").replace("-", "").isalnum():
        return None
    return text


def _hash_key(obj: str, account: str, fld: str, value: Any) -> str:
    canonical = json.dumps([obj, account, fld, value], sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and 0 < value < 2**32:
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("+0000", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def _instagram(account: str, fld: str, value: dict[str, Any]) -> tuple[CommentEvent | None, str]:
    comment_id = _id(value.get("id")) or _id(value.get("comment_id"))
    if comment_id is None:
        return None, "no comment id"
    sender = value.get("from") if isinstance(value.get("from"), dict) else {}
    media = value.get("media") if isinstance(value.get("media"), dict) else {}
    media_id = _id(media.get("id")) or _id(value.get("media_id"))
    if media_id is None:
        return None, "no media id"
    user_id = _id(sender.get("id"))
    if user_id is None and fld != "mentions":
        return None, "no commenter id"
    username = sender.get("username") if isinstance(sender.get("username"), str) else ""
    return (
        CommentEvent(
            platform="instagram",
            kind="mention" if fld == "mentions" else "comment",
            comment_id=comment_id,
            account_id=account,
            media_id=media_id,
            user_id=user_id or "",
            username=username[:200],
            text=_text(value.get("text")),
            created_at=_time(value.get("timestamp")),
        ),
        "",
    )


def _facebook(account: str, value: dict[str, Any]) -> tuple[CommentEvent | None, str]:
    comment_id = _id(value.get("comment_id"))
    if comment_id is None:
        return None, "no comment_id"
    media_id = _id(value.get("post_id"))
    if media_id is None:
        return None, "no post_id"
    sender = value.get("from") if isinstance(value.get("from"), dict) else {}
    user_id = _id(sender.get("id"))
    if user_id is None:
        return None, "no commenter id"
    name = sender.get("name") if isinstance(sender.get("name"), str) else ""
    return (
        CommentEvent(
            platform="facebook",
            kind="comment",
            comment_id=comment_id,
            account_id=account,
            media_id=media_id,
            user_id=user_id,
            username=name[:200],
            text=_text(value.get("message")),
            created_at=_time(value.get("created_time")),
        ),
        "",
    )


def change_from(obj: str, account: str, raw: Any) -> Change:
    """One change of an entry (also rebuilt from a stored change's payload)."""
    if not isinstance(raw, dict):
        return Change(
            _hash_key(obj, account, "", raw),
            obj,
            account,
            "",
            {"change": raw},
            problem="a change is not an object",
        )
    fld = raw.get("field") if isinstance(raw.get("field"), str) else ""
    value = raw.get("value")
    payload = {"field": fld, "value": value}
    key = _hash_key(obj, account, fld, value)
    if not isinstance(value, dict):
        return Change(key, obj, account, fld[:60], payload, problem="value is not an object")
    if obj == "instagram" and fld in ("comments", "live_comments", "mentions"):
        event, problem = _instagram(account, fld, value)
        if event is not None:
            key = f"instagram:{fld}:{event.comment_id}"
        return Change(key, obj, account, fld, payload, comment=event, problem=problem)
    if obj == "page" and fld == "feed" and value.get("item") == "comment":
        verb = value.get("verb") if isinstance(value.get("verb"), str) else ""
        if verb != "add":
            return Change(key, obj, account, fld, payload, problem=f"comment verb {verb!r}")
        event, problem = _facebook(account, value)
        if event is not None:
            key = f"facebook:feed:add:{event.comment_id}"
        return Change(key, obj, account, fld, payload, comment=event, problem=problem)
    return Change(key, obj, account, fld[:60], payload, problem="not a comment or mention")


def parse(body: bytes) -> list[Change]:
    """The changes of a delivery, in order; MalformedDelivery for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedDelivery(f"the body is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MalformedDelivery("the body is not a JSON object")
    obj = data.get("object")
    entries = data.get("entry")
    if not isinstance(obj, str) or not obj or len(obj) > 40:
        raise MalformedDelivery("'object' is missing or not a string")
    if not isinstance(entries, list):
        raise MalformedDelivery("'entry' is missing or not a list")
    changes: list[Change] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise MalformedDelivery("an entry is not an object")
        account = _id(entry.get("id")) or ""
        raw_changes = entry.get("changes", [])
        if "changes" not in entry and "field" in entry:
            # Business Login for Instagram's examples put one change in the entry itself.
            raw_changes = [{"field": entry.get("field"), "value": entry.get("value")}]
        if not isinstance(raw_changes, list):
            raise MalformedDelivery("an entry's 'changes' is not a list")
        changes.extend(change_from(obj, account, raw) for raw in raw_changes)
        messaging = entry.get("messaging")
        if isinstance(messaging, list):
            for message in messaging:
                payload = {"field": "messaging", "value": message}
                key = _hash_key(obj, account, "messaging", message)
                changes.append(
                    Change(key, obj, account, "messaging", payload, problem="messaging: not ours")
                )
    return changes
