"""Fan-out benchmark: a rule fires for a group of N members; how long until the local fake
Twilio has accepted the last message?

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        python bench/fanout.py --recipients 10000 100000 --workers 2 [--engines curl httpx]

Creates (and drops) its own database on that server, starts the fake Twilio in its own
process (SMS and WhatsApp, no throttling; `--slow-fraction` of the requests accepted but
answered only after `--slow-delay` s) and `--workers` dedicated dispatcher
processes (`python -m service messaging dispatch`, as in production). For each N, untimed:
a community and a group of N members (half SMS, half WhatsApp) with a flood rule. Timed from
the rule firing: the alerts service evaluates a `tinggi` flood signal and commits the alert
with its N outbox rows in one transaction; the clock stops when the fake has accepted the
N-th message. Prints the time, messages per second and CPU per process, checks that nobody
got two messages, and waits until every outcome is recorded too. Runs once per HTTP engine
(libcurl, the default, and httpx) and prints the ratio.

A slow provider at a real provider's rate (the issue-11 case):

    python bench/fanout.py --recipients 2000 --rate 200 --http-timeout 3 --batch 50 \
        [--slow-fraction 0.05 --slow-delay 6]
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alerts_create import fire, make_group  # noqa: E402
from service.db import make_session_factory  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from service.settings import DatabaseSettings  # noqa: E402

SID, TOKEN = "AC" + "b" * 32, "bench-token"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux), to tell our cost from a busy machine's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU of every process named postgres (server and backends) on this machine."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text_ = stat.read_text()
        except OSError:
            continue
        if text_.split(" (", 1)[1].startswith("postgres)"):
            fields = text_.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle (/proc/stat), to see whether the box was full."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def run_engine(
    args: argparse.Namespace,
    http_engine: str,
    *,
    factory: sessionmaker[Session],
    env: dict[str, str],
    fake: subprocess.Popen[bytes],
    fake_url: str,
    runs: itertools.count[int],
) -> dict[int, float]:
    """Start the dispatcher processes with this engine, fire each N, stop them; returns
    seconds from the rule firing to the last message accepted, per N."""
    env = {**env, "SIAGA_ALERTS_HTTP_ENGINE": http_engine}
    command = [sys.executable, "-m", "service", "messaging", "dispatch"]
    workers = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(args.workers)]
    seconds: dict[int, float] = {}
    try:
        time.sleep(4)  # let the dispatchers start and go idle, like a running worker
        print(
            f"{http_engine}: {args.workers} dispatcher processes x {args.concurrency} requests "
            f"in flight, batch {args.batch}, {os.cpu_count()} CPUs"
        )
        with httpx.Client(timeout=10) as client:
            done = client.get(f"{fake_url}/_fake/stats").json()["accepted"]
        for n in args.recipients:
            code = make_group(factory, n, run=next(runs))
            cpu0 = [cpu_seconds(p.pid) for p in (fake, *workers)]
            pg0, busy0 = postgres_cpu_seconds(), machine_busy_seconds()
            t0 = time.time()
            created = fire(factory, code)  # the rule fires; alert + outbox committed
            committed = time.time() - t0
            assert created == n, (created, n)
            target = done + n
            with httpx.Client(timeout=10) as client:
                while True:
                    stats = client.get(f"{fake_url}/_fake/stats").json()
                    if stats["accepted"] >= target:
                        break
                    time.sleep(0.2)
            elapsed = seconds[n] = stats["last_accept"] - t0
            done = target
            cpu = [cpu_seconds(p.pid) - c for p, c in zip((fake, *workers), cpu0, strict=True)]
            pg_cpu, busy = postgres_cpu_seconds() - pg0, machine_busy_seconds() - busy0
            # The fake has it all; the run is over when every outcome is recorded too.
            with factory() as s:
                while (
                    time.time() - t0 < 600
                    and s.execute(
                        text("SELECT count(*) FROM message_deliveries WHERE status <> 'accepted'")
                    ).scalar()
                ):
                    time.sleep(0.05)
                    s.rollback()
                left = s.execute(
                    text("SELECT count(*) FROM message_deliveries WHERE status <> 'accepted'")
                ).scalar()
            recorded = time.time() - t0
            fake_cpu, dispatch_cpu = cpu[0], sum(cpu[1:])
            print(
                f"  N={n:>7,}: alert + outbox committed {committed:5.1f} s after the rule "
                f"fired; last message accepted after {elapsed:6.1f} s -> {n / elapsed:,.0f} "
                f"messages/s; max per recipient {stats['max_per_recipient']}; "
                f"all recorded after {recorded:.1f} s ({left} not accepted)"
            )
            print(
                f"             CPU: dispatchers {dispatch_cpu:.1f} s "
                f"({dispatch_cpu / n * 1e3:.2f} ms/message), fake gateway {fake_cpu:.1f} s, "
                f"postgres {pg_cpu:.1f} s; machine busy {busy:.1f} of "
                f"{elapsed * (os.cpu_count() or 1):.1f} CPU-s; "
                f"load average {os.getloadavg()[0]:.1f}"
            )
    finally:
        stop(workers)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=2, help="dispatcher processes")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="requests in flight per process"
    )
    parser.add_argument("--batch", type=int, default=500, help="rows claimed per round")
    parser.add_argument(
        "--rate", type=float, default=1_000_000, help="provider rate limit, messages per second"
    )
    parser.add_argument("--http-timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument(
        "--slow-fraction",
        type=float,
        default=0.0,
        help="fraction of requests the fake accepts but answers only after --slow-delay",
    )
    parser.add_argument("--slow-delay", type=float, default=6.0, help="seconds")
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=["curl", "httpx"],
        default=["curl", "httpx"],
        help="the dispatcher's HTTP engines to run, in turn (the first is the one compared)",
    )
    args = parser.parse_args()

    server = DatabaseSettings(
        url=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    ).url
    base = make_url(server)
    name = f"siaga_bench_fanout_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    fake: subprocess.Popen[bytes] | None = None
    try:
        upgrade(url)
        engine = create_engine(url, pool_size=4)
        factory = make_session_factory(engine)
        port = free_port()
        fake_url = f"http://127.0.0.1:{port}"
        fake = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes", "twilio", "--port", str(port),
             "--account-sid", SID, "--auth-token", TOKEN,
             "--timeout", str(args.slow_fraction), "--timeout-delay", str(args.slow_delay)],
            cwd=ROOT,
        )  # fmt: skip
        wait_http(f"{fake_url}/_fake/stats")
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SIAGA_LOG_LEVEL": "WARNING",
            "SIAGA_ALERTS_SMS_PROVIDER": "twilio",
            "SIAGA_ALERTS_WHATSAPP_PROVIDER": "twilio",
            "SIAGA_ALERTS_TWILIO_BASE_URL": fake_url,
            "SIAGA_ALERTS_TWILIO_ACCOUNT_SID": SID,
            "SIAGA_ALERTS_TWILIO_AUTH_TOKEN": TOKEN,
            "SIAGA_ALERTS_TWILIO_SMS_FROM": "+15005550006",
            "SIAGA_ALERTS_TWILIO_WHATSAPP_FROM": "+14155238886",
            "SIAGA_ALERTS_RATE_PER_SECOND": str(args.rate),
            "SIAGA_ALERTS_HTTP_TIMEOUT_S": str(args.http_timeout),
            "SIAGA_ALERTS_DISPATCH_BATCH": str(args.batch),
            "SIAGA_ALERTS_DISPATCH_CONCURRENCY": str(args.concurrency),
            "SIAGA_ALERTS_DISPATCH_INTERVAL_S": "0.05",
        }
        runs = itertools.count()  # every run gets its own phone numbers
        results = {
            e: run_engine(
                args, e, factory=factory, env=env, fake=fake, fake_url=fake_url, runs=runs
            )
            for e in args.engines
        }
        first, *others = args.engines
        for n in args.recipients:
            line = f"N={n:>7,}: {first} {results[first][n]:.1f} s"
            for other in others:
                ratio = results[other][n] / results[first][n]
                line += f"; {other} {results[other][n]:.1f} s ({ratio:.1f}x the time)"
            print(line)
        engine.dispose()
    finally:
        if fake is not None:
            stop([fake])
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
