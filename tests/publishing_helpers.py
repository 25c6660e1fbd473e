"""The five fake platforms, an image host, and connected accounts (for the publishing tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from flask_shoppable.db import utcnow
from flask_shoppable.social.models import Post, PostTag
from flask_shoppable.testing import FakeGraph, FakeImageHost, FakeLinkedIn, FakePinterest, FakeX

from .checkout_helpers import product

IG_ACCOUNT = "17841400000000001"
PAGE_ID = "100000000000001"
BOARD_ID = "549755885175"
ORG_ID = "5515715"
X_USER = "2244994945"
CHANNELS = ("instagram", "facebook", "pinterest", "linkedin", "x")


@dataclass
class Fakes:
    graph: FakeGraph
    pinterest: FakePinterest
    linkedin: FakeLinkedIn
    x: FakeX
    images: FakeImageHost
    tokens: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        return {
            "SHOPPABLE_META_GRAPH_URL": self.graph.url,
            "SHOPPABLE_PINTEREST_API_URL": self.pinterest.url,
            "SHOPPABLE_LINKEDIN_API_URL": self.linkedin.url,
            "SHOPPABLE_X_API_URL": self.x.url,
            "SHOPPABLE_PUBLIC_URL": "http://shop.test",
            "SHOPPABLE_INSTAGRAM_POLL_SECONDS": 0.01,
            "SHOPPABLE_PUBLISH_TIMEOUT": 5,
            # The image host is a local fake; real images must be on public addresses.
            "SHOPPABLE_PUBLISH_LOCAL_IMAGES": True,
        }

    def all(self) -> tuple[Any, ...]:
        return (self.graph, self.pinterest, self.linkedin, self.x)

    def fail_all_for(self, seconds: float, **failure: Any) -> None:
        for fake in self.all():
            fake.fail_for(seconds, **failure)

    def recover(self) -> None:
        for fake in self.all():
            fake.recover()


def _stop_together(servers: list[Any]) -> None:
    """Stop the servers at once (each stop waits for its serving loop's poll)."""
    threads = [threading.Thread(target=server.stop) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)


@contextmanager
def running_fakes() -> Iterator[Fakes]:
    servers: list[Any] = [FakeGraph(), FakePinterest(), FakeLinkedIn(), FakeX(), FakeImageHost()]
    with ExitStack() as stack:
        stack.callback(_stop_together, servers)
        for server in servers:
            server.start()
        fakes = Fakes(*servers)
        fakes.graph.publishing.add_instagram_account(IG_ACCOUNT)
        fakes.graph.publishing.add_page(PAGE_ID)
        fakes.pinterest.add_board(BOARD_ID)
        fakes.linkedin.add_organization(ORG_ID)
        meta = fakes.graph.add_token()
        fakes.tokens = {
            "instagram": meta,
            "facebook": meta,
            "pinterest": fakes.pinterest.add_token(),
            "linkedin": fakes.linkedin.add_token(),
            "x": fakes.x.add_token(),
        }
        yield fakes


ACCOUNT_IDS = {
    "instagram": IG_ACCOUNT,
    "facebook": PAGE_ID,
    "pinterest": BOARD_ID,
    "linkedin": f"urn:li:organization:{ORG_ID}",
    "x": X_USER,
}


def connect_all(api: Any, fakes: Fakes, *, expires_in: timedelta | None = None) -> dict[str, int]:
    """Connect one account per channel through the API; their ids by channel."""
    ids = {}
    for channel in CHANNELS:
        body: dict[str, Any] = {
            "channel": channel,
            "account_id": ACCOUNT_IDS[channel],
            "name": f"Shop on {channel}",
            "token": fakes.tokens[channel],
        }
        if expires_in is not None:
            body["expires_at"] = (utcnow() + expires_in).isoformat()
        response = api.post("/channel-accounts", json=body)
        assert response.status_code == 201, response.json
        ids[channel] = response.json["id"]
    return ids


def shop_post(
    session: Session,
    image_url: str,
    slug: str = "linen-summer",
    caption: str = "Linen for the long evenings #summer",
    status: str = "published",
) -> Post:
    item = product(session, f"{slug}-shirt", {"sku": f"SKU-{slug}"})
    row = Post(
        slug=slug,
        caption=caption,
        image_url=image_url,
        status=status,
        campaign="summer",
        published_at=utcnow() if status == "published" else None,
    )
    row.tags.append(PostTag(product_id=item.id, x=40.0, y=55.0, position=0))
    session.add(row)
    session.commit()
    return row


def run_outbox(app: Flask, *, rounds: int = 50, now: Any = None) -> int:
    """Run the worker's outbox job until nothing more is due (or ``rounds``); items handled."""
    from flask_shoppable.worker import Worker, jobs_for

    jobs = [job for job in jobs_for(app) if job.name == "outbox"]
    assert jobs, "the outbox job is registered"
    worker = Worker(app, jobs=jobs)
    total = 0
    for _ in range(rounds):
        handled = worker.run_job(jobs[0], now)
        total += handled
        if not handled:
            break
    return total
