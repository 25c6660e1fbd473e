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
    from .payments.base import PaymentProvider
    from .tracking.recorder import Recorder


@dataclass
class ShoppableState:
    """What the plugin keeps per app, at ``app.extensions["shoppable"]``."""

    extension: Shoppable
    engine: Engine
    session_factory: sessionmaker[Session]
    url_prefix: str
    api: ShoppableApi
    recorder: Recorder
    payments: PaymentProvider
    extra: dict[str, Any] = field(default_factory=dict)


class Shoppable:
    """Flask-Shoppable.

    ``init_app`` reads these settings (defaults and meaning in ``config.DEFAULTS`` and the
    README): ``SHOPPABLE_DATABASE_URL``, ``SHOPPABLE_ENGINE_OPTIONS``,
    ``SHOPPABLE_URL_PREFIX``, ``SHOPPABLE_DEFAULT_CURRENCY``, ``SHOPPABLE_MAX_BODY_BYTES``,
    ``SHOPPABLE_API_PAGE_SIZE``, ``SHOPPABLE_API_MAX_PAGE_SIZE``,
    ``SHOPPABLE_API_KEY_TOUCH_SECONDS``, ``SHOPPABLE_API_TITLE``, ``SHOPPABLE_API_DOCS``,
    ``SHOPPABLE_SECRET_KEY``, ``SHOPPABLE_SHOP_NAME``, ``SHOPPABLE_PUBLIC_URL``,
    ``SHOPPABLE_POSTS_PER_PAGE``, ``SHOPPABLE_CLICK_WRITE_MODE``,
    ``SHOPPABLE_CLICK_BUFFER_SIZE``, ``SHOPPABLE_CLICK_FLUSH_SECONDS``,
    ``SHOPPABLE_LINK_CACHE_SECONDS``, ``SHOPPABLE_VISITOR_COOKIE``,
    ``SHOPPABLE_VISITOR_COOKIE_DAYS``, ``SHOPPABLE_HONOR_DNT``, ``SHOPPABLE_REQUIRE_CONSENT``,
    ``SHOPPABLE_CONSENT_COOKIE``, ``SHOPPABLE_TOKEN_MAX_AGE_DAYS``,
    ``SHOPPABLE_STRIPE_SECRET_KEY``, ``SHOPPABLE_STRIPE_WEBHOOK_SECRET``,
    ``SHOPPABLE_STRIPE_API_BASE``, ``SHOPPABLE_STRIPE_API_VERSION``,
    ``SHOPPABLE_STRIPE_TIMEOUT``, ``SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES``,
    ``SHOPPABLE_WEBHOOK_MAX_BYTES``, ``SHOPPABLE_ATTRIBUTION_MODEL``,
    ``SHOPPABLE_ATTRIBUTION_HALF_LIFE_DAYS``, ``SHOPPABLE_MAX_LINE_QUANTITY``,
    ``SHOPPABLE_CHECKOUT_TTL_MINUTES``, ``SHOPPABLE_ATTRIBUTION_LOOKBACK_DAYS``,
    ``SHOPPABLE_SHIPPING_COUNTRIES``, ``SHOPPABLE_SHIPPING_RATES``,
    ``SHOPPABLE_AUTOMATIC_TAX``, ``SHOPPABLE_ALLOW_PROMOTION_CODES``.
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

        from . import cli, crm, web
        from .admin import setup as admin_setup
        from .api import base as api_base
        from .catalog.api import blp as catalog_blp
        from .checkout.views import bp as checkout_bp
        from .crm.api import blp as outbox_blp
        from .listening import setup as listening_setup
        from .listening.api import blp as listening_blp
        from .orders.api import blp as orders_blp
        from .orders.api import events_blp
        from .orders.webhooks import bp as webhooks_bp
        from .payments.stripe import StripeProvider
        from .publishing import setup as publishing_setup
        from .publishing.api import blp as publishing_blp
        from .reports.api import blp as reports_blp
        from .social.api import blp as social_blp
        from .social.pages import bp as pages_bp
        from .tracking.recorder import Recorder
        from .tracking.views import bp as tracking_bp

        # Templates (templates/shoppable/...) are found through this blueprint; a host's
        # own templates/shoppable/... take precedence, as Flask looks in the app first.
        templates = Blueprint("shoppable", __name__, template_folder=templates_folder())
        app.register_blueprint(templates)
        for blueprint in (pages_bp, tracking_bp, checkout_bp, webhooks_bp):
            app.register_blueprint(blueprint, url_prefix=prefix or None)
        api = api_base.setup(
            app,
            prefix,
            [
                catalog_blp,
                social_blp,
                orders_blp,
                events_blp,
                listening_blp,
                publishing_blp,
                outbox_blp,
                reports_blp,
            ],
        )
        admin_setup(app, prefix)
        web.install(app)

        session_factory = db.make_session_factory(engine)
        app.extensions["shoppable"] = ShoppableState(
            extension=self,
            engine=engine,
            session_factory=session_factory,
            url_prefix=prefix,
            api=api,
            recorder=Recorder(app.config, session_factory),
            payments=StripeProvider.from_config(app.config),
        )
        crm.setup(app)
        app.teardown_appcontext(db.remove_session)
        app.cli.add_command(cli.group)
        listening_setup(app, prefix)
        publishing_setup(app)
