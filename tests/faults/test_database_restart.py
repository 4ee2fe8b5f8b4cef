"""The database crashes mid-traffic and comes back: requests meanwhile fail fast with 503
(never hang), then the service recovers by itself; no job and no message is lost, doubled
or left stuck. Runs on a PostgreSQL cluster of its own (tests/faults/pgcluster.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from service.auth.service import create_key
from service.db import make_engine, make_session_factory
from service.migrate import upgrade
from service.settings import DatabaseSettings
from tests.faults.conftest import Procs, wait_for
from tests.faults.pgcluster import PgCluster
from tests.messaging.conftest import TWILIO_SID, TWILIO_TOKEN, Fakes, enqueue_fanout, phones

pytestmark = pytest.mark.slow


@pytest.fixture
def pg() -> Iterator[PgCluster]:
    cluster = PgCluster()
    try:
        upgrade(cluster.url)
        yield cluster
    finally:
        cluster.destroy()


def env(pg: PgCluster, fakes: Fakes) -> dict[str, str]:
    return {
        "DATABASE_URL": pg.url,
        "SIAGA_ALERTS_SMS_PROVIDER": "twilio",
        "SIAGA_ALERTS_WHATSAPP_PROVIDER": "twilio",
        "SIAGA_ALERTS_TWILIO_BASE_URL": fakes.twilio_server.url,
        "SIAGA_ALERTS_TWILIO_ACCOUNT_SID": TWILIO_SID,
        "SIAGA_ALERTS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "SIAGA_ALERTS_TWILIO_SMS_FROM": "+15005550006",
        "SIAGA_ALERTS_HTTP_TIMEOUT_S": "1",
        "SIAGA_ALERTS_SENDING_LEASE_S": "2",
        "SIAGA_ALERTS_RETRY_BASE_S": "0.05",
        "SIAGA_ALERTS_RETRY_MAX_S": "0.3",
        "SIAGA_ALERTS_MAX_ATTEMPTS": "20",
        "SIAGA_ALERTS_RATE_PER_SECOND": "80",
        "SIAGA_ALERTS_DISPATCH_INTERVAL_S": "0.1",
        "SIAGA_JOBS_LEASE_S": "2",
    }


class Traffic(threading.Thread):
    """Queues recompute jobs through the API and reads one back, ten times a second."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.stop = threading.Event()
        self.log: list[tuple[float, str, int, Any]] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                for method, path in (("POST", "/api/v1/recompute"), ("GET", "/api/v1/jobs/1")):
                    t = time.monotonic()
                    try:
                        r = client.request(method, path, json={} if method == "POST" else None,
                                           headers=self.headers)  # fmt: skip
                        try:
                            body = r.json()
                        except ValueError:  # e.g. a bare "Internal Server Error"
                            body = r.text[:200]
                        self.log.append((t, path, r.status_code, body))
                    except httpx.HTTPError as exc:
                        self.log.append((t, path, -1, repr(exc)))
                self.stop.wait(0.1)


def test_database_crash_mid_traffic(pg: PgCluster, fakes: Fakes, procs: Procs) -> None:
    engine = make_engine(DatabaseSettings(url=pg.url))
    factory = make_session_factory(engine)
    with factory() as s, s.begin():
        _, token = create_key(session=s, name="faults", role="coordinator")
    numbers = phones(800)
    fakes.faults(fakes.twilio_gateway, latency_s=0.02, seed=7)

    port = _port()
    base = f"http://127.0.0.1:{port}"
    e = env(pg, fakes)
    procs.spawn(["-m", "service", "serve", "--port", str(port)], e, "serve.log")
    procs.spawn(["-m", "service", "messaging", "dispatch"], e, "dispatch.log")
    procs.spawn(["-m", "service", "worker"], e, "worker.log")
    wait_for(lambda: _status(f"{base}/readyz") == 200, 60, "the API", every=0.2)
    traffic = Traffic(base, {"Authorization": f"Bearer {token}"})
    traffic.start()
    enqueue_fanout(factory, numbers)  # the alert fires: 800 messages at 80 a second
    try:
        wait_for(lambda: len(fakes.twilio_gateway.accepted) >= 100, 60, "sending under way")
        down_at = time.monotonic()
        pg.crash()
        time.sleep(3)
        assert len(fakes.twilio_gateway.accepted) < len(numbers), "the crash came too late"
        readyz_down = _status(f"{base}/readyz")
        up_at = time.monotonic()
        pg.start()
        wait_for(lambda: _status(f"{base}/readyz") == 200, 60, "the API to recover", every=0.2)
        recovered_at = time.monotonic()
        time.sleep(3)  # traffic after the recovery
    finally:
        traffic.stop.set()
        traffic.join(20)

    def settled() -> bool:
        with factory() as s:
            open_rows = s.execute(
                text("SELECT count(*) FROM message_deliveries WHERE status <> 'accepted'")
            ).scalar()
            open_jobs = s.execute(
                text("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
            ).scalar()
        return open_rows == 0 and open_jobs == 0

    wait_for(settled, 90, "every message and job to settle", every=0.3)

    # Messages: everyone exactly once, every row accepted.
    counts = fakes.twilio_gateway.per_recipient()
    assert set(counts) == set(numbers), procs.log("dispatch.log")[-3000:]
    assert max(counts.values()) == 1
    # Jobs: every one the API acknowledged ran and succeeded, once; nothing else is stuck.
    posts = [x for x in traffic.log if x[1] == "/api/v1/recompute"]
    acknowledged = {body["job_id"] for _, _, status, body in posts if status == 202}
    refused = [x for x in posts if x[2] != 202]
    with factory() as s:
        jobs = {
            r.id: (r.status, r.attempts)
            for r in s.execute(text("SELECT id, status, attempts FROM jobs"))
        }
    assert acknowledged <= set(jobs)
    assert len(jobs) - len(acknowledged) <= len(refused)  # at most the in-doubt commits
    assert {status for status, _ in jobs.values()} == {"succeeded"}
    # The outage: fast failures, never a hang, never a success; then success again.
    during = [x for x in traffic.log if down_at + 0.5 < x[0] < up_at]
    after = [x for x in traffic.log if x[0] > recovered_at + 0.5]
    assert during and all(500 <= x[2] < 600 for x in during), during[:5]
    assert readyz_down == 503
    assert after and all(x[2] in (200, 202) for x in after), after[:5]
    engine.dispose()
    assert {x[2] for x in during} == {503}  # not a 500 (service/errors.py maps DB errors)


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return -1


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
