"""The sink interface and each app's sinks.

A sink delivers one :class:`Message` to one receiver. It raises
:class:`~.errors.RetryLater` for a transient failure and :class:`~.errors.Rejected` for
a permanent one; anything else it raises counts as transient. Two optional hooks run in
the transaction that marks the message: ``on_delivered(session, message, result)`` and
``on_dead(session, message, reason)``.

``SHOPPABLE_CRM_SINKS`` names the CRM sinks that receive order events; each name maps
in :data:`FACTORIES` to a ``from_config(app) -> Sink`` function, called at ``init_app``
(which checks the sink's own settings and raises ``ConfigError`` naming the bad key).
Other capabilities (listening, publishing) add their sinks with :func:`register_sink`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from flask import Flask

from ..config import ConfigError

#: Sink name in SHOPPABLE_CRM_SINKS -> "module:function" making it from the app.
FACTORIES: dict[str, str] = {
    "hubspot": "flask_shoppable.crm.hubspot:from_config",
    "salesforce": "flask_shoppable.crm.salesforce:from_config",
    "webhook": "flask_shoppable.crm.webhook:from_config",
    "segment": "flask_shoppable.crm.segment:from_config",
    "meta_capi": "flask_shoppable.crm.meta_capi:from_config",
}


@dataclass(frozen=True)
class Message:
    """What a sink is given: one outbox row, read-only."""

    id: int
    sink: str
    event: str
    key: str
    payload: dict[str, Any]
    #: This attempt's number (1 for the first).
    attempts: int


@runtime_checkable
class Sink(Protocol):
    """One receiver. ``events``, when a sink has it, limits the order events it gets."""

    name: str

    def deliver(self, message: Message) -> dict[str, Any] | None: ...


def sinks_of(app: Flask) -> dict[str, Sink]:
    """The app's sinks by name."""
    return app.extensions["shoppable"].extra.setdefault("sinks", {})  # type: ignore[no-any-return]


def crm_sinks(app: Flask) -> list[Sink]:
    """The sinks named in SHOPPABLE_CRM_SINKS (the ones that get order events)."""
    sinks = sinks_of(app)
    return [sinks[name] for name in app.config["SHOPPABLE_CRM_SINKS"] if name in sinks]


def register_sink(app: Flask, sink: Sink) -> None:
    """Add ``sink`` to ``app`` (its name must be new)."""
    name = getattr(sink, "name", None)
    if not isinstance(name, str) or not name or not callable(getattr(sink, "deliver", None)):
        raise TypeError(f"{sink!r} is not a Sink (a name and a deliver(message) method)")
    sinks = sinks_of(app)
    if name in sinks:
        raise ValueError(f"a sink named {name!r} is already registered")
    sinks[name] = sink


def setup(app: Flask) -> None:
    """Check the outbox settings and register the CRM sinks named in SHOPPABLE_CRM_SINKS."""
    check_settings(app.config)
    for name in app.config["SHOPPABLE_CRM_SINKS"]:
        module_name, _, function = FACTORIES[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            raise ConfigError(
                "SHOPPABLE_CRM_SINKS", f"the {name!r} sink is not available in this version"
            ) from None
        register_sink(app, getattr(module, function)(app))


def check_settings(config: Any) -> None:
    names = config["SHOPPABLE_CRM_SINKS"]
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ConfigError("SHOPPABLE_CRM_SINKS", "must be a list of sink names")
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        raise ConfigError(
            "SHOPPABLE_CRM_SINKS",
            f"unknown sink {unknown[0]!r}; known: {', '.join(sorted(FACTORIES))}",
        )
    if len(set(names)) != len(names):
        raise ConfigError("SHOPPABLE_CRM_SINKS", "names a sink twice")
    config["SHOPPABLE_CRM_SINKS"] = list(names)
    for key, low, high in (
        ("SHOPPABLE_OUTBOX_MAX_ATTEMPTS", 1, 100),
        ("SHOPPABLE_OUTBOX_BATCH_SIZE", 1, 1000),
    ):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(key, f"must be an integer from {low} to {high}, got {value!r}")
    for key, low, high in (
        ("SHOPPABLE_OUTBOX_BACKOFF_SECONDS", 0.0, 3600.0),
        ("SHOPPABLE_OUTBOX_BACKOFF_MAX_SECONDS", 0.0, 7 * 86400.0),
        ("SHOPPABLE_OUTBOX_LEASE_SECONDS", 1.0, 86400.0),
        ("SHOPPABLE_OUTBOX_HTTP_TIMEOUT", 0.001, 300.0),
    ):
        value = config[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise ConfigError(key, f"must be a number of seconds from {low:g} to {high:g}")
    if config["SHOPPABLE_OUTBOX_LEASE_SECONDS"] <= 2 * config["SHOPPABLE_OUTBOX_HTTP_TIMEOUT"]:
        raise ConfigError(
            "SHOPPABLE_OUTBOX_LEASE_SECONDS",
            "must be more than twice SHOPPABLE_OUTBOX_HTTP_TIMEOUT (a claim outlives a call)",
        )
