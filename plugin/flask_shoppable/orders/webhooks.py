"""``POST <prefix>/webhooks/stripe``: the payment provider's webhook endpoint.

Public (the provider has no API key; the signature is its credential). In order:

1. The body is capped at ``SHOPPABLE_WEBHOOK_MAX_BYTES`` (413 above it).
2. The signature is verified on the raw bytes by the provider
   (``app.extensions["shoppable"].payments.parse_event``, tolerance 300 s). A refusal is
   logged with its reason (never the secret, never the body), counted per reason in
   ``shoppable_webhook_rejection`` (``flask shoppable doctor`` and
   ``GET /api/webhooks/rejections`` show the counters) and answered 400 with a JSON
   message naming the reason: a wrong secret must not hide behind silent 400s.
3. The event is stored and committed in a transaction of its own (unique by provider
   and event id), so whatever happens next it is not lost.
4. It is processed in a second transaction (:mod:`.processing`). Answers: 200 processed
   or ignored (not for this shop, or a type not handled) or a duplicate of an event
   already processed; 202 deferred (it waits for an earlier event; the worker and the
   earlier event's arrival retry it); 500 when processing failed (stored as failed with
   its traceback, retried by ``flask shoppable worker``, and by the provider, which
   retries non-2xx answers).

Both steps use one connection, the store in autocommit mode (one statement, no BEGIN or
COMMIT): round trips are what an ingest endpoint's throughput is made of. On PostgreSQL
in a single-threaded worker it is the worker's held connection (no pool checkout, no
pre-ping; a dropped one is replaced when the idempotent store fails on it); otherwise
one from the pool.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from ..db import utcnow
from ..payments.base import SignatureError
from . import eventlog, processing

log = logging.getLogger("flask_shoppable.webhooks")

bp = Blueprint("shoppable_webhooks", __name__)

#: Rejection reasons besides the signature's (see ``payments.base.SIGNATURE_REASONS``).
BODY_TOO_LARGE = "body too large"
MALFORMED_EVENT = "malformed event"

_STATUS_CODES = {"processed": 200, "ignored": 200, "done": 200, "deferred": 202, "failed": 500}


def _answer(status_code: int, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = status_code
    response.headers["Cache-Control"] = "no-store"
    return response


def _reject(app: Flask, provider: str, code: int, reason: str, message: str) -> Response:
    log.warning(
        "%s webhook refused from %s: %s (%s)",
        provider,
        request.remote_addr or "?",
        reason,
        message,
    )
    try:
        with app.extensions["shoppable"].session_factory() as session:
            eventlog.count_rejection(session, provider, reason, utcnow())
    except Exception as exc:
        log.error("could not count a refused %s webhook: %s", provider, eventlog.describe(exc))
    return _answer(code, code=code, status="refused", reason=reason, message=message)


def _store(connection: Connection, provider: str, event: Any, payload: str) -> eventlog.Stored:
    return eventlog.store(
        connection,
        provider=provider,
        event_id=event.id,
        type=event.type,
        payload=payload,
        remote_addr=request.remote_addr or "",
    )


def _store_failed(provider: str, event_id: str, exc: Exception) -> Response:
    log.error("could not store %s event %s: %s", provider, event_id, eventlog.describe(exc))
    return _answer(500, code=500, status="error", message="The event could not be stored; retry.")


def _session(connection: Any) -> Session:
    return Session(bind=connection, expire_on_commit=False, autoflush=False)


@bp.route("/webhooks/stripe", methods=["POST"], endpoint="stripe")
def stripe_webhook() -> Response:
    return receive(current_app._get_current_object())  # type: ignore[attr-defined]


def receive(app: Flask) -> Response:
    """Verify, store, then process one delivery to the current request's endpoint."""
    state = app.extensions["shoppable"]
    provider = state.payments
    limit = app.config["SHOPPABLE_WEBHOOK_MAX_BYTES"]
    request.max_content_length = limit
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _reject(
            app, provider.name, 413, BODY_TOO_LARGE, f"The body is larger than {limit} bytes."
        )
    try:
        event = provider.parse_event(body, request.headers.get("Stripe-Signature"))
        payload = body.decode("utf-8")
    except SignatureError as exc:
        detail = f": {exc.detail}" if exc.detail else ""
        return _reject(
            app,
            provider.name,
            400,
            exc.reason,
            f"The Stripe-Signature header did not verify ({exc.reason}{detail}). If every "
            "delivery fails so, SHOPPABLE_STRIPE_WEBHOOK_SECRET is not this endpoint's "
            "signing secret.",
        )
    except (ValueError, UnicodeDecodeError) as exc:
        return _reject(
            app, provider.name, 400, MALFORMED_EVENT, f"The body is not a valid event: {exc}"
        )

    # On PostgreSQL, in a single-threaded worker (gunicorn's sync workers), the store and
    # the processing run on the worker's held connection (the one the redirect uses, see
    # tracking/direct.py): no pool checkout, so no pre-ping round trip; a connection the
    # server dropped fails the store, which is idempotent, and is replaced once. A
    # threaded server takes one from the pool per delivery (a connection held by each of
    # its threads could drain the pool), and so does SQLite (whose held connection waits
    # for locks its own way).
    single = not request.environ.get("wsgi.multithread", True)
    held = state.recorder.direct if single and state.engine.dialect.name == "postgresql" else None
    connection = held.connection() if held is not None else state.engine.connect()
    try:
        # The store is one statement, committed on its own (autocommit: no BEGIN and
        # COMMIT round trips); processing then runs in a transaction on the same
        # connection.
        connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            stored = _store(connection, provider.name, event, payload)
        except DBAPIError as exc:
            if held is None or not exc.connection_invalidated:
                return _store_failed(provider.name, event.id, exc)
            held.discard()
            connection = held.connection()
            try:
                stored = _store(connection, provider.name, event, payload)
            except Exception as again:
                return _store_failed(provider.name, event.id, again)
        except Exception as exc:
            return _store_failed(provider.name, event.id, exc)
        connection.commit()  # ends SQLAlchemy's view of it; nothing to send in autocommit
        if not stored.new and stored.status in ("processed", "ignored"):
            return _answer(200, status="duplicate", event=event.id)
        connection.execution_options(isolation_level=connection.default_isolation_level)
        session = _session(connection)
        try:
            outcome = processing.process(session, app, stored.id, obj=event.object)
            follow_ups = [processing.process(session, app, row_id) for row_id in outcome.nudged]
        except Exception as exc:
            # Not even the failure could be recorded (the database went away): the event
            # is stored, so the worker takes it once it is due; the provider retries too.
            log.error(
                "could not process or record %s event %s: %s",
                provider.name,
                event.id,
                eventlog.describe(exc),
            )
            if held is not None:
                held.discard()
            return _answer(500, status="failed", event=event.id, message="processing failed")
        finally:
            session.close()
    finally:
        if held is None:
            connection.close()
        elif not connection.closed and not connection.invalidated:
            # Back to how the redirect expects it: autocommit, no transaction open.
            if connection.in_transaction():
                connection.rollback()
            connection.execution_options(isolation_level="AUTOCOMMIT")
    outcome.send_signals(app)
    for follow_up in follow_ups:
        follow_up.send_signals(app)
    status = "duplicate" if outcome.status == "done" else outcome.status
    body_out: dict[str, Any] = {"status": status, "event": event.id}
    if outcome.message:
        body_out["message"] = outcome.message
    return _answer(_STATUS_CODES[outcome.status], **body_out)
