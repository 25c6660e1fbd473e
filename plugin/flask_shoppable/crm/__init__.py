"""Revenue back to the CRM and the ad platforms: the transactional outbox, its worker, the sinks.

* :mod:`.models`: ``OutboxMessage``; :mod:`.outbox`: ``enqueue`` (in the caller's transaction);
* :mod:`.sinks`: the ``Sink`` protocol, ``Message``, ``register_sink``, the registry;
* :mod:`.errors`: ``RetryLater``, ``Rejected``; :mod:`.http`: the shared HTTP session and ``call``;
* :mod:`.payload` and :mod:`.orders`: order events and their payload;
* :mod:`.delivery`: claiming, delivering and marking (the worker's "outbox" job);
* :mod:`.hubspot`: the HubSpot sink.
"""

from __future__ import annotations

from .sinks import Message, Sink, register_sink, setup

__all__ = ["Message", "Sink", "register_sink", "setup"]
