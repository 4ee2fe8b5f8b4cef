"""What every fake messaging gateway shares: failure injection, counting, idempotency-key
dedupe, signed status callbacks, and running on loopback under uvicorn (thread or process).

The apps are plain ASGI callables (no framework) so a fan-out benchmark measures Siaga, not
the fake.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Faults:
    """What fraction of requests fail, and how; deterministic for a given seed."""

    transient_5xx: float = 0.0
    throttle_429: float = 0.0
    timeout: float = 0.0  # accept the message, then answer too late for the client
    timeout_delay_s: float = 1.0
    latency_s: float = 0.0  # every accepted message: answer after this long
    permanent: dict[str, int] = field(default_factory=dict)  # phone -> provider error code
    window_closed: set[str] = field(default_factory=set)  # WhatsApp numbers outside 24 h
    seed: int = 0


@dataclass
class Accepted:
    id: str
    to: str  # E.164 without channel prefix
    channel: str
    body: str | None
    key: str | None
    at: float
    payload: dict[str, Any]


class Gateway:
    """State shared by one fake provider server."""

    def __init__(self, faults: Faults | None = None, *, dedupe: bool = True) -> None:
        self.faults = faults or Faults()
        self.dedupe = dedupe
        self.rng = random.Random(self.faults.seed)
        self.lock = threading.Lock()
        self.accepted: list[Accepted] = []
        # Kept as messages arrive, so polling /_fake/stats stays O(1) at 100,000 messages.
        self.counts: Counter[str] = Counter()
        self.max_count = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.by_key: dict[str, Accepted] = {}
        self.requests = 0
        self.failures: Counter[str] = Counter()
        self.callbacks: queue.Queue[tuple[str, dict[str, str], bytes] | None] = queue.Queue()
        self.callback_errors = 0
        self._callback_thread: threading.Thread | None = None

    # -- decisions ------------------------------------------------------------------------

    def draw(self) -> str:
        """'ok', '5xx', '429' or 'timeout' for the next request."""
        with self.lock:
            self.requests += 1
            x = self.rng.random()
        f = self.faults
        if x < f.transient_5xx:
            return "5xx"
        if x < f.transient_5xx + f.throttle_429:
            return "429"
        if x < f.transient_5xx + f.throttle_429 + f.timeout:
            return "timeout"
        return "ok"

    def accept(self, *, key: str | None, make: Callable[[], Accepted]) -> tuple[Accepted, bool]:
        """Record a new message, or return the earlier one for the same key (dedupe)."""
        with self.lock:
            if self.dedupe and key and key in self.by_key:
                return self.by_key[key], False
            msg = make()
            self.accepted.append(msg)
            self.counts[msg.to] += 1
            self.max_count = max(self.max_count, self.counts[msg.to])
            self.first_at = msg.at if self.first_at is None else min(self.first_at, msg.at)
            self.last_at = msg.at if self.last_at is None else max(self.last_at, msg.at)
            if key:
                self.by_key.setdefault(key, msg)
            return msg, True

    def per_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(self.counts)

    def accept_times(self) -> list[float]:
        with self.lock:
            return sorted(m.at for m in self.accepted)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "accepted": len(self.accepted),
                "recipients": len(self.counts),
                "max_per_recipient": self.max_count,
                "requests": self.requests,
                "failures": dict(self.failures),
                "first_accept": self.first_at,
                "last_accept": self.last_at,
            }

    # -- callbacks ------------------------------------------------------------------------

    def post_later(self, url: str, headers: dict[str, str], body: bytes) -> None:
        if self._callback_thread is None:
            self._callback_thread = threading.Thread(target=self._deliver_callbacks, daemon=True)
            self._callback_thread.start()
        self.callbacks.put((url, headers, body))

    def _deliver_callbacks(self) -> None:
        # No keep-alive: the receiving test server can then shut down at once.
        with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while True:
                item = self.callbacks.get()
                if item is None:
                    return
                url, headers, body = item
                for _ in range(5):  # providers retry failed webhooks
                    try:
                        r = client.post(url, headers=headers, content=body)
                        if r.status_code < 500:
                            if r.status_code >= 400:
                                self.callback_errors += 1
                            break
                    except httpx.HTTPError:
                        time.sleep(0.2)
                self.callbacks.task_done()

    def wait_callbacks(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.callbacks.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)


# -- tiny ASGI helpers ------------------------------------------------------------------------


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        event = await receive()
        chunks.append(event.get("body", b""))
        if not event.get("more_body"):
            return b"".join(chunks)


async def respond(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: str) -> str | None:
    key = name.lower().encode()
    for k, v in scope.get("headers", []):
        if k == key:
            return str(v.decode("latin-1"))
    return None


# -- running ----------------------------------------------------------------------------------


class FakeServer:
    """Run an ASGI fake on loopback in a thread: `with FakeServer(app) as s: s.url`."""

    def __init__(self, app: Any, port: int = 0) -> None:
        import socket

        if not port:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
