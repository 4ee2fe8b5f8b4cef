"""Event ingest rules without HTTP: CAP updates, USGS deletions, far-apart reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.feeds.events import ingest_reports
from service.feeds.models import EventReport, EventRevision, HazardEvent
from service.feeds.parsers import cap, usgs
from service.feeds.parsers.common import Report
from service.settings import FeedSettings

TOL = FeedSettings()


def _ingest(sf: sessionmaker[Session], reports: list) -> None:
    with sf() as s, s.begin():
        ingest_reports(session=s, reports=reports, feed_id=None, tolerances=TOL)


def test_cap_update_joins_the_alert_and_takes_its_values(
    shared_data: Path, session_factory: sessionmaker[Session]
) -> None:
    body = (shared_data / "feeds/cap/bmkg_nowcast_cap_id_CGT20260924002_alert.xml").read_bytes()
    _ingest(session_factory, [cap.parse_alert(body)])
    update = (
        body.replace(b"2.49.0.1.360.0.2026.09.24.07.75.002</identifier>", b"UPD-1</identifier>")
        .replace(b"<msgType>Alert</msgType>", b"<msgType>Update</msgType>")
        .replace(b"<severity>Moderate</severity>", b"<severity>Severe</severity>")
        .replace(
            b"<sent>2026-09-24T15:07:00+08:00</sent>", b"<sent>2026-09-24T16:07:00+08:00</sent>"
        )
        .replace(
            b"<scope>Public</scope>",
            b"<scope>Public</scope><references>cuaca.ekstrem@bmkg.go.id,"
            b"2.49.0.1.360.0.2026.09.24.07.75.002,2026-09-24T15:07:00+08:00</references>",
        )
    )
    _ingest(session_factory, [cap.parse_alert(update)])
    with session_factory() as s:
        event = s.scalars(select(HazardEvent)).one()
        assert event.severity == "Severe" and event.primary_source_id == "UPD-1"
        assert event.revision == 2
        assert s.scalar(select(func.count()).select_from(EventReport)) == 2
        change = s.scalars(select(EventRevision).where(EventRevision.revision == 2)).one()
        assert change.changes["severity"] == ["Moderate", "Severe"]


def test_usgs_deleted_event_is_marked_deleted(
    shared_data: Path, session_factory: sessionmaker[Session]
) -> None:
    doc = json.loads((shared_data / "feeds/usgs/usgs_summary_all_hour_2017.geojson").read_bytes())
    _ingest(session_factory, usgs.parse(json.dumps(doc).encode()))
    gone = copy.deepcopy(doc)
    gone["features"][0]["properties"].update(status="deleted", updated=1512343999000)
    _ingest(session_factory, usgs.parse(json.dumps(gone).encode()))
    with session_factory() as s:
        statuses = dict(s.execute(select(HazardEvent.primary_source_id, HazardEvent.status)).all())
    assert statuses["nc72934355"] == "deleted"
    assert sorted(set(statuses.values())) == ["active", "deleted"] and len(statuses) == 8


def test_same_time_far_apart_are_two_events(
    shared_data: Path, session_factory: sessionmaker[Session]
) -> None:
    """A GDACS report of the same second but 1,000 km away is another earthquake."""
    reports = usgs.parse(
        (shared_data / "feeds/usgs/usgs_summary_4.5_week_2020.geojson").read_bytes()
    )
    (ternate,) = [r for r in reports if r.source_id == "us6000c60p"]
    far = Report(
        source="gdacs",
        source_id="EQ1",
        event_type="earthquake",
        time=ternate.time,
        lon=118.0,
        lat=-2.0,
        magnitude=5.0,
    )  # Makassar Strait
    near = Report(
        source="gdacs",
        source_id="EQ2",
        event_type="earthquake",
        time=ternate.time,
        lon=127.3,
        lat=0.8,
        magnitude=5.1,
    )
    _ingest(session_factory, [ternate, far, near])
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(HazardEvent)) == 2
        linked = s.scalars(
            select(EventReport.source_id).where(
                EventReport.event_id
                == select(EventReport.event_id)
                .where(EventReport.source_id == "us6000c60p")
                .scalar_subquery()
            )
        )
        assert sorted(linked) == ["EQ2", "us6000c60p"]
