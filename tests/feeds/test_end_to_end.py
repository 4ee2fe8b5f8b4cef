"""End to end: a new M6+ quake appears in a served feed, the worker's job polls it and then
runs the recompute job the shaking queued, and the scores of the communities it shakes change
while distant ones stay exactly as they were."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.feeds.fetching import build_client
from service.feeds.layers import write_array_cog
from service.feeds.models import EventIntensity, HazardEvent
from service.feeds.polling import poll_due_feeds
from service.hazards.models import HazardLayer, HazardZone
from service.hazards.schemes import FLOOD_PRONE
from service.jobs import run_pending_jobs
from service.risk.models import RiskScore
from service.risk.service import recompute_layer
from service.settings import Settings
from tests.fakes.feed_server import FeedServer, Route

log = logging.getLogger(__name__)
REGION = (94.5, -2.0, 101.5, 6.5)  # Banda Aceh to south of Padang


def _population_layer(session_factory: sessionmaker[Session], data_dir: Path) -> None:
    """A uniform population grid (50 people per 0.01° cell) over the test region."""
    west, south, east, north = REGION
    cell = 0.01
    shape = (round((north - south) / cell), round((east - west) / cell))
    rel = Path("rasters/penduduk-uji/v1.tif")
    write_array_cog(
        np.full(shape, 50.0, dtype=np.float32),
        Affine(cell, 0, west, 0, -cell, north),
        data_dir / rel,
    )
    with session_factory() as s, s.begin():
        s.add(
            HazardLayer(
                name="penduduk-uji",
                version=1,
                role="exposure",
                hazard=None,
                kind="raster",
                unit="people",
                classification={},
                raster_path=rel.as_posix(),
                raster_meta={"crs": "EPSG:4326", "width": shape[1], "height": shape[0]},
                extent=from_shape(box(*REGION), srid=4326),
                properties={},
            )
        )


def _baseline_layer(session_factory: sessionmaker[Session]) -> int:
    """A flood-prone zone over the whole region, so every community has a score before."""
    with session_factory() as s, s.begin():
        layer = HazardLayer(
            name="rawan-banjir-uji",
            version=1,
            role="hazard",
            hazard="flood",
            kind="zones",
            classification=FLOOD_PRONE.to_dict(),
            extent=from_shape(box(*REGION), srid=4326),
            properties={},
        )
        s.add(layer)
        s.flush()
        s.add(
            HazardZone(
                layer_id=layer.id,
                hazard_class="yes",
                properties={},
                geom=from_shape(MultiPolygon([box(*REGION)]), srid=4326),
            )
        )
        return layer.id


def _current_scores(session_factory: sessionmaker[Session]) -> dict[tuple[str, str], tuple]:
    from service.communities.models import Community

    with session_factory() as s:
        rows = s.execute(
            select(
                Community.code,
                RiskScore.layer_name,
                RiskScore.id,
                RiskScore.score,
                RiskScore.level,
                RiskScore.computed_at,
            )
            .join(Community, Community.id == RiskScore.community_id)
            .where(RiskScore.superseded_at.is_(None))
        ).all()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def test_new_quake_in_a_feed_changes_near_scores_only(
    shared_data: Path,
    settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
    padang_communities: int,
    banda_aceh_communities: int,
) -> None:
    _population_layer(session_factory, settings.storage.data_dir)
    baseline = recompute_layer(
        session_factory=session_factory,
        layer_id=_baseline_layer(session_factory),
        settings=settings,
    )
    assert baseline["status"] == "succeeded", baseline
    before = _current_scores(session_factory)
    total = padang_communities + banda_aceh_communities
    assert len(before) == total

    # The feed first shows an old, small, distant quake; then BMKG publishes a new M7.1
    # 15 km off Padang.
    doc = json.loads(
        (shared_data / "feeds/bmkg/autogempa_2021-10-13_M5.3_notfelt.json").read_bytes()
    )
    with FeedServer() as server:
        route = server.set("/autogempa.json", Route(json.dumps(doc).encode()))
        feed_id = add_feed("bmkg-autogempa", "bmkg", route, interval=5)
        with build_client(settings.feeds) as client:
            first = poll_due_feeds(
                session_factory=session_factory, settings=settings, client=client
            )
        assert [o.status for o in first] == ["ok"] and not first[0].shaking[0].layer_id
        assert _current_scores(session_factory) == before  # M5.3 in Papua touches nobody here

        when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
        local = when + timedelta(hours=7)
        doc["Infogempa"]["gempa"] = {
            "Tanggal": local.strftime("%d %b %Y"),
            "Jam": local.strftime("%H:%M:%S WIB"),
            "DateTime": when.isoformat(),
            "Coordinates": "-1.00,100.22",
            "Lintang": "1.00 LS",
            "Bujur": "100.22 BT",
            "Magnitude": "7.1",
            "Kedalaman": "15 km",
            "Wilayah": "Pusat gempa berada di laut 15 km BaratDaya Kota Padang",
            "Potensi": "Tidak berpotensi tsunami",
            "Dirasakan": "-",
            "Shakemap": "x.mmi.jpg",
        }
        server.routes["/autogempa.json"].body = json.dumps(doc).encode()
        with session_factory() as s, s.begin():  # the feed's interval has passed
            from service.feeds.models import Feed

            feed = s.get(Feed, feed_id)
            assert feed is not None and feed.last_poll_at is not None
            feed.last_poll_at -= timedelta(seconds=10)
        with build_client(settings.feeds) as client:
            (outcome,) = poll_due_feeds(
                session_factory=session_factory, settings=settings, client=client
            )
    assert outcome.status == "ok" and len(outcome.ingest.new_events) == 1
    (shake,) = outcome.shaking
    assert shake.recompute_job is not None and shake.communities == padang_communities
    assert run_pending_jobs(session_factory, settings) == 1  # what a woken worker does
    scored_at = time.perf_counter()
    assert outcome.fetched_at is not None and outcome.done_at is not None
    seconds = scored_at - outcome.fetched_at
    log.warning("poll response -> stored scores for %d communities: %.2f s", total, seconds)
    print(f"\nE2E: poll response -> stored scores ({total} communities loaded): {seconds:.2f} s")

    after = _current_scores(session_factory)
    event_layer = f"gempa-event-{outcome.ingest.new_events[0]}-mmi"
    padang = {code for code, _ in before if code.startswith("13.71.")}
    aceh = {code for code, _ in before if code.startswith("11.71.")}
    assert len(padang) == padang_communities and len(aceh) == banda_aceh_communities
    # Near: every Padang kelurahan has a new earthquake score from this event's layer.
    assert {code for code, layer in after if layer == event_layer} == padang
    levels = [after[(c, event_layer)][2] for c in padang]
    assert any(level != "rendah" for level in levels)
    # Distant: Banda Aceh's scores are the very same rows, untouched.
    assert {k: v for k, v in after.items() if k[0] in aceh} == {
        k: v for k, v in before.items() if k[0] in aceh
    }
    # And the event says where its scores came from.
    with session_factory() as s:
        event = s.get(HazardEvent, outcome.ingest.new_events[0])
        assert event is not None and event.magnitude == 7.1
        assert event.properties["shaking_layer_id"] == shake.layer_id
        mmis = s.scalars(
            select(EventIntensity.mmi).where(EventIntensity.event_id == event.id)
        ).all()
        assert len(mmis) == padang_communities and min(mmis) >= 6.0
        score = s.scalars(select(RiskScore).where(RiskScore.layer_name == event_layer)).first()
        assert score is not None and score.inputs["event_id"] == event.id
        assert score.layer_id == shake.layer_id and score.hazard == "earthquake"


@pytest.mark.slow  # a siaga worker process
def test_the_worker_process_polls_due_feeds(
    database_url: str,
    shared_data: Path,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
    tmp_path: Path,
) -> None:
    """`siaga worker` as a real process: its feeds job picks up an enabled feed by itself."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from service.feeds.models import Feed

    root = Path(__file__).resolve().parents[2]
    body = (shared_data / "feeds/bmkg/gempaterkini_2023-07-12.json").read_bytes()
    with FeedServer() as server:
        feed_id = add_feed("bmkg", "bmkg", server.set("/terkini.json", Route(body)), interval=3600)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SIAGA_FEEDS_TICK_SECONDS": "0.5",
            "SIAGA_FEEDS_ALLOWED_HOSTS": "127.0.0.1",
            "SIAGA_STORAGE_DATA_DIR": str(tmp_path),
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "service", "worker"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            polled = None
            while time.monotonic() < deadline and worker.poll() is None:
                with session_factory() as s:
                    feed = s.get(Feed, feed_id)
                    polled = feed.last_success_at if feed else None
                if polled is not None:
                    break
                time.sleep(0.3)
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=30)[0].decode(errors="replace")
    assert polled is not None, output[-2000:]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(HazardEvent)) == 15
    assert server.count("/terkini.json") == 1  # not again within its hour
    assert worker.returncode == 0, output[-2000:]
