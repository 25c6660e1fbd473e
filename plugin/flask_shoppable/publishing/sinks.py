"""The outbox sinks that place a publication on its platform: ``publish_<channel>``.

One message per publication (key ``publication:<id>``, payload ``publication_id``); the
outbox worker delivers it when due (``not_before`` = the publication's ``publish_at``)
and retries transient failures with backoff. A sink:

1. reads the publication and its account: already published (or its platform id
   already recorded) → answers that again, nothing is posted; failed or cancelled →
   nothing is posted; account disconnected, token expired (``expires_at`` passed), post
   no longer published in the shop → :class:`Rejected` with the reason (a dead letter
   at once, the publication ``failed``: no retry storm);
2. marks it ``publishing``, decrypts the token (re-encrypting it with the newest key of
   SHOPPABLE_TOKEN_KEYS when an older one was used) and calls the platform;
3. records the platform's id on the publication in its own commit the moment the
   platform answers, so that a retry (the worker dying before it marks the message)
   finds it and never posts twice; Instagram's media container id is recorded the same
   way as soon as it exists, and a retry polls and publishes that container instead of
   making another.

``on_delivered`` (in the worker's transaction that marks the message delivered) sets the
publication ``published`` with its permalink and, for Instagram and Facebook, links the
media id to the post for social listening (``listening.media.link_media`` with source
"published"), so comments on it are tied to the post with no manual mapping.
``on_dead`` sets it ``failed`` with the reason.

A token the platform refuses (401, Graph code 190) is a dead letter with "reconnect the
account"; rate limits (429, Graph's throttling codes 4/17/32/613/800xx in a 400) and
5xx are retried later.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from ..crm.errors import Rejected, RetryLater
from ..db import utcnow
from . import crypto, rules
from .models import ChannelAccount, Publication
from .service import describe, mark_failed

log = logging.getLogger("flask_shoppable.publishing")

#: Graph error codes that mean "throttled, try later" (in a 400, not a 429).
GRAPH_THROTTLING = frozenset({4, 17, 32, 613, 80001, 80002, 80004, 80005, 80006, 80008, 80014})
GRAPH_TOKEN = frozenset({102, 190})
#: Instagram product tags per image.
IG_PRODUCT_TAGS_MAX = 5


@dataclass
class Job:
    """What a delivery needs, read from the database before any call."""

    publication_id: int
    post_id: int
    channel: str
    platform_account: str
    account_label: str
    token: str
    caption: str
    title: str
    image_url: str
    link_url: str
    container_id: str = ""
    catalog_id: str = ""
    #: Instagram: (retailer id, x, y) of the post's tagged products.
    tags: list[tuple[str, float, float]] = field(default_factory=list)


def _body(response: Any) -> Any:
    if isinstance(response, dict | list):
        return response
    try:
        return response.json()
    except ValueError:
        return {}


def _headers(response: Any) -> Any:
    return getattr(response, "headers", {}) or {}


class PublishSink:
    """Base of the five sinks; a subclass implements :meth:`post`."""

    channel = ""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.name = f"publish_{self.channel}"
        self.label = rules.RULES[self.channel].label
        self.timeout = float(app.config["SHOPPABLE_PUBLISH_TIMEOUT"])

    # -- the outbox's calls ---------------------------------------------------------
    def deliver(self, message: Any) -> dict[str, Any] | None:
        from ..crm import http

        job = self._begin(int(message.payload["publication_id"]), message.payload)
        if isinstance(job, dict):
            return job
        with http.session(self.app) as client:
            return self.post(client, job)

    def on_delivered(self, session: Session, message: Any, result: Any) -> None:
        row = session.get(Publication, int(message.payload["publication_id"]))
        if row is None or not result or result.get("skipped"):
            return
        row.state = "published"
        row.live = True
        row.platform_post_id = str(result.get("platform_post_id") or row.platform_post_id)
        row.permalink = str(result.get("permalink") or row.permalink)
        row.published_at = row.published_at or utcnow()
        row.failure_reason = ""
        if row.channel in ("instagram", "facebook") and row.platform_post_id:
            from ..listening.media import MediaError, link_media

            try:
                link_media(session, row.channel, row.platform_post_id, row.post_id, "published")
            except MediaError as exc:  # linked by hand to another post meanwhile: keep that
                log.warning("publication %s: media not linked: %s", row.id, exc.message)

    def on_dead(self, session: Session, message: Any, reason: str) -> None:
        row = session.get(Publication, int(message.payload["publication_id"]))
        if row is not None and row.state != "published" and not row.platform_post_id:
            mark_failed(row, reason)

    # -- steps ----------------------------------------------------------------------
    def _session(self) -> Session:
        session: Session = self.app.extensions["shoppable"].session_factory()
        return session

    def _begin(self, publication_id: int, payload: dict[str, Any]) -> Job | dict[str, Any]:
        with self._session() as session:
            row = session.get(Publication, publication_id)
            if row is None:
                raise Rejected(f"publication {publication_id} no longer exists")
            if row.platform_post_id:
                return {"platform_post_id": row.platform_post_id, "permalink": row.permalink}
            if row.state == "failed":
                return {"skipped": f"publication is failed: {row.failure_reason}"}
            account = row.account
            now = utcnow()
            if not account.connected:
                raise Rejected(
                    f"{describe(account)} was disconnected before publishing: connect it "
                    "again and publish again"
                )
            if account.token_expired(now):
                expired: datetime = account.token_expires_at  # type: ignore[assignment]
                raise Rejected(
                    f"{describe(account)}'s token expired at {expired:%Y-%m-%d %H:%M} UTC, "
                    "before the post was published: reconnect the account with a fresh token "
                    "and publish again"
                )
            if row.post.status != "published":
                raise Rejected(
                    f"post {row.post_id} is {row.post.status} in the shop: its link would "
                    "answer 404, so it was not published"
                )
            token = self._token(account)
            job = Job(
                publication_id=row.id,
                post_id=row.post_id,
                channel=row.channel,
                platform_account=account.account_id,
                account_label=describe(account),
                token=token,
                caption=row.caption,
                title=row.title,
                image_url=row.image_url,
                link_url=str(payload.get("link_url") or ""),
                container_id=row.container_id,
                catalog_id=account.catalog_id,
                tags=_tags(row) if row.channel == "instagram" and account.catalog_id else [],
            )
            # Conditional, so that a cancel committed meanwhile wins (nothing is posted).
            claimed = session.execute(
                update(Publication)
                .where(Publication.id == row.id, Publication.state.in_(("scheduled", "publishing")))
                .values(state="publishing")
            ).rowcount
            session.commit()
        if not claimed:
            return {"skipped": "the publication was cancelled"}
        return job

    def _token(self, account: ChannelAccount) -> str:
        fernet = crypto.for_app(self.app)
        stored = account.token_encrypted or ""
        try:
            token = crypto.decrypt(stored, fernet)
        except crypto.TokenKeyError as exc:
            raise Rejected(f"{describe(account)}: {exc}") from None
        if not crypto.is_newest(stored, fernet):
            account.token_encrypted = crypto.rotate(stored, fernet)  # re-encrypt on use
        return token

    def _save(self, publication_id: int, **values: str) -> None:
        """Record what the platform answered at once, in a commit of its own."""
        with self._session() as session:
            row = session.get(Publication, publication_id)
            if row is not None:
                for name, value in values.items():
                    setattr(row, name, value)
                session.commit()

    def _request(self, client: Any, method: str, url: str, job: Job, **kw: Any) -> Any:
        """``crm.http.call`` with the job's token; the platform's throttling and token
        refusals explained (with how long to wait, read from its own headers)."""
        from ..crm import http

        seen: list[Any] = []
        headers = {"Authorization": f"Bearer {job.token}", **kw.pop("headers", {})}
        try:
            return http.call(
                client,
                method,
                url,
                timeout=self.timeout,
                headers=headers,
                hooks={"response": lambda r, *a, **k: seen.append(r)},
                **kw,
            )
        except RetryLater as exc:
            if exc.status == 429 and exc.after_seconds is None and seen:
                raise RetryLater(
                    exc.reason, self.wait(seen[-1]), status=exc.status, body=exc.body
                ) from None
            raise
        except Rejected as exc:
            raise self._explain(exc, job, seen[-1] if seen else None) from None

    def wait(self, response: Any) -> float | None:
        """Seconds to wait after a rate-limited ``response``, from the platform's headers."""
        return None

    def _explain(self, exc: Rejected, job: Job, response: Any) -> Exception:
        """A platform's refusal, with what to do when it is the token or a throttle."""
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = error.get("code")
        if code in GRAPH_THROTTLING or error.get("is_transient"):
            after = self.wait(response) if response is not None else None
            return RetryLater(
                f"{self.label} throttled the call: {error.get('message')}", after, status=exc.status
            )
        if exc.status == 401 or code in GRAPH_TOKEN:
            return Rejected(
                f"{self.label} refused {job.account_label}'s token (expired or revoked): "
                f"reconnect the account with a fresh token and publish again ({exc.reason})",
                status=exc.status,
                body=exc.body,
            )
        return exc

    def post(self, client: Any, job: Job) -> dict[str, Any]:  # pragma: no cover - subclasses
        raise NotImplementedError


def _tags(row: Publication) -> list[tuple[str, float, float]]:
    from ..social.feeds import item_id

    found = []
    for tag in row.post.tags:
        product = tag.product
        variants = [v for v in product.variants if v.active] if product is not None else []
        if not variants:
            continue
        x = (tag.x if tag.x is not None else 50.0) / 100
        y = (tag.y if tag.y is not None else 50.0) / 100
        found.append((item_id(variants[0]), round(x, 4), round(y, 4)))
    return found[:IG_PRODUCT_TAGS_MAX]


class _GraphSink(PublishSink):
    @property
    def base(self) -> str:
        config = self.app.config
        return f"{config['SHOPPABLE_META_GRAPH_URL']}/{config['SHOPPABLE_META_GRAPH_VERSION']}"

    def wait(self, response: Any) -> float | None:
        """Graph's X-Business-Use-Case-Usage / X-App-Usage: estimated_time_to_regain_access
        (minutes)."""
        for name in ("X-Business-Use-Case-Usage", "X-App-Usage"):
            raw = response.headers.get(name)
            if not raw:
                continue
            try:
                usage = json.loads(raw)
            except ValueError:
                continue
            entries = [e for v in usage.values() if isinstance(v, list) for e in v]
            minutes = [e.get("estimated_time_to_regain_access") for e in entries]
            found = [m for m in minutes if isinstance(m, int | float)]
            if found:
                return float(max(found)) * 60
        return None

    def _call(self, client: Any, method: str, path: str, job: Job, **kw: Any) -> Any:
        return _body(self._request(client, method, f"{self.base}/{path}", job, **kw))

    def _permalink(self, client: Any, job: Job, object_id: str, field_name: str) -> str:
        try:
            body = self._call(client, "GET", object_id, job, params={"fields": field_name})
        except (Rejected, RetryLater) as exc:
            log.warning("no permalink for %s %s: %s", self.label, object_id, exc.reason)
            return ""
        return str(body.get(field_name) or "")


class InstagramSink(_GraphSink):
    """Instagram content publishing: a media container, polled until FINISHED, published.

    ``POST /<ig-user-id>/media`` (image_url, caption, product_tags when the account has a
    catalog_id), ``GET /<container-id>?fields=status_code`` every
    SHOPPABLE_INSTAGRAM_POLL_SECONDS up to SHOPPABLE_INSTAGRAM_POLLS times (then the
    message is retried later with the same container), ``POST /<ig-user-id>/media_publish``
    (creation_id), ``GET /<media-id>?fields=permalink``.
    """

    channel = "instagram"

    def post(self, client: Any, job: Job) -> dict[str, Any]:
        config = self.app.config
        container = job.container_id
        if not container:
            data: dict[str, str] = {"image_url": job.image_url, "caption": job.caption}
            product_tags = self._product_tags(client, job)
            if product_tags:
                data["product_tags"] = json.dumps(product_tags)
            container = str(
                self._call(client, "POST", f"{job.platform_account}/media", job, data=data)["id"]
            )
            self._save(job.publication_id, container_id=container)
        status = ""
        for attempt in range(int(config["SHOPPABLE_INSTAGRAM_POLLS"])):
            status = str(
                self._call(client, "GET", container, job, params={"fields": "status_code"}).get(
                    "status_code", ""
                )
            )
            if status != "IN_PROGRESS":
                break
            if attempt + 1 < int(config["SHOPPABLE_INSTAGRAM_POLLS"]):
                time.sleep(float(config["SHOPPABLE_INSTAGRAM_POLL_SECONDS"]))
        if status == "IN_PROGRESS":
            raise RetryLater(f"Instagram container {container} is not ready yet (IN_PROGRESS)")
        if status == "EXPIRED":
            self._save(job.publication_id, container_id="")
            raise RetryLater(f"Instagram container {container} expired: a new one is made")
        if status == "ERROR":
            self._save(job.publication_id, container_id="")
            raise Rejected(f"Instagram could not process the image (container {container} ERROR)")
        if status == "PUBLISHED":
            raise Rejected(
                f"Instagram container {container} is already published but its media id was "
                "not recorded: check the account; it is not posted again"
            )
        try:
            media = self._call(
                client,
                "POST",
                f"{job.platform_account}/media_publish",
                job,
                data={"creation_id": container},
            )
        except Rejected as exc:
            error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
            if error.get("code") == 9007 and error.get("error_subcode") == 2207027:
                raise RetryLater(f"Instagram container {container} is not ready yet") from None
            raise
        media_id = str(media["id"])
        self._save(job.publication_id, platform_post_id=media_id)
        return {
            "platform_post_id": media_id,
            "container_id": container,
            "permalink": self._permalink(client, job, media_id, "permalink"),
        }

    def _product_tags(self, client: Any, job: Job) -> list[dict[str, Any]]:
        """Product tags for the post's products found in the account's catalog."""
        tags = []
        for retailer_id, x, y in job.tags:
            body = self._call(
                client,
                "GET",
                f"{job.catalog_id}/products",
                job,
                params={
                    "filter": json.dumps({"retailer_id": {"eq": retailer_id}}),
                    "fields": "id,retailer_id",
                },
            )
            found = body.get("data") or []
            if found:
                tags.append({"product_id": str(found[0]["id"]), "x": x, "y": y})
            else:
                log.info("product %s is not in catalog %s: not tagged", retailer_id, job.catalog_id)
        return tags


class FacebookSink(_GraphSink):
    """Facebook Page photos: ``POST /<page-id>/photos`` (url, message); the Page post id
    (``post_id``) is what comments refer to; ``GET /<post-id>?fields=permalink_url``."""

    channel = "facebook"

    def post(self, client: Any, job: Job) -> dict[str, Any]:
        body = self._call(
            client,
            "POST",
            f"{job.platform_account}/photos",
            job,
            data={"url": job.image_url, "message": job.caption},
        )
        post_id = str(body.get("post_id") or body["id"])
        self._save(job.publication_id, platform_post_id=post_id)
        return {
            "platform_post_id": post_id,
            "photo_id": str(body.get("id", "")),
            "permalink": self._permalink(client, job, post_id, "permalink_url"),
        }


class PinterestSink(PublishSink):
    """Pinterest pins: ``POST /v5/pins`` with board_id, media_source (image_url), link,
    title, description and alt_text."""

    channel = "pinterest"

    def wait(self, response: Any) -> float | None:
        return _seconds_until(response.headers.get("X-RateLimit-Reset"))

    def post(self, client: Any, job: Job) -> dict[str, Any]:
        base = self.app.config["SHOPPABLE_PINTEREST_API_URL"]
        response = self._request(
            client,
            "POST",
            f"{base}/v5/pins",
            job,
            json={
                "board_id": job.platform_account,
                "media_source": {"source_type": "image_url", "url": job.image_url},
                "link": job.link_url,
                "title": job.title,
                "description": job.caption,
                "alt_text": job.title,
            },
        )
        pin_id = str(_body(response)["id"])
        self._save(job.publication_id, platform_post_id=pin_id)
        return {"platform_post_id": pin_id, "permalink": f"https://www.pinterest.com/pin/{pin_id}/"}


class LinkedInSink(PublishSink):
    """LinkedIn organisation posts: ``POST /rest/posts`` (versioned: LinkedIn-Version and
    X-Restli-Protocol-Version 2.0.0) with the tracked link as an article; the post's URN
    comes back in the ``x-restli-id`` header. LinkedIn's 429 names no wait: the outbox's
    backoff applies."""

    channel = "linkedin"

    def post(self, client: Any, job: Job) -> dict[str, Any]:
        config = self.app.config
        response = self._request(
            client,
            "POST",
            f"{config['SHOPPABLE_LINKEDIN_API_URL']}/rest/posts",
            job,
            headers={
                "LinkedIn-Version": config["SHOPPABLE_LINKEDIN_VERSION"],
                "X-Restli-Protocol-Version": "2.0.0",
            },
            json={
                "author": f"urn:li:organization:{job.platform_account}",
                "commentary": job.caption,
                "visibility": "PUBLIC",
                "distribution": {
                    "feedDistribution": "MAIN_FEED",
                    "targetEntities": [],
                    "thirdPartyDistributionChannels": [],
                },
                "content": {"article": {"source": job.link_url, "title": job.title}},
                "lifecycleState": "PUBLISHED",
                "isReshareDisabledByAuthor": False,
            },
        )
        urn = str(response.headers.get("x-restli-id") or "")
        if not urn:
            raise Rejected("LinkedIn answered without the post's URN (x-restli-id)")
        self._save(job.publication_id, platform_post_id=urn)
        return {
            "platform_post_id": urn,
            "permalink": f"https://www.linkedin.com/feed/update/{urn}/",
        }


class XSink(PublishSink):
    """X posts: ``POST /2/tweets`` with the text (caption and tracked link); a 429 waits
    until ``x-rate-limit-reset``."""

    channel = "x"

    def wait(self, response: Any) -> float | None:
        return _seconds_until(response.headers.get("x-rate-limit-reset"))

    def post(self, client: Any, job: Job) -> dict[str, Any]:
        response = self._request(
            client,
            "POST",
            f"{self.app.config['SHOPPABLE_X_API_URL']}/2/tweets",
            job,
            json={"text": job.caption},
        )
        tweet_id = str(_body(response)["data"]["id"])
        self._save(job.publication_id, platform_post_id=tweet_id)
        return {"platform_post_id": tweet_id, "permalink": f"https://x.com/i/web/status/{tweet_id}"}


def _seconds_until(reset: str | None) -> float | None:
    """A reset header: a Unix time (X), or seconds from now (small numbers)."""
    if not reset:
        return None
    try:
        value = float(reset)
    except ValueError:
        return None
    if value > 1_000_000_000:
        value -= time.time()
    return min(max(value, 0.0), 3600.0)


SINKS: tuple[type[PublishSink], ...] = (
    InstagramSink,
    FacebookSink,
    PinterestSink,
    LinkedInSink,
    XSink,
)
