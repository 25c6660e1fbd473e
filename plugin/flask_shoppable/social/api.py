"""Merchant API for posts, tags and tracked links."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("shoppable_social", __name__, description="Posts, product tags and tracked links.")
