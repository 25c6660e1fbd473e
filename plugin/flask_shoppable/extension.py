"""The extension object: ``Shoppable(app)`` or ``Shoppable().init_app(app)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import config, db
from ._resources import templates_folder

if TYPE_CHECKING:
    from .api.base import ShoppableApi


@dataclass
class ShoppableState:
    """What the plugin keeps per app, at ``app.extensions["shoppable"]``."""

    extension: Shoppable
    engine: Engine
    session_factory: sessionmaker[Session]
    url_prefix: str
    api: ShoppableApi
    extra: dict[str, Any] = field(default_factory=dict)


class Shoppable:
    """Flask-Shoppable.

    ``init_app`` reads these settings (defaults and meaning in ``config.DEFAULTS`` and the
    README): ``SHOPPABLE_DATABASE_URL``, ``SHOPPABLE_ENGINE_OPTIONS``,
    ``SHOPPABLE_URL_PREFIX``, ``SHOPPABLE_DEFAULT_CURRENCY``, ``SHOPPABLE_MAX_BODY_BYTES``,
    ``SHOPPABLE_API_PAGE_SIZE``, ``SHOPPABLE_API_MAX_PAGE_SIZE``,
    ``SHOPPABLE_API_KEY_TOUCH_SECONDS``, ``SHOPPABLE_API_TITLE``, ``SHOPPABLE_API_DOCS``.
    A missing or inconsistent one raises :class:`~flask_shoppable.config.ConfigError`
    naming it.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if "shoppable" in app.extensions:
            raise RuntimeError("Flask-Shoppable is already registered on this app.")
        config.load(app)
        engine = db.make_engine(
            app.config["SHOPPABLE_DATABASE_URL"], app.config["SHOPPABLE_ENGINE_OPTIONS"]
        )
        prefix = app.config["SHOPPABLE_URL_PREFIX"]

        from . import cli
        from .api import base as api_base
        from .catalog.api import blp as catalog_blp

        # Templates (templates/shoppable/...) are found through this blueprint; a host's
        # own templates/shoppable/... take precedence, as Flask looks in the app first.
        pages = Blueprint(
            "shoppable", __name__, url_prefix=prefix or None, template_folder=templates_folder()
        )
        app.register_blueprint(pages)
        api = api_base.setup(app, prefix, [catalog_blp])

        app.extensions["shoppable"] = ShoppableState(
            extension=self,
            engine=engine,
            session_factory=db.make_session_factory(engine),
            url_prefix=prefix,
            api=api,
        )
        app.teardown_appcontext(db.remove_session)
        app.cli.add_command(cli.group)
