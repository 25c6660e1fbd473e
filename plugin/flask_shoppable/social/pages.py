"""The shop's public pages: storefront grid, post page, product page, embed, oEmbed."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("shoppable_pages", __name__)
