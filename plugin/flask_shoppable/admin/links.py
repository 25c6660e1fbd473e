"""Tracked links per channel: create, list, copy, share intents, QR codes for print.

Links are made by the social service (the API's rules and UTM defaults per channel); the
share intents come from :mod:`..social.channels` through ``service.share``; the QR code is
drawn by ``segno`` as inline SVG (no image service, nothing leaves the server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import segno
from flask import Response, abort, redirect, render_template, request, url_for
from markupsafe import Markup
from marshmallow import ValidationError
from sqlalchemy import select

from .. import db
from ..social import service
from ..social.channels import CHANNELS
from ..social.links import link_url, why_not_live
from ..social.models import Post, TrackedLink
from ..social.schemas import LinkSchema
from . import bp, login_required
from .forms import Form
from .listing import paginate
from .messages import flash
from .products import product_choices

TARGETS = (("post", "A post"), ("product", "A product page"), ("storefront", "The storefront"))
LINK_FIELDS = ("channel", "target", "post_id", "product_id", "partner", "utm_campaign", "label")


def qr_svg(url: str, title: str = "") -> Markup:
    """An inline SVG QR code for ``url`` (medium error correction, a quiet zone of 2)."""
    code = segno.make(url, error="m", micro=False)
    svg = code.svg_inline(scale=4, border=2, title=title or None, svgclass="qr__svg", omitsize=True)
    return Markup(svg)  # noqa: S704  (segno's own SVG; the title is XML-escaped by segno)


@dataclass(frozen=True)
class LinkView:
    link: TrackedLink
    url: str
    target: str
    live_problem: str | None
    share_url: str | None
    channel_label: str


def _target_text(link: TrackedLink) -> str:
    if link.target == "post" and link.post is not None:
        return f"Post: {link.post.caption[:60] or link.post.slug}"
    if link.target == "product" and link.product is not None:
        return f"Product: {link.product.title}"
    if link.target == "checkout" and link.product is not None:
        return f"Checkout: {link.quantity} x {link.product.title}"
    return "Storefront"


def _view(link: TrackedLink) -> LinkView:
    problem = why_not_live(link)
    share_url = None
    if problem is None and CHANNELS[link.channel].can_share:
        share_url = service.share(link)["share_url"]
    return LinkView(
        link=link,
        url=link_url(link),
        target=_target_text(link),
        live_problem=problem,
        share_url=share_url,
        channel_label=CHANNELS[link.channel].label,
    )


def _render(form: Form, status: int = 200) -> tuple[str, int]:
    session = db.session()
    post_filter = request.args.get("post", "")
    channel_filter = request.args.get("channel", "")
    stmt = service.select_links(
        post_id=int(post_filter) if post_filter.isdigit() and len(post_filter) < 10 else None,
        channel=channel_filter if channel_filter in CHANNELS else None,
    )
    page = paginate(session, stmt)
    posts = session.execute(
        select(Post.id, Post.caption, Post.slug).order_by(Post.id.desc()).limit(500)
    ).all()
    return render_template(
        "shoppable/admin/links.html",
        form=form,
        links=[_view(link) for link in page.rows],
        page=page,
        channels=[(c.name, c.label) for c in CHANNELS.values()],
        targets=TARGETS,
        posts=[("", "Choose a post…")] + [(str(p.id), (p.caption or p.slug)[:60]) for p in posts],
        products=[("", "Choose a product…")] + [(str(i), t) for i, t in product_choices()],
        post_filter=post_filter,
        channel_filter=channel_filter,
        qr_svg=qr_svg,
    ), status


@bp.get("/links")
@login_required
def links() -> Any:
    initial: dict[str, Any] = {"channel": "instagram", "target": "post"}
    if request.args.get("post", "").isdigit():
        initial["post_id"] = request.args["post"]
    return _render(Form(None, **initial))


def _int_or_none(form: Form, name: str) -> int | None:
    text = form.text(name)
    if not text:
        return None
    if not text.isdigit() or len(text) > 10:
        form.error(name, "Choose one from the list.")
        return None
    return int(text)


@bp.post("/links/new")
@login_required
def links_new() -> Any:
    form = Form(request.form)
    target = form.text("target")
    raw: dict[str, Any] = {"channel": form.text("channel"), "target": target}
    post_id = _int_or_none(form, "post_id")
    product_id = _int_or_none(form, "product_id")
    if target == "post":
        raw["post_id"] = post_id
        if post_id is None and "post_id" not in form.errors:
            form.error("post_id", "Choose the post this link leads to.")
    elif target == "product":
        raw["product_id"] = product_id
        if product_id is None and "product_id" not in form.errors:
            form.error("product_id", "Choose the product this link leads to.")
    for key in ("partner", "label", "utm_campaign"):
        if form.text(key):
            raw[key] = form.text(key)
    # The schema speaks even when a target is missing, so both problems show at once.
    try:
        data = LinkSchema().load(raw)
    except ValidationError as exc:
        form.add_errors(exc.messages, fields=LINK_FIELDS)
    link = form.run(lambda: service.create_link(db.session(), data), fields=LINK_FIELDS)
    if link is None:
        return _render(form, 422)
    flash(f"{CHANNELS[link.channel].label} link created: {link_url(link)}")
    args = {"post": link.post_id} if link.post_id else {}
    return redirect(url_for(f"{bp.name}.links", **args) + f"#link-{link.id}")


def _load(link_id: int) -> TrackedLink:
    try:
        return service.get_link(db.session(), link_id)
    except service.SocialError:
        abort(404)


@bp.post("/links/<int:link_id>/active")
@login_required
def links_active(link_id: int) -> Any:
    link = _load(link_id)
    active = request.form.get("active") == "on"
    service.update_link(db.session(), link, {"active": active})
    flash("Link turned on." if active else "Link turned off: it answers 'not found' now.", "info")
    args = {"post": link.post_id} if request.form.get("from_post") else {}
    return redirect(url_for(f"{bp.name}.links", **args) + f"#link-{link.id}")


@bp.get("/links/<int:link_id>/qr.svg")
@login_required
def links_qr(link_id: int) -> Response:
    """The link's QR code as an SVG file, for print."""
    link = _load(link_id)
    code = segno.make(link_url(link), error="m", micro=False)
    svg = code.svg_inline(scale=10, border=4)
    response = Response(
        '<?xml version="1.0" encoding="utf-8"?>\n' + svg, content_type="image/svg+xml"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="link-{link.code}.svg"'
    return response
