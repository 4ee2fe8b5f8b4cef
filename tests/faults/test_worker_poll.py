"""A worker SIGKILLed in the middle of a feed poll: nothing half-stored, the feed is not left
stuck, and the next worker stores every event exactly once (polling again adds nothing)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.feeds.models import EventReport, Feed, HazardEvent
from tests.fakes.feed_server import FeedServer, Route
from tests.faults.conftest import Procs, wait_for
from tests.feeds.conftest import add_feed, feed_server  # noqa: F401

pytestmark = pytest.mark.slow

SAMPLE = "usgs/usgs_summary_4.5_week_2020.geojson"  # 91 earthquakes


def counts(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as s:
        reports = s.scalar(select(func.count()).select_from(EventReport)) or 0
        events = s.scalar(select(func.count()).select_from(HazardEvent)) or 0
        return int(reports), int(events)


def test_worker_killed_mid_poll(
    shared_data: Path,
    feed_server: FeedServer,  # noqa: F811
    add_feed: Callable[..., int],  # noqa: F811
    session_factory: sessionmaker[Session],
    database_url: str,
    data_dir: Path,
    procs: Procs,
) -> None:
    body = (shared_data / "feeds" / SAMPLE).read_bytes()
    # The first answer takes 30 s: the worker is killed while it waits for it.
    url = feed_server.set("/usgs", Route(body, content_type="application/geo+json", mode="slow",
                                          delay_s=30))  # fmt: skip
    feed_id = add_feed("usgs", "usgs", url, interval=5)
    env = {
        "DATABASE_URL": database_url,
        "SIAGA_STORAGE_DATA_DIR": str(data_dir),
        "SIAGA_FEEDS_TICK_SECONDS": "0.5",
        "SIAGA_FEEDS_ALLOWED_HOSTS": url.split("/")[2],  # a loopback fake (issue 11, item 7)
    }
    first = procs.spawn(["-m", "service", "worker"], env, "first.log")
    wait_for(lambda: feed_server.count("/usgs") >= 1, 60, "the poll to start", every=0.05)
    procs.kill(first)
    assert counts(session_factory) == (0, 0)  # nothing half-stored

    feed_server.set("/usgs", Route(body, content_type="application/geo+json"))
    procs.spawn(["-m", "service", "worker"], env, "second.log")
    wait_for(lambda: counts(session_factory)[0] > 0, 60, "the next worker's poll", every=0.2)
    polled = feed_server.count("/usgs")
    wait_for(lambda: feed_server.count("/usgs") >= polled + 1, 30, "one more poll", every=0.2)
    time.sleep(1)  # let it store what it read
    reports, events = counts(session_factory)
    assert reports == 91 and events == 91, procs.log("second.log")[-2000:]
    with session_factory() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        assert feed.last_success_at is not None and feed.consecutive_failures == 0
        assert feed.events_seen == 91
