"""The link cache as pure logic: TTL, unknown codes, bounds, invalidation, bulk refresh."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from flask_shoppable.db import utcnow
from flask_shoppable.tracking.linkcache import NEGATIVE_SECONDS, LinkCache, LinkInfo

BASE = LinkInfo(
    id=1,
    code="AAAAAAAAAA",
    channel="instagram",
    utm_source="instagram",
    utm_medium="social",
    utm_campaign="",
    utm_content="",
    utm_term="",
    partner="",
    target="post",
    post_id=1,
    product_id=None,
    variant_id=None,
    quantity=None,
    active=True,
    expires_at=None,
    post_slug="look",
    post_status="published",
    product_handle=None,
    product_active=None,
    path="/shop/p/look",
    location="/shop/p/look?utm_source=instagram&utm_medium=social",
    location_st="/shop/p/look?utm_source=instagram&utm_medium=social&st=",
)


def info(code: str, **changes: object) -> LinkInfo:
    return replace(BASE, code=code, **changes)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """Counts lookups; answers from ``links`` (None for an unknown code)."""

    def __init__(self, links: dict[str, LinkInfo]) -> None:
        self.links = links
        self.calls: list[str] = []
        self.fail = False

    def __call__(self, code: str) -> LinkInfo | None:
        self.calls.append(code)
        if self.fail:
            raise ConnectionError("database down")
        return self.links.get(code)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_hits_within_the_ttl_then_reads_again(clock: Clock) -> None:
    cache = LinkCache(30, clock=clock)
    loader = Loader({"AAAAAAAAAA": info("AAAAAAAAAA")})
    assert cache.get("AAAAAAAAAA", loader) == info("AAAAAAAAAA")
    clock.now += 29.9
    assert cache.get("AAAAAAAAAA", loader) is not None
    assert loader.calls == ["AAAAAAAAAA"]
    loader.links["AAAAAAAAAA"] = info("AAAAAAAAAA", active=False)
    clock.now += 0.2
    assert cache.get("AAAAAAAAAA", loader) == info("AAAAAAAAAA", active=False)
    assert loader.calls == ["AAAAAAAAAA", "AAAAAAAAAA"]
    assert (cache.hits, cache.misses) == (1, 2)


def test_unknown_codes_are_remembered_briefly(clock: Clock) -> None:
    cache = LinkCache(30, clock=clock)
    loader = Loader({})
    for _ in range(100):
        assert cache.get("BBBBBBBBBB", loader) is None
    assert loader.calls == ["BBBBBBBBBB"]  # a flood of one bad code: one query
    loader.links["BBBBBBBBBB"] = info("BBBBBBBBBB")
    clock.now += NEGATIVE_SECONDS + 0.01
    assert cache.get("BBBBBBBBBB", loader) is not None


def test_negative_ttl_never_exceeds_the_ttl() -> None:
    assert LinkCache(1).negative_ttl == 1.0
    assert LinkCache(30).negative_ttl == NEGATIVE_SECONDS


def test_the_cache_is_bounded(clock: Clock) -> None:
    cache = LinkCache(30, max_entries=10, max_unknown=5, clock=clock)
    known = {f"K{i:09d}": info(f"K{i:09d}") for i in range(50)}
    loader = Loader(known)
    for code in known:
        cache.get(code, loader)
    for i in range(50):
        cache.get(f"U{i:09d}", loader)
    assert len(cache._links) == 10
    assert len(cache._unknown) == 5
    # The newest stay.
    assert "K000000049" in cache._links
    assert "U000000049" in cache._unknown


def test_invalidate_and_clear(clock: Clock) -> None:
    cache = LinkCache(30, clock=clock)
    loader = Loader({"AAAAAAAAAA": info("AAAAAAAAAA")})
    cache.get("AAAAAAAAAA", loader)
    cache.get("CCCCCCCCCC", loader)
    cache.invalidate("AAAAAAAAAA")
    cache.invalidate("CCCCCCCCCC")
    cache.get("AAAAAAAAAA", loader)
    cache.get("CCCCCCCCCC", loader)
    assert len(loader.calls) == 4
    cache.clear()
    assert len(cache) == 0


def test_a_stale_entry_is_served_when_the_database_fails(clock: Clock) -> None:
    cache = LinkCache(30, clock=clock)
    loader = Loader({"AAAAAAAAAA": info("AAAAAAAAAA")})
    cache.get("AAAAAAAAAA", loader)
    clock.now += 31
    loader.fail = True
    assert cache.get("AAAAAAAAAA", loader) == info("AAAAAAAAAA")
    # It stays stale: the next click asks the database again.
    assert cache.get("AAAAAAAAAA", loader) == info("AAAAAAAAAA")
    assert len(loader.calls) == 3
    with pytest.raises(ConnectionError):
        cache.get("DDDDDDDDDD", loader)  # never cached: nothing to fall back on


def test_bulk_refresh_loads_everything_once_per_period(clock: Clock) -> None:
    cache = LinkCache(30, clock=clock)
    links = {f"L{i:09d}": info(f"L{i:09d}") for i in range(100)}
    loader = Loader(links)
    bulk_calls: list[int] = []

    def bulk(limit: int) -> list[LinkInfo]:
        bulk_calls.append(limit)
        return list(links.values())

    for code in links:
        assert cache.get(code, loader, bulk) is not None
    assert loader.calls == []  # every click answered from the bulk load
    assert bulk_calls == [cache.max_entries]
    # Renewed before the entries expire: hot links never miss.
    clock.now += 30 * 0.8
    for code in links:
        cache.get(code, loader, bulk)
    assert len(bulk_calls) == 2
    clock.now += 29
    for code in links:
        cache.get(code, loader, bulk)
    assert loader.calls == []
    assert len(bulk_calls) == 3


def test_a_link_missing_from_the_bulk_load_is_looked_up(clock: Clock) -> None:
    """A link made in another process since the bulk load is found at its first click."""
    cache = LinkCache(30, clock=clock)
    loader = Loader({"NEWLINK001": info("NEWLINK001")})
    assert cache.get("NEWLINK001", loader, lambda limit: []) is not None
    assert loader.calls == ["NEWLINK001"]


def test_a_failed_bulk_refresh_is_not_retried_on_every_click(clock: Clock) -> None:
    cache = LinkCache(30, clock=clock)
    loader = Loader({"AAAAAAAAAA": info("AAAAAAAAAA")})
    attempts: list[int] = []

    def broken(limit: int) -> list[LinkInfo]:
        attempts.append(limit)
        raise ConnectionError("database down")

    for _ in range(50):
        assert cache.get("AAAAAAAAAA", loader, broken) is not None
    assert len(attempts) == 1
    clock.now += 11
    cache.get("AAAAAAAAAA", loader, broken)
    assert len(attempts) == 2


def test_live() -> None:
    now = utcnow()
    assert info("A" * 10).live(now)
    assert not info("A" * 10, active=False).live(now)
    assert not info("A" * 10, expires_at=now).live(now)
    assert info("A" * 10, expires_at=now + timedelta(seconds=1)).live(now)
    assert not info("A" * 10, post_status="draft").live(now)
    assert not info("A" * 10, post_status="archived").live(now)
    assert not info("A" * 10, target="product", product_active=False).live(now)
    assert info("A" * 10, target="product", product_active=True).live(now)
    assert info("A" * 10, target="storefront", post_status=None).live(now)
    assert info("A" * 10, target="checkout", post_status=None).live(now)
