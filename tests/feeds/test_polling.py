"""Polling over real HTTP against tests/fakes/feed_server.py: samples, failures, dedupe."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from service.db import try_advisory_xact_lock
from service.feeds.fetching import build_client
from service.feeds.models import EventReport, EventRevision, Feed, HazardEvent
from service.feeds.polling import poll_due_feeds, poll_feed
from service.hazards.models import HazardLayer
from service.settings import Settings
from tests.fakes.feed_server import FeedServer, Route

JSON, XML, RSS = "application/json", "application/xml", "application/rss+xml"


def _poll(sf: sessionmaker[Session], settings: Settings, feed_id: int):
    with build_client(settings.feeds) as client:
        return poll_feed(session_factory=sf, settings=settings, client=client, feed_id=feed_id)


def _events(sf: sessionmaker[Session]) -> list[tuple]:
    with sf() as s:
        return [
            tuple(r)
            for r in s.execute(
                text(
                    "SELECT id, type, time, magnitude, depth_km, ST_X(epicentre),"
                    " ST_Y(epicentre), revision FROM hazard_events ORDER BY id"
                )
            )
        ]


def _feed(sf: sessionmaker[Session], feed_id: int) -> Feed:
    with sf() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        return feed


SAMPLES = [
    ("bmkg/autogempa_2021-10-05.json", "bmkg", JSON, 1),
    ("bmkg/autogempa_2021-10-04.xml", "bmkg", XML, 1),
    ("bmkg/autogempa_2021-10-13_M5.3_notfelt.json", "bmkg", JSON, 1),
    ("bmkg/gempaterkini_2023-07-12.json", "bmkg", JSON, 15),
    ("bmkg/inatews_gemparealtime_geojson_2022.json", "bmkg", JSON, 1),
    ("usgs/usgs_summary_4.5_week_2020.geojson", "usgs", "application/geo+json", 91),
    ("usgs/usgs_summary_all_hour_2017.geojson", "usgs", "application/geo+json", 8),
    ("gdacs/gdacs_rss_2024-12-10.xml", "gdacs", RSS, 2),
    ("gdacs/gdacs_rss_24h_2019-12-30.xml", "gdacs", RSS, 21),
    ("gdacs/gdacs_rss_archive_india_orange_2016-04-09.xml", "gdacs", RSS, 23),
    ("gdacs/gdacs_api_eventsbyarea_pakistan_2026-10.json", "gdacs", JSON, 7),
    ("cap/bmkg_nowcast_cap_id_CGT20260924002_alert.xml", "cap", XML, 1),
    ("cap/bmkg_nowcast_cap_en_CGT20260924002_alert.xml", "cap", XML, 1),
    ("cap/bmkg_nowcast_cap_id_CBT20260216004_alert.xml", "cap", XML, 1),
    ("cap/bmkg_nowcast_cap_id_jateng_2026-02-16.xml", "cap", XML, 1),
    ("cap/oasis_example_amber_alert_cap12.xml", "cap", XML, 1),
]


@pytest.mark.slow  # every real sample polled end to end (parsers: test_parsers.py)
@pytest.mark.parametrize(("name", "kind", "ctype", "count"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_every_sample_is_served_parsed_and_stored(
    name: str,
    kind: str,
    ctype: str,
    count: int,
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    url = feed_server.set(
        "/" + name, Route((shared_data / "feeds" / name).read_bytes(), content_type=ctype)
    )
    feed_id = add_feed("sample", kind, url)
    outcome = _poll(session_factory, feed_settings, feed_id)
    assert outcome.status == "ok", outcome.error
    assert outcome.ingest.reports_seen == count
    # The 2016 GDACS archive lists three floods twice: stored once each.
    unique = 20 if "archive_india" in name else count
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(EventReport)) == unique
    feed = _feed(session_factory, feed_id)
    assert feed.consecutive_failures == 0 and feed.last_success_at is not None
    assert feed.events_seen == len(outcome.ingest.new_events) > 0
    assert "Siaga" in feed_server.requests[0]["headers"]["User-Agent"]


def test_autogempa_fields_in_the_database(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    body = (shared_data / "feeds/bmkg/autogempa_2021-10-05.json").read_bytes()
    feed_id = add_feed("bmkg", "bmkg", feed_server.set("/autogempa.json", Route(body)))
    assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    ((_, etype, time, mag, depth, lon, lat, rev),) = _events(session_factory)
    assert (etype, mag, depth, rev) == ("earthquake", 4.5, 20.0, 1)
    assert time == datetime(2021, 10, 5, 11, 0, 27, tzinfo=UTC)
    assert (lon, lat) == (118.10, -8.15)  # stored x=lon, y=lat


def test_repoll_never_duplicates_and_revision_keeps_history(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    doc = json.loads((shared_data / "feeds/bmkg/autogempa_2021-10-05.json").read_bytes())
    feed_id = add_feed("bmkg", "bmkg", feed_server.set("/a.json", Route(json.dumps(doc).encode())))
    _poll(session_factory, feed_settings, feed_id)
    again = _poll(session_factory, feed_settings, feed_id)
    assert again.ingest.unchanged_reports == 1 and not again.ingest.new_events
    assert len(_events(session_factory)) == 1
    # BMKG revises the magnitude and moves the epicentre.
    doc["Infogempa"]["gempa"].update(
        Magnitude="4.8", Coordinates="-8.20,118.15", Lintang="8.20 LS", Bujur="118.15 BT"
    )
    feed_server.routes["/a.json"].body = json.dumps(doc).encode()
    revised = _poll(session_factory, feed_settings, feed_id)
    assert revised.ingest.updated_reports == 1 and revised.ingest.revised_events
    ((event_id, _, _, mag, _, lon, lat, rev),) = _events(session_factory)
    assert (mag, lon, lat, rev) == (4.8, 118.15, -8.20, 2)
    with session_factory() as s:
        history = s.scalars(
            select(EventRevision)
            .where(EventRevision.event_id == event_id)
            .order_by(EventRevision.revision)
        ).all()
        assert [h.revision for h in history] == [1, 2]
        assert history[1].changes["magnitude"] == [4.5, 4.8]
        assert history[1].changes["lat"] == [-8.15, -8.20]
        assert s.scalar(select(EventReport.revision)) == 2


MALFORMED = {
    "html": (
        Route(b"<!DOCTYPE html><html><body>Blocked</body></html>", content_type="text/html"),
        "HTML",
    ),
    "truncated_json": (Route(b'{"Infogempa": {"gempa": {"Tanggal": "05 Okt'), "truncated JSON"),
    "empty_body": (Route(b""), "empty body"),
    "http_500": (Route(b"oops", status=500, content_type="text/plain"), "HTTP 500"),
    "timeout": (Route(b"{}", mode="slow", delay_s=5), "timed out"),
    "endless_body": (Route(b"", mode="endless", delay_s=0.0), "more than"),
    "trickling_body": (Route(b"", mode="endless", delay_s=0.2), "deadline"),
    "dropped_connection": (Route(b'{"Infogempa": {"gempa": {', mode="drop"), "failed"),
    "not_found": (Route(b"", status=404), "HTTP 404"),
}


@pytest.mark.slow  # fault injection waiting out real timeouts, nine times
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_feed_is_unhealthy_and_nothing_else_moves(
    case: str,
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    good_bmkg = (shared_data / "feeds/bmkg/gempaterkini_2023-07-12.json").read_bytes()
    bad_id = add_feed("bmkg", "bmkg", feed_server.set("/bmkg.json", Route(good_bmkg)))
    usgs_body = (shared_data / "feeds/usgs/usgs_summary_all_hour_2017.geojson").read_bytes()
    other_id = add_feed("usgs", "usgs", feed_server.set("/usgs.geojson", Route(usgs_body)))
    with build_client(feed_settings.feeds) as client:
        first = poll_due_feeds(
            session_factory=session_factory, settings=feed_settings, client=client
        )
    assert [o.status for o in first] == ["ok", "ok"]
    before = _events(session_factory)
    success_before = _feed(session_factory, bad_id).last_success_at

    route, expected = MALFORMED[case]
    feed_server.set("/bmkg.json", route)
    with session_factory() as s, s.begin():  # both feeds due again
        s.execute(update(Feed).values(last_poll_at=None))
    with build_client(feed_settings.feeds) as client:
        outcomes = {
            o.feed_id: o
            for o in poll_due_feeds(
                session_factory=session_factory, settings=feed_settings, client=client
            )
        }
    bad, other = outcomes[bad_id], outcomes[other_id]
    assert bad.status == "error" and expected in (bad.error or ""), bad.error
    assert other.status == "ok" and other.ingest.unchanged_reports == 8
    feed = _feed(session_factory, bad_id)
    assert feed.consecutive_failures == 1 and feed.last_status == "error"
    assert expected in (feed.last_error or "") and feed.last_error_at is not None
    assert feed.last_success_at == success_before and feed.last_poll_at is not None
    assert _events(session_factory) == before  # nothing lost, nothing duplicated
    assert _feed(session_factory, other_id).consecutive_failures == 0


def test_transient_503_is_retried(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    body = (shared_data / "feeds/bmkg/autogempa_2021-10-05.json").read_bytes()
    feed_id = add_feed("bmkg", "bmkg", feed_server.set("/a.json", Route(body, fail_first=1)))
    assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    assert feed_server.count("/a.json") == 2


def test_conditional_get_uses_etag_and_last_modified(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    body = (shared_data / "feeds/usgs/usgs_summary_all_hour_2017.geojson").read_bytes()
    lm = "Sun, 03 Dec 2017 23:15:50 GMT"
    feed_id = add_feed(
        "usgs", "usgs", feed_server.set("/u", Route(body, etag='"v1"', last_modified=lm))
    )
    assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    assert (
        _feed(session_factory, feed_id).etag,
        _feed(session_factory, feed_id).last_modified,
    ) == ('"v1"', lm)
    second = _poll(session_factory, feed_settings, feed_id)
    assert second.status == "not_modified" and second.ingest.reports_seen == 0
    headers = feed_server.requests[-1]["headers"]
    assert headers["If-None-Match"] == '"v1"' and headers["If-Modified-Since"] == lm
    assert len(_events(session_factory)) == 8
    assert _feed(session_factory, feed_id).last_status == "not_modified"


@pytest.mark.parametrize("status", [204, 404])
def test_gdacs_no_events_is_healthy(
    status: int,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    feed_id = add_feed("gdacs", "gdacs", feed_server.set("/g", Route(b"", status=status)))
    outcome = _poll(session_factory, feed_settings, feed_id)
    assert (
        outcome.status == "no_events" and _feed(session_factory, feed_id).consecutive_failures == 0
    )


def test_same_feed_never_polled_twice_at_once(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    body = (shared_data / "feeds/bmkg/autogempa_2021-10-05.json").read_bytes()
    feed_id = add_feed("bmkg", "bmkg", feed_server.set("/a.json", Route(body)))
    # Another process (here: another connection) holds the feed's poll lock.
    with session_factory() as other, other.begin():
        assert try_advisory_xact_lock(other, "feed-poll", feed_id)
        outcome = _poll(session_factory, feed_settings, feed_id)
        assert outcome.status == "skipped_locked"
    assert feed_server.count("/a.json") == 0
    # Two concurrent polls of a slow feed: one fetches, the other skips.
    feed_server.routes["/a.json"].delay_s = 0.3
    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(_poll(session_factory, feed_settings, feed_id).status)
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "skipped_locked"]
    assert feed_server.count("/a.json") == 1 and len(_events(session_factory)) == 1


@pytest.mark.slow  # three real feeds polled end to end
def test_one_earthquake_from_three_sources_is_one_event(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    usgs = (shared_data / "feeds/usgs/usgs_summary_4.5_week_2020.geojson").read_bytes()
    # USGS us6000c60p: M5.0, 13 km W of Ternate, 2020-10-06T08:47:01.687Z, depth 101.5 km.
    bmkg = {
        "Infogempa": {
            "gempa": {
                "Tanggal": "06 Okt 2020",
                "Jam": "17:47:05 WIT",
                "DateTime": "2020-10-06T08:47:05+00:00",
                "Coordinates": "0.82,127.21",
                "Lintang": "0.82 LU",
                "Bujur": "127.21 BT",
                "Magnitude": "5.3",
                "Kedalaman": "95 km",
                "Wilayah": "Pusat gempa berada di laut 12 km BaratLaut Ternate",
                "Potensi": "Tidak berpotensi tsunami",
                "Dirasakan": "III Ternate",
                "Shakemap": "x.mmi.jpg",
            }
        }
    }
    gdacs = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [127.2634, 0.7895]},
                "properties": {
                    "eventtype": "EQ",
                    "eventid": 1234567,
                    "episodeid": 1,
                    "alertlevel": "Green",
                    "fromdate": "2020-10-06T08:47:01",
                    "datemodified": "2020-10-06T09:00:00",
                    "severitydata": {
                        "severity": 5.0,
                        "severityunit": "M",
                        "severitytext": "Magnitude 5M, Depth:101.52km",
                    },
                },
            }
        ],
    }
    ids = [
        add_feed("usgs", "usgs", feed_server.set("/usgs", Route(usgs))),
        add_feed("bmkg", "bmkg", feed_server.set("/bmkg", Route(json.dumps(bmkg).encode()))),
        add_feed("gdacs", "gdacs", feed_server.set("/gdacs", Route(json.dumps(gdacs).encode()))),
    ]
    for feed_id in ids:
        assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    with session_factory() as s:
        report = s.scalars(select(EventReport).where(EventReport.source_id == "us6000c60p")).one()
        linked = s.scalars(select(EventReport).where(EventReport.event_id == report.event_id)).all()
        assert sorted(r.source for r in linked) == ["bmkg", "gdacs", "usgs"]
        event = s.get(HazardEvent, report.event_id)
        assert event is not None and event.primary_source == "bmkg" and event.magnitude == 5.3
        assert s.scalar(select(func.count()).select_from(HazardEvent)) == 91  # no other merges


def test_cap_cancel_references_the_alert(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    alert = (shared_data / "feeds/cap/bmkg_nowcast_cap_id_CGT20260924002_alert.xml").read_bytes()
    feed_id = add_feed("cap", "cap", feed_server.set("/cap.xml", Route(alert, content_type=XML)))
    assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    cancel = (
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        b"<identifier>2.49.0.1.360.0.2026.09.24.08.75.003</identifier>"
        b"<sender>cuaca.ekstrem@bmkg.go.id</sender><sent>2026-09-24T16:00:00+08:00</sent>"
        b"<status>Actual</status><msgType>Cancel</msgType><scope>Public</scope><references>"
        b"cuaca.ekstrem@bmkg.go.id,2.49.0.1.360.0.2026.09.24.07.75.002,2026-09-24T15:07:00+08:00"
        b"</references></alert>"
    )
    feed_server.routes["/cap.xml"].body = cancel
    assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    with session_factory() as s:
        event = s.scalars(select(HazardEvent)).one()
        assert (
            event.status == "cancelled"
            and event.severity == "Moderate"
            and event.footprint is not None
        )
        assert s.scalar(select(func.count()).select_from(EventReport)) == 2


def test_cap_index_fetches_listed_alerts(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    cap_dir = shared_data / "feeds/cap"
    index = (cap_dir / "bmkg_nowcast_rss_id_2026-02-16.xml").read_bytes()
    index = index.replace(b"https://www.bmkg.go.id", feed_server.url.encode())  # never the internet
    feed_server.set(
        "/alerts/nowcast/id/CBT20260216004_alert.xml",
        Route(
            (cap_dir / "bmkg_nowcast_cap_id_CBT20260216004_alert.xml").read_bytes(),
            content_type=XML,
        ),
    )
    feed_server.set(
        "/alerts/nowcast/id/CJG20260216005_alert.xml",
        Route(
            (cap_dir / "bmkg_nowcast_cap_id_jateng_2026-02-16.xml").read_bytes(), content_type=XML
        ),
    )
    feed_id = add_feed(
        "nowcast", "cap", feed_server.set("/rss.xml", Route(index, content_type=RSS))
    )
    outcome = _poll(session_factory, feed_settings, feed_id)
    # Two of the three listed alerts are served; the third is a 404, reported, not fatal.
    assert outcome.ingest.new_reports == 2
    assert outcome.status == "partial" and "404" in (outcome.error or "")
    again = _poll(session_factory, feed_settings, feed_id)  # known alerts are not fetched again
    assert again.ingest.new_reports == 0
    assert feed_server.count("/alerts/nowcast/id/CBT20260216004_alert.xml") == 1


def test_shakemap_feed_becomes_a_layer_of_its_event(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
    padang_communities: int,
) -> None:
    grid = (shared_data / "real/bmkg_shakemaps/20190930000000_grid.xml").read_bytes()
    feed_id = add_feed(
        "shakemap", "shakemap", feed_server.set("/grid.xml", Route(grid, content_type=XML))
    )
    outcome = _poll(session_factory, feed_settings, feed_id)
    assert outcome.status == "ok", outcome.error
    (result,) = outcome.shaking
    assert result.method == "shakemap" and result.communities == padang_communities
    with session_factory() as s:
        layer = s.get(HazardLayer, result.layer_id)
        assert layer is not None and layer.hazard == "earthquake" and layer.kind == "raster"
        assert layer.classification["name"] == "mmi" and layer.event_id is not None
        assert layer.raster_meta is not None and layer.raster_path is not None
        assert (layer.raster_meta["width"], layer.raster_meta["height"]) == (161, 161)
        assert (feed_settings.storage.data_dir / layer.raster_path).is_file()
        mmis = [r[0] for r in s.execute(text("SELECT mmi FROM hazard_event_intensities"))]
    assert len(mmis) == padang_communities and 6.0 <= min(mmis) <= max(mmis) <= 9.0
    assert sorted(mmis)[len(mmis) // 2] >= 7.0  # BMKG model: most of Padang at VII or more


def test_raster_feed_adds_a_layer_version(
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    import numpy as np
    from affine import Affine

    from service.feeds.layers import write_array_cog

    tif = feed_settings.storage.data_dir / "rain.tif"
    rain = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    write_array_cog(rain, Affine(0.1, 0, 106.0, 0, -0.1, -6.0), tif)
    route = Route(tif.read_bytes(), content_type="image/tiff")
    options = {"layer_name": "curah-hujan-24j", "hazard": "flood", "unit": "mm"}
    url = feed_server.set("/rain.tif", route).replace("http://", "http://bpbd:s3cret@")
    feed_id = add_feed("rain", "raster", url, options=options)
    assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    route.body = tif.read_bytes()  # a newer accumulation: same URL, next version
    assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    with session_factory() as s:
        layers = s.scalars(select(HazardLayer).order_by(HazardLayer.version)).all()
    assert [(la.name, la.version, la.hazard, la.unit) for la in layers] == [
        ("curah-hujan-24j", 1, "flood", "mm"),
        ("curah-hujan-24j", 2, "flood", "mm"),
    ]
    newest = layers[1]
    assert "s3cret" not in str(newest.source) and "***:***@127.0.0.1" in str(newest.source)
    assert newest.raster_meta is not None and newest.raster_path is not None
    assert newest.raster_meta["width"] == 30 and newest.raster_meta["stats"]["max"] == 599
    assert (feed_settings.storage.data_dir / newest.raster_path).is_file()
    # A body that is not a GeoTIFF is an error, and no version is added.
    route.body = b"GIF89a not a tiff"
    failed = _poll(session_factory, feed_settings, feed_id)
    assert failed.status == "error" and "GeoTIFF" in (failed.error or "")
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(HazardLayer)) == 2


def test_worker_job_is_registered_and_polls(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    from service.feeds import jobs
    from service.runtime import Runtime
    from service.scheduler import build_scheduler

    rt = Runtime(feed_settings, session_factory.kw["bind"], session_factory)
    scheduler = build_scheduler(rt)
    job = scheduler.get_job(jobs.JOB_ID)
    assert (
        job is not None and job.trigger.interval.total_seconds() == feed_settings.feeds.tick_seconds
    )
    body = (shared_data / "feeds/bmkg/gempaterkini_2023-07-12.json").read_bytes()
    add_feed("bmkg", "bmkg", feed_server.set("/t.json", Route(body)), interval=3600)
    add_feed("off", "bmkg", feed_server.set("/off.json", Route(body)), enabled=False)
    jobs.poll_due(rt)
    jobs.poll_due(rt)  # not due again within its interval
    assert feed_server.count("/t.json") == 1 and feed_server.count("/off.json") == 0
    assert len(_events(session_factory)) == 15


def test_bmkg_feeds_with_different_fields_do_not_flip_flop(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    auto = json.loads((shared_data / "feeds/bmkg/autogempa_2021-10-05.json").read_bytes())
    quake = dict(auto["Infogempa"]["gempa"])
    terkini = {k: v for k, v in quake.items() if k not in ("Dirasakan", "Shakemap")}
    terkini_body = json.dumps({"Infogempa": {"gempa": [terkini]}}).encode()
    a = add_feed("auto", "bmkg", feed_server.set("/auto.json", Route(json.dumps(auto).encode())))
    t = add_feed("terkini", "bmkg", feed_server.set("/terkini.json", Route(terkini_body)))
    for _ in range(2):
        assert _poll(session_factory, feed_settings, a).status == "ok"
        assert _poll(session_factory, feed_settings, t).status == "ok"
    ((_id, *_rest, revision),) = _events(session_factory)
    assert revision == 1
    with session_factory() as s:
        report = s.scalars(select(EventReport)).one()
        assert report.revision == 1 and report.values["mmi"] == 2.0
        assert report.values["properties"]["felt"][0]["place"] == "Dompu"


@pytest.mark.slow  # two worker processes
def test_two_worker_processes_never_poll_one_feed_at_once(
    database_url: str,
    shared_data: Path,
    feed_server: FeedServer,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    body = (shared_data / "feeds/bmkg/autogempa_2021-10-05.json").read_bytes()
    # Slow enough that the two processes' polls overlap.
    feed_id = add_feed("bmkg", "bmkg", feed_server.set("/slow.json", Route(body, delay_s=2.0)))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SIAGA_FEEDS_READ_TIMEOUT_S": "10",
        "SIAGA_FEEDS_ALLOWED_HOSTS": "127.0.0.1",
    }
    cmd = [sys.executable, "-m", "service", "feeds", "poll", str(feed_id)]
    procs = [
        subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    statuses = sorted(json.loads(out.splitlines()[-1])["status"] for out, _ in outputs)
    assert statuses == ["ok", "skipped_locked"], outputs
    assert feed_server.count("/slow.json") == 1
    assert len(_events(session_factory)) == 1


def test_cap_alert_past_its_expiry_is_expired(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    alert = (shared_data / "feeds/cap/bmkg_nowcast_cap_id_CBT20260216004_alert.xml").read_bytes()
    fresh = alert.replace(b"2026-02-17T02:00:00+07:00", b"2099-02-17T02:00:00+07:00")
    feed_id = add_feed("cap", "cap", feed_server.set("/a.xml", Route(fresh, content_type=XML)))
    assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    with session_factory() as s:
        event = s.scalars(select(HazardEvent)).one()
        assert event.status == "active" and event.expires is not None
        assert event.expires.year == 2099 and event.type == "extreme_weather"
        assert event.footprint is not None and event.severity == "Moderate"
    feed_server.routes["/a.xml"].body = alert  # the real sample expired on 17 Feb 2026
    assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    with session_factory() as s:
        event = s.scalars(select(HazardEvent)).one()
        assert event.status == "expired" and event.revision == 2


def test_bmkg_repicked_origin_time_is_a_revision_not_a_new_event(
    shared_data: Path,
    feed_server: FeedServer,
    feed_settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    doc = json.loads((shared_data / "feeds/bmkg/autogempa_2021-10-05.json").read_bytes())
    feed_id = add_feed("bmkg", "bmkg", feed_server.set("/a.json", Route(json.dumps(doc).encode())))
    assert _poll(session_factory, feed_settings, feed_id).status == "ok"
    # BMKG re-picks the origin 3 s later and revises the magnitude; it has no event id.
    doc["Infogempa"]["gempa"].update(
        DateTime="2021-10-05T11:00:30+00:00", Jam="18:00:30 WIB", Magnitude="4.6"
    )
    feed_server.routes["/a.json"].body = json.dumps(doc).encode()
    outcome = _poll(session_factory, feed_settings, feed_id)
    assert outcome.ingest.new_reports == 1 and not outcome.ingest.new_events
    ((_id, _type, time, mag, *_rest, revision),) = _events(session_factory)
    assert (time.second, mag, revision) == (30, 4.6, 2)


def test_every_feed_kind_has_a_handler() -> None:
    from service.feeds.kinds import KINDS
    from service.feeds.models import FEED_KINDS

    assert set(KINDS) == set(FEED_KINDS)
