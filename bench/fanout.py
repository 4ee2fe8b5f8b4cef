"""Fan-out benchmark: a rule fires for N recipients; how long until the local fake Twilio
has accepted the last message?

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        python bench/fanout.py --recipients 10000 100000 --workers 2

Creates (and drops) its own database on that server, starts the fake gateway in its own
process (no throttling, no faults), starts `--workers` dedicated dispatcher processes
(`python -m service messaging dispatch`), then for each N: enqueues N deliveries in one
transaction (what alerts does when a rule fires) and polls the fake until it has accepted N.
Prints the time and messages per second, and checks nobody got two messages.
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

from service.db import make_session_factory  # noqa: E402
from service.messaging.outbox import NewDelivery, enqueue_many  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from service.settings import DatabaseSettings  # noqa: E402

SID, TOKEN = "AC" + "b" * 32, "bench-token"
BODY = "PERINGATAN Desa Sukamaju: risiko banjir TINGGI. Segera ke titik kumpul. Balas YA. -BPBD"


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=2, help="dispatcher processes")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="requests in flight per process"
    )
    parser.add_argument("--batch", type=int, default=500, help="rows claimed per round")
    parser.add_argument(
        "--engine", choices=["curl", "httpx"], default="curl", help="the dispatcher's HTTP engine"
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
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        engine = create_engine(url, pool_size=4)
        factory = make_session_factory(engine)
        port = free_port()
        fake_url = f"http://127.0.0.1:{port}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.fakes", "twilio", "--port", str(port),
                 "--account-sid", SID, "--auth-token", TOKEN],
                cwd=ROOT,
            )
        )  # fmt: skip
        wait_http(f"{fake_url}/_fake/stats")
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SIAGA_LOG_LEVEL": "WARNING",
            "SIAGA_ALERTS_SMS_PROVIDER": "twilio",
            "SIAGA_ALERTS_TWILIO_BASE_URL": fake_url,
            "SIAGA_ALERTS_TWILIO_ACCOUNT_SID": SID,
            "SIAGA_ALERTS_TWILIO_AUTH_TOKEN": TOKEN,
            "SIAGA_ALERTS_TWILIO_SMS_FROM": "+15005550006",
            "SIAGA_ALERTS_RATE_PER_SECOND": "1000000",  # the gateway does not throttle
            "SIAGA_ALERTS_DISPATCH_BATCH": str(args.batch),
            "SIAGA_ALERTS_DISPATCH_CONCURRENCY": str(args.concurrency),
            "SIAGA_ALERTS_HTTP_ENGINE": args.engine,
            "SIAGA_ALERTS_DISPATCH_INTERVAL_S": "0.05",
        }
        for _ in range(args.workers):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service", "messaging", "dispatch"], cwd=ROOT, env=env
                )
            )
        time.sleep(4)  # let the dispatchers start and go idle, like a running worker
        print(
            f"fan-out to a local fake Twilio: {args.workers} dispatcher processes x "
            f"{args.concurrency} requests in flight ({args.engine}), batch {args.batch}, "
            f"{os.cpu_count()} CPUs"
        )
        done = 0
        for run, n in enumerate(args.recipients):
            cpu0 = [cpu_seconds(p.pid) for p in procs]
            pg0, busy0 = postgres_cpu_seconds(), machine_busy_seconds()
            t0 = time.time()
            with factory() as s, s.begin():
                enqueue_many(
                    session=s,
                    items=[
                        NewDelivery(
                            idempotency_key=f"bench:{n}:{i}",
                            phone=f"+628{run}{i:09d}",  # distinct numbers per run
                            channel="sms",
                            body=BODY,
                            alert_id=n,
                            member_id=i,
                        )
                        for i in range(n)
                    ],
                )
            enqueued = time.time() - t0
            target = done + n
            with httpx.Client(timeout=10) as client:
                while True:
                    stats = client.get(f"{fake_url}/_fake/stats").json()
                    if stats["accepted"] >= target:
                        break
                    time.sleep(0.2)
            elapsed = stats["last_accept"] - t0
            done = target
            cpu = [cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0, strict=True)]
            pg_cpu, busy = postgres_cpu_seconds() - pg0, machine_busy_seconds() - busy0
            # The fake has it; the run is over when every outcome is also recorded.
            with factory() as s:
                while (
                    time.time() - t0 < 600
                    and s.execute(
                        text("SELECT count(*) FROM message_deliveries WHERE status <> 'accepted'")
                    ).scalar()
                ):
                    time.sleep(0.05)
                    s.rollback()
            recorded = time.time() - t0
            fake_cpu, dispatch_cpu = cpu[0], sum(cpu[1:])
            rate = n / elapsed
            dup = stats["max_per_recipient"]
            print(
                f"N={n:>7,}: enqueue {enqueued:5.1f} s, last message accepted after "
                f"{elapsed:6.1f} s -> {rate:,.0f} messages/s (max per recipient: {dup}); "
                f"all recorded after {recorded:.1f} s"
            )
            print(
                f"           CPU: dispatchers {dispatch_cpu:.1f} s "
                f"({dispatch_cpu / n * 1e3:.2f} ms/message), fake gateway {fake_cpu:.1f} s, "
                f"postgres {pg_cpu:.1f} s; machine busy {busy:.1f} of "
                f"{elapsed * (os.cpu_count() or 1):.1f} CPU-s; "
                f"load average {os.getloadavg()[0]:.1f}"
            )
        with factory() as s:
            left = s.execute(
                text("SELECT count(*) FROM message_deliveries WHERE status <> 'accepted'")
            ).scalar()
        print(f"deliveries not accepted: {left}")
        engine.dispose()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
