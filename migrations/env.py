"""Alembic environment of Flask-Shoppable.

The plugin keeps its own history in ``shoppable_alembic_version`` and looks only at
tables named ``shoppable_*``, so it lives beside a host app's own Alembic or
Flask-Migrate history in the same database. The connection is handed in through
``config.attributes["connection"]`` (see ``flask_shoppable.schema``); without one, the
URL in ``sqlalchemy.url`` is used.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool

from flask_shoppable.db import TABLE_PREFIX
from flask_shoppable.models import Base

VERSION_TABLE = "shoppable_alembic_version"

config = context.config
target_metadata = Base.metadata


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table":
        return bool(name and name.startswith(TABLE_PREFIX))
    table = getattr(obj, "table", None)
    if table is not None:
        return bool(table.name.startswith(TABLE_PREFIX))
    return True


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=include_object,
        render_as_batch=True,
        compare_type=True,
        compare_server_default=True,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        _configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
