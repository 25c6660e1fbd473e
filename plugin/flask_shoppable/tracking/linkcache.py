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
* While the database cannot be reached, a link whose entry has expired is still served
  from it (and looked up again on the next click), so a short outage does not break
  links that worked a moment before; a link never cached gets a 503.
* The cache is bounded (:data:`MAX_ENTRIES` links, :data:`MAX_UNKNOWN` unknown codes;
  the oldest entry goes first), so random codes cannot grow a process's memory.

A miss runs one Core ``SELECT`` (links outer-joined to the post, product and variant
the target needs) built once at import: no ORM objects, and a statement the driver
prepares after a few runs (psycopg does so after five), about a quarter of the cost of
the same lookup through the ORM.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlencode

from flask import Flask, current_app
from sqlalchemy import bindparam, or_, select

from ..catalog.models import Product, Variant
from ..db import utcnow
from ..social.links import target_path
from ..social.models import Post, TrackedLink
from .direct import DirectConnection

if TYPE_CHECKING:
    from ..social.models import TrackedLink as TrackedLinkType

log = logging.getLogger("flask_shoppable.tracking")

#: Links kept per process (a few hundred bytes each).
MAX_ENTRIES = 20_000
#: Unknown codes remembered per process.
MAX_UNKNOWN = 4_096
#: How long an unknown code is remembered (seconds), at most the link TTL.
NEGATIVE_SECONDS = 5.0
#: The bulk refresh runs when this fraction of the TTL has passed since the last one,
#: so the links it loaded are renewed before they expire and hot links never miss.
BULK_REFRESH = 0.8

_EXTRA_KEY = "link_cache"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")

_L = TrackedLink.__table__
_P = Post.__table__
_PR = Product.__table__
_V = Variant.__table__

_COLUMNS = select(
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
).select_from(
    _L.outerjoin(_P, _P.c.id == _L.c.post_id)
    .outerjoin(_PR, _PR.c.id == _L.c.product_id)
    .outerjoin(_V, _V.c.id == _L.c.variant_id)
)
#: One link by code: the miss path.
LOOKUP = _COLUMNS.where(_L.c.code == bindparam("code"))
#: The newest live links, at most ``limit``: the bulk refresh.
LOOKUP_LIVE = (
    _COLUMNS.where(
        _L.c.active.is_(True),
        or_(_L.c.expires_at.is_(None), _L.c.expires_at > bindparam("now")),
    )
    .order_by(_L.c.id.desc())
    .limit(bindparam("limit"))
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
    #: ``path`` with the link's own utm_* appended (see the redirect view for why).
    location: str
    #: ``location`` ready for the token: ends in ``st=``.
    location_st: str

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


def _info_from_row(row: Any, memo: dict[Any, str] | None = None) -> LinkInfo | None:
    """The LinkInfo of a row of LOOKUP; ``memo`` shares paths and UTM queries in a bulk
    load (many links lead to the same post with the same labels)."""
    (
        link_id,
        code,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_content,
        utm_term,
        partner,
        target,
        post_id,
        product_id,
        variant_id,
        quantity,
        active,
        expires_at,
        post_slug,
        post_status,
        product_handle,
        product_active,
        variant_product_id,
    ) = row
    memo = {} if memo is None else memo
    path_key = (target, post_slug, product_handle, variant_id, quantity)
    path = memo.get(path_key)
    if path is None:
        view = _LinkView(
            code=code,
            target=target,
            post=_PostView(post_slug) if post_slug is not None else None,
            product=_ProductView(product_handle) if product_handle is not None else None,
            variant_id=variant_id,
            quantity=quantity,
        )
        try:
            path = target_path(cast("TrackedLinkType", view))
        except LookupError:
            return None
        memo[path_key] = path
    utm_values = (utm_source, utm_medium, utm_campaign, utm_content, utm_term)
    utm_key = (path, *utm_values)
    location = memo.get(utm_key)
    if location is None:
        utm = [(f, value) for f, value in zip(UTM_FIELDS, utm_values, strict=True) if value]
        location = path
        if utm:
            location += ("&" if "?" in path else "?") + urlencode(utm, quote_via=quote)
        memo[utm_key] = location
    return LinkInfo(
        id=link_id,
        code=code,
        channel=channel,
        utm_source=utm_source or "",
        utm_medium=utm_medium or "",
        utm_campaign=utm_campaign or "",
        utm_content=utm_content or "",
        utm_term=utm_term or "",
        partner=partner or "",
        target=target,
        post_id=post_id,
        product_id=product_id if product_id is not None else variant_product_id,
        variant_id=variant_id,
        quantity=quantity,
        active=bool(active),
        expires_at=_aware(expires_at),
        post_slug=post_slug,
        post_status=post_status,
        product_handle=product_handle,
        product_active=None if product_active is None else bool(product_active),
        path=path,
        location=location,
        location_st=location + ("&" if "?" in location else "?") + "st=",
    )


def _aware(value: datetime | None) -> datetime | None:
    # UTCDateTime already returns aware values; kept for rows read by other means.
    if value is None or value.tzinfo is not None:
        return value
    from datetime import UTC

    return value.replace(tzinfo=UTC)


def load(connection: DirectConnection, code: str) -> LinkInfo | None:
    """Read one link from the database (the cache's miss path; needs a request context)."""
    row = connection.execute(LOOKUP, {"code": code}).first()
    return None if row is None else _info_from_row(row)


def load_live(connection: DirectConnection, limit: int) -> list[LinkInfo]:
    """Read the newest ``limit`` live links (the bulk refresh; needs a request context)."""
    rows = connection.execute(LOOKUP_LIVE, {"now": utcnow(), "limit": limit})
    memo: dict[Any, str] = {}
    return [info for row in rows if (info := _info_from_row(row, memo)) is not None]


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
        #: When the next bulk refresh is due (0: on first use).
        self._next_bulk = 0.0
        self.hits = 0
        self.misses = 0
        self.bulk_loads = 0

    def get(
        self,
        code: str,
        loader: Callable[[str], LinkInfo | None],
        bulk_loader: Callable[[int], list[LinkInfo]] | None = None,
    ) -> LinkInfo | None:
        """The link for ``code``, from memory when fresh, else from ``loader(code)``.

        With ``bulk_loader``, the newest live links are (re)loaded all at once on first
        use and every :data:`BULK_REFRESH` of the TTL, before their entries expire.
        """
        now = self._clock()
        if bulk_loader is not None and now >= self._next_bulk:
            self.refresh(bulk_loader)
        entry = self._links.get(code)
        if entry is not None and entry[0] > now:
            self.hits += 1
            return entry[1]
        unknown_until = self._unknown.get(code)
        if unknown_until is not None and unknown_until > now:
            self.hits += 1
            return None
        self.misses += 1
        try:
            info: LinkInfo | None = loader(code)
        except Exception:
            if entry is None:
                raise
            # The database is unreachable: a link known a moment ago beats an error page.
            # The stale entry is kept as is, so the next click tries the database again.
            log.warning("link %s served from a stale cache entry: lookup failed", code)
            return entry[1]
        self.put(code, info)
        return info

    def refresh(self, bulk_loader: Callable[[int], list[LinkInfo]]) -> None:
        """Load the newest live links in one query, each fresh for another TTL."""
        started = self._clock()
        # Set first: a failing database is not asked again on every click.
        self._next_bulk = started + min(self.ttl * BULK_REFRESH, NEGATIVE_SECONDS * 2)
        try:
            infos = bulk_loader(self.max_entries)
        except Exception:
            log.warning("bulk refresh of the link cache failed", exc_info=True)
            return
        fresh_until = started + self.ttl
        with self._lock:
            for info in infos:
                self._links.pop(info.code, None)
                self._unknown.pop(info.code, None)
                self._links[info.code] = (fresh_until, info)
            _trim(self._links, self.max_entries)
        self._next_bulk = started + self.ttl * BULK_REFRESH
        self.bulk_loads += 1

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
    connection = app.extensions["shoppable"].recorder.direct
    return cache_for(app).get(
        code, lambda c: load(connection, c), lambda limit: load_live(connection, limit)
    )


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
