"""Load generation and a tipg peer for bench/api.py: wrk when installed, else httpx.

wrk (Debian package `wrk`) measures the tail properly: it is C, costs the shared machine little
and reports p99 from every request. The httpx fallback runs in this Python process and says so.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import httpx

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip())
    if not m:
        raise ValueError(f"cannot read wrk latency {value!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def _wrk(base: str, paths: list[str], seconds: float, clients: int) -> LoadResult:
    lua = "paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
    lua += 'request = function() return wrk.format("GET", paths[math.random(#paths)]) end\n'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{clients}", f"-d{seconds:g}s", "--latency", "-s", f.name, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    return parse_wrk(out)


def parse_wrk(out: str) -> LoadResult:
    """Requests per second, p50 and p99 and the non-2xx count from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored to the start of the line: the "+/- Stdev" column (e.g. "86.99%") must not match.
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return LoadResult(rps, p50, p99, int(bad.group(1)) if bad else 0, "wrk")


async def _hammer(urls: list[str], seconds: float, clients: int) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rnd = random.Random(seed)
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = await client.get(rnd.choice(urls))
                await r.aread()
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code not in (200, 204)

        await asyncio.gather(*(worker(i) for i in range(clients)))
    latencies.sort()
    return LoadResult(
        len(latencies) / seconds,
        statistics.median(latencies) * 1000,
        latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        errors,
        "httpx (in-process client: install wrk for a fair tail)",
    )


def load(
    base: str, paths: list[str], seconds: float, clients: int, *, warm: bool = True
) -> LoadResult:
    """Hit random `paths` under `base` with `clients` connections for `seconds` (after a
    one-second warm-up unless `warm` is false)."""
    if shutil.which("wrk"):
        if warm:
            _wrk(base, paths, 1.0, clients)
        return _wrk(base, paths, seconds, clients)
    urls = [base + p for p in paths]
    if warm:
        asyncio.run(_hammer(urls, 1.0, clients))
    return asyncio.run(_hammer(urls, seconds, clients))


def start_tipg(database_url: str, port: int) -> subprocess.Popen[bytes]:
    """tipg (the bench extra) in its own uvicorn process over the same database, one worker,
    run from an empty folder so that it reads no project .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "SIAGA_", "DATABASE"))}
    env |= {
        "DATABASE_URL": database_url.replace("postgresql+psycopg://", "postgresql://"),
        "TIPG_DB_TABLES": '["public.communities"]',
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
        "DB_MIN_CONN_SIZE": "16",
        "DB_MAX_CONN_SIZE": "16",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tipg.main:app",
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
        cwd=tempfile.mkdtemp(prefix="tipg-bench-"),
        env=env,
    )


def tipg_installed() -> bool:
    try:
        import tipg  # noqa: F401
    except ImportError:
        return False
    return True


def tiles_z10(west: float, south: float, east: float, north: float) -> list[tuple[int, int]]:
    """Every z10 tile (x, y) over a lon/lat box."""
    import math

    def tile(lon: float, lat: float) -> tuple[int, int]:
        n = 2**10
        r = math.radians(lat)
        return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)

    x0, y0 = tile(west, north)
    x1, y1 = tile(east, south)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
