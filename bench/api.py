"""Benchmark: OGC API items?limit=100 over 10,000 synthetic polygons, one uvicorn worker.

    python bench/api.py [--count 10000] [--seconds 10] [--concurrency 8]

Creates a scratch database on the server named by DATABASE_URL (default: the embedded one),
migrates it, loads synthetic community polygons (33-vertex rings, like small desa outlines),
serves the app with uvicorn in a child process, hammers it with httpx and prints
requests per second next to the tipg figure measured on the same kind of machine.
The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.migrate import upgrade  # noqa: E402
from service.settings import DEFAULT_DATABASE_URL, DatabaseSettings  # noqa: E402

# ../shared/REFERENCE.md section 8: tipg 1.6, items?limit=100 of 10,000 polygons, one worker.
TIPG_REFERENCE = (120.0, 165.0)

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
    """user+system CPU time per process (Linux /proc), to report cost per request
    independently of what else the machine is doing."""
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


def backend_pids(url: str, name: str) -> list[int]:
    eng = create_engine(url)
    with eng.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = :n "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ),
            {"n": name},
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


async def hammer(urls: list[str], seconds: float, concurrency: int) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rnd = random.Random(seed)
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = await client.get(rnd.choice(urls))
                await r.aread()
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return len(latencies), latencies, errors


def run(args: argparse.Namespace) -> None:
    base = make_url(
        DatabaseSettings(url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL).url
    )
    name = f"siaga_bench_api_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    server: subprocess.Popen[bytes] | None = None
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

        port = free_port()
        # A pool as large as the client's concurrency: otherwise overflow connections are
        # opened and closed on every request and the benchmark measures PostgreSQL forks.
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SIAGA_LOG_LEVEL": "WARNING",
            "SIAGA_DB_POOL_SIZE": str(max(5, args.concurrency)),
        }
        server = subprocess.Popen(
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
        root = f"http://127.0.0.1:{port}/ogc"
        items = f"{root}/collections/communities/items"
        wait_ready(f"{root}/conformance")
        first = httpx.get(f"{items}?limit=100", timeout=30)
        body = first.json()
        assert body["numberReturned"] == min(100, args.count), body.get("numberReturned")
        print(
            f"one page: {len(first.content) / 1024:.0f} KiB, numberMatched={body['numberMatched']}"
        )

        scenarios = {
            "items?limit=100 (first page)": [f"{items}?limit=100"],
            "items?limit=100&offset=random": [
                f"{items}?limit=100&offset={o}" for o in range(0, max(args.count - 100, 1), 100)
            ],
            "items?limit=100&bbox=(1/4 of the area)": [f"{items}?limit=100&bbox=110,-8,112.5,-5.5"],
            "collections (extents from the data)": [f"{root}/collections"],
        }
        for label, urls in scenarios.items():
            asyncio.run(hammer(urls, 1.0, args.concurrency))  # warm-up
            pg = backend_pids(url, name)
            app0, pg0 = cpu_seconds([server.pid]), cpu_seconds(pg)
            n, lat, errors = asyncio.run(hammer(urls, args.seconds, args.concurrency))
            app_ms = cpu_delta(app0, cpu_seconds([server.pid])) / max(n, 1) * 1000
            pg_ms = cpu_delta(pg0, cpu_seconds(pg)) / max(n, 1) * 1000
            lat.sort()
            p95 = lat[int(0.95 * (len(lat) - 1))] * 1000
            print(
                f"{label:42s} {n / args.seconds:7.1f} req/s  "
                f"p50 {statistics.median(lat) * 1000:6.1f} ms  p95 {p95:6.1f} ms  errors {errors}  "
                f"CPU/request: app {app_ms:.1f} ms, postgres {pg_ms:.1f} ms"
            )
        lo, hi = TIPG_REFERENCE
        print(f"{'tipg 1.6 reference (REFERENCE.md sec. 8)':42s} {lo:.0f}-{hi:.0f} req/s")
        load = os.getloadavg()[0]
        print(
            f"machine: {os.cpu_count()} CPUs, load average {load:.1f} during the run "
            "(the client shares the machine; CPU/request is the figure that does not depend on it)"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
