"""Where the files shipped beside the code live, in an editable install and in a wheel.

templates/ and migrations/ sit at the top level of the repository and are mapped into
the package as ``flask_shoppable.templates`` and ``flask_shoppable.migrations``; every
lookup goes through :func:`importlib.resources.files` on those package names, the one
form that works in both install modes.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: Alembic's script location, in the package form Alembic resolves itself.
MIGRATIONS_SCRIPT_LOCATION = "flask_shoppable.migrations:"


def templates_folder() -> str:
    """The folder holding ``shoppable/...`` templates."""
    return str(files("flask_shoppable.templates"))


def migrations_folder() -> Path:
    """The Alembic environment folder (env.py, versions/)."""
    return Path(str(files("flask_shoppable.migrations")))
