"""Shared fixtures: every app-level test runs on SQLite and on PostgreSQL.

PostgreSQL is found at ``SHOPPABLE_TEST_POSTGRES_URL`` (default: the local server,
database ``test``, trust auth); the tests create a database of their own there and drop
it at the end. Without a server the PostgreSQL half is skipped, unless
``SHOPPABLE_TEST_STRICT=1`` (CI sets it), which turns every such skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from flask_shoppable import Shoppable, db, schema
from flask_shoppable.api import keys
from flask_shoppable.models import Base
from flask_shoppable.testing import StripeEmulator

POSTGRES_ADMIN_URL = os.environ.get(
    "SHOPPABLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
STRICT = os.environ.get("SHOPPABLE_TEST_STRICT") == "1"
BACKENDS = ("sqlite", "postgresql")


def missing(component: str, reason: str) -> None:
    """Skip for want of ``component``, or fail when the run is strict (CI)."""
    message = f"{component} unavailable: {reason}"
    if STRICT:
        pytest.fail(f"{message} (SHOPPABLE_TEST_STRICT=1 forbids skipping)", pytrace=False)
    pytest.skip(message)


class PostgresServer:
    """Creates throwaway databases on the test server and drops them at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self.created: list[str] = []
        self._engine = sa.create_engine(
            self.admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        self.error: str | None = None
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.text("select 1"))
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"

    def create_database(self) -> str:
        name = f"shoppable_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self._engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self._engine.connect() as conn:
            for name in self.created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(POSTGRES_ADMIN_URL)
    yield server
    if server.error is None:
        server.drop_all()


@pytest.fixture
def fresh_database_url(
    request: pytest.FixtureRequest, postgres_server: PostgresServer, tmp_path: Path
) -> Callable[[str], str]:
    """A factory for an empty database of the given backend (not migrated)."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'fresh-{uuid.uuid4().hex[:6]}.sqlite3'}"
        if postgres_server.error:
            missing("PostgreSQL", postgres_server.error)
        return postgres_server.create_database()

    return make


@pytest.fixture(scope="session")
def _migrated_urls(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """One database per backend, migrated once for the whole run (tests clean it)."""
    urls: dict[str, str] = {}
    sqlite_path = tmp_path_factory.mktemp("sqlite") / "shoppable.sqlite3"
    urls["sqlite"] = f"sqlite:///{sqlite_path}"
    if postgres_server.error is None:
        urls["postgresql"] = postgres_server.create_database()
    for url in urls.values():
        engine = db.make_engine(url)
        schema.upgrade(engine)
        engine.dispose()
    return urls


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


#: A marker that keeps a test to one backend: its other backend's copy is deselected at
#: collection (not skipped: a skip in the report should mean something did not run).
_ONLY = {"postgresql_only": "postgresql", "sqlite_only": "sqlite"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, deselected = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec is not None else None
        wanted = {_ONLY[m.name] for m in item.iter_markers() if m.name in _ONLY}
        (deselected if backend is not None and wanted and backend not in wanted else kept).append(
            item
        )
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture
def database_url(
    backend: str, _migrated_urls: dict[str, str], postgres_server: PostgresServer
) -> str:
    if backend not in _migrated_urls:
        missing("PostgreSQL", postgres_server.error or "not reachable")
    return _migrated_urls[backend]


def _empty_tables(engine: sa.Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(sa.text(f"DELETE FROM {name}"))
            has_seq = conn.execute(
                sa.text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")
            ).first()
            if has_seq:
                conn.execute(sa.text("DELETE FROM sqlite_sequence"))


#: Webhook retries in tests: fast, and given up within a second.
EMULATOR_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4)
_emulator: StripeEmulator | None = None


def session_emulator() -> StripeEmulator:
    """The run's one local Stripe emulator (started on first use, stopped at the end)."""
    global _emulator
    if _emulator is None:
        _emulator = StripeEmulator(
            allow=True, retry_delays=EMULATOR_RETRY_DELAYS, delivery_timeout=5
        ).start()
    return _emulator


@pytest.fixture(scope="session", autouse=True)
def stripe_emulator() -> Iterator[StripeEmulator]:
    """The session-wide emulator every test app talks to (its keys and base address)."""
    yield session_emulator()
    if _emulator is not None:
        _emulator.stop()


@pytest.fixture
def emulator(stripe_emulator: StripeEmulator) -> Iterator[StripeEmulator]:
    """The emulator, emptied for this test (no sessions, events, webhooks or deliveries)."""
    stripe_emulator.reset()
    yield stripe_emulator
    stripe_emulator.reset()


def make_app(database_url: str, instance_path: Path, **config: Any) -> Flask:
    """A bare host app with the plugin, the way a user would write one.

    Its Stripe settings point at the session's emulator (a test may override them).
    """
    app = Flask("host", instance_path=str(instance_path))
    app.config.update(
        TESTING=True,
        SECRET_KEY="test-secret-key-for-the-suite",
        SHOPPABLE_DATABASE_URL=database_url,
    )
    app.config.update(session_emulator().app_config())
    app.config.update(config)
    Shoppable(app)
    return app


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Override in a test module (or parametrize) to set extra config on the app."""
    return {}


@pytest.fixture
def app(
    database_url: str, tmp_path: Path, app_config: dict[str, Any], emulator: StripeEmulator
) -> Iterator[Flask]:
    app = make_app(database_url, tmp_path / "instance", **app_config)
    engine = app.extensions["shoppable"].engine
    _empty_tables(engine)
    yield app
    # Write what the click recorder buffers and stop its thread before the engine goes.
    app.extensions["shoppable"].recorder.close()
    engine.dispose()


@pytest.fixture
def webhooks_to_app(app: Flask, emulator: StripeEmulator) -> Iterator[Any]:
    """Have the emulator deliver its webhooks to the app, through the Flask test client.

    Deliveries run on the emulator's thread, signed and retried as Stripe's are; wait for
    them with ``emulator.wait_for_deliveries()``. Yields the emulator's endpoint; at the
    end, deliveries still queued are dropped before the app goes away.
    """
    path = f"{app.extensions['shoppable'].url_prefix}/webhooks/stripe"

    def deliver(payload: bytes, headers: dict[str, str]) -> int:
        return app.test_client().post(path, data=payload, headers=headers).status_code

    yield emulator.add_webhook(deliver)
    emulator.reset()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session of its own (not the request's), for arranging and asserting."""
    with app.extensions["shoppable"].session_factory() as s:
        yield s


def _headers(app: Flask, scopes: list[str]) -> dict[str, str]:
    with app.extensions["shoppable"].session_factory() as s:
        _row, key = keys.create(s, "tests", scopes)
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def auth(app: Flask) -> dict[str, str]:
    """Headers with a read+write API key."""
    return _headers(app, ["read", "write"])


@pytest.fixture
def read_auth(app: Flask) -> dict[str, str]:
    """Headers with a read-only API key."""
    return _headers(app, ["read"])


@pytest.fixture
def api(client: FlaskClient, auth: dict[str, str]) -> ApiClient:
    return ApiClient(client, auth)


class ApiClient:
    """The test client with an API key and the API prefix filled in."""

    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def __getattr__(self, method: str) -> Callable[..., Any]:
        call = getattr(self.client, method)

        def request(path: str, **kwargs: Any) -> Any:
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return call(f"/shop/api{path}", headers=headers, **kwargs)

        return request


@pytest.fixture(autouse=True)
def _push_request_context() -> None:
    """Replaces pytest-flask's fixture of this name, which keeps a request context pushed
    for the whole test: requests would then share one app context (one ``g``, one
    database session), which no real request does. Tests push a context when they
    need one."""


@pytest.fixture(autouse=True)
def _no_leaked_app_context() -> Iterator[None]:
    yield
    leaked = _cv_app.get(None)
    if leaked is not None:
        pytest.fail("the test left an app context pushed")
