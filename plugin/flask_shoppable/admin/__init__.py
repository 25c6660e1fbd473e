"""The merchant pages under ``<prefix>/admin``: sign-in, catalog, posts, links, settings, ...

How to add a page (for the orders, customers, outbox and dashboard pages, and hosts):

1. Put a module in this package (``admin/orders.py``); every module here is imported
   before the blueprint is registered, so there is no list to edit. Route on :data:`bp`
   and wrap the view in :func:`login_required`::

       from . import bp, login_required

       @bp.get("/orders")
       @login_required
       def orders() -> str:
           return render_template("shoppable/admin/orders.html", ...)

   Name endpoints ``<section>`` or ``<section>_<action>`` (``orders``, ``orders_detail``);
   the nav highlights the section (dashboard, products, posts, links, orders, customers,
   outbox, settings). The nav shows an item once its endpoint (the bare section name)
   exists. ``dashboard`` is the home page after sign-in when it exists.
2. Template ``templates/shoppable/admin/<page>.html`` extends ``shoppable/admin/base.html``
   (its header comment lists the blocks), and every form uses ``csrf_field()`` and the
   ``field`` macro of ``shoppable/admin/_forms.html``.
3. Every request that is not GET/HEAD/OPTIONS is CSRF-checked before the view runs; every
   request is refused without a merchant before the view runs (belt and braces with
   :func:`login_required`, which a test checks on every rule of the url_map).
4. ``flash(message, category)`` from :mod:`.messages` shows a message on the next page.
"""

from __future__ import annotations

import importlib
import pkgutil

from flask import Blueprint, Flask

from .auth import current_merchant as current_merchant
from .auth import login_required as login_required
from .messages import flash as flash

bp = Blueprint("shoppable_admin", __name__)

#: Modules of this package that hold no routes (imported by the others as needed).
_NOT_PAGES = {"auth", "csrf", "forms", "messages", "models", "cli", "media", "shop", "listing"}


def _import_pages() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name not in _NOT_PAGES and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def setup(app: Flask, prefix: str) -> None:
    """Register the admin blueprint at ``<prefix>/admin`` and the public media route."""
    _import_pages()
    from .media import bp as media_bp
    from .shop import shop
    from .views import TEMPLATE_GLOBALS

    app.add_template_global(shop, "shoppable_shop")
    for name, function in TEMPLATE_GLOBALS.items():
        app.add_template_global(function, name)
    app.register_blueprint(bp, url_prefix=f"{prefix}/admin")
    app.register_blueprint(media_bp, url_prefix=prefix or None)
