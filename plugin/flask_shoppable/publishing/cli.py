"""``flask shoppable rotate-token-keys`` and ``flask shoppable publish-demo``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import db
from ..social.models import Post
from . import service
from .crypto import TokenKeyError
from .models import Publication

#: The demo's accounts on the local fakes.
DEMO_ACCOUNTS = {
    "instagram": "17841400000000042",
    "facebook": "100000000000042",
    "pinterest": "549755800042",
    "linkedin": "5500042",
    "x": "4200000042",
}
DEMO_ALLOW_ENV = "STRIPE_EMULATOR_ALLOWED"


@click.command("rotate-token-keys")
@with_appcontext
def rotate_token_keys_command() -> None:
    """Re-encrypt every channel token with the newest key of SHOPPABLE_TOKEN_KEYS."""
    try:
        rotated, total = service.rotate_tokens(db.session())
    except TokenKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Re-encrypted {rotated} of {total} stored tokens with the newest key; the older keys "
        "can now be removed from SHOPPABLE_TOKEN_KEYS."
    )


@contextmanager
def _local_fakes(app: Flask) -> Iterator[dict[str, Any]]:
    """The five platforms' fakes and an image host, with the app pointed at them."""
    from .._fakes.images import FakeImageHost
    from .._fakes.linkedin import FakeLinkedIn
    from .._fakes.meta import FakeGraph
    from .._fakes.pinterest import FakePinterest
    from .._fakes.x import FakeX

    keys = (
        "SHOPPABLE_META_GRAPH_URL",
        "SHOPPABLE_PINTEREST_API_URL",
        "SHOPPABLE_LINKEDIN_API_URL",
        "SHOPPABLE_X_API_URL",
        "SHOPPABLE_INSTAGRAM_POLL_SECONDS",
        "SHOPPABLE_PUBLISH_LOCAL_IMAGES",
    )
    saved = {key: app.config[key] for key in keys}
    with ExitStack() as stack:
        graph: Any = stack.enter_context(FakeGraph())
        pinterest: Any = stack.enter_context(FakePinterest())
        linkedin: Any = stack.enter_context(FakeLinkedIn())
        x: Any = stack.enter_context(FakeX())
        images: Any = stack.enter_context(FakeImageHost())
        graph.publishing.add_instagram_account(DEMO_ACCOUNTS["instagram"])
        graph.publishing.add_page(DEMO_ACCOUNTS["facebook"])
        graph.publishing.in_progress_polls = 1
        pinterest.add_board(DEMO_ACCOUNTS["pinterest"])
        linkedin.add_organization(DEMO_ACCOUNTS["linkedin"])
        meta = graph.add_token()
        tokens = {
            "instagram": meta,
            "facebook": meta,
            "pinterest": pinterest.add_token(),
            "linkedin": linkedin.add_token(),
            "x": x.add_token(),
        }
        app.config.update(
            SHOPPABLE_META_GRAPH_URL=graph.url,
            SHOPPABLE_PINTEREST_API_URL=pinterest.url,
            SHOPPABLE_LINKEDIN_API_URL=linkedin.url,
            SHOPPABLE_X_API_URL=x.url,
            SHOPPABLE_INSTAGRAM_POLL_SECONDS=0.05,
            SHOPPABLE_PUBLISH_LOCAL_IMAGES=True,  # the stand-in image is on 127.0.0.1
        )
        try:
            yield {"tokens": tokens, "images": images, "fakes": (graph, pinterest, linkedin, x)}
        finally:
            app.config.update(saved)


def _run_outbox(app: Flask, ids: list[int], seconds: float = 30) -> None:
    from ..worker import Worker, jobs_for

    jobs = [job for job in jobs_for(app) if job.name == "outbox"]
    worker = Worker(app, jobs=jobs)
    deadline = time.monotonic() + seconds
    session = db.session()
    while time.monotonic() < deadline:
        worker.run_job(jobs[0])
        session.expire_all()
        states = session.scalars(select(Publication.state).where(Publication.id.in_(ids))).all()
        if all(state in ("published", "failed") for state in states):
            return
        time.sleep(0.2)


@click.command("publish-demo")
@click.option("--post", "slug", default=None, help="Slug of a published post (default: newest).")
@click.option("--allow", is_flag=True, help=f"Run without {DEMO_ALLOW_ENV}=1 (the demo sets it).")
@with_appcontext
def publish_demo_command(slug: str | None, allow: bool) -> None:
    """Publish a post to local fakes of the five platforms and show what they recorded.

    Starts fake Instagram/Facebook (Graph), Pinterest, LinkedIn and X servers on
    127.0.0.1, connects demo accounts to them (fake tokens), publishes the post through
    the outbox as a real publication would go, and prints each platform's post id,
    permalink and the channel's tracked link. Nothing leaves this machine. The demo's
    pictures are SVG, which no platform takes: a stand-in JPEG from a local image host
    is published instead.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if not (allow or app.testing or app.debug or os.environ.get(DEMO_ALLOW_ENV) == "1"):
        raise click.ClickException(
            "publish-demo connects demo accounts with fake tokens: it is for the demo shop "
            f"({DEMO_ALLOW_ENV}=1, as make demo sets) or pass --allow"
        )
    session = db.session()
    stmt = select(Post).where(Post.status == "published").order_by(Post.id.desc())
    post = session.scalar(stmt.where(Post.slug == slug) if slug else stmt)
    if post is None:
        raise click.ClickException(
            f"no published post {slug!r}" if slug else "no published post: run seed-demo first"
        )
    with _local_fakes(app) as local:
        accounts = []
        for channel, account_id in DEMO_ACCOUNTS.items():
            account, _created = service.connect(
                session,
                {
                    "channel": channel,
                    "account_id": account_id,
                    "name": f"Demo {channel}",
                    "token": local["tokens"][channel],
                },
            )
            accounts.append(account.id)
        base = app.config["SHOPPABLE_PUBLIC_URL"] or "http://127.0.0.1:5000"
        image = local["images"].image_url(post.slug, "jpg", width=1080, height=1350)
        with app.test_request_context(base_url=base):
            try:
                rows = service.publish(session, post, {"accounts": accounts, "image_url": image})
            except service.PublishingError as exc:
                raise click.ClickException(exc.message) from None
        ids = [row.id for row in rows]
        click.echo(f"Publishing post {post.slug!r} to {len(ids)} local fake platforms...")
        _run_outbox(app, ids)
        session.expire_all()
        for row in session.scalars(select(Publication).where(Publication.id.in_(ids))):
            where = row.permalink or row.failure_reason
            click.echo(f"  {row.channel:9} {row.state:9} {row.platform_post_id or '-':26} {where}")
            if row.link is not None:
                click.echo(
                    f"            its link: {base}/{row.link.code}".replace(
                        f"{base}/", f"{base}{app.config['SHOPPABLE_URL_PREFIX']}/s/"
                    )
                )
        # The fakes stop with this command: the demo accounts go with them.
        for account_id in accounts:
            service.disconnect(session, service.get_account(session, account_id))
