"""What one dispatcher costs per message, in database round trips and CPU: measures that a
loaded machine does not blur as it blurs wall-clock time.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/dispatch_cost.py
    python bench/dispatch_cost.py --messages 20000 --concurrency 64

Creates (and drops) a scratch database on the server DATABASE_URL names, enqueues
`--messages` deliveries (half SMS, half WhatsApp with a template) in one transaction, starts
the fake Twilio in its own process and drains the outbox with one dispatcher in this
process. Counted on the dispatcher's engine: statements sent, transactions begun (a BEGIN
each), pool check-outs (a pre-ping each); then the dispatcher's CPU seconds per 1,000
messages, its wall time and messages per second, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import free_port, stop, wait_http  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402
from service.db import make_session_factory  # noqa: E402
from service.messaging.dispatcher import Dispatcher  # noqa: E402
from service.messaging.outbox import NewDelivery, enqueue_many  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from service.settings import AlertSettings  # noqa: E402

SID, TOKEN = "AC" + "c" * 32, "bench-token"
TEMPLATE = {"content_sid": "HX" + "0" * 32, "variables": {"1": "banjir"}}


def enqueue(factory: Any, n: int) -> None:
    items = [
        NewDelivery(
            idempotency_key=f"bench:{i}",
            phone=f"+62812{i:07d}",
            channel="whatsapp" if i % 2 else "sms",
            body=f"PERINGATAN Desa Sukamaju: banjir TINGGI. Balas YA. -BPBD ({i})",
            template=TEMPLATE if i % 2 else None,
        )
        for i in range(n)
    ]
    with factory() as s, s.begin():
        enqueue_many(session=s, items=items)


def count_round_trips(engine: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    event.listen(engine, "before_cursor_execute", lambda *a, **k: counts.update(["statements"]))
    event.listen(engine, "begin", lambda conn: counts.update(["begins"]))
    event.listen(engine, "checkout", lambda *a: counts.update(["checkouts"]))
    return counts


def run(url: str, args: argparse.Namespace) -> None:
    upgrade(url)
    engine = create_engine(url, pool_size=4, pool_pre_ping=True)
    factory = make_session_factory(engine)
    enqueue(factory, args.messages)
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "twilio", "--port", str(port),
         "--account-sid", SID, "--auth-token", TOKEN],
        cwd=ROOT,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/_fake/stats")
        settings = AlertSettings(
            sms_provider="twilio",
            whatsapp_provider="twilio",
            twilio_base_url=f"http://127.0.0.1:{port}",
            twilio_account_sid=SID,
            twilio_auth_token=TOKEN,
            twilio_sms_from="+15005550006",
            twilio_whatsapp_from="+14155238886",
            rate_per_second=1_000_000,
            dispatch_batch=args.batch,
            dispatch_concurrency=args.concurrency,
        )
        dispatcher = Dispatcher.from_settings(session_factory=factory, settings=settings)
        counts = count_round_trips(engine)
        cpu, wall = time.process_time(), time.perf_counter()
        handled = dispatcher.drain(max_seconds=3600)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        dispatcher.close()
        with factory() as s:
            accepted = s.scalar(
                text("SELECT count(*) FROM message_deliveries WHERE status = 'accepted'")
            )
    finally:
        stop([fake])
    n = args.messages
    print(
        f"{handled:,} handled, {accepted:,} of {n:,} accepted in {wall:.1f} s ({n / wall:,.0f}/s)"
    )
    print(
        "per 1,000 messages: "
        + ", ".join(
            f"{counts[k] * 1000 / n:,.0f} {k}" for k in ("statements", "begins", "checkouts")
        )
        + f", {cpu * 1000 / n:.2f} CPU-s in the dispatcher's process"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with scratch_database("siaga_bench_dispatch") as url:
        run(url, args)


if __name__ == "__main__":
    main()
