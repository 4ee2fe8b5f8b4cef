"""A real HTTP server on loopback that serves feed bodies and misbehaves on request.

Each path is a `Route`: a body with status and headers, optional ETag/Last-Modified (so
conditional GETs get 304), or a failure mode: `slow` (no answer before the client's read
timeout), `endless` (a chunked body that never ends), `drop` (Content-Length promised,
connection closed half-way). Requests are recorded (path, headers) for assertions.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    etag: str | None = None
    last_modified: str | None = None
    mode: str = "normal"  # normal | slow | endless | drop
    delay_s: float = 0.0
    fail_first: int = 0  # answer 503 to this many requests before behaving
    headers: dict[str, str] = field(default_factory=dict)


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[dict[str, Any]] = []
        self.served: list[tuple[str, bytes, float]] = []  # (path, body, time.time())
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.requests.append({"path": path, "headers": dict(self.headers)})
                route = server.routes.get(path)
                if route is None:
                    self._send(404, b"not found", "text/plain")
                    return
                if route.fail_first > 0:
                    route.fail_first -= 1
                    self._send(503, b"busy", "text/plain")
                    return
                if route.mode == "slow":
                    server._stop.wait(route.delay_s or 10)
                    self._send(route.status, route.body, route.content_type)
                    return
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self._send(304, b"", None, {"ETag": route.etag})
                    return
                if (
                    route.last_modified
                    and self.headers.get("If-Modified-Since") == route.last_modified
                ):
                    self._send(304, b"", None, {"Last-Modified": route.last_modified})
                    return
                extra = dict(route.headers)
                if route.etag:
                    extra["ETag"] = route.etag
                if route.last_modified:
                    extra["Last-Modified"] = route.last_modified
                if route.mode == "endless":
                    self._endless(route)
                elif route.mode == "drop":
                    self.send_response(route.status)
                    self.send_header("Content-Type", route.content_type)
                    self.send_header("Content-Length", str(len(route.body) * 2))
                    self.end_headers()
                    self.wfile.write(route.body)
                    self.wfile.flush()
                    self.close_connection = True
                else:
                    if route.delay_s:
                        time.sleep(route.delay_s)
                    self._send(route.status, route.body, route.content_type, extra)
                    self.wfile.flush()
                    # When the whole response left: latency benchmarks count from here.
                    server.served.append((path, route.body, time.time()))

            def _send(
                self,
                status: int,
                body: bytes,
                ctype: str | None,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if status not in (204, 304):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status not in (204, 304) and body:
                    self.wfile.write(body)

            def _endless(self, route: Route) -> None:
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b'{"features": [' + b" " * 16_000
                try:
                    while not server._stop.is_set():
                        self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                        time.sleep(route.delay_s)
                except OSError:  # the client gave up, as it should
                    pass
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # a misbehaving handler must not hold up teardown
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # A short poll interval: shutdown() waits for the loop to look (0.5 s by default, per test).
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def set(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url + path

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"] == path)

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
