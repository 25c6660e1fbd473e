"""Listening: what comments brought, per post and per day, and the latest comments.

A thin view over :mod:`flask_shoppable.listening.report` (the API's and the CLI's
figures) for a date range (``from``/``to``, default the last 30 days), and the latest
comments with the state of their private reply.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import render_template
from sqlalchemy import select

from .. import db
from ..listening.models import Comment, SocialIdentity
from ..listening.report import MAX_DAYS, listening_report
from ..social.models import Post
from . import bp, login_required
from .dashboard import read_choice

#: Latest comments listed under the report.
COMMENTS_SHOWN = 50


@bp.get("/listening")
@login_required
def listening() -> Any:
    # The dashboard's date-range inputs (from/to, default the last 30 days).
    choice = read_choice()
    first, last, errors = choice.first, choice.last, dict(choice.errors)
    if (last - first).days >= MAX_DAYS:
        errors["from"] = f"Pick at most {MAX_DAYS} days."
        first = last - timedelta(days=29)
    session = db.session()
    rows = listening_report(session, first, last)
    post_ids = {r["post_id"] for r in rows if r["post_id"] is not None}
    slugs: dict[int, str] = {}
    if post_ids:
        for row in session.execute(select(Post.id, Post.slug).where(Post.id.in_(post_ids))):
            slugs[row.id] = row.slug
    totals = {
        key: sum(r[key] for r in rows)
        for key in ("comments", "keyword_matches", "replies_sent", "replies_failed", "clicks")
    }
    totals["orders"] = sum(r["orders"] for r in rows)
    comments = session.execute(
        select(Comment, SocialIdentity.username)
        .outerjoin(SocialIdentity, SocialIdentity.id == Comment.identity_id)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(COMMENTS_SHOWN)
    ).all()
    return render_template(
        "shoppable/admin/listening.html",
        rows=rows,
        slugs=slugs,
        totals=totals,
        comments=comments,
        first=first,
        last=last,
        errors=errors,
    )
