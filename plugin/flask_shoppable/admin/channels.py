"""Channels: connect the shop's accounts, publish a post to them now or later, see where it went.

A thin page over :mod:`..publishing.service` (the API's rules: every check before any
call, one publication with its own tracked link per account, delivered by the worker
through the outbox). Tokens are typed into a password field and never shown again: the
page says whether one is set and when it expires.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from .. import db
from ..publishing import service
from ..publishing.models import CHANNELS, Publication
from ..publishing.rules import RULES
from ..publishing.schemas import ChannelAccountSchema, PublishSchema
from ..social.links import link_url
from ..social.models import Post
from . import bp, login_required
from .forms import Form
from .messages import flash

RECENT = 50
CONNECT_FIELDS = ("channel", "account_id", "name", "token", "expires_at", "catalog_id")
PUBLISH_FIELDS = ("post_id", "accounts", "publish_at")


def _render(connect: Form, publish: Form, status: int = 200) -> tuple[str, int]:
    session = db.session()
    accounts = session.scalars(service.select_accounts()).all()
    posts = session.execute(
        select(Post.id, Post.caption, Post.slug)
        .where(Post.status == "published")
        .order_by(Post.id.desc())
        .limit(200)
    ).all()
    recent = session.scalars(select(Publication).order_by(Publication.id.desc()).limit(RECENT))
    return render_template(
        "shoppable/admin/channels.html",
        connect=connect,
        publish=publish,
        accounts=accounts,
        channels=[(c, RULES[c].label) for c in CHANNELS],
        labels={c: RULES[c].label for c in CHANNELS},
        posts=[("", "Choose a post…")] + [(str(p.id), (p.caption or p.slug)[:60]) for p in posts],
        publications=[(p, link_url(p.link) if p.link is not None else "") for p in recent],
        chosen={str(a) for a in _list(publish.get("accounts"))},
        now=datetime.now(UTC),
    ), status


def _list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    return value if isinstance(value, list) else [value]


@bp.get("/channels")
@login_required
def channels() -> Any:
    return _render(Form(None, channel="instagram"), Form(None))


@bp.post("/channels/connect")
@login_required
def channels_connect() -> Any:
    form = Form(request.form)
    raw = {k: form.text(k) for k in CONNECT_FIELDS if form.text(k)}
    account = None
    try:
        data = ChannelAccountSchema().load(raw)
    except ValidationError as exc:
        form.add_errors(exc.messages, fields=CONNECT_FIELDS)
    if form.ok:
        try:
            account, _created = service.connect(db.session(), data)
        except service.PublishingError as exc:
            form.add_errors(exc.errors or exc.message, fields=CONNECT_FIELDS)
    if account is None:
        form.values.pop("token", None)  # never echoed back
        return _render(form, Form(None), 422)
    flash(f"{service.describe(account)} connected.")
    return redirect(url_for(f"{bp.name}.channels") + f"#account-{account.id}")


@bp.post("/channels/<int:account_id>/disconnect")
@login_required
def channels_disconnect(account_id: int) -> Any:
    session = db.session()
    try:
        account = service.get_account(session, account_id)
    except service.PublishingError:
        return redirect(url_for(f"{bp.name}.channels"))
    service.disconnect(session, account)
    flash(f"{service.describe(account)} disconnected: its token is forgotten.", "info")
    return redirect(url_for(f"{bp.name}.channels"))


@bp.post("/channels/publish")
@login_required
def channels_publish() -> Any:
    form = Form(request.form)
    accounts = [a for a in _list(form.get("accounts")) if isinstance(a, str) and a.isdigit()]
    raw: dict[str, Any] = {"accounts": [int(a) for a in accounts if len(a) < 10]}
    if form.text("publish_at"):
        raw["publish_at"] = form.text("publish_at")  # datetime-local, taken as UTC
    post = None
    post_id = form.text("post_id")
    if not post_id.isdigit() or len(post_id) > 9:
        form.error("post_id", "Choose the post to publish.")
    else:
        post = db.session().get(Post, int(post_id))
        if post is None:
            form.error("post_id", "Choose the post to publish.")
    made: list[Publication] = []
    try:
        data = PublishSchema().load(raw)
    except ValidationError as exc:
        form.add_errors(exc.messages, fields=PUBLISH_FIELDS)
    if form.ok and post is not None:
        try:
            made = service.publish(db.session(), post, data)
        except service.PublishingError as exc:
            form.error("accounts" if exc.status != 400 else "publish_at", exc.message)
    if not made:
        return _render(Form(None, channel="instagram"), form, 422)
    when = "now" if "publish_at" not in raw else f"at {made[0].publish_at:%Y-%m-%d %H:%M} UTC"
    flash(f"Post scheduled on {len(made)} account(s), to publish {when}.")
    return redirect(url_for(f"{bp.name}.channels") + "#publications")
