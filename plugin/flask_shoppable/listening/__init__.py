"""Social listening: the Meta webhook, comments as interactions, keyword rules, private replies.

:func:`setup` wires it into an app at ``init_app``: the webhook and reply-link routes
(always; they answer 404 while ``SHOPPABLE_META_APP_SECRET`` is unset), the outbox
sink ``meta_private_reply`` and the link between a buyer and the social identity of
the comment that brought them (``order_paid``), both when listening is on.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from ..signals import order_paid


def setup(app: Flask, prefix: str) -> None:
    from . import erasure  # noqa: F401  (registers the "social" eraser of `forget`)
    from .views import bp

    app.register_blueprint(bp, url_prefix=prefix or None)
    if app.config["SHOPPABLE_META_APP_SECRET"]:
        from ..crm import register_sink
        from .sink import MetaPrivateReplySink

        register_sink(app, MetaPrivateReplySink(app))
        from ..worker import Job, register_job
        from .processing import retry_changes

        register_job(app, Job("listening", retry_changes, interval=30.0))
        # Only where comments can be recorded: the link costs every paid order a pool
        # checkout and a query (four round trips), which a shop without listening (no
        # comment to find) should not pay on its webhook path.
        order_paid.connect(_link_identity, sender=app, weak=False)


def _link_identity(sender: Flask, order: Any, **_: Any) -> None:
    from .customers import link_identity_of_order

    link_identity_of_order(sender, order)
