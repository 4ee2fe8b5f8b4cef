"""Load generation and a tipg peer for bench/api.py: wrk when installed, else asyncio sockets.

wrk (Debian package `wrk`) measures the tail properly: it is C, costs the shared machine little
and reports p99 from every request. The fallback runs wrk's loop in this Python process over
raw keep-alive sockets and says so.
"""

from __future__ import annotations

import asyncio
import gc
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


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    """One keep-alive HTTP/1.1 GET on an open connection; the status code."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status


async def _hammer(base: str, paths: list[str], seconds: float, clients: int) -> LoadResult:
    """wrk's loop in asyncio with raw sockets: `clients` keep-alive connections, each sending
    its next random request as soon as the last answer is read (httpx cost the shared
    machine a millisecond of CPU per request, which showed up as the server's tail)."""
    host, _, port = base.removeprefix("http://").partition(":")
    requests = [
        f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: siaga-bench\r\n\r\n".encode()
        for p in paths
    ]
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def worker(seed: int) -> None:
        nonlocal errors
        rnd = random.Random(seed)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                status = await _request(reader, writer, rnd.choice(requests))
                latencies.append(time.perf_counter() - t0)
                errors += status not in (200, 204)
        finally:
            writer.close()
            await writer.wait_closed()

    # The client's own collector pauses would read as server latency.
    gc.disable()
    try:
        await asyncio.gather(*(worker(i) for i in range(clients)))
    finally:
        gc.enable()
    latencies.sort()
    return LoadResult(
        len(latencies) / seconds,
        statistics.median(latencies) * 1000,
        latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        errors,
        "asyncio sockets (in-process client: install wrk for the fairest tail)",
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
    if warm:
        asyncio.run(_hammer(base, paths, 1.0, clients))
    return asyncio.run(_hammer(base, paths, seconds, clients))


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
