"""``GET <prefix>/s/<code>``: the tracked redirect."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("shoppable_tracking", __name__)
