"""``flask shoppable worker``: the plugin's background work, in a loop of pluggable jobs.

Jobs (each a :class:`Job`: a name, how often to run when idle, and a function that does
one batch and says how much it did):

* ``webhooks``: retry webhook events that are due: failed ones (exponential backoff
  with jitter), deferred ones (waiting for an earlier event), and received ones whose
  processing was interrupted (the process storing them died).
* ``checkouts``: release the stock of checkouts whose session expired without its
  webhook (``checkout.service.release_expired``).
* ``outbox``: deliver the CRM/ad-platform/social outbox (:mod:`.crm.delivery`: claimed
  with a lease, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
* ``chains``: chain new interactions to their visitor's previous ones, for the reports'
  unique visitors (:mod:`.tracking.chains`).

A host or a later capability adds its own with :func:`register_job` (the outbox will).

Concurrency. On PostgreSQL any number of workers run at once: each event is claimed
with ``SELECT ... FOR UPDATE SKIP LOCKED`` and processed in the transaction that holds
the lock, so two workers never take the same event and a worker that dies (even
SIGKILL) releases it with its connection; the event is then due again at once. On
SQLite, one worker at a time: :func:`sqlite_lock` takes an exclusive lock on a file
beside the database (``<database>.worker.lock``) and a second worker refuses to start.
The lock is the operating system's, so it goes with a killed process.

Stopping. SIGTERM or SIGINT sets a flag; the worker finishes the event it is processing
(commits it) and stops before taking another. ``--once`` runs each job once and exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from .db import utcnow

log = logging.getLogger("flask_shoppable.worker")

#: Most items one job handles in one run before the loop looks at the other jobs.
BATCH = 100


@dataclass(frozen=True)
class Job:
    """One kind of background work.

    ``run(app, now, should_stop)`` does at most one batch and returns how many items it
    handled; ``interval`` is how long the worker waits before running it again after a
    run that found nothing to do (a run that did something is followed at once).
    """

    name: str
    run: Callable[[Flask, datetime, Callable[[], bool]], int]
    interval: float = 1.0


class WorkerBusy(RuntimeError):
    """Another worker holds this SQLite database's lock."""


def _connection_session(connection: Any) -> Session:
    return Session(bind=connection, expire_on_commit=False, autoflush=False)


def retry_webhook_events(app: Flask, now: datetime, should_stop: Callable[[], bool]) -> int:
    """Process the webhook events due at ``now`` (at most :data:`BATCH`); how many."""
    from .orders import eventlog, processing

    state = app.extensions["shoppable"]
    postgres = state.engine.dialect.name == "postgresql"
    handled = 0
    seen: set[int] = set()
    with state.engine.connect() as connection:
        session = _connection_session(connection)
        try:
            while handled < BATCH and not should_stop():
                if postgres:
                    row_id = eventlog.lock_next_due(session, now, seen)
                else:
                    due = [
                        i for i in eventlog.due_ids(session, now, len(seen) + 1) if i not in seen
                    ]
                    row_id = due[0] if due else None
                if row_id is None:
                    session.rollback()
                    break
                seen.add(row_id)
                outcome = processing.process(session, app, row_id)
                follow_ups = [processing.process(session, app, i) for i in outcome.nudged]
                outcome.send_signals(app)
                for follow_up in follow_ups:
                    follow_up.send_signals(app)
                handled += 1
                log.info("webhook event row %s: %s", row_id, outcome.status)
        finally:
            session.close()
    return handled


def release_expired_checkouts(app: Flask, now: datetime, should_stop: Callable[[], bool]) -> int:
    """Give back the stock of checkouts that expired without their webhook."""
    from .checkout import service as checkout_service

    with app.extensions["shoppable"].session_factory() as session:
        released = checkout_service.release_expired(session, now)
    if released:
        log.info("released %s expired checkouts", released)
    return released


def deliver_outbox(app: Flask, now: datetime, should_stop: Callable[[], bool]) -> int:
    """Deliver the outbox messages that are due (:mod:`.crm.delivery`)."""
    from .crm import delivery

    return delivery.run(app, now, should_stop)


def chain_visits(app: Flask, now: datetime, should_stop: Callable[[], bool]) -> int:
    """Chain the interactions of the next visitors (:mod:`.tracking.chains`)."""
    from .tracking import chains

    return chains.run(app, now, should_stop)


DEFAULT_JOBS: tuple[Job, ...] = (
    Job("webhooks", retry_webhook_events, interval=1.0),
    Job("checkouts", release_expired_checkouts, interval=30.0),
    Job("outbox", deliver_outbox, interval=1.0),
    Job("chains", chain_visits, interval=5.0),
)


def register_job(app: Flask, job: Job) -> None:
    """Add a job to ``app``'s worker (run after the built-in ones)."""
    jobs: list[Job] = app.extensions["shoppable"].extra.setdefault("worker_jobs", [])
    if any(existing.name == job.name for existing in jobs):
        raise ValueError(f"a worker job named {job.name!r} is already registered")
    jobs.append(job)


def jobs_for(app: Flask) -> list[Job]:
    return [*DEFAULT_JOBS, *app.extensions["shoppable"].extra.get("worker_jobs", [])]


@contextlib.contextmanager
def sqlite_lock(app: Flask) -> Iterator[None]:
    """On SQLite, hold ``<database>.worker.lock`` for the block (one worker at a time)."""
    engine = app.extensions["shoppable"].engine
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    import fcntl

    path = f"{database}.worker.lock"
    handle = open(path, "a+")  # noqa: SIM115 - held open for the whole block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkerBusy(
                f"another worker is running on this SQLite database (lock {path}); SQLite "
                "allows one worker at a time: use PostgreSQL to run several"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


@dataclass
class Worker:
    """Runs the jobs of one app until stopped."""

    app: Flask
    jobs: list[Job] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if not self.jobs:
            self.jobs = jobs_for(self.app)

    def stop(self, *_args: Any) -> None:
        """Ask the worker to stop after the item it is handling (signal-handler safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_job(self, job: Job, now: datetime | None = None) -> int:
        try:
            return job.run(self.app, now or utcnow(), lambda: self._stop.is_set())
        except Exception:
            log.exception("worker job %s failed; it runs again in %ss", job.name, job.interval)
            return 0

    def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """Run every job until it has nothing left (or the worker is stopped)."""
        done: dict[str, int] = {}
        for job in self.jobs:
            total = 0
            while not self.stopping:
                handled = self.run_job(job, now)
                total += handled
                if handled < BATCH:
                    break
            done[job.name] = total
        return done

    def run_forever(self) -> None:
        """Loop over the jobs, sleeping when idle, until SIGTERM/SIGINT or :meth:`stop`."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        next_run = {job.name: 0.0 for job in self.jobs}
        log.info("worker started: %s", ", ".join(job.name for job in self.jobs))
        while not self.stopping:
            for job in self.jobs:
                if self.stopping:
                    break
                if time.monotonic() < next_run[job.name]:
                    continue
                handled = self.run_job(job)
                next_run[job.name] = 0.0 if handled else time.monotonic() + job.interval
            wait = min(next_run.values()) - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
        log.info("worker stopped")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every job until it has nothing due, then exit.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Retry webhook events, release expired checkouts, deliver the outbox (SIGTERM stops it)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker = Worker(app)
    try:
        with sqlite_lock(app):
            if once:
                done = worker.run_once()
                click.echo(", ".join(f"{name}: {count}" for name, count in done.items()))
            else:
                worker.run_forever()
    except WorkerBusy as exc:
        raise click.ClickException(str(exc)) from None
