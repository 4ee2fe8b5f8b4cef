"""Reports in, normalised events out: upsert, cross-source matching, revisions.

* A report is keyed by (source, source_id): re-polling the same content only touches
  `last_seen`; changed content bumps the report's revision.
* A new report joins an existing event as service.feeds.matching decides (the same
  earthquake from another source; the CAP alert an Update/Cancel references); Cancel
  cancels it.
* The event shows the values of its highest-priority report (`SOURCE_PRIORITY`: BMKG is
  Indonesia's official source), with gaps filled from the others. Any change of those
  values increments the event's revision and writes a row of {field: [old, new]}.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import utcnow
from service.feeds import intensity
from service.feeds.matching import find_event
from service.feeds.models import EventReport, EventRevision, HazardEvent
from service.feeds.parsers.common import Report
from service.settings import FeedSettings

SOURCE_PRIORITY = {"bmkg": 0, "shakemap": 1, "inatews": 2, "usgs": 3, "gdacs": 4, "cap": 5}
# Event fields copied from the merged report as they are (no parsing, no geometry).
PLAIN_FIELDS = (
    "magnitude",
    "depth_km",
    "mmi",
    "severity",
    "urgency",
    "certainty",
    "alert_level",
    "tsunami",
)
# Event fields taken from reports; geometry and status are handled separately.
EVENT_FIELDS = ("title", "time", "expires", *PLAIN_FIELDS, "lon", "lat")
# A change of these on an earthquake means the shaking estimate must be redone.
SHAKING_FIELDS = {"magnitude", "depth_km", "lon", "lat", "felt_places"}


@dataclass
class IngestResult:
    new_events: list[int] = field(default_factory=list)
    revised_events: list[int] = field(default_factory=list)
    shaking_changed: list[int] = field(default_factory=list)  # earthquakes to re-estimate
    new_reports: int = 0
    updated_reports: int = 0
    unchanged_reports: int = 0

    @property
    def reports_seen(self) -> int:
        return self.new_reports + self.updated_reports + self.unchanged_reports


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt else None


def report_values(r: Report) -> dict[str, Any]:
    """The normalised content of a report, JSON-safe; its hash detects revisions."""
    return {
        "event_type": r.event_type,
        "title": r.title,
        "time": _iso(r.time),
        "updated": _iso(r.updated),
        "expires": _iso(r.expires),
        "lon": r.lon,
        "lat": r.lat,
        "magnitude": r.magnitude,
        "depth_km": r.depth_km,
        "mmi": r.mmi,
        "severity": r.severity,
        "urgency": r.urgency,
        "certainty": r.certainty,
        "alert_level": r.alert_level,
        "tsunami": r.tsunami,
        "status": r.status,
        "msg_type": r.msg_type,
        "references": r.references,
        "footprint": r.footprint.wkt if r.footprint is not None else None,
        "properties": r.properties,
    }


def content_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def overlay(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """New values over old ones, but a field a feed does not carry keeps its old value.

    BMKG's autogempa, gempaterkini and gempadirasakan describe the same quake with different
    field sets (no Dirasakan in gempaterkini, no Potensi in gempadirasakan): polling them in
    turn must not flip the report back and forth.
    """
    empty: tuple[Any, ...] = (None, [], "", {})
    merged = dict(old)
    for key, value in new.items():
        if key == "properties":
            kept = {k: v for k, v in (value or {}).items() if v not in empty}
            merged[key] = {**(old.get(key) or {}), **kept}
        elif value not in empty:
            merged[key] = value
    return merged


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _footprint(
    values: list[dict[str, Any]], event_type: str, merged: dict[str, Any]
) -> BaseGeometry | None:
    from shapely import wkt

    if (
        event_type == "earthquake"
        and merged.get("magnitude") is not None
        and merged.get("lon") is not None
    ):
        # An earthquake's footprint is where the estimate reaches MMI VI (GDACS's bbox is
        # only a display box); too small a quake has none.
        radius = intensity.radius_for_mmi(
            magnitude=merged["magnitude"], depth_km=merged.get("depth_km"), mmi=6.0
        )
        return intensity.circle(merged["lon"], merged["lat"], radius) if radius > 0 else None
    for v in values:
        if v.get("footprint"):
            return wkt.loads(v["footprint"])
    return None


def _as_multi(geom: BaseGeometry | None) -> MultiPolygon | None:
    if geom is None:
        return None
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    return None


def _felt_places(reports: list[EventReport]) -> list[dict[str, Any]]:
    """BMKG felt reports (Dirasakan) of every BMKG report of the event, whichever is primary
    (a USGS report's `felt` is a count of DYFI replies, not places)."""
    places: list[dict[str, Any]] = []
    for rep in sorted(reports, key=lambda r: r.id or 0):
        felt = (rep.values.get("properties") or {}).get("felt")
        if rep.source == "bmkg" and isinstance(felt, list):
            places.extend(f for f in felt if isinstance(f, dict) and f not in places)
    return places


def _merge(reports: list[EventReport]) -> tuple[dict[str, Any], EventReport, list[dict[str, Any]]]:
    ordered = sorted(
        reports,
        key=lambda rep: (
            SOURCE_PRIORITY.get(rep.source, 99),
            # Newest first: the source's own update time, else when we last saw it (BMKG).
            -(rep.source_updated or rep.last_seen).timestamp(),
        ),
    )
    values = [rep.values for rep in ordered]
    merged: dict[str, Any] = {}
    for name in EVENT_FIELDS:
        merged[name] = next((v.get(name) for v in values if v.get(name) is not None), None)
    if any(v.get("tsunami") is True for v in values):
        merged["tsunami"] = True
    mmis = [v["mmi"] for v in values if v.get("mmi") is not None]
    merged["mmi"] = max(mmis) if mmis else None
    return merged, ordered[0], values


def _status(values: list[dict[str, Any]], merged: dict[str, Any], now: datetime) -> str:
    if any(v.get("msg_type") == "Cancel" for v in values):
        return "cancelled"
    if values and all(str(v.get("status") or "").lower() == "deleted" for v in values):
        return "deleted"
    expires = merged.get("expires")
    if expires and datetime.fromisoformat(expires) < now:
        return "expired"
    return "active"


def refresh_event(
    session: Session, event: HazardEvent, *, source: str, source_id: str, now: datetime
) -> dict[str, list[Any]]:
    """Recompute an event's fields from its reports; returns the changes (none if equal)."""
    reports = list(session.scalars(select(EventReport).where(EventReport.event_id == event.id)))
    merged, primary, values = _merge(reports)
    new: dict[str, Any] = {
        "title": merged["title"],
        "time": datetime.fromisoformat(merged["time"]),
        "expires": datetime.fromisoformat(merged["expires"]) if merged["expires"] else None,
        **{k: merged[k] for k in PLAIN_FIELDS},
        "status": _status(values, merged, now),
        "primary_source": primary.source,
        "primary_source_id": primary.source_id,
    }
    epicentre = (
        Point(merged["lon"], merged["lat"])
        if merged["lon"] is not None and merged["lat"] is not None
        else None
    )
    footprint = _as_multi(_footprint(values, event.type, merged))
    changes: dict[str, list[Any]] = {}
    for name, value in new.items():
        old = getattr(event, name)
        if old != value:
            changes[name] = [old, value]
            setattr(event, name, value)
    old_point = to_shape(event.epicentre) if event.epicentre is not None else None
    if (old_point is None) != (epicentre is None) or (
        old_point is not None
        and epicentre is not None
        and not old_point.equals_exact(epicentre, 1e-9)
    ):
        changes["lon"] = [old_point.x if old_point else None, merged["lon"]]
        changes["lat"] = [old_point.y if old_point else None, merged["lat"]]
        event.epicentre = from_shape(epicentre, srid=4326) if epicentre is not None else None
    old_fp = to_shape(event.footprint) if event.footprint is not None else None
    if (old_fp is None) != (footprint is None) or (
        old_fp is not None and footprint is not None and not old_fp.equals_exact(footprint, 1e-9)
    ):
        changes["footprint"] = ["changed", "changed"]
        event.footprint = from_shape(footprint, srid=4326) if footprint is not None else None
    event.raw = _jsonable(primary.raw)
    event.properties = {
        **(event.properties or {}),
        "sources": sorted({rep.source for rep in reports}),
        **{f"{k}": v for k, v in (primary.values.get("properties") or {}).items()},
    }
    felt_places = _felt_places(reports)
    if felt_places != (event.properties or {}).get("felt_places", []):
        changes["felt_places"] = [event.properties.get("felt_places", []), felt_places]
        event.properties = {**event.properties, "felt_places": felt_places}
    if changes:
        is_new = event.revision == 0
        event.revision = 1 if is_new else event.revision + 1
        session.add(
            EventRevision(
                event_id=event.id,
                revision=event.revision,
                source=source,
                source_id=source_id,
                changes=_jsonable({"created": True} if is_new else changes),
            )
        )
    return changes


def ingest_reports(
    *,
    session: Session,
    reports: list[Report],
    feed_id: int | None,
    tolerances: FeedSettings,
    now: datetime | None = None,
) -> IngestResult:
    """Upsert reports and their events inside the caller's transaction."""
    now = now or utcnow()
    result = IngestResult()
    for r in reports:
        values = _jsonable(report_values(r))
        digest = content_hash(values)
        existing = session.scalars(
            select(EventReport)
            .where(EventReport.source == r.source, EventReport.source_id == r.source_id)
            .with_for_update()
        ).first()
        if existing is not None:
            values = overlay(existing.values, values)
            digest = content_hash(values)
        if existing is not None and existing.content_hash == digest:
            existing.last_seen = now
            result.unchanged_reports += 1
            continue
        if existing is not None:
            event = session.get(HazardEvent, existing.event_id, with_for_update=True)
            assert event is not None
            existing.revision += 1
            report = existing
            result.updated_reports += 1
        else:
            event = find_event(session, r, tolerances)
            if event is None:
                event = HazardEvent(
                    type=r.event_type,
                    status="active",
                    time=r.time,
                    revision=0,
                    primary_source=r.source,
                    primary_source_id=r.source_id,
                    properties={},
                    raw={},
                )
                session.add(event)
                session.flush()
                result.new_events.append(event.id)
            report = EventReport(
                event_id=event.id, source=r.source, source_id=r.source_id, first_seen=now
            )
            session.add(report)
            result.new_reports += 1
        report.feed_id = feed_id
        report.time = r.time
        report.source_updated = r.updated
        report.magnitude = r.magnitude
        report.lon, report.lat = r.lon, r.lat
        report.content_hash = digest
        report.values = values
        report.raw = _jsonable(r.raw)
        report.last_seen = now
        session.flush()
        changes = refresh_event(session, event, source=r.source, source_id=r.source_id, now=now)
        if changes and event.id not in result.new_events and event.id not in result.revised_events:
            result.revised_events.append(event.id)
        shaking = event.id in result.new_events or SHAKING_FIELDS & changes.keys()
        if event.type == "earthquake" and shaking and event.id not in result.shaking_changed:
            result.shaking_changed.append(event.id)
    session.flush()
    return result


def expire_events(*, session: Session, now: datetime | None = None) -> int:
    """Mark active events whose `expires` has passed (CAP nowcasts last a few hours)."""
    now = now or utcnow()
    rows = session.scalars(
        select(HazardEvent).where(HazardEvent.status == "active", HazardEvent.expires < now)
    ).all()
    for event in rows:
        event.status = "expired"
        event.revision += 1
        session.add(
            EventRevision(
                event_id=event.id,
                revision=event.revision,
                source="siaga",
                source_id="expiry",
                changes={"status": ["active", "expired"]},
            )
        )
    return len(rows)
