"""Lists of the merchant pages, one page at a time: :func:`paginate` and ``_pager.html``.

Every list page (products, posts, links, orders, customers) shows ``size`` rows of its
statement, the page asked for by ``?page=`` (past the end: the last), and the pager
macro of ``shoppable/admin/_pager.html`` links the pages before and after, keeping the
other query arguments (filters, search).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flask import request
from sqlalchemy import Select

from ..catalog.service import count

#: Rows per page unless a list says otherwise.
PAGE_SIZE = 25
#: The highest page number read from a URL (a bound on the OFFSET a request can ask for).
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Page:
    """One page of a listing: its rows, the total, which page of how many, the other
    query arguments (for the pager's links)."""

    rows: list[Any]
    total: int
    number: int
    pages: int
    args: dict[str, str]


def page_number() -> int:
    """``?page=`` as a number from 1 to :data:`MAX_PAGE` (1 when it is not a number)."""
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        return 1
    return min(max(page, 1), MAX_PAGE)


def paginate(
    session: Any, stmt: Select[Any], *, size: int | None = None, rows: bool = False
) -> Page:
    """The requested page of ``stmt`` (which carries its own ORDER BY), ``size`` rows
    (default :data:`PAGE_SIZE`): ORM objects, or whole rows when ``rows``."""
    size = size or PAGE_SIZE
    total = count(session, stmt)
    pages = max(1, math.ceil(total / size))
    number = min(page_number(), pages)
    window = stmt.offset((number - 1) * size).limit(size)
    found = session.execute(window).all() if rows else session.scalars(window).all()
    return Page(list(found), total, number, pages, kept_args())


def kept_args() -> dict[str, str]:
    """The query arguments a pager's links carry on: all but ``page`` and the empty ones,
    and never a name starting with ``_`` (``url_for`` would take ``_scheme``,
    ``_external`` or ``_anchor`` as its own options: ``?_external=1&_scheme=javascript``
    would make the pager's link a script)."""
    return {k: v for k, v in request.args.items() if v and k != "page" and not k.startswith("_")}
