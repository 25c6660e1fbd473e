"""Migrations match the models, go up and down, and live beside a host's own history."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_shoppable import db, schema
from flask_shoppable.models import Base

from .conftest import make_app

PLUGIN_TABLES = {t.name for t in Base.metadata.sorted_tables}


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


@pytest.fixture
def fresh_app(
    backend: str, fresh_database_url: Callable[[str], str], tmp_path: Path
) -> Iterator[Flask]:
    app = make_app(fresh_database_url(backend), tmp_path / "instance")
    yield app
    app.extensions["shoppable"].engine.dispose()


def _cli(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["shoppable", "db", *args])
    return result.exit_code, result.output


def test_upgrade_check_downgrade_upgrade(fresh_app: Flask) -> None:
    engine = fresh_app.extensions["shoppable"].engine
    code, out = _cli(fresh_app, "check")
    assert code != 0
    assert "run 'flask shoppable db upgrade'" in out

    code, out = _cli(fresh_app, "upgrade")
    assert code == 0, out
    assert _tables(engine) >= PLUGIN_TABLES
    assert "shoppable_alembic_version" in _tables(engine)
    assert schema.current(engine) == schema.heads()

    code, out = _cli(fresh_app, "check")
    assert code == 0, out
    assert "No drift" in out

    code, out = _cli(fresh_app, "downgrade", "base")
    assert code == 0, out
    assert not (PLUGIN_TABLES & _tables(engine))
    assert schema.current(engine) == ()

    code, out = _cli(fresh_app, "upgrade")
    assert code == 0, out
    code, out = _cli(fresh_app, "check")
    assert code == 0, out


def test_check_fails_on_drift(fresh_app: Flask) -> None:
    engine = fresh_app.extensions["shoppable"].engine
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE shoppable_product ADD COLUMN stray INTEGER"))
    code, out = _cli(fresh_app, "check")
    assert code != 0
    assert "models and migrations differ" in out
    assert "stray" in out


def test_lives_beside_the_host_history(fresh_app: Flask) -> None:
    """A host with its own alembic_version and tables: the plugin ignores both."""
    engine = fresh_app.extensions["shoppable"].engine
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('host0001')"))
        conn.execute(sa.text("CREATE TABLE host_widget (id INTEGER PRIMARY KEY, name TEXT)"))
    assert _cli(fresh_app, "upgrade")[0] == 0
    code, out = _cli(fresh_app, "check")
    assert code == 0, out
    assert _cli(fresh_app, "downgrade", "base")[0] == 0
    assert {"alembic_version", "host_widget"} <= _tables(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            "host0001"
        )


def test_the_root_revision_has_the_branch_label() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(schema.alembic_config())
    bases = [script.get_revision(r) for r in script.get_bases()]
    assert len(bases) == 1
    assert "shoppable" in bases[0].branch_labels
    assert len(script.get_heads()) == 1


def test_current_command(fresh_app: Flask) -> None:
    assert _cli(fresh_app, "current") == (0, "base\n")
    _cli(fresh_app, "upgrade")
    code, out = _cli(fresh_app, "current")
    assert code == 0
    assert out.strip() == schema.heads()[0]


def test_constraint_names_follow_the_convention(database_url: str) -> None:
    engine = db.make_engine(database_url)
    inspector = sa.inspect(engine)
    uniques = {u["name"] for u in inspector.get_unique_constraints("shoppable_variant")}
    assert "uq_shoppable_variant_sku" in uniques
    fks = {f["name"] for f in inspector.get_foreign_keys("shoppable_variant")}
    assert "fk_shoppable_variant_product_id_shoppable_product" in fks
    engine.dispose()


def _insert(conn: sa.Connection, name: str, **values: object) -> None:
    """A row into a table as it is at an older revision (not the models' shape)."""
    types = {"id": sa.Uuid()} if name == "shoppable_interaction" else {}
    types |= {"origin_interaction_id": sa.Uuid(), "interaction_id": sa.Uuid()}
    table = sa.table(name, *[sa.column(k, types.get(k)) for k in values])
    conn.execute(sa.insert(table).values(**values))


def test_credit_dimensions_are_filled_from_the_touch_or_the_order(fresh_app: Flask) -> None:
    """0010 copies each credit's touch's dimensions onto it (an empty campaign or partner
    as NULL); an unwritten origin's come from its order."""
    engine = fresh_app.extensions["shoppable"].engine
    schema.upgrade(engine, "d1e0a4b5c009")
    at = datetime(2026, 3, 1, tzinfo=UTC)
    click, origin = uuid.UUID(int=1), uuid.UUID(int=2)
    empty = dict.fromkeys(("utm_source", "utm_medium", "utm_content", "utm_term"), "")
    empty |= dict.fromkeys(("referrer", "ip_hash", "ua_class"), "")
    with engine.begin() as conn:
        _insert(conn, "shoppable_post", id=1, slug="hat", caption="Hat", status="published",
                campaign="", image_url="", image_alt="", created_at=at, updated_at=at)  # fmt: skip
        _insert(conn, "shoppable_interaction", id=click, kind="click", occurred_at=at,
                channel="instagram", post_id=1, utm_campaign="spring", partner="",
                click_ids="{}", detail="{}", **empty)  # fmt: skip
        _insert(conn, "shoppable_order", id=1, status="paid", currency="USD",
                subtotal_amount=100, discount_amount=0, shipping_amount=0, tax_amount=0,
                total_amount=100, refunded_amount=0, email="", shipping_name="",
                shipping_address="{}", provider="stripe", origin_interaction_id=origin,
                channel="tiktok", post_id=1, flagged_reason="", created_at=at,
                updated_at=at)  # fmt: skip
        for n, touch in enumerate((click, origin), start=1):
            _insert(conn, "shoppable_order_credit", id=n, order_id=1, model="linear",
                    interaction_id=touch, amount=50, share=0.5)  # fmt: skip
    schema.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT channel, post_id, link_id, campaign, partner FROM shoppable_order_credit"
                " ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("instagram", 1, None, "spring", None),
        ("tiktok", 1, None, None, None),
    ]
