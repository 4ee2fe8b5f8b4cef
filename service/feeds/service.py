"""Feed registry and event read-outs: keyword-only functions the API and CLI call."""

from __future__ import annotations

import re
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.communities.models import Community
from service.errors import Conflict, InvalidInput, NotFound
from service.feeds.guard import literal_refused, mask_url, parse_allowed
from service.feeds.models import EventIntensity, EventReport, EventRevision, Feed, HazardEvent
from service.feeds.schemas import (
    EventPublic,
    EventReportPublic,
    FeedCreate,
    FeedHealth,
    FeedPublic,
    FeedUpdate,
)

# The real public feeds (REFERENCE sections 2-4). Registered disabled: the quick start must
# not depend on reaching them; an operator enables the ones they want.
PUBLIC_FEEDS: list[dict[str, Any]] = [
    {
        "name": "bmkg-autogempa",
        "kind": "bmkg",
        "poll_interval_s": 60,
        "url": "https://data.bmkg.go.id/DataMKG/TEWS/autogempa.json",
    },
    {
        "name": "bmkg-gempaterkini",
        "kind": "bmkg",
        "poll_interval_s": 300,
        "url": "https://data.bmkg.go.id/DataMKG/TEWS/gempaterkini.json",
    },
    {
        "name": "bmkg-gempadirasakan",
        "kind": "bmkg",
        "poll_interval_s": 300,
        "url": "https://data.bmkg.go.id/DataMKG/TEWS/gempadirasakan.json",
    },
    {
        "name": "usgs-4.5-day",
        "kind": "usgs",
        "poll_interval_s": 120,
        "url": "https://earthquake.usgs.gov/earthquakes/feed/v1.0/summary/4.5_day.geojson",
    },
    {
        "name": "gdacs-rss",
        "kind": "gdacs",
        "poll_interval_s": 600,
        "url": "https://www.gdacs.org/xml/rss.xml",
    },
    {
        "name": "bmkg-nowcast-cap-id",
        "kind": "cap",
        "poll_interval_s": 300,
        "url": "https://www.bmkg.go.id/alerts/nowcast/id/rss.xml",
    },
]


# Failures are stored as "<reason>: <detail>" (service.feeds.health); the public sees only
# the reason, never the detail (it can hold response bytes, internal host names, ports).
_REASON = re.compile(r"^(http_\d{3}|[a-z_]{3,32}): ")


def error_reason(text: str | None) -> str | None:
    if not text:
        return None
    m = _REASON.match(text)
    return m.group(1) if m else "error"


def _health(feed: Feed, *, detail: bool) -> FeedHealth:
    return FeedHealth(
        healthy=feed.consecutive_failures == 0,
        last_poll_at=feed.last_poll_at,
        last_success_at=feed.last_success_at,
        last_status=feed.last_status,
        last_error=error_reason(feed.last_error),
        last_error_detail=feed.last_error if detail else None,
        last_error_at=feed.last_error_at,
        last_duration_ms=feed.last_duration_ms,
        consecutive_failures=feed.consecutive_failures,
        events_seen=feed.events_seen,
    )


def feed_public(feed: Feed, *, detail: bool = False) -> FeedPublic:
    """The feed as shown; `detail` (admins only) adds the full error text and the URL as
    stored, credentials included."""
    return FeedPublic(
        id=feed.id,
        name=feed.name,
        kind=feed.kind,
        url=feed.url if detail else mask_url(feed.url),
        poll_interval_s=feed.poll_interval_s,
        enabled=feed.enabled,
        options=feed.options or {},
        health=_health(feed, detail=detail),
        created_at=feed.created_at,
        updated_at=feed.updated_at,
    )


def _get(session: Session, feed_id: int) -> Feed:
    feed = session.get(Feed, feed_id)
    if feed is None:
        raise NotFound(f"feed {feed_id} does not exist; list feeds with GET /api/v1/feeds")
    return feed


def check_url(url: str, allowed_hosts: list[str]) -> None:
    """Refuse at once what the poll would refuse without a network look-up (IP literals,
    localhost); names that resolve to internal addresses are refused when polled."""
    problem = literal_refused(url, parse_allowed(allowed_hosts))
    if problem is not None:
        raise InvalidInput(problem)


def create_feed(
    *, session: Session, spec: FeedCreate, allowed_hosts: list[str] | None = None
) -> Feed:
    if allowed_hosts is not None:
        check_url(str(spec.url), allowed_hosts)
    if session.scalar(select(Feed.id).where(Feed.name == spec.name)) is not None:
        raise Conflict(f"a feed named {spec.name!r} exists already; pick another name or PATCH it")
    feed = Feed(
        name=spec.name,
        kind=spec.kind,
        url=str(spec.url),
        poll_interval_s=spec.poll_interval_s,
        enabled=spec.enabled,
        options=spec.options,
        consecutive_failures=0,
        events_seen=0,
    )
    session.add(feed)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a feed named {spec.name!r} exists already") from exc
    return feed


def update_feed(
    *, session: Session, feed_id: int, spec: FeedUpdate, allowed_hosts: list[str] | None = None
) -> Feed:
    feed = _get(session, feed_id)
    changes = spec.model_dump(exclude_unset=True)
    if allowed_hosts is not None and changes.get("url") is not None:
        check_url(str(changes["url"]), allowed_hosts)
    new_name = changes.get("name")
    taken = select(Feed.id).where(Feed.name == new_name, Feed.id != feed_id)
    if new_name and session.scalar(taken) is not None:
        raise Conflict(f"a feed named {new_name!r} exists already")
    for key, value in changes.items():
        if value is None and key in ("name", "url", "poll_interval_s", "enabled", "options"):
            continue
        if key == "url":
            value = str(value)
            if value != feed.url:  # validators belong to the old URL
                feed.etag = feed.last_modified = None
        setattr(feed, key, value)
    session.flush()
    return feed


def list_feeds(*, session: Session) -> list[Feed]:
    return list(session.scalars(select(Feed).order_by(Feed.id)))


def get_feed(*, session: Session, feed_id: int) -> Feed:
    return _get(session, feed_id)


def register_public_feeds(*, session: Session, enabled: bool = False) -> list[Feed]:
    """Add the real public feeds that are not registered yet (idempotent)."""
    added = []
    for spec in PUBLIC_FEEDS:
        if session.scalar(select(Feed.id).where(Feed.name == spec["name"])) is None:
            added.append(create_feed(session=session, spec=FeedCreate(**spec, enabled=enabled)))
    return added


def get_event(*, session: Session, event_id: int) -> EventPublic:
    event = session.get(HazardEvent, event_id)
    if event is None:
        raise NotFound(f"event {event_id} does not exist; see the OGC collection 'events'")
    point = to_shape(event.epicentre) if event.epicentre is not None else None
    reports = session.scalars(
        select(EventReport).where(EventReport.event_id == event_id).order_by(EventReport.id)
    )
    revisions = session.scalars(
        select(EventRevision)
        .where(EventRevision.event_id == event_id)
        .order_by(EventRevision.revision)
    )
    intensities = session.execute(
        select(
            Community.code,
            Community.name,
            EventIntensity.mmi,
            EventIntensity.method,
            EventIntensity.distance_km,
            EventIntensity.layer_id,
        )
        .join(Community, Community.id == EventIntensity.community_id)
        .where(EventIntensity.event_id == event_id)
        .order_by(EventIntensity.mmi.desc())
    ).all()
    return EventPublic(
        id=event.id,
        type=event.type,
        status=event.status,
        title=event.title,
        time=event.time,
        expires=event.expires,
        magnitude=event.magnitude,
        depth_km=event.depth_km,
        mmi=event.mmi,
        severity=event.severity,
        urgency=event.urgency,
        certainty=event.certainty,
        alert_level=event.alert_level,
        tsunami=event.tsunami,
        lon=point.x if point else None,
        lat=point.y if point else None,
        revision=event.revision,
        primary_source=event.primary_source,
        properties=event.properties or {},
        reports=[
            EventReportPublic(
                source=r.source,
                source_id=r.source_id,
                time=r.time,
                magnitude=r.magnitude,
                lon=r.lon,
                lat=r.lat,
                revision=r.revision,
                feed_id=r.feed_id,
                first_seen=r.first_seen,
                last_seen=r.last_seen,
            )
            for r in reports
        ],
        revisions=[
            {
                "revision": v.revision,
                "source": v.source,
                "source_id": v.source_id,
                "changes": v.changes,
                "recorded_at": v.recorded_at.isoformat(),
            }
            for v in revisions
        ],
        intensities=[
            {"code": c, "name": n, "mmi": m, "method": meth, "distance_km": d, "layer_id": lid}
            for c, n, m, meth, d, lid in intensities
        ],
    )
