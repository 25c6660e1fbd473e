"""The click recorder against a real database (both backends): durable and buffered
writes, retries when the database fails, bad rows, bounds, fork safety."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from flask_shoppable import db
from flask_shoppable.tracking import recorder as recorder_module
from flask_shoppable.tracking.models import CHAIN_COLUMNS, Interaction, new_id
from flask_shoppable.tracking.recorder import Recorder, normalize

DEAD_URL = "postgresql://postgres@127.0.0.1:1/nowhere"

MakeRecorder = Callable[..., Recorder]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.delete(Interaction.__table__))
    yield engine
    engine.dispose()


@pytest.fixture
def make_recorder(engine: Engine) -> Iterator[MakeRecorder]:
    made: list[Recorder] = []

    def make(mode: str = "buffered", size: int = 100, seconds: float = 0.2) -> Recorder:
        config = {
            "SHOPPABLE_CLICK_WRITE_MODE": mode,
            "SHOPPABLE_CLICK_BUFFER_SIZE": size,
            "SHOPPABLE_CLICK_FLUSH_SECONDS": seconds,
        }
        recorder = Recorder(config, sessionmaker(bind=engine))
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close(timeout=1)


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(Interaction.__table__)) or 0


def ids(engine: Engine) -> set[uuid.UUID]:
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(Interaction.__table__.c.id)))


def row(**fields: Any) -> dict[str, Any]:
    return {"id": new_id(), "kind": "click", "channel": "instagram", **fields}


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def dead_engine() -> Engine:
    return db.make_engine(DEAD_URL, {"pool_pre_ping": False})


# --- pure logic -----------------------------------------------------------------------


def test_normalize_fills_every_column() -> None:
    full = normalize({"kind": "click"})
    # Every column but the visit chains' times (the worker's, see tracking.chains); a
    # row without a visitor is written chained (it has nothing to chain).
    assert set(full) == {c.name for c in Interaction.__table__.columns} - {
        c for c in CHAIN_COLUMNS if c != "chained"
    }
    assert full["chained"] is True
    assert normalize({"kind": "click", "visitor_id": "a" * 32})["chained"] is False
    assert isinstance(full["id"], uuid.UUID)
    assert full["occurred_at"].tzinfo is not None
    assert full["utm_source"] == ""
    assert full["click_ids"] == {}
    assert full["detail"] == {}
    assert full["visitor_id"] is None
    # Mutable defaults are fresh per row.
    assert normalize({"kind": "click"})["detail"] is not full["detail"]


def test_normalize_strips_nul_and_refuses_mistakes() -> None:
    assert normalize({"kind": "click", "utm_term": "a\x00b"})["utm_term"] == "ab"
    with pytest.raises(ValueError, match="not Interaction columns"):
        normalize({"kind": "click", "no_such_column": 1})
    with pytest.raises(ValueError, match="kind"):
        normalize({"kind": "purchase"})


# --- durable --------------------------------------------------------------------------


def test_durable_commits_before_returning(engine: Engine, make_recorder: MakeRecorder) -> None:
    recorder = make_recorder("durable")
    iid = new_id()
    recorder.record(row(id=iid, utm_campaign="summer", click_ids={"fbclid": "x"}))
    assert ids(engine) == {iid}
    assert recorder.pending == 0
    with engine.connect() as conn:
        stored = conn.execute(sa.select(Interaction.__table__)).one()
    assert stored.utm_campaign == "summer"
    assert stored.click_ids == {"fbclid": "x"}


def test_durable_failure_raises(make_recorder: MakeRecorder) -> None:
    recorder = make_recorder("durable")
    recorder.engine = dead_engine()
    with pytest.raises(sa.exc.OperationalError):
        recorder.record(row())


# --- buffered -------------------------------------------------------------------------


def test_buffered_rows_are_written_within_the_interval(
    engine: Engine, make_recorder: MakeRecorder
) -> None:
    recorder = make_recorder(seconds=0.2)
    made = [new_id() for _ in range(5)]
    for iid in made:
        recorder.record(row(id=iid))
    assert wait_until(lambda: count(engine) == 5, timeout=3)
    assert ids(engine) == set(made)
    assert recorder.pending == 0


def test_a_full_buffer_is_written_at_once(engine: Engine, make_recorder: MakeRecorder) -> None:
    recorder = make_recorder(size=10, seconds=60)
    for _ in range(10):
        recorder.record(row())
    assert wait_until(lambda: count(engine) == 10, timeout=3)


def test_flush_is_synchronous_and_close_writes_the_rest(
    engine: Engine, make_recorder: MakeRecorder
) -> None:
    recorder = make_recorder(size=10_000, seconds=60)
    for _ in range(250):
        recorder.record(row())
    assert recorder.flush()
    assert count(engine) == 250
    for _ in range(7):
        recorder.record(row())
    recorder.close()
    assert count(engine) == 257
    assert recorder._thread is not None
    assert not recorder._thread.is_alive()
    # After close (interpreter exit), records are written directly.
    recorder.record(row())
    assert count(engine) == 258


def test_a_failed_write_keeps_the_rows_and_retries(
    engine: Engine,
    make_recorder: MakeRecorder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_module, "MAX_BACKOFF", 0.3)  # 30 s in production
    recorder = make_recorder(size=10_000, seconds=0.05)
    good = recorder.engine
    recorder.engine = dead_engine()
    with caplog.at_level(logging.ERROR, logger="flask_shoppable.tracking"):
        for _ in range(20):
            recorder.record(row())
        assert not recorder.flush()
    assert recorder.pending == 20
    assert any("keeping them to retry" in r.getMessage() for r in caplog.records)
    # The background writer keeps trying; once the database is back, all rows arrive.
    recorder.engine = good
    assert wait_until(lambda: count(engine) == 20, timeout=5)
    assert recorder.pending == 0
    assert recorder.dropped == 0


def test_memory_is_bounded_while_the_database_is_down(
    make_recorder: MakeRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = make_recorder(size=10_000, seconds=60)
    recorder.engine = dead_engine()
    recorder.max_pending = 50
    with caplog.at_level(logging.ERROR, logger="flask_shoppable.tracking"):
        for _ in range(80):
            recorder.record(row())
    assert recorder.pending == 50
    assert recorder.dropped == 30
    assert any("dropped" in r.getMessage() for r in caplog.records)


def test_one_bad_row_does_not_block_the_batch(
    engine: Engine, make_recorder: MakeRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = make_recorder(size=10_000, seconds=60)
    fine = [new_id() for _ in range(5)]
    orphan = new_id()  # its link was deleted since the click
    for iid in fine[:2]:
        recorder.record(row(id=iid))
    recorder.record(row(id=orphan, link_id=999_999_999, post_id=999_999_999))
    too_long = new_id()
    recorder.record(row(id=too_long, kind="click", visitor_id="v" * 5000))
    for iid in fine[2:]:
        recorder.record(row(id=iid))
    with caplog.at_level(logging.WARNING, logger="flask_shoppable.tracking"):
        assert recorder.flush()
    stored = ids(engine)
    assert set(fine) <= stored
    assert orphan in stored
    with engine.connect() as conn:
        link_id = conn.scalar(
            sa.select(Interaction.__table__.c.link_id).where(Interaction.__table__.c.id == orphan)
        )
    assert link_id is None
    if engine.dialect.name == "postgresql":
        # PostgreSQL enforces the column's width: that row alone is refused and logged.
        assert too_long not in stored
        assert recorder.dropped == 1
        assert any("dropped" in r.getMessage() for r in caplog.records)


def test_a_row_written_twice_is_not_a_duplicate(
    engine: Engine, make_recorder: MakeRecorder
) -> None:
    """A retry after a commit whose acknowledgement was lost meets its own row."""
    recorder = make_recorder(size=10_000, seconds=60)
    first = row()
    recorder.record(first)
    assert recorder.flush()
    recorder.record(dict(first))
    recorder.record(row())
    assert recorder.flush()
    assert count(engine) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_safety(engine: Engine, make_recorder: MakeRecorder) -> None:
    """gunicorn --preload: the parent's thread and queue do not carry into the child."""
    recorder = make_recorder(size=10_000, seconds=60)
    parent_row = new_id()
    recorder.record(row(id=parent_row))
    assert recorder._thread is not None
    child_row = new_id()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        status = 1
        try:
            fresh = recorder.pending == 0 and recorder._thread is None
            recorder.record(row(id=child_row))
            alive = recorder._thread is not None and recorder._thread.is_alive()
            written = recorder.flush()
            status = 0 if (fresh and alive and written) else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ids(engine) == {child_row}
    assert recorder.pending == 1
    assert recorder.flush()
    assert ids(engine) == {parent_row, child_row}


def test_the_close_hooks_close_every_recorder(engine: Engine, make_recorder: MakeRecorder) -> None:
    first = make_recorder(size=10_000, seconds=60)
    second = make_recorder(size=10_000, seconds=60)
    first.record(row())
    second.record(row())
    recorder_module.gunicorn_worker_exit(None, None)
    assert count(engine) == 2
