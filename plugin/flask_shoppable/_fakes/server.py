"""The base of every fake platform server: real HTTP on 127.0.0.1, recording, failing on demand.

A fake subclasses :class:`FakeServer` and routes requests in :meth:`FakeServer.handle`
(a Werkzeug :class:`~werkzeug.wrappers.Request` in, a Response out). The base:

* serves on ``127.0.0.1:<any free port>`` in a daemon thread (``start()`` / ``stop()``,
  or ``with Fake() as fake:``), :attr:`url` is its base address;
* records every request it received, as :class:`Received` (method, path, query, headers,
  body, parsed JSON or form), in :attr:`received`, before any failure is injected, so a
  test can see what a retried call sent each time;
* fails on demand, ahead of the fake's own logic: :meth:`fail` queues failures that the
  next matching requests get (a status with an optional JSON body and headers such as
  ``Retry-After``, or a delay longer than the client's timeout); :meth:`fail_for` fails
  every request for a stretch of seconds (the "CRM down for an hour" case).

All methods are thread-safe: the plugin's workers call from several threads at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class Failure:
    """What a failing request gets: ``status`` (with ``body``/``headers``), or a ``delay``."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to sleep before answering (longer than the client's timeout: a timeout).
    delay: float = 0.0
    #: Only requests whose path contains this fail (None: any request).
    path_contains: str | None = None

    def response(self) -> Response:
        if self.delay:
            time.sleep(self.delay)
        body = self.body if self.body is not None else {"error": "injected failure"}
        return Response(
            json.dumps(body), status=self.status, headers=self.headers, mimetype="application/json"
        )


class FakeServer:
    """Base class; subclasses implement :meth:`handle`."""

    #: Shown in thread names and errors.
    name = "fake"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.lock = threading.RLock()
        self.received: list[Received] = []
        self._failures: deque[Failure] = deque()
        self._down_until = 0.0
        self._down_failure = Failure()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> FakeServer:
        server = make_server(
            self.host, self.port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        server.daemon_threads = True  # type: ignore[attr-defined]  # a ThreadingMixIn
        self._server = server
        self.port = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"{self.name}-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- failures ---------------------------------------------------------------------
    def fail(self, times: int = 1, **failure: Any) -> None:
        """The next ``times`` matching requests get ``Failure(**failure)``."""
        with self.lock:
            self._failures.extend(Failure(**failure) for _ in range(times))

    def fail_for(self, seconds: float, **failure: Any) -> None:
        """Every request fails with ``Failure(**failure)`` for the next ``seconds``."""
        with self.lock:
            self._down_failure = Failure(**failure)
            self._down_until = time.monotonic() + seconds

    def recover(self) -> None:
        """Forget queued failures and end a :meth:`fail_for` stretch now."""
        with self.lock:
            self._failures.clear()
            self._down_until = 0.0

    def _injected(self, request: Request) -> Failure | None:
        with self.lock:
            if time.monotonic() < self._down_until:
                return self._down_failure
            for failure in self._failures:
                if failure.path_contains is None or failure.path_contains in request.path:
                    self._failures.remove(failure)
                    return failure
        return None

    # -- serving ----------------------------------------------------------------------
    def requests_to(self, path_contains: str, method: str | None = None) -> list[Received]:
        """What was received on paths containing ``path_contains`` (and ``method``)."""
        with self.lock:
            return [
                r
                for r in self.received
                if path_contains in r.path and (method is None or r.method == method)
            ]

    def handle(self, request: Request) -> Response:  # pragma: no cover - subclasses
        raise NotImplementedError

    @staticmethod
    def json_response(body: Any, status: int = 200, **headers: str) -> Response:
        return Response(
            json.dumps(body), status=status, headers=headers, mimetype="application/json"
        )

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        with self.lock:
            self.received.append(
                Received(
                    method=request.method,
                    path=request.path,
                    query=dict(request.args),
                    headers=dict(request.headers),
                    body=body,
                    at=time.time(),
                )
            )
        failure = self._injected(request)
        response = failure.response() if failure is not None else self.handle(request)
        return response(environ, start_response)
