"""``flask shoppable doctor``: the configuration checked end to end, one line per check.

Each check prints ``OK`` or ``FAIL`` with a reason; the command exits non-zero if any
failed. The checks, in order: the settings (loaded and checked at start-up; shown
here), the database (reachable), its migrations (at the latest revision), the payment
provider (a cheap authenticated call: retrieving a session that does not exist must
answer "no such session", which proves the address and the key), the webhook endpoint
(a test event signed with the configured secret, posted to this app's own endpoint
through the test client, must be accepted), the counters of refused deliveries (a
signature failure more recent than the last accepted event means deliveries are being
refused now: usually a wrong webhook secret) and the event backlog (events overdue
mean no worker is running).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select, text

from . import schema
from .db import utcnow

#: The type of the doctor's own test event (stored as ignored: visible in the event log).
TEST_EVENT_TYPE = "shoppable.doctor.ping"
#: A session id that cannot exist: asking for it proves the key without side effects.
PROBE_SESSION_ID = "cs_shoppable_doctor_probe"
#: Events due longer than this mean that no worker is running.
OVERDUE = timedelta(minutes=5)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def _settings(app: Flask) -> Check:
    config = app.config
    key: str = config["SHOPPABLE_STRIPE_SECRET_KEY"]
    mode = "live" if "_live_" in key else "test"
    prefix = app.extensions["shoppable"].url_prefix
    return Check(
        "settings",
        True,
        f"present and well-formed (Stripe {mode} mode, API {config['SHOPPABLE_STRIPE_API_BASE']}"
        f", webhook endpoint {prefix}/webhooks/stripe)",
    )


def _database(app: Flask) -> Check:
    engine = app.extensions["shoppable"].engine
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    where = engine.url.render_as_string(hide_password=True)
    return Check("database", True, f"reachable ({engine.dialect.name}: {where})")


def _migrations(app: Flask) -> Check:
    engine = app.extensions["shoppable"].engine
    current, heads = set(schema.current(engine)), set(schema.heads())
    if current != heads:
        return Check(
            "migrations",
            False,
            f"database at {', '.join(sorted(current)) or 'base'}, latest is "
            f"{', '.join(sorted(heads))}: run 'flask shoppable db upgrade'",
        )
    return Check("migrations", True, f"at the latest revision ({', '.join(sorted(heads))})")


def _provider(app: Flask) -> Check:
    from .payments.base import PaymentError

    provider = app.extensions["shoppable"].payments
    base = app.config["SHOPPABLE_STRIPE_API_BASE"]
    try:
        provider.retrieve_session(PROBE_SESSION_ID)
    except PaymentError as exc:
        if exc.code == "resource_missing" or exc.status == 404:
            return Check("payments", True, f"{provider.name} API at {base} accepts the key")
        if exc.status is None:
            return Check("payments", False, f"{provider.name} API at {base} unreachable")
        return Check("payments", False, exc.message)
    return Check("payments", True, f"{provider.name} API at {base} accepts the key")


def _webhook(app: Flask) -> Check:
    state = app.extensions["shoppable"]
    provider = state.payments
    payload, header = provider.make_test_event(
        TEST_EVENT_TYPE, {"id": "doctor", "object": TEST_EVENT_TYPE}
    )
    path = f"{state.url_prefix}/webhooks/stripe"
    response = app.test_client().post(
        path,
        data=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )
    body = response.get_json(silent=True) or {}
    if response.status_code == 200:
        return Check("webhook", True, f"a test event signed with the secret was accepted at {path}")
    message = body.get("message") or response.status
    return Check("webhook", False, f"{path} answered {response.status_code}: {message}")


def _rejections(app: Flask) -> Check:
    from .orders.models import WebhookEvent, WebhookRejection
    from .payments.base import SIGNATURE_REASONS

    with app.extensions["shoppable"].session_factory() as session:
        rows = list(session.scalars(select(WebhookRejection).order_by(WebhookRejection.reason)))
        accepted: datetime | None = session.scalar(
            select(func.max(WebhookEvent.received_at)).where(WebhookEvent.type != TEST_EVENT_TYPE)
        )
    if not rows:
        return Check("refused deliveries", True, "none")
    counts = ", ".join(f"{r.count} {r.reason}" for r in rows)
    signature = [r for r in rows if r.reason in SIGNATURE_REASONS]
    latest = max((r.last_at for r in signature), default=None)
    if latest is not None and (accepted is None or latest > accepted):
        since = "no event was ever accepted" if accepted is None else "none accepted since"
        return Check(
            "refused deliveries",
            False,
            f"{counts}; the last signature failure was at {latest:%Y-%m-%d %H:%M:%S} UTC and "
            f"{since}: is SHOPPABLE_STRIPE_WEBHOOK_SECRET the endpoint's signing secret?",
        )
    return Check("refused deliveries", True, f"{counts}; events accepted since the last")


def _backlog(app: Flask) -> Check:
    from .orders.eventlog import OPEN_STATUSES
    from .orders.models import WebhookEvent

    now = utcnow()
    with app.extensions["shoppable"].session_factory() as session:
        overdue = session.scalar(
            select(func.count()).where(
                WebhookEvent.status.in_(OPEN_STATUSES),
                WebhookEvent.next_attempt_at < now - OVERDUE,
            )
        )
        given_up = session.scalar(
            select(func.count()).where(
                WebhookEvent.status == "failed", WebhookEvent.next_attempt_at.is_(None)
            )
        )
        waiting = session.scalar(select(func.count()).where(WebhookEvent.status.in_(OPEN_STATUSES)))
    problems = []
    if overdue:
        problems.append(
            f"{overdue} overdue by more than {int(OVERDUE.total_seconds() // 60)} minutes "
            "(is 'flask shoppable worker' running?)"
        )
    if given_up:
        problems.append(
            f"{given_up} failed for good (see GET /api/webhooks/events?status=failed, then "
            "replay them)"
        )
    if problems:
        return Check("webhook backlog", False, "; ".join(problems))
    return Check("webhook backlog", True, f"{waiting or 0} waiting, none overdue")


#: (name, check) in the order they run and print.
CHECKS: tuple[tuple[str, Callable[[Flask], Check]], ...] = (
    ("settings", _settings),
    ("database", _database),
    ("migrations", _migrations),
    ("payments", _provider),
    ("webhook", _webhook),
    ("refused deliveries", _rejections),
    ("webhook backlog", _backlog),
)


def run_checks(app: Flask) -> list[Check]:
    """Every check, in order; one that raises is a FAIL saying what it raised."""
    from .orders.eventlog import describe

    results = []
    for name, check in CHECKS:
        try:
            results.append(check(app))
        except Exception as exc:
            results.append(Check(name, False, describe(exc)))
    return results


@click.command("doctor")
@with_appcontext
def doctor_command() -> None:
    """Check the configuration end to end (exit status 1 if anything fails)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # The checks provoke failures on purpose (a probe for a session that does not exist,
    # a test event to a database that may be missing): their lines say what went wrong,
    # the plugin's own log lines about them would only repeat it.
    plugin_log = logging.getLogger("flask_shoppable")
    level = plugin_log.level
    plugin_log.setLevel(logging.CRITICAL)
    try:
        results = run_checks(app)
    finally:
        plugin_log.setLevel(level)
    for result in results:
        click.echo(result.line())
    failed = [r for r in results if not r.ok]
    if failed:
        click.echo(f"{len(failed)} of {len(results)} checks failed.", err=True)
        raise SystemExit(1)
    click.echo(f"All {len(results)} checks passed.")
