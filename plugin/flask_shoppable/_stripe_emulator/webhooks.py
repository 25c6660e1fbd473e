"""Webhook delivery as Stripe does it: signed POSTs from the background, retried with backoff.

Each event goes to every endpoint whose ``enabled_events`` match. Each attempt is signed
afresh (``t`` is the attempt's time; the body is the same bytes every time). A non-2xx
answer, a connection error or a timeout schedules the next attempt after the next delay of
``retry_delays`` (Stripe backs off over three days; tests shorten it); after the last the
delivery is given up. One worker thread by default, so deliveries leave in the order the
events happened unless a retry reorders them (as on Stripe, where order is never promised).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import requests

from ..payments.signature import sign_header

#: Stripe's User-Agent on webhook requests.
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"

#: A target is a URL, or a callable ``(payload, headers) -> status`` (in-process receivers).
Target = str | Callable[[bytes, dict[str, str]], int]


@dataclass
class Endpoint:
    """A webhook endpoint: where events go, signed with its own secret."""

    id: str
    target: Target
    secret: str
    enabled_events: tuple[str, ...] = ("*",)

    def wants(self, event_type: str) -> bool:
        return any(
            pattern == "*"
            or pattern == event_type
            or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
            for pattern in self.enabled_events
        )

    @property
    def url(self) -> str:
        return self.target if isinstance(self.target, str) else repr(self.target)


@dataclass
class Attempt:
    """One try: when, how long, and the answer (``status`` None: no answer at all)."""

    at: float
    duration: float
    status: int | None
    error: str | None = None
    signature: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Delivery:
    """An event on its way to one endpoint, with every attempt so far."""

    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    payload: bytes
    attempts: list[Attempt] = field(default_factory=list)
    state: str = "pending"  # pending, delivered, failed (given up)

    @property
    def delivered(self) -> bool:
        return self.state == "delivered"


class WebhookSender:
    """Schedules deliveries and runs them on background threads."""

    def __init__(
        self,
        *,
        retry_delays: Sequence[float] = (1, 2, 4, 8, 16),
        timeout: float = 10,
        threads: int = 1,
    ) -> None:
        self.retry_delays: tuple[float, ...] = tuple(retry_delays)
        self.timeout = timeout
        self.endpoints: list[Endpoint] = []
        self.deliveries: list[Delivery] = []
        self._heap: list[tuple[float, int, Delivery, Endpoint]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self._generation = 0
        self._paused = False
        self._stopped = False
        self._http = requests.Session()
        self._http.trust_env = False  # a proxy setting must not divert local deliveries
        self._threads = [
            threading.Thread(target=self._run, name=f"stripe-emulator-webhooks-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    # -- configuration ----------------------------------------------------------------

    def add_endpoint(self, endpoint: Endpoint) -> Endpoint:
        with self._cond:
            self.endpoints.append(endpoint)
        return endpoint

    def remove_endpoint(self, endpoint_id: str) -> None:
        with self._cond:
            self.endpoints = [e for e in self.endpoints if e.id != endpoint_id]

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    # -- sending --------------------------------------------------------------------

    def send(self, event_id: str, event_type: str, payload: bytes) -> list[Delivery]:
        """Queue ``payload`` for every endpoint that wants ``event_type``."""
        made = []
        with self._cond:
            for endpoint in self.endpoints:
                if endpoint.wants(event_type):
                    delivery = Delivery(event_id, event_type, endpoint.id, endpoint.url, payload)
                    self.deliveries.append(delivery)
                    heapq.heappush(
                        self._heap, (time.monotonic(), next(self._seq), delivery, endpoint)
                    )
                    made.append(delivery)
            self._cond.notify_all()
        return made

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    if self._heap and not self._paused:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                _due, _seq, delivery, endpoint = heapq.heappop(self._heap)
                self._busy += 1
                generation = self._generation
            try:
                attempt = self._attempt(delivery, endpoint)
            finally:
                with self._cond:
                    self._busy -= 1
                    delivery.attempts.append(attempt)
                    if generation != self._generation:
                        pass  # cleared meanwhile (between tests): no retry
                    elif attempt.ok:
                        delivery.state = "delivered"
                    elif len(delivery.attempts) > len(self.retry_delays):
                        delivery.state = "failed"
                    else:
                        delay = self.retry_delays[len(delivery.attempts) - 1]
                        heapq.heappush(
                            self._heap,
                            (time.monotonic() + delay, next(self._seq), delivery, endpoint),
                        )
                    self._cond.notify_all()

    def _attempt(self, delivery: Delivery, endpoint: Endpoint) -> Attempt:
        header = sign_header(endpoint.secret, delivery.payload)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": header,
            "User-Agent": USER_AGENT,
            "Cache-Control": "no-cache",
            "Accept": "*/*; q=0.5, application/xml",
        }
        started = time.monotonic()
        at = time.time()
        try:
            if isinstance(endpoint.target, str):
                response = self._http.post(
                    endpoint.target, data=delivery.payload, headers=headers, timeout=self.timeout
                )
                status: int | None = response.status_code
                response.close()
            else:
                status = endpoint.target(delivery.payload, headers)
            error = None
        except Exception as exc:  # a receiver that cannot be reached, or raises
            status, error = None, f"{type(exc).__name__}: {exc}"
        return Attempt(at, time.monotonic() - started, status, error, header)

    # -- waiting and stopping -------------------------------------------------------

    def idle(self) -> bool:
        return not self._heap and not self._busy

    def wait(self, timeout: float = 10, event_ids: Iterable[str] | None = None) -> bool:
        """Wait until nothing is pending (or only other events than ``event_ids``)."""
        wanted = set(event_ids) if event_ids is not None else None
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                pending = [
                    d
                    for d in self.deliveries
                    if d.state == "pending" and (wanted is None or d.event_id in wanted)
                ]
                if not pending and (wanted is not None or self.idle()):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))

    def clear(self, timeout: float = 10) -> None:
        """Forget queued deliveries, endpoints and the log (between tests).

        Waits for attempts already under way to end, so none reaches a receiver (a test's
        app) after this returns.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._heap.clear()
            self._generation += 1
            self.deliveries = []
            self.endpoints = []
            self._paused = False
            self._cond.notify_all()
            while self._busy and time.monotonic() < deadline:
                self._cond.wait(0.05)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)
        self._http.close()
