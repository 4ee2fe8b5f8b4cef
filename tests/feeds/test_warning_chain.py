"""The warning chain with one real worker process: a BMKG feed served on loopback switches to
a new strong quake off Padang; the worker polls it, stores the event and the per-community
shaking, evaluates the rules at once (LISTEN/NOTIFY, not the 60 s interval) and the
dispatcher, woken by the new outbox rows (not by its tick), hands the messages to a local
fake Twilio. Also: a worker killed between the event's commit and the evaluation, and a feed
that repeats the same quake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from service.alerts.models import AlertGroup, AlertRule, Member
from service.feeds.fetching import build_client
from service.feeds.polling import poll_feed
from service.settings import Settings
from tests.fakes.feed_server import FeedServer, Route
from tests.fakes.gateway import FakeServer, Gateway
from tests.fakes.twilio import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
SID, TOKEN = "AC" + "c" * 32, "chain-token"
pytestmark = pytest.mark.slow


def _quake(minutes_ago: float, magnitude: str = "6.9", lat: str = "-1.00") -> dict[str, Any]:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    local = when + timedelta(hours=7)
    return {
        "Infogempa": {
            "gempa": {
                "Tanggal": local.strftime("%d %b %Y"),
                "Jam": local.strftime("%H:%M:%S WIB"),
                "DateTime": when.isoformat(),
                "Coordinates": f"{lat},100.22",
                "Lintang": f"{lat.lstrip('-')} LS",
                "Bujur": "100.22 BT",
                "Magnitude": magnitude,
                "Kedalaman": "15 km",
                "Wilayah": "Pusat gempa berada di laut 15 km BaratDaya Kota Padang",
                "Potensi": "Tidak berpotensi tsunami",
                "Dirasakan": "-",
                "Shakemap": "x.mmi.jpg",
            }
        }
    }


@pytest.fixture
def twilio() -> Iterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio(Gateway(dedupe=False), account_sid=SID, auth_token=TOKEN)
    with FakeServer(fake) as server:
        yield fake, server.url


def _group(session_factory: sessionmaker[Session], members: int = 6) -> list[str]:
    """A group over every Padang kelurahan with an MMI >= 5 rule; returns the phones."""
    with session_factory() as s, s.begin():
        codes = list(s.scalars(text("SELECT code FROM communities ORDER BY code")))
        group = AlertGroup(name="Siaga Padang", community_codes=codes[:1], sender_name="BPBD")
        s.add(group)
        s.flush()
        phones = [f"+6281234560{i:03d}" for i in range(members)]
        for i, phone in enumerate(phones):
            s.add(
                Member(
                    group_id=group.id,
                    name=f"Warga {i}",
                    phone=phone,
                    channel="whatsapp" if i % 2 else "sms",
                    language="id",
                    consent=True,
                )
            )
        s.add(
            AlertRule(
                group_id=group.id,
                name="gempa",
                hazards=["earthquake"],
                trigger="mmi",
                threshold="5",
                ack_minutes={},
            )
        )
    return phones


def _spawn(settings: Settings, twilio_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database.url,
        "SIAGA_ENV": "test",
        "SIAGA_STORAGE_DATA_DIR": str(settings.storage.data_dir),
        "SIAGA_FEEDS_ALLOWED_HOSTS": "127.0.0.1",  # the feed served on loopback
        "SIAGA_FEEDS_TICK_SECONDS": "0.5",
        "SIAGA_FEEDS_RETRIES": "0",
        "SIAGA_ALERTS_SMS_PROVIDER": "twilio",
        "SIAGA_ALERTS_WHATSAPP_PROVIDER": "twilio",
        "SIAGA_ALERTS_TWILIO_BASE_URL": twilio_url,
        "SIAGA_ALERTS_TWILIO_ACCOUNT_SID": SID,
        "SIAGA_ALERTS_TWILIO_AUTH_TOKEN": TOKEN,
        "SIAGA_ALERTS_TWILIO_SMS_FROM": "+15005550006",
        "SIAGA_ALERTS_TWILIO_WHATSAPP_FROM": "+14155238886",
        # The evaluation interval stays at its default (60 s); the dispatcher's idle tick is
        # made long, so only the wake-ups can deliver within the test's bound.
        "SIAGA_ALERTS_DISPATCH_INTERVAL_S": "30",
    }
    env.pop("SIAGA_ALERTS_EVALUATE_INTERVAL_SECONDS", None)
    with log.open("ab") as out:  # the child has its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "service", "worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _listening(session_factory: sessionmaker[Session]) -> bool:
    with session_factory() as s:
        return bool(
            s.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN siaga_%'")
            ).scalar()
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_feed_response_to_first_delivery_within_5_s(
    settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
    padang_communities: int,
    twilio: tuple[FakeTwilio, str],
    tmp_path: Path,
) -> None:
    fake, twilio_url = twilio
    phones = _group(session_factory)
    with FeedServer() as feeds:
        route = Route(json.dumps(_quake(60 * 24 * 3, "5.1")).encode())  # old: outside the window
        url = feeds.set("/autogempa.json", route)
        add_feed("bmkg-autogempa", "bmkg", url, interval=5)
        log = tmp_path / "worker.log"
        worker = _spawn(settings, twilio_url, log)
        try:
            _wait(lambda: feeds.served, 60, f"the first poll (worker log: {log})")
            time.sleep(1.0)  # the start-up evaluation is over; only a wake-up can help now
            assert not fake.gateway.accepted
            route.body = json.dumps(_quake(1)).encode()  # BMKG publishes a new M6.9
            served = len(feeds.served)
            _wait(lambda: fake.gateway.accepted, 20, "the first delivery")
            _, _, answered = next(x for x in feeds.served[served:] if b'"6.9"' in x[1])
            first = min(m.at for m in fake.gateway.accepted)
            _wait(lambda: len(fake.gateway.accepted) >= len(phones), 10, "every member")
            # The next polls repeat the same quake: nothing more is sent.
            polls = len(feeds.served)
            _wait(lambda: len(feeds.served) >= polls + 1, 15, "a repeated poll")
            time.sleep(1.0)
        finally:
            _stop(worker)
    latency = first - answered
    print(f"\nfeed response -> first delivery accepted: {latency:.2f} s")
    assert 0 < latency <= 5.0, (latency, log.read_text()[-3000:])
    counts = fake.gateway.per_recipient()
    assert sorted(counts) == sorted(phones) and set(counts.values()) == {1}, counts
    with session_factory() as s:
        assert s.execute(text("SELECT count(*) FROM alerts")).scalar() == 1


def test_worker_killed_before_evaluation_alert_still_goes_out_once(
    settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
    padang_communities: int,
    twilio: tuple[FakeTwilio, str],
    tmp_path: Path,
) -> None:
    """The only worker dies after the event is committed and before it evaluated: the
    NOTIFY reached no one. The next worker's safety net (its start-up evaluation, then the
    interval) sends the alert, once."""
    fake, twilio_url = twilio
    phones = _group(session_factory)
    log = tmp_path / "worker.log"
    worker = _spawn(settings, twilio_url, log)
    with FeedServer() as feeds:
        url = feeds.set("/autogempa.json", Route(json.dumps(_quake(1)).encode()))
        feed_id = add_feed("bmkg-autogempa", "bmkg", url, interval=3600, enabled=False)
        try:
            _wait(lambda: _listening(session_factory), 30, "the worker to listen")
            worker.send_signal(signal.SIGKILL)  # killed: no listener, no evaluation
            worker.wait(10)
            # What the killed worker had committed: the event and its shaking (and the
            # NOTIFY that nobody heard).
            with build_client(settings.feeds) as client:
                outcome = poll_feed(
                    session_factory=session_factory,
                    settings=settings,
                    client=client,
                    feed_id=feed_id,
                    force=True,
                )
            assert outcome.status == "ok" and outcome.shaking[0].communities > 0
            time.sleep(1.0)
            assert not fake.gateway.accepted
            with session_factory() as s:
                assert s.execute(text("SELECT count(*) FROM alerts")).scalar() == 0
            worker = _spawn(settings, twilio_url, log)  # the restart
            _wait(lambda: len(fake.gateway.accepted) >= len(phones), 30, "every member")
            # The same event heard again (a second NOTIFY, a revision with no change) sends
            # nothing more.
            with session_factory() as s, s.begin():
                s.execute(text("SELECT pg_notify('siaga_signals', 'event:' || id::text) "
                               "FROM hazard_events"))  # fmt: skip
            time.sleep(2.0)
        finally:
            _stop(worker)
    counts = fake.gateway.per_recipient()
    assert sorted(counts) == sorted(phones) and set(counts.values()) == {1}, counts
    with session_factory() as s:
        assert s.execute(text("SELECT count(*) FROM alerts")).scalar() == 1
