"""Benchmark: Siaga against tipg on the same table, items?limit=100 and z10 vector tiles.

    .venv/bin/pip install -e '.[bench]'        # tipg, exactextract, rasterstats
    apt-get install wrk                         # the load generator (else an asyncio fallback)
    .venv/bin/python bench/api.py [--count 10000] [--seconds 10] [--clients 16] [--no-tipg]
                                  [--read-cache-mb 0]

Creates a scratch database on the server named by DATABASE_URL (default: the embedded one),
migrates it, loads synthetic community polygons (33-vertex rings, like small desa outlines),
starts Siaga and tipg (one uvicorn worker each) over that same table, loads each with the same
requests (wrk, 16 connections) and prints requests per second, p50 and p99, and the ratios
against the targets. The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import api_peer  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from service.settings import DEFAULT_DATABASE_URL, DatabaseSettings  # noqa: E402

LOAD_SQL = """
INSERT INTO communities (code, name, level, province_code, province_name, regency_code,
    regency_name, district_code, district_name, population, area_km2, share_elderly,
    has_early_warning, drills_per_year, properties, geom)
SELECT
    format('99.%s.%s.%s', lpad((i / 1000)::text, 2, '0'), lpad(((i / 100) % 10)::text, 2, '0'),
           1000 + i % 100),
    'Desa Sintetis ' || i, CASE WHEN i % 3 = 0 THEN 'kelurahan' ELSE 'desa' END,
    '99', 'Provinsi Uji', '99.' || lpad((i / 1000)::text, 2, '0'), 'Kabupaten Uji',
    '99.' || lpad((i / 1000)::text, 2, '0') || '.' || lpad(((i / 100) % 10)::text, 2, '0'),
    'Kecamatan Uji', 500 + (i * 37) % 20000, 1.0 + (i % 17), 0.05 + (i % 10) / 100.0,
    i % 2 = 0, i % 4, '{}'::jsonb,
    ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(110 + (i % 100) * 0.05, -8 + (i / 100) * 0.05),
                                  4326), 0.02, 8))
FROM generate_series(0, :count - 1) AS i
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """user+system CPU seconds per process (Linux /proc): the cost per request this gives
    does not depend on what else the shared machine is doing, unlike latency."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two samples by the processes present in both."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def backend_pids(url: str) -> list[int]:
    """PostgreSQL backends connected to the scratch database (both servers': the idle
    server's backends use no CPU while the other one is loaded)."""
    eng = create_engine(url)
    with eng.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
        )
        pids = [int(r[0]) for r in rows]
    eng.dispose()
    return pids


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up")


def start_siaga(
    url: str, port: int, clients: int, read_cache_mb: float | None = None
) -> subprocess.Popen[bytes]:
    # A pool as large as the client's concurrency: otherwise overflow connections are
    # opened and closed on every request and the benchmark measures PostgreSQL forks.
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SIAGA_LOG_LEVEL": "WARNING",
        "SIAGA_DB_POOL_SIZE": str(max(5, clients)),
    }
    if read_cache_mb is not None:
        env["SIAGA_API_READ_CACHE_MB"] = f"{read_cache_mb:g}"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "service.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )


def scenarios(count: int) -> dict[str, dict[str, list[str]]]:
    """Per scenario, the paths each server answers it with (the same data, the same work)."""
    offsets = range(0, max(count - 100, 1), 100)
    cols = min(count, 100)
    rows = max(1, (count + cols - 1) // cols)
    # (west, south, east, north): the data spans lon 110.. and lat -8.. (see LOAD_SQL).
    tiles = api_peer.tiles_z10(110, -8, 110 + 0.05 * cols, -8 + 0.05 * rows)
    if not tiles:
        raise RuntimeError("no z10 tile over the data: the tile list is empty")
    return {
        "items limit=100 (random offset)": {
            "siaga": [f"/ogc/collections/communities/items?limit=100&offset={o}" for o in offsets],
            "tipg": [
                f"/collections/public.communities/items?limit=100&offset={o}" for o in offsets
            ],
        },
        "tiles z10 (every tile over the data)": {
            "siaga": [f"/tiles/risk/10/{x}/{y}.pbf" for x, y in tiles],
            "tipg": [
                f"/collections/public.communities/tiles/WebMercatorQuad/10/{x}/{y}"
                for x, y in tiles
            ],
        },
    }


# Targets (issue 14): against tipg in the same run, 16 clients, this 2-core machine.
TARGETS = {
    "items limit=100 (random offset)": (2.0, 100.0),
    "tiles z10 (every tile over the data)": (1.5, 100.0),
}


def run(args: argparse.Namespace) -> None:
    base = make_url(
        DatabaseSettings(url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL).url
    )
    name = f"siaga_bench_api_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    servers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with create_engine(url).begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        upgrade(url)
        engine = create_engine(url)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(LOAD_SQL), {"count": args.count})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE communities"))
        engine.dispose()
        print(f"loaded {args.count} polygons in {time.perf_counter() - t0:.1f} s")

        bases = {"siaga": f"http://127.0.0.1:{free_port()}"}
        servers["siaga"] = start_siaga(
            url, int(bases["siaga"].rsplit(":", 1)[1]), args.clients, args.read_cache_mb
        )
        wait_ready(bases["siaga"] + "/ogc/conformance")
        if args.tipg and api_peer.tipg_installed():
            bases["tipg"] = f"http://127.0.0.1:{free_port()}"
            servers["tipg"] = api_peer.start_tipg(url, int(bases["tipg"].rsplit(":", 1)[1]))
            wait_ready(bases["tipg"] + "/conformance", timeout=60)
        elif args.tipg:
            print("tipg is not installed: pip install -e '.[bench]' to compare with it")

        print(f"{args.clients} clients, {args.seconds:g} s per run, one uvicorn worker each")
        results: dict[str, dict[str, api_peer.LoadResult]] = {}
        for label, paths in scenarios(args.count).items():
            for server, base_url in bases.items():
                app_pid = servers[server].pid
                # Warm up first (connections opened, caches filled), then sample /proc.
                api_peer.load(base_url, paths[server], 1.0, args.clients)
                pg_pids = backend_pids(url)
                before = cpu_seconds([app_pid, *pg_pids])
                r = api_peer.load(base_url, paths[server], args.seconds, args.clients, warm=False)
                after = cpu_seconds([app_pid, *pg_pids])
                requests = max(r.rps * args.seconds, 1.0)
                app_ms = (after.get(app_pid, 0.0) - before.get(app_pid, 0.0)) / requests * 1000
                pg_ms = cpu_delta(before, after) / requests * 1000 - app_ms
                results.setdefault(label, {})[server] = r
                print(
                    f"{label:38s} {server:5s} {r.rps:7.1f} req/s  p50 {r.p50_ms:6.1f} ms  "
                    f"p99 {r.p99_ms:6.1f} ms  errors {r.errors}  "
                    f"CPU/req app {app_ms:5.2f} ms pg {pg_ms:5.2f} ms  [{r.tool}]"
                )
        for label, by_server in results.items():
            if "tipg" not in by_server:
                continue
            ratio = by_server["siaga"].rps / max(by_server["tipg"].rps, 1e-9)
            want_ratio, want_p99 = TARGETS[label]
            p99 = by_server["siaga"].p99_ms
            ok = ratio >= want_ratio and p99 <= want_p99
            print(
                f"{label:38s} siaga/tipg {ratio:4.2f}x (target >= {want_ratio:g}x), "
                f"p99 {p99:.0f} ms (target <= {want_p99:g} ms): {'met' if ok else 'NOT met'}"
            )
        load = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at the end of the run")
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait(timeout=10)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--no-tipg", dest="tipg", action="store_false", help="measure Siaga alone")
    parser.add_argument(
        "--read-cache-mb",
        type=float,
        default=None,
        help="SIAGA_API_READ_CACHE_MB for Siaga (0: every items page read from PostgreSQL)",
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
