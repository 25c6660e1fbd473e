"""Pagination whose sizes come from the app's config, not from import time.

flask-smorest's ``@blp.paginate`` fixes the default and largest page size when the
module is imported, but one blueprint serves every app in the process, each with its own
``SHOPPABLE_API_PAGE_SIZE`` and ``SHOPPABLE_API_MAX_PAGE_SIZE``. So the default is a
callable (marshmallow calls it at load time) and the largest size is checked per request
by :func:`page_of`.

(Kept in catalog/ while the catalog is the only paginated API; it belongs in api/ once
another capability paginates.)
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import current_app
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select
from sqlalchemy.orm import Session

from ..api import abort
from .service import count

T = TypeVar("T")


def _configured_page_size() -> int:
    size: int = current_app.config["SHOPPABLE_API_PAGE_SIZE"]
    return size


class ConfiguredPaginationBlueprint(Blueprint):  # type: ignore[misc]
    """A flask-smorest Blueprint whose ``paginate()`` reads page sizes from the config."""

    DEFAULT_PAGINATION_PARAMETERS: dict[str, Any] = {
        "page": 1,
        "page_size": _configured_page_size,
        "max_page_size": None,
    }


def page_of(session: Session, stmt: Select[T], params: PaginationParameters) -> list[T]:
    """Run ``stmt`` for the requested page and record the total for the X-Pagination header."""
    largest = current_app.config["SHOPPABLE_API_MAX_PAGE_SIZE"]
    if params.page_size > largest:
        abort(
            422,
            f"page_size may be at most {largest}.",
            errors={"query": {"page_size": [f"Must be between 1 and {largest}."]}},
        )
    params.item_count = count(session, stmt)
    page = stmt.offset(params.first_item).limit(params.page_size)
    return list(session.scalars(page))
