"""Benchmark: from a feed's response to stored risk scores for a new strong earthquake.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/feeds_e2e.py
    python bench/feeds_e2e.py --communities 20000 --magnitude 7.5

Creates a scratch database on the server named by DATABASE_URL (dropped afterwards), a grid
of synthetic desa squares (0.02°, about 2 km) around Padang, a uniform population raster,
and a local HTTP feed serving a BMKG autogempa body with a new quake 20 km off the coast.
One poll (the worker's code path) then parses, ingests, estimates shaking (docs/feeds.md)
on a grid, writes the layer, samples per-community MMI and queues the layer's risk recompute,
which the worker's job runner then runs. Prints the time from the complete response to the
stored scores and its parts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import create_engine, func, insert, select

from bench.scratch import add_uniform_population, scratch_database
from service.communities.models import Community
from service.db import make_session_factory
from service.feeds.fetching import build_client
from service.feeds.models import Feed
from service.feeds.polling import poll_feed
from service.jobs import run_pending_jobs
from service.migrate import upgrade
from service.risk.jobs import register_handlers
from service.risk.models import RiskScore
from service.settings import DatabaseSettings, FeedSettings, Settings, StorageSettings
from tests.fakes.feed_server import FeedServer, Route

CENTRE = (100.35, -0.95)  # Padang


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--communities", type=int, default=5000)
    ap.add_argument("--magnitude", type=float, default=7.2)
    args = ap.parse_args()
    with scratch_database("siaga_bench_feeds") as url:
        run(url, args.communities, args.magnitude)


def run(url: str, n: int, magnitude: float) -> None:
    upgrade(url)
    engine = create_engine(url, pool_size=10)
    sf = make_session_factory(engine)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = Settings(
            env="test",
            database=DatabaseSettings(url=url),
            storage=StorageSettings(data_dir=data_dir),
            feeds=FeedSettings(retries=0, allowed_hosts=["127.0.0.1"]),
        )
        side = math.ceil(math.sqrt(n))
        cell = 0.02
        west, north = CENTRE[0] - side * cell / 2, CENTRE[1] + side * cell / 2
        rows = []
        for i in range(n):
            x, y = west + (i % side) * cell, north - (i // side + 1) * cell
            rows.append(
                {
                    "code": f"99.99.{i // 1000:02d}.{i % 1000 + 1000}",
                    "name": f"Desa {i}",
                    "level": "desa",
                    "population": 3000,
                    "area_km2": 4.9,
                    "properties": {},
                    "geom": from_shape(MultiPolygon([box(x, y, x + cell, y + cell)]), srid=4326),
                }
            )
        with sf() as s, s.begin():
            s.execute(insert(Community), rows)
        # Population: a uniform 0.005° grid over the communities.
        add_uniform_population(
            sf, data_dir, (west, north - side * cell, west + side * cell, north), 0.005
        )
        when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        quake = {
            "Infogempa": {
                "gempa": {
                    "DateTime": when.isoformat(),
                    "Coordinates": "-1.05,100.20",
                    "Lintang": "1.05 LS",
                    "Bujur": "100.20 BT",
                    "Magnitude": f"{magnitude:.1f}",
                    "Kedalaman": "20 km",
                    "Wilayah": "Bench",
                    "Potensi": "Tidak berpotensi tsunami",
                    "Dirasakan": "-",
                }
            }
        }
        with FeedServer() as feed_server:
            feed_url = feed_server.set("/autogempa.json", Route(json.dumps(quake).encode()))
            with sf() as s, s.begin():
                feed = Feed(
                    name="bench",
                    kind="bmkg",
                    url=feed_url,
                    poll_interval_s=60,
                    enabled=True,
                    options={},
                    consecutive_failures=0,
                    events_seen=0,
                )
                s.add(feed)
                s.flush()
                feed_id = feed.id
            with build_client(settings.feeds) as client:
                outcome = poll_feed(
                    session_factory=sf, settings=settings, client=client, feed_id=feed_id
                )
        assert outcome.status == "ok", outcome.error
        (shake,) = outcome.shaking
        assert outcome.fetched_at is not None and outcome.done_at is not None
        register_handlers()
        assert run_pending_jobs(sf, settings) == 1  # the queued recompute, as a worker runs it
        scored_at = time.perf_counter()
        with sf() as s:
            scored = s.scalar(select(func.count()).select_from(RiskScore))
        print(f"communities loaded: {n}; shaken (scored): {shake.communities} ({scored} scores)")
        total = scored_at - outcome.fetched_at
        print(
            f"M{magnitude} quake: response -> stored scores {total:.2f} s "
            f"(shaking layer + per-community MMI {shake.seconds:.2f} s, "
            f"risk recompute job {scored_at - outcome.done_at:.2f} s)"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
