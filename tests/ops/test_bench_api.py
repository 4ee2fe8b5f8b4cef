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
