"""Both HTTP engines over real HTTP against a small loopback server: replies in input order,
headers and reason phrases read, connections reused, failures classified the same way."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.messaging.engines import CurlEngine, HttpEngine, HttpxEngine
from service.messaging.providers.wire import TransportFailure, WireRequest, WireResponse
from tests.fakes.gateway import FakeServer, Receive, Scope, Send, read_body


class Echo:
    """Answers after a random delay with what it got; /throttle answers 429 + Retry-After;
    /slow never answers in time. Counts the client connections it saw."""

    def __init__(self) -> None:
        self.peers: set[tuple[str, int]] = set()
        self.rng = random.Random(5)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.peers.add(tuple(scope["client"]))
        body = await read_body(receive)
        path = scope["path"]
        if path == "/slow":
            await asyncio.sleep(2)
        status, headers = 200, [(b"content-type", b"application/json")]
        if path == "/throttle":
            status = 429
            headers.append((b"retry-after", b"7"))
        await asyncio.sleep(self.rng.uniform(0, 0.02))
        payload = {
            "path": path,
            "method": scope["method"],
            "query": scope["query_string"].decode(),
            "body": body.decode(),
            "key": dict(scope["headers"]).get(b"idempotency-key", b"").decode(),
        }
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[Echo, str]]:
    app = Echo()
    with FakeServer(app) as server:
        yield app, server.url


@pytest.fixture(params=["curl", "httpx"])
def http_engine(request: pytest.FixtureRequest) -> Iterator[HttpEngine]:
    engine: HttpEngine
    if request.param == "curl":
        engine = CurlEngine(concurrency=4, timeout_s=0.5)
        yield engine
    else:
        client = httpx.Client(timeout=httpx.Timeout(0.5))
        engine = HttpxEngine(client, concurrency=4)
        yield engine
        client.close()
    engine.close()


def post(url: str, i: int) -> WireRequest:
    return WireRequest(
        "POST",
        f"{url}/m/{i}",
        (("Content-Type", "application/x-www-form-urlencoded"), ("Idempotency-Key", f"k{i}")),
        f"To=%2B62812{i:07d}&Body=Banjir".encode(),
    )


def as_json(reply: Any) -> dict[str, Any]:
    assert isinstance(reply, WireResponse), reply
    return dict(reply.json())


def test_replies_come_back_in_input_order_over_reused_connections(
    echo: tuple[Echo, str], http_engine: HttpEngine
) -> None:
    app, url = echo
    app.peers.clear()
    for _ in range(3):  # batches reuse the connections of earlier ones
        replies = http_engine.exchange_all([post(url, i) for i in range(40)])
        assert [as_json(r)["path"] for r in replies] == [f"/m/{i}" for i in range(40)]
        assert [as_json(r)["key"] for r in replies] == [f"k{i}" for i in range(40)]
    first = as_json(replies[3])
    assert first["method"] == "POST" and first["body"] == "To=%2B628120000003&Body=Banjir"
    # 120 requests, at most 4 in flight: a new connection per request would show 120 peers.
    assert len(app.peers) <= 8


def test_get_query_headers_and_reason_are_read(
    echo: tuple[Echo, str], http_engine: HttpEngine
) -> None:
    _, url = echo
    get, throttled = http_engine.exchange_all(
        [
            WireRequest("GET", f"{url}/list?To=%2B6281&PageSize=50", (("X-A", "1"),)),
            WireRequest("POST", f"{url}/throttle", (), b"x=1"),
        ]
    )
    assert as_json(get)["method"] == "GET" and as_json(get)["query"] == "To=%2B6281&PageSize=50"
    assert isinstance(throttled, WireResponse)
    assert throttled.status == 429 and throttled.reason == "Too Many Requests"
    assert throttled.headers["retry-after"] == "7" and throttled.retry_after_s() == 7.0
    assert throttled.headers["content-type"] == "application/json"


def test_refused_is_not_sent_and_timeout_may_be(
    echo: tuple[Echo, str], http_engine: HttpEngine
) -> None:
    _, url = echo
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    refused, slow, fine = http_engine.exchange_all(
        [
            WireRequest("POST", f"http://127.0.0.1:{closed}/m", (), b"x=1"),
            WireRequest("POST", f"{url}/slow", (), b"x=1"),
            post(url, 1),
        ]
    )
    assert isinstance(refused, TransportFailure)
    assert not refused.reached and not refused.timed_out
    assert isinstance(slow, TransportFailure)
    assert slow.reached and slow.timed_out  # it arrived: the dispatcher must look it up
    assert as_json(fine)["path"] == "/m/1"  # one failure does not spoil the batch


def test_an_empty_batch_is_fine(http_engine: HttpEngine) -> None:
    assert http_engine.exchange_all([]) == []


class Hangup:
    """A raw HTTP/1.1 server: answers the first request on a connection, then reads the
    second one whole and closes without a word (a provider that died mid-request)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def read_request(self, conn: socket.socket, buf: bytes) -> tuple[bytes | None, bytes]:
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += conn.recv(65536)
        return head.split(b"\r\n")[0], rest[length:]

    def serve(self, conn: socket.socket) -> None:
        with conn:
            first, buf = self.read_request(conn, b"")
            if first is None:
                return
            self.requests.append(first)
            body = b'{"sid": "SM1", "status": "queued"}'
            conn.sendall(
                b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            second, _ = self.read_request(conn, buf)
            if second is not None:
                self.requests.append(second)


def test_a_post_whose_connection_dies_is_reported_never_resent(
    http_engine: HttpEngine,
) -> None:
    """libcurl retries a request on a reused connection that died without an answer; for a
    POST that may have created a message that would be a second SMS."""
    server = Hangup()
    [first] = http_engine.exchange_all([post(server.url, 1)])
    assert isinstance(first, WireResponse) and first.status == 201
    [second] = http_engine.exchange_all([post(server.url, 2)])
    assert isinstance(second, TransportFailure) and second.reached  # to be looked up
    time.sleep(0.2)  # a resend, if any, would have arrived by now
    assert server.requests == [b"POST /m/1 HTTP/1.1", b"POST /m/2 HTTP/1.1"]


def test_nothing_starts_after_the_deadline(echo: tuple[Echo, str], http_engine: HttpEngine) -> None:
    app, url = echo
    app.peers.clear()
    replies = http_engine.exchange_all(
        [post(url, i) for i in range(5)], start_by=time.monotonic() - 1
    )
    assert all(isinstance(r, TransportFailure) and not r.reached for r in replies)
    assert app.peers == set()


def test_a_request_that_cannot_be_built_fails_alone(
    echo: tuple[Echo, str], http_engine: HttpEngine
) -> None:
    _, url = echo
    bad = WireRequest("POST", f"{url}/m/x", (("Idempotency-Key", "kunci-é\u2603"),), b"x=1")
    for _ in range(3):  # and the engine keeps working afterwards
        replies = http_engine.exchange_all([post(url, 1), bad, post(url, 2)])
        assert isinstance(replies[1], TransportFailure) and not replies[1].reached
        assert [as_json(replies[0])["path"], as_json(replies[2])["path"]] == ["/m/1", "/m/2"]
