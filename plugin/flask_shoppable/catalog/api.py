"""Merchant API for the catalog: products and variants."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("shoppable_catalog", __name__, description="Products and variants.")
