"""HTTP engines: run a batch of provider requests concurrently and return every reply.

The dispatcher hands a whole claimed batch to one engine:

- `CurlEngine` (default) drives libcurl's multi interface from the calling thread: many
  requests in flight, keep-alive connections reused across batches, C parsing. A fan-out
  costs about a tenth of the CPU per message that httpx does (docs/messaging.md, `bench/`);
- `HttpxEngine` runs the same requests through the injected httpx client on a thread pool,
  for transports only httpx has (tests' MockTransport, custom proxies and auth).

Both return, in input order, a `WireResponse` or a `TransportFailure` per request; neither
raises for a failed request.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from io import BytesIO
from typing import Protocol

import certifi
import httpx
import pycurl

from service.messaging.providers.wire import (
    Reply,
    TransportFailure,
    WireRequest,
    WireResponse,
    exchange,
)
from service.settings import AlertSettings


class HttpEngine(Protocol):
    name: str

    def exchange_all(
        self, requests: Sequence[WireRequest], *, start_by: float | None = None
    ) -> list[Reply]:
        """One reply per request, in order. No request is started after `start_by` (a
        time.monotonic() instant): those come back as not sent."""
        ...

    def close(self) -> None: ...


class HttpxEngine:
    name = "httpx"

    def __init__(self, client: httpx.Client, *, concurrency: int) -> None:
        self.client = client
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="send")

    def exchange_all(
        self, requests: Sequence[WireRequest], *, start_by: float | None = None
    ) -> list[Reply]:
        return list(self.pool.map(partial(self._exchange, start_by=start_by), requests))

    def _exchange(self, request: WireRequest, *, start_by: float | None) -> Reply:
        if start_by is not None and time.monotonic() >= start_by:
            return TransportFailure(False, False, NOT_STARTED)
        return exchange(self.client, request)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class _InFlight:
    __slots__ = ("body", "header_lines", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.body = BytesIO()
        self.header_lines: list[bytes] = []


def _never_rewind(offset: int, origin: int) -> int:
    return int(pycurl.SEEKFUNC_FAIL)


NOT_STARTED = "not started: the claim's lease was running out"


def _parse_headers(lines: list[bytes]) -> tuple[str, dict[str, str]]:
    """Reason phrase and headers of the last response block (after any 100 Continue)."""
    reason = ""
    headers: dict[str, str] = {}
    for raw in lines:
        line = raw.decode("latin-1").rstrip("\r\n")
        if line.startswith("HTTP/"):
            parts = line.split(" ", 2)
            reason = parts[2] if len(parts) > 2 else ""
            headers = {}
        elif ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return reason, headers


class CurlEngine:
    name = "curl"

    def __init__(
        self, *, concurrency: int, timeout_s: float, connect_timeout_s: float | None = None
    ) -> None:
        self.timeout_ms = max(1, int(timeout_s * 1000))
        self.connect_timeout_ms = max(1, int(min(timeout_s, connect_timeout_s or 5.0) * 1000))
        # The same trust store httpx uses (certifi, or SSL_CERT_FILE), not whatever path the
        # libcurl wheel was built with.
        self.ca_file = os.environ.get("SSL_CERT_FILE") or certifi.where()
        self.multi = pycurl.CurlMulti()
        # Keep every connection the handles open: reconnecting costs more than the request.
        self.multi.setopt(pycurl.M_MAXCONNECTS, concurrency * 2)
        self.idle = [pycurl.Curl() for _ in range(concurrency)]
        self.handles = list(self.idle)
        # One multi handle must never be driven by two threads at once.
        self.lock = threading.Lock()

    def _start(self, handle: pycurl.Curl, request: WireRequest, state: _InFlight) -> None:
        handle.reset()  # options only: the connection cache lives in the multi handle
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.NOSIGNAL, 1)  # timeouts without SIGALRM, safe beside threads
        handle.setopt(pycurl.TIMEOUT_MS, self.timeout_ms)
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, self.connect_timeout_ms)
        handle.setopt(pycurl.CAINFO, self.ca_file)
        # "Expect:" stops curl waiting for 100 Continue before sending a larger body.
        handle.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in request.headers] + ["Expect:"])
        if request.method == "GET":
            handle.setopt(pycurl.HTTPGET, 1)  # a lookup: libcurl may retry it, harmlessly
        else:
            # The body is read through a callback that cannot rewind: libcurl retries a request
            # whose reused keep-alive connection died without an answer, and a POST that may
            # have arrived must come back as a failure to look up, never be sent twice.
            handle.setopt(pycurl.POST, 1)
            handle.setopt(pycurl.POSTFIELDSIZE, len(request.body))
            handle.setopt(pycurl.READFUNCTION, BytesIO(request.body).read)
            handle.setopt(pycurl.SEEKFUNCTION, _never_rewind)
            if request.method != "POST":
                handle.setopt(pycurl.CUSTOMREQUEST, request.method)
        handle.setopt(pycurl.WRITEFUNCTION, state.body.write)
        handle.setopt(pycurl.HEADERFUNCTION, state.header_lines.append)
        self.multi.add_handle(handle)

    def _finish(
        self, handle: pycurl.Curl, state: _InFlight, error: tuple[int, str] | None
    ) -> Reply:
        self.multi.remove_handle(handle)
        self.idle.append(handle)
        if error is not None:
            errno, message = error
            return TransportFailure(
                # Nothing written means the provider never saw the request.
                reached=handle.getinfo(pycurl.REQUEST_SIZE) > 0,
                timed_out=errno == pycurl.E_OPERATION_TIMEDOUT,
                detail=f"curl error {errno}: {message}",
            )
        reason, headers = _parse_headers(state.header_lines)
        return WireResponse(
            status=int(handle.getinfo(pycurl.RESPONSE_CODE)),
            body=state.body.getvalue(),
            headers=headers,
            reason=reason,
        )

    def exchange_all(
        self, requests: Sequence[WireRequest], *, start_by: float | None = None
    ) -> list[Reply]:
        replies: list[Reply | None] = [None] * len(requests)
        waiting = list(enumerate(requests))
        waiting.reverse()  # pop() from the end keeps input order
        in_flight: dict[pycurl.Curl, _InFlight] = {}
        with self.lock:
            try:
                while waiting or in_flight:
                    if start_by is not None and time.monotonic() >= start_by:
                        for index, _ in waiting:
                            replies[index] = TransportFailure(False, False, NOT_STARTED)
                        waiting.clear()
                    while waiting and self.idle:
                        index, request = waiting.pop()
                        handle, state = self.idle.pop(), _InFlight(index)
                        try:
                            self._start(handle, request, state)
                        except Exception as exc:  # e.g. a header libcurl cannot encode
                            self.idle.append(handle)
                            replies[index] = TransportFailure(
                                False, False, f"request not built: {exc!r}"
                            )
                            continue
                        in_flight[handle] = state
                    if not in_flight:
                        continue
                    while self.multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                        pass
                    if not self._collect(in_flight, replies) and in_flight:
                        self.multi.select(0.05)
            finally:  # an exception mid-batch must not strand handles inside the multi
                for handle in in_flight:
                    self.multi.remove_handle(handle)
                    self.idle.append(handle)
        assert all(r is not None for r in replies)
        return replies  # type: ignore[return-value]

    def _collect(self, in_flight: dict[pycurl.Curl, _InFlight], replies: list[Reply | None]) -> int:
        finished = 0
        while True:
            queued, ok, failed = self.multi.info_read()
            for handle in ok:
                state = in_flight.pop(handle)
                replies[state.index] = self._finish(handle, state, None)
            for handle, errno, message in failed:
                state = in_flight.pop(handle)
                replies[state.index] = self._finish(handle, state, (errno, message))
            finished += len(ok) + len(failed)
            if not queued:
                return finished

    def close(self) -> None:
        with self.lock:
            for handle in self.handles:
                handle.close()
            self.multi.close()


def build_engine(settings: AlertSettings, client: httpx.Client) -> HttpEngine:
    if settings.http_engine == "httpx":
        return HttpxEngine(client, concurrency=settings.dispatch_concurrency)
    return CurlEngine(concurrency=settings.dispatch_concurrency, timeout_s=settings.http_timeout_s)
