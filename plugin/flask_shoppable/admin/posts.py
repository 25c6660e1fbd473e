"""Posts: create and edit, upload or link an image, tag products on it, preview, publish.

Writes go through the social service and schemas (the API's rules). Tagging: the post's
page has one row per tag (product, x and y in percent of the image); clicking the image
(or moving the marker with the arrow keys) fills the selected row's x and y, through
``admin.js``. Without script the numbers can be typed.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import func, select

from .. import db
from ..social import service
from ..social.models import Post, TrackedLink
from ..social.pages import render_post
from ..social.schemas import TAGS_MAX, PostSchema, PostUpdateSchema, TagSchema
from . import bp, login_required
from .forms import Form
from .listing import paginate
from .media import UploadError, save_image
from .messages import flash
from .products import product_choices

PAGE_SIZE = 50
#: Empty tag rows offered below the post's tags.
EMPTY_TAG_ROWS = 3
POST_FIELDS = ("caption", "image", "image_url", "image_alt", "campaign", "slug")


def _plain(text: str) -> str:
    """A service message without its API hints ("(PUT /posts/<id>/tags)") for the page."""
    return re.sub(r"\s*\((?:set |PUT |POST )[^)]*\)", "", text)


def _image_input(form: Form, raw: dict[str, Any]) -> None:
    """An upload (checked and stored) wins over a typed image address."""
    upload = request.files.get("image")
    if upload is not None and upload.filename:
        try:
            raw["image_url"] = save_image(upload)
        except UploadError as exc:
            form.error("image", str(exc))
    elif "image_url" in form.values:
        raw["image_url"] = form.text("image_url")


def _post_input(form: Form) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "caption": str(form.get("caption", "")).replace("\r\n", "\n"),
        "image_alt": form.text("image_alt"),
        "campaign": form.text("campaign"),
    }
    if form.text("slug"):
        raw["slug"] = form.text("slug")
    _image_input(form, raw)
    return raw


# --- list ---------------------------------------------------------------------------------


@bp.get("/posts")
@login_required
def posts() -> str:
    session = db.session()
    status = request.args.get("status", "")
    stmt = select(Post)
    if status in ("draft", "published", "archived"):
        stmt = stmt.where(Post.status == status)
    page = paginate(session, stmt.order_by(Post.id.desc()), size=PAGE_SIZE)
    counts = {
        row.status: row.count
        for row in session.execute(
            select(Post.status, func.count().label("count")).group_by(Post.status)
        )
    }
    return render_template(
        "shoppable/admin/posts.html", posts=page.rows, page=page, status=status, counts=counts
    )


# --- create ---------------------------------------------------------------------------


@bp.route("/posts/new", methods=["GET", "POST"])
@login_required
def posts_new() -> Any:
    if request.method == "GET":
        return render_template("shoppable/admin/post_new.html", form=Form())
    form = Form(request.form)
    raw = _post_input(form)
    post = form.run(
        lambda: service.create_post(db.session(), PostSchema().load(raw)), fields=POST_FIELDS
    )
    if post is None:
        return render_template("shoppable/admin/post_new.html", form=form), 422
    flash("Post created as a draft. Tag products on the image, then publish.")
    return redirect(url_for(f"{bp.name}.posts_edit", post_id=post.id) + "#tags")


# --- edit, tags, publish --------------------------------------------------------------


def _load(post_id: int) -> Post:
    try:
        return service.get_post(db.session(), post_id)
    except service.SocialError:
        abort(404)


def _values(post: Post) -> dict[str, Any]:
    values: dict[str, Any] = {
        "caption": post.caption,
        "image_url": post.image_url,
        "image_alt": post.image_alt,
        "campaign": post.campaign,
        "slug": post.slug,
    }
    values.update(_tag_values(post))
    return values


def _tag_values(post: Post) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for i, tag in enumerate(post.tags):
        values[f"tags-{i}-product_id"] = str(tag.product_id)
        values[f"tags-{i}-x"] = "" if tag.x is None else f"{tag.x:.2f}"
        values[f"tags-{i}-y"] = "" if tag.y is None else f"{tag.y:.2f}"
    return values


def _render_edit(post: Post, form: Form, status: int = 200) -> tuple[str, int]:
    session = db.session()
    links = session.scalar(
        select(func.count()).select_from(TrackedLink).where(TrackedLink.post_id == post.id)
    )
    rows = min(TAGS_MAX, len(post.tags) + EMPTY_TAG_ROWS)
    submitted = [k for k in form.values if k.startswith("tags-") and k.endswith("-product_id")]
    rows = min(TAGS_MAX, max(rows, len(submitted) + 1))
    return render_template(
        "shoppable/admin/post_edit.html",
        post=post,
        form=form,
        tag_rows=range(rows),
        products=[("", "Choose a product…")] + [(str(i), t) for i, t in product_choices()],
        problems=[_plain(p) for p in service.publish_problems(session, post)],
        links=links or 0,
        post_url=url_for("shoppable_pages.post", slug=post.slug),
    ), status


@bp.route("/posts/<int:post_id>", methods=["GET", "POST"])
@login_required
def posts_edit(post_id: int) -> Any:
    post = _load(post_id)
    if request.method == "GET":
        return _render_edit(post, Form(None, **_values(post)))
    form = Form(None, **_values(post))
    form.values.update({k: request.form[k] for k in request.form})
    raw = _post_input(form)
    form.run(
        lambda: service.update_post(db.session(), post, PostUpdateSchema().load(raw)),
        fields=POST_FIELDS,
    )
    if not form.ok:
        return _render_edit(_load(post_id), form, 422)
    flash("Post saved.")
    return redirect(url_for(f"{bp.name}.posts_edit", post_id=post.id))


def _tags_input(form: Form) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Tag dicts for TagSchema, and for each tag its row number on the page."""
    tags: list[dict[str, Any]] = []
    rows: dict[int, int] = {}
    for i in range(TAGS_MAX + EMPTY_TAG_ROWS):
        product = form.text(f"tags-{i}-product_id")
        if not product or form.checked(f"tags-{i}-remove"):
            continue
        tag: dict[str, Any] = {}
        if not product.isdigit():
            form.error(f"tags-{i}-product_id", "Choose a product from the list.")
            continue
        tag["product_id"] = int(product)
        for axis in ("x", "y"):
            text = form.text(f"tags-{i}-{axis}")
            if not text:
                tag[axis] = None
                continue
            try:
                tag[axis] = float(text)
            except ValueError:
                form.error(f"tags-{i}-{axis}", "Enter a number from 0 to 100 (percent).")
        rows[len(tags)] = i
        tags.append(tag)
    return tags, rows


def _tag_errors(messages: Any, rows: dict[int, int]) -> dict[str, Any]:
    """Schema/service messages keyed by tag index, re-keyed by the page's row numbers."""
    if not isinstance(messages, dict):
        return {"_form": messages}
    out: dict[str, Any] = {}
    for key, value in messages.items():
        if isinstance(key, int) and key in rows:
            out[f"tags-{rows[key]}"] = value
        elif isinstance(key, str) and key.isdigit() and int(key) in rows:
            out[f"tags-{rows[int(key)]}"] = value
        else:
            out.setdefault("_form", []).append(value)
    return out


@bp.post("/posts/<int:post_id>/tags")
@login_required
def posts_tags(post_id: int) -> Any:
    post = _load(post_id)
    form = Form(None, **_values(post))
    for key in list(form.values):
        if key.startswith("tags-"):
            del form.values[key]
    form.values.update({k: request.form[k] for k in request.form})
    tags, rows = _tags_input(form)
    fields = {
        f"tags-{i}-{f}" for i in range(TAGS_MAX + EMPTY_TAG_ROWS) for f in ("product_id", "x", "y")
    }
    if form.ok:
        session = db.session()
        try:
            service.replace_tags(session, post, TagSchema(many=True).load(tags))
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_form": exc.messages}
            form.add_errors(_tag_errors(messages, rows), fields=fields)
        except service.SocialError as exc:
            session.rollback()
            errors = exc.errors.get("tags", exc.errors) if exc.errors else None
            form.add_errors(_tag_errors(errors, rows) if errors else exc.message, fields=fields)
    if not form.ok:
        return _render_edit(_load(post_id), form, 422)
    flash(f"Tags saved ({len(tags)} product{'s' if len(tags) != 1 else ''}).")
    return redirect(url_for(f"{bp.name}.posts_edit", post_id=post.id) + "#tags")


@bp.post("/posts/<int:post_id>/publish")
@login_required
def posts_publish(post_id: int) -> Any:
    post = _load(post_id)
    session = db.session()
    try:
        service.publish_post(session, post)
    except service.SocialError as exc:
        session.rollback()
        flash(_plain(exc.message), "error")
    else:
        flash("Published: the post is on the storefront and its links work.")
    return redirect(url_for(f"{bp.name}.posts_edit", post_id=post_id))


@bp.post("/posts/<int:post_id>/archive")
@login_required
def posts_archive(post_id: int) -> Any:
    post = _load(post_id)
    service.archive_post(db.session(), post)
    flash("Archived: the post is off the storefront and its links answer 'not found'.", "info")
    return redirect(url_for(f"{bp.name}.posts_edit", post_id=post_id))


@bp.get("/posts/<int:post_id>/preview")
@login_required
def posts_preview(post_id: int) -> str:
    """The post page as shoppers will see it, whatever the post's status."""
    return render_post(_load(post_id), preview=True)
