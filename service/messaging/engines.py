"""HTTP engines: keep up to `DISPATCH_CONCURRENCY` provider requests in flight and hand back
each reply as soon as it arrives.

The dispatcher drives an engine as a sliding window (window.py): `start(tag, request)` while
`free()` slots remain, `poll(timeout)` for the replies that arrived, and a new request goes
out for each one that came back, so one slow answer holds one slot, never a whole batch.
`exchange_all` runs a list through the same window and returns the replies in order.

- `CurlEngine` (default) drives libcurl's multi interface from the calling thread: many
  requests in flight, keep-alive connections reused across batches, C parsing. A fan-out
  costs about a tenth of the CPU per message that httpx does (docs/messaging.md, `bench/`);
- `HttpxEngine` runs the same requests through the injected httpx client on a thread pool,
  for transports only httpx has (tests' MockTransport, custom proxies and auth).

Each reply is a `WireResponse` or a `TransportFailure`; neither engine raises for a failed
request. An engine is driven by one thread at a time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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

NOT_STARTED = "not started: the claim's lease was running out"


class HttpEngine(Protocol):
    name: str

    def free(self) -> int:
        """How many more requests may be started now."""
        ...

    def in_flight(self) -> int: ...

    def start(self, tag: Hashable, request: WireRequest) -> None:
        """Start a request (only while free() > 0); its reply comes back from poll()."""
        ...

    def poll(self, timeout: float) -> list[tuple[Hashable, Reply]]:
        """The replies that arrived, waiting up to `timeout` seconds for the first one."""
        ...

    def exchange_all(
        self, requests: Sequence[WireRequest], *, start_by: float | None = None
    ) -> list[Reply]:
        """One reply per request, in order. No request is started after `start_by` (a
        time.monotonic() instant): those come back as not sent."""
        ...

    def close(self) -> None: ...


class _Window:
    """`exchange_all` over start/poll: the same sliding window the dispatcher uses."""

    lock: threading.Lock

    def free(self) -> int:
        raise NotImplementedError

    def in_flight(self) -> int:
        raise NotImplementedError

    def start(self, tag: Hashable, request: WireRequest) -> None:
        raise NotImplementedError

    def poll(self, timeout: float) -> list[tuple[Hashable, Reply]]:
        raise NotImplementedError

    def exchange_all(
        self, requests: Sequence[WireRequest], *, start_by: float | None = None
    ) -> list[Reply]:
        replies: list[Reply | None] = [None] * len(requests)
        waiting = list(enumerate(requests))
        waiting.reverse()  # pop() from the end keeps input order
        call = object()  # tags (call, index): replies left from any other caller are dropped
        pending = 0
        with self.lock:
            while waiting or pending:
                if start_by is not None and time.monotonic() >= start_by:
                    for index, _ in waiting:
                        replies[index] = TransportFailure(False, False, NOT_STARTED)
                    waiting.clear()
                while waiting and self.free() > 0:
                    index, request = waiting.pop()
                    self.start((call, index), request)
                    pending += 1
                for tag, reply in self.poll(0.05):
                    if isinstance(tag, tuple) and tag[0] is call:
                        replies[tag[1]] = reply
                        pending -= 1
                if not waiting and pending and not self.in_flight():
                    break  # cannot happen unless an engine lost a request
        assert all(r is not None for r in replies)
        return replies  # type: ignore[return-value]


class HttpxEngine(_Window):
    name = "httpx"

    def __init__(self, client: httpx.Client, *, concurrency: int) -> None:
        self.client = client
        self.concurrency = concurrency
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="send")
        self.running: dict[Future[Reply], Hashable] = {}
        self.lock = threading.Lock()

    def free(self) -> int:
        return self.concurrency - len(self.running)

    def in_flight(self) -> int:
        return len(self.running)

    def start(self, tag: Hashable, request: WireRequest) -> None:
        self.running[self.pool.submit(exchange, self.client, request)] = tag

    def poll(self, timeout: float) -> list[tuple[Hashable, Reply]]:
        if not self.running:
            return []
        done, _ = wait(list(self.running), timeout=timeout, return_when=FIRST_COMPLETED)
        out: list[tuple[Hashable, Reply]] = []
        for future in done:
            tag = self.running.pop(future)
            try:
                out.append((tag, future.result()))
            except Exception as exc:  # exchange() classifies errors; this is a bug: maybe sent
                out.append((tag, TransportFailure(True, False, f"engine failed: {exc!r}"[:500])))
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class _InFlight:
    __slots__ = ("body", "header_lines", "index")

    def __init__(self, index: Hashable) -> None:
        self.index = index
        self.body = BytesIO()
        self.header_lines: list[bytes] = []


def _never_rewind(offset: int, origin: int) -> int:
    return int(pycurl.SEEKFUNC_FAIL)


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


class CurlEngine(_Window):
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
        self.running: dict[pycurl.Curl, _InFlight] = {}
        self.ready: list[tuple[Hashable, Reply]] = []  # failed before they left
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

    def free(self) -> int:
        return len(self.idle)

    def in_flight(self) -> int:
        return len(self.running) + len(self.ready)

    def start(self, tag: Hashable, request: WireRequest) -> None:
        handle, state = self.idle.pop(), _InFlight(tag)
        try:
            self._start(handle, request, state)
        except Exception as exc:  # e.g. a header libcurl cannot encode
            self.idle.append(handle)
            self.ready.append((tag, TransportFailure(False, False, f"request not built: {exc!r}")))
            return
        self.running[handle] = state

    def poll(self, timeout: float) -> list[tuple[Hashable, Reply]]:
        out, self.ready = self.ready, []
        deadline = time.monotonic() + timeout
        try:
            while self.running:
                while self.multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                    pass
                self._collect(out)
                left = deadline - time.monotonic()
                if out or left <= 0:
                    break
                self.multi.select(min(left, 0.05))
        except BaseException:  # never strand handles inside the multi (the caller counts
            for handle in self.running:  # every request it started as maybe sent)
                self.multi.remove_handle(handle)
                self.idle.append(handle)
            self.running.clear()
            raise
        return out

    def _collect(self, out: list[tuple[Hashable, Reply]]) -> None:
        while True:
            queued, ok, failed = self.multi.info_read()
            for handle in ok:
                state = self.running.pop(handle)
                out.append((state.index, self._finish(handle, state, None)))
            for handle, errno, message in failed:
                state = self.running.pop(handle)
                out.append((state.index, self._finish(handle, state, (errno, message))))
            if not queued:
                return

    def close(self) -> None:
        with self.lock:
            for handle in self.handles:
                handle.close()
            self.multi.close()


def build_engine(settings: AlertSettings, client: httpx.Client) -> HttpEngine:
    if settings.http_engine == "httpx":
        return HttpxEngine(client, concurrency=settings.dispatch_concurrency)
    return CurlEngine(concurrency=settings.dispatch_concurrency, timeout_s=settings.http_timeout_s)
