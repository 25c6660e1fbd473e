"""The in-process cache of tracked links, so that most redirects touch no database.

A tracked link is read on every click and edited rarely, so each process keeps what it
looked up for ``SHOPPABLE_LINK_CACHE_SECONDS`` (30 s by default):

* An edit made through the merchant API takes effect at once in the process that made
  it (the API calls :func:`invalidate`) and within ``SHOPPABLE_LINK_CACHE_SECONDS`` in
  every other process and host, the bound DESIGN.md promises.
* Expiry (``expires_at``) is checked on every click against the cached row, so a link
  expires on the second, cached or not.
* An unknown code is remembered as unknown for at most :data:`NEGATIVE_SECONDS`, so a
  flood of one bad code costs one query per few seconds, while a link created in
  another process becomes reachable soon; a string that cannot be a code is refused
  before any lookup.
* The cache is bounded (:data:`MAX_ENTRIES` links, :data:`MAX_UNKNOWN` unknown codes;
  the oldest entry goes first), so random codes cannot grow a process's memory.

A miss runs one Core ``SELECT`` (links outer-joined to the post, product and variant
the target needs) built once at import: no ORM objects, and a statement the driver
prepares after a few runs (psycopg does so after five), about a quarter of the cost of
the same lookup through the ORM.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, current_app
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine

from ..catalog.models import Product, Variant
from ..db import utcnow
from ..social.models import Post, TrackedLink

if TYPE_CHECKING:
    from ..social.models import TrackedLink as TrackedLinkType

#: Links kept per process (a few hundred bytes each).
MAX_ENTRIES = 20_000
#: Unknown codes remembered per process.
MAX_UNKNOWN = 4_096
#: How long an unknown code is remembered (seconds), at most the link TTL.
NEGATIVE_SECONDS = 5.0

_EXTRA_KEY = "link_cache"

_L = TrackedLink.__table__
_P = Post.__table__
_PR = Product.__table__
_V = Variant.__table__

LOOKUP = (
    select(
        _L.c.id,
        _L.c.code,
        _L.c.channel,
        _L.c.utm_source,
        _L.c.utm_medium,
        _L.c.utm_campaign,
        _L.c.utm_content,
        _L.c.utm_term,
        _L.c.partner,
        _L.c.target,
        _L.c.post_id,
        _L.c.product_id,
        _L.c.variant_id,
        _L.c.quantity,
        _L.c.active,
        _L.c.expires_at,
        _P.c.slug.label("post_slug"),
        _P.c.status.label("post_status"),
        _PR.c.handle.label("product_handle"),
        _PR.c.active.label("product_active"),
        _V.c.product_id.label("variant_product_id"),
    )
    .select_from(
        _L.outerjoin(_P, _P.c.id == _L.c.post_id)
        .outerjoin(_PR, _PR.c.id == _L.c.product_id)
        .outerjoin(_V, _V.c.id == _L.c.variant_id)
    )
    .where(_L.c.code == bindparam("code"))
)


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """What a redirect needs of a link, read once and shared by every click on it."""

    id: int
    code: str
    channel: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    partner: str
    target: str
    post_id: int | None
    #: The link's product, or for a checkout link the product of its variant.
    product_id: int | None
    variant_id: int | None
    quantity: int | None
    active: bool
    expires_at: datetime | None
    post_slug: str | None
    post_status: str | None
    product_handle: str | None
    product_active: bool | None
    #: Where the redirect goes (from :func:`flask_shoppable.social.links.target_path`).
    path: str

    def live(self, now: datetime | None = None) -> bool:
        """Whether a click on it redirects: active, unexpired, its target shown."""
        if not self.active:
            return False
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return False
        if self.target == "post":
            return self.post_status == "published"
        if self.target == "product":
            return bool(self.product_active)
        return True


@dataclass(frozen=True, slots=True)
class _PostView:
    slug: str


@dataclass(frozen=True, slots=True)
class _ProductView:
    handle: str


@dataclass(frozen=True, slots=True)
class _LinkView:
    """The attributes of a TrackedLink that ``target_path`` reads, from the Core row."""

    code: str
    target: str
    post: _PostView | None
    product: _ProductView | None
    variant_id: int | None
    quantity: int | None


def _info_from_row(row: Any) -> LinkInfo | None:
    from ..social.links import target_path

    view = _LinkView(
        code=row.code,
        target=row.target,
        post=_PostView(row.post_slug) if row.post_slug is not None else None,
        product=_ProductView(row.product_handle) if row.product_handle is not None else None,
        variant_id=row.variant_id,
        quantity=row.quantity,
    )
    try:
        path = target_path(cast("TrackedLinkType", view))
    except LookupError:
        return None
    return LinkInfo(
        id=row.id,
        code=row.code,
        channel=row.channel,
        utm_source=row.utm_source or "",
        utm_medium=row.utm_medium or "",
        utm_campaign=row.utm_campaign or "",
        utm_content=row.utm_content or "",
        utm_term=row.utm_term or "",
        partner=row.partner or "",
        target=row.target,
        post_id=row.post_id,
        product_id=row.product_id if row.product_id is not None else row.variant_product_id,
        variant_id=row.variant_id,
        quantity=row.quantity,
        active=bool(row.active),
        expires_at=_aware(row.expires_at),
        post_slug=row.post_slug,
        post_status=row.post_status,
        product_handle=row.product_handle,
        product_active=None if row.product_active is None else bool(row.product_active),
        path=path,
    )


def _aware(value: datetime | None) -> datetime | None:
    # UTCDateTime already returns aware values; kept for rows read by other means.
    if value is None or value.tzinfo is not None:
        return value
    from datetime import UTC

    return value.replace(tzinfo=UTC)


def load(engine: Engine, code: str) -> LinkInfo | None:
    """Read one link from the database (the cache's miss path; needs a request context)."""
    with engine.connect() as connection:
        row = connection.execute(LOOKUP, {"code": code}).first()
    return None if row is None else _info_from_row(row)


class LinkCache:
    """Per-app, per-process cache of :class:`LinkInfo` by code, with TTL and bounds."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = MAX_ENTRIES,
        max_unknown: int = MAX_UNKNOWN,
        negative_ttl: float = NEGATIVE_SECONDS,
        clock: Any = time.monotonic,
    ) -> None:
        self.ttl = float(ttl)
        self.negative_ttl = min(float(negative_ttl), self.ttl)
        self.max_entries = max_entries
        self.max_unknown = max_unknown
        self._clock = clock
        self._lock = threading.Lock()
        self._links: dict[str, tuple[float, LinkInfo]] = {}
        self._unknown: dict[str, float] = {}
        self.hits = 0
        self.misses = 0

    def get(self, code: str, loader: Any) -> LinkInfo | None:
        """The link for ``code``, from memory when fresh, else from ``loader(code)``."""
        now = self._clock()
        entry = self._links.get(code)
        if entry is not None and entry[0] > now:
            self.hits += 1
            return entry[1]
        unknown_until = self._unknown.get(code)
        if unknown_until is not None and unknown_until > now:
            self.hits += 1
            return None
        self.misses += 1
        info: LinkInfo | None = loader(code)
        self.put(code, info)
        return info

    def put(self, code: str, info: LinkInfo | None) -> None:
        now = self._clock()
        with self._lock:
            self._links.pop(code, None)
            self._unknown.pop(code, None)
            if info is None:
                self._unknown[code] = now + self.negative_ttl
                _trim(self._unknown, self.max_unknown)
            else:
                self._links[code] = (now + self.ttl, info)
                _trim(self._links, self.max_entries)

    def invalidate(self, code: str) -> None:
        with self._lock:
            self._links.pop(code, None)
            self._unknown.pop(code, None)

    def clear(self) -> None:
        with self._lock:
            self._links.clear()
            self._unknown.clear()

    def __len__(self) -> int:
        return len(self._links) + len(self._unknown)


def _trim(entries: dict[str, Any], limit: int) -> None:
    """Drop the oldest insertions beyond ``limit`` (dicts keep insertion order)."""
    while len(entries) > limit:
        del entries[next(iter(entries))]


def cache_for(app: Flask) -> LinkCache:
    """The app's link cache, made on first use."""
    extra: dict[str, Any] = app.extensions["shoppable"].extra
    cache = extra.get(_EXTRA_KEY)
    if cache is None:
        cache = extra.setdefault(_EXTRA_KEY, LinkCache(app.config["SHOPPABLE_LINK_CACHE_SECONDS"]))
    return cast(LinkCache, cache)


def lookup(code: str) -> LinkInfo | None:
    """The current app's link for ``code`` (live or not), or None if there is none."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    engine = app.extensions["shoppable"].engine
    return cache_for(app).get(code, lambda c: load(engine, c))


def invalidate(code: str | None = None, app: Flask | None = None) -> None:
    """Forget ``code`` (every link when None) in this process, so an edit applies at once.

    The merchant API calls it after committing a change to a link (or, with no code,
    to a post or product that links point at). Other processes see the change within
    ``SHOPPABLE_LINK_CACHE_SECONDS``.
    """
    target = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    cache = cache_for(target)
    if code is None:
        cache.clear()
    else:
        cache.invalidate(code)
