"""bench/api.py measures what it says: tiles over the data, p50/p99 read from wrk's table."""

from __future__ import annotations

from bench import api, api_peer

WRK_OUT = """Running 8s test @ http://127.0.0.1:40000
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    40.12ms   30.50ms 412.00ms   86.99%
    Req/Sec   210.33     40.10   300.00     70.00%
  Latency Distribution
     50%   31.20ms
     75%   45.00ms
     90%   70.00ms
     99%  180.50ms
  3360 requests in 8.00s, 9.10MB read
  Non-2xx or 3xx responses: 2
Requests/sec:    420.00
Transfer/sec:      1.14MB
"""


def test_wrk_percentiles_come_from_the_distribution_not_the_stdev_column() -> None:
    r = api_peer.parse_wrk(WRK_OUT)
    assert (r.rps, r.p50_ms, r.p99_ms, r.errors) == (420.0, 31.2, 180.5, 2)


def test_tile_scenario_covers_the_loaded_data() -> None:
    paths = api.scenarios(10_000)["tiles z10 (every tile over the data)"]
    # lon 110..115, lat -8..-3 at z10: 15 columns by 16 rows of tiles.
    assert len(paths["siaga"]) == len(paths["tipg"]) == 240
    assert "/tiles/risk/10/824/520.pbf" in paths["siaga"]


def test_the_fallback_client_reads_keep_alive_answers_of_both_framings() -> None:
    """Without wrk the bench keeps 16 connections busy over raw sockets: answers framed by
    Content-Length and chunked are read whole, and a non-2xx is counted as an error."""
    import asyncio
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == "/chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n")
                return
            body = b"{}" if self.path == "/fixed" else b"nope"
            self.send_response(200 if self.path == "/fixed" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        good = asyncio.run(api_peer._hammer(base, ["/fixed", "/chunked"], 0.5, 4))
        bad = asyncio.run(api_peer._hammer(base, ["/missing"], 0.3, 2))
    finally:
        server.shutdown()
        server.server_close()
    assert good.rps > 10 and good.errors == 0 and good.p99_ms >= good.p50_ms > 0
    assert bad.errors == bad.rps * 0.3 > 0
