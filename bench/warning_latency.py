"""Warning latency at national scale: from BMKG's response to the last phone.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/warning_latency.py
    python bench/warning_latency.py --desa 84000 --groups 1000 --members 100 --dispatchers 1

Creates (and drops) a scratch database on the server named by DATABASE_URL with 84,000
synthetic desa over Indonesia's extent (bench/synthetic_desa.py: Voronoi cells clipped to
rough island shapes), a national population raster (0.01°), 1,000 groups of 100 members
(100,000 recipients, half SMS, half WhatsApp), each group watching one desa near the coming
quake with an "MMI >= 5" rule, and a BMKG `autogempa.json` served on loopback. It starts the
fake Twilio (its own process), one `siaga worker` (polls the feed every second, evaluates,
dispatches) and `--dispatchers` extra `siaga messaging dispatch` processes. Once the worker
has polled the feed's old quake (and built its coverage weights), the feed switches to a
new M7.0 at 10 km under the Bandung basin. Printed, each from the moment the feed server
finished that response: event stored, per-desa MMI stored, first alert committed, first
message accepted by the fake, last message accepted, risk scores stored; then the peak RSS
of each process.
Targets (2-core machine): first message <= 3 s, all <= 60 s, scores <= 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from geoalchemy2.shape import from_shape
from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import free_port, stop, wait_http  # noqa: E402
from bench.scratch import add_uniform_population, scratch_database  # noqa: E402
from bench.synthetic_desa import EXTENT, desa_cells  # noqa: E402
from service.alerts.models import AlertGroup, AlertRule, Member  # noqa: E402
from service.communities.models import Community  # noqa: E402
from service.db import make_session_factory  # noqa: E402
from service.feeds.models import Feed  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from tests.fakes.feed_server import FeedServer, Route  # noqa: E402

SID, TOKEN = "AC" + "d" * 32, "bench-token"
QUAKE = (107.62, -6.95)  # lon, lat: the Bandung basin


def quake(minutes_ago: float, magnitude: float, lon: float, lat: float) -> bytes:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    local = when + timedelta(hours=7)
    return json.dumps(
        {
            "Infogempa": {
                "gempa": {
                    "Tanggal": local.strftime("%d %b %Y"),
                    "Jam": local.strftime("%H:%M:%S WIB"),
                    "DateTime": when.isoformat(),
                    "Coordinates": f"{lat:.2f},{lon:.2f}",
                    "Lintang": f"{abs(lat):.2f} {'LS' if lat < 0 else 'LU'}",
                    "Bujur": f"{lon:.2f} BT",
                    "Magnitude": f"{magnitude:.1f}",
                    "Kedalaman": "10 km",
                    "Wilayah": "Bench",
                    "Potensi": "Tidak berpotensi tsunami",
                    "Dirasakan": "-",
                }
            }
        }
    ).encode()


def seed(factory: sessionmaker[Session], data_dir: Path, args: argparse.Namespace) -> None:
    t = time.perf_counter()
    cells = desa_cells(args.desa)
    rows = [
        {
            "code": f"{90 + i // 10_000_000}.{i // 100_000 % 100:02d}.{i // 1000 % 100:02d}."
            f"{2001 + i % 1000}",
            "name": f"Desa {i}",
            "level": "desa",
            "province_name": island,
            "population": 3000,
            "area_km2": round(cell.area * 12_300, 2),
            "properties": {},
            "geom": from_shape(cell, srid=4326),
        }
        for i, (island, cell) in enumerate(cells)
    ]
    with factory() as s, s.begin():
        for start in range(0, len(rows), 5000):
            s.execute(insert(Community), rows[start : start + 5000])
    # The desa nearest the coming quake get one group each.
    with factory() as s:
        near = list(
            s.scalars(
                text(
                    "SELECT code FROM communities ORDER BY geom <-> "
                    "ST_SetSRID(ST_MakePoint(:x, :y), 4326) LIMIT :n"
                ),
                {"x": QUAKE[0], "y": QUAKE[1], "n": args.groups},
            )
        )
    with factory() as s, s.begin():
        groups = [
            AlertGroup(name=f"Kelompok {i}", community_codes=[code], sender_name="BPBD")
            for i, code in enumerate(near)
        ]
        s.add_all(groups)
        s.flush()
        s.execute(
            insert(AlertRule),
            [
                {
                    "group_id": g.id,
                    "name": "gempa",
                    "hazards": ["earthquake"],
                    "trigger": "mmi",
                    "threshold": "5",
                    "ack_minutes": {},
                }
                for g in groups
            ],
        )
        members = [
            {
                "group_id": g.id,
                "name": f"Warga {i}",
                "phone": f"+62813{gi:04d}{i:04d}",
                "channel": "whatsapp" if i % 2 else "sms",
                "language": "id",
                "consent": True,
            }
            for gi, g in enumerate(groups)
            for i in range(args.members)
        ]
        for start in range(0, len(members), 20_000):
            s.execute(insert(Member), members[start : start + 20_000])
    # Population: a uniform national raster (0.01°, 12 people a cell).
    add_uniform_population(factory, data_dir, EXTENT, 0.01, name="bench-penduduk")
    print(
        f"seeded {len(cells):,} desa, {len(groups):,} groups x {args.members} members, "
        f"population raster at 0.01° in {time.perf_counter() - t:.0f} s"
    )


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Clock:
    """Polls the database and the fake every 20 ms and notes when each step is first seen."""

    def __init__(self, factory: sessionmaker[Session], fake_url: str, total: int) -> None:
        self.factory, self.fake_url, self.total = factory, fake_url, total
        self.seen: dict[str, float] = {}
        self.event_id: int | None = None

    def note(self, step: str, when: float | None = None) -> None:
        if step not in self.seen:
            self.seen[step] = when if when is not None else time.time()

    def poll(self, s: Session, client: httpx.Client) -> dict[str, Any]:
        if self.event_id is None:
            self.event_id = s.scalar(text("SELECT id FROM hazard_events WHERE magnitude >= 7"))
            if self.event_id is not None:
                self.note("event stored")
        q = {"e": self.event_id}
        if self.event_id is not None:
            mmi = "SELECT 1 FROM hazard_event_intensities WHERE event_id = :e LIMIT 1"
            if s.scalar(text(mmi), q):
                self.note("per-desa MMI stored")
            if s.scalar(
                text(
                    "SELECT 1 FROM risk_scores r JOIN hazard_layers l ON l.id = r.layer_id "
                    "WHERE l.event_id = :e LIMIT 1"
                ),
                q,
            ):
                self.note("risk scores stored")
        if s.scalar(text("SELECT 1 FROM alerts LIMIT 1")):
            self.note("first alert committed")
        stats: dict[str, Any] = client.get(f"{self.fake_url}/_fake/stats").json()
        if stats["accepted"]:
            self.note("first message accepted", stats["first_accept"])
        if stats["accepted"] >= self.total:
            self.note("last message accepted", stats["last_accept"])
        s.rollback()
        return stats


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "service", *command],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def run(url: str, args: argparse.Namespace, tmp: Path) -> None:
    upgrade(url)
    engine = create_engine(url, pool_size=4)
    factory = make_session_factory(engine)
    data_dir = tmp / "data"
    seed(factory, data_dir, args)
    total = args.groups * args.members
    port = free_port()
    fake_url = f"http://127.0.0.1:{port}"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    procs["fake gateway"] = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "twilio", "--port", str(port),
         "--account-sid", SID, "--auth-token", TOKEN],
        cwd=ROOT,
    )  # fmt: skip
    wait_http(f"{fake_url}/_fake/stats")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SIAGA_LOG_LEVEL": "INFO",
        "SIAGA_STORAGE_DATA_DIR": str(data_dir),
        "SIAGA_FEEDS_ALLOWED_HOSTS": "127.0.0.1",  # the feed served on loopback
        "SIAGA_FEEDS_TICK_SECONDS": "1",
        "SIAGA_ALERTS_SMS_PROVIDER": "twilio",
        "SIAGA_ALERTS_WHATSAPP_PROVIDER": "twilio",
        "SIAGA_ALERTS_TWILIO_BASE_URL": fake_url,
        "SIAGA_ALERTS_TWILIO_ACCOUNT_SID": SID,
        "SIAGA_ALERTS_TWILIO_AUTH_TOKEN": TOKEN,
        "SIAGA_ALERTS_TWILIO_SMS_FROM": "+15005550006",
        "SIAGA_ALERTS_TWILIO_WHATSAPP_FROM": "+14155238886",
        "SIAGA_ALERTS_RATE_PER_SECOND": "1000000",  # the gateway does not throttle
        "SIAGA_ALERTS_DISPATCH_BATCH": "500",
    }
    env.pop("SIAGA_ALERTS_EVALUATE_INTERVAL_SECONDS", None)  # the default 60 s
    log = tmp / "processes.log"
    with FeedServer() as feeds:
        route = Route(quake(60 * 24 * 2, 5.2, 126.5, 3.5))  # old, small, far: no signal
        feed_url = feeds.set("/autogempa.json", route)
        with factory() as s, s.begin():
            s.add(Feed(name="bmkg", kind="bmkg", url=feed_url, poll_interval_s=5, enabled=True))
        procs["worker"] = spawn(["worker"], env, log)
        for i in range(args.dispatchers):
            procs[f"dispatcher {i + 1}"] = spawn(["messaging", "dispatch"], env, log)
        deadline = time.time() + 120
        while not feeds.served and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(args.settle)  # start-up evaluation and jobs done: the worker is idle
        # A worker that has run a while holds the communities' coverage weights (its start-up
        # job risk.warm_weights builds them, then keeps them in memory and on disk).
        weights = data_dir / "cache" / "weights"
        while not any(weights.glob("*.npz")) and time.time() < deadline:
            time.sleep(0.2)
        served = len(feeds.served)
        route.body = quake(1, args.magnitude, *QUAKE)
        clock = Clock(factory, fake_url, total)
        # The fake's stats carry its own clock: a slow answer under load delays no step.
        with factory() as s, httpx.Client(timeout=120) as client:
            while time.time() < deadline + args.timeout:
                stats = clock.poll(s, client)
                done = len(clock.seen) == 6
                if done or any(p.poll() is not None for p in procs.values()):
                    break
                time.sleep(0.02)
            mmi_rows = s.scalar(
                text("SELECT count(*) FROM hazard_event_intensities WHERE event_id = :e"),
                {"e": clock.event_id},
            )
            alerts = s.scalar(text("SELECT count(*) FROM alerts"))
        t0 = next(at for path, body, at in feeds.served[served:] if b'"7.0"' in body)
        rss = {name: peak_rss_mib(p.pid) for name, p in procs.items() if p.poll() is None}
        stop(list(procs.values()))
    print(
        f"M{args.magnitude:.1f} under {QUAKE}: {mmi_rows:,} desa with MMI, {alerts:,} alerts, "
        f"{stats['accepted']:,} of {total:,} messages accepted "
        f"(max {stats['max_per_recipient']} per recipient); {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print("from the feed server's response:")
    for step in (
        "event stored",
        "per-desa MMI stored",
        "first alert committed",
        "first message accepted",
        "last message accepted",
        "risk scores stored",
    ):
        at = clock.seen.get(step)
        print(f"  {step:<24} {'not seen' if at is None else f'{at - t0:7.2f} s'}")
    rss["bench (feed server, monitor)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("peak RSS: " + ", ".join(f"{n} {m:,.0f} MiB" for n, m in rss.items()))
    if args.show_log:  # what the processes said, less the scheduler's chatter
        lines = [x for x in log.read_text().splitlines() if "apscheduler" not in x]
        print("\n".join(lines[-args.show_log :]))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--desa", type=int, default=84_000)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--magnitude", type=float, default=7.0)
    parser.add_argument("--dispatchers", type=int, default=1, help="extra dispatcher processes")
    parser.add_argument("--settle", type=float, default=5.0, help="idle seconds before the quake")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--show-log",
        type=int,
        default=0,
        help="print this many last lines of the processes' log",
    )
    args = parser.parse_args()
    with scratch_database("siaga_bench_chain") as url, tempfile.TemporaryDirectory() as tmp:
        run(url, args, Path(tmp))


if __name__ == "__main__":
    main()
