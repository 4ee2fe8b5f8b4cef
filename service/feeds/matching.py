"""Which event a new report belongs to.

* A new earthquake report joins an existing earthquake event when all three hold
  (configurable, see docs/feeds.md): origin times within `match_time_s` (90 s), epicentres
  within `match_distance_km` (100 km), magnitudes within `match_magnitude` (0.8). The
  closest candidate in time wins. So BMKG's, USGS's and GDACS's records of one earthquake
  become one event with three linked reports.
* A CAP Update/Cancel joins the event of the alert it references.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm import Session

from service.feeds.models import EventReport, HazardEvent
from service.feeds.parsers.common import Report
from service.settings import FeedSettings

# Sources without stable event ids (their id is the origin time), and how far apart in time
# two of their reports may be and still be one earthquake whose time was re-picked.
SOURCES_WITHOUT_IDS = {"bmkg"}
SAME_SOURCE_REVISION_S = 20.0


def _match_earthquake(session: Session, r: Report, tol: FeedSettings) -> HazardEvent | None:
    if r.lon is None or r.lat is None:
        return None
    point = func.ST_SetSRID(func.ST_MakePoint(r.lon, r.lat), 4326)
    dt = func.abs(func.extract("epoch", HazardEvent.time - r.time))
    q = (
        select(HazardEvent)
        .where(
            HazardEvent.type == "earthquake",
            HazardEvent.time.between(
                r.time - _seconds(tol.match_time_s), r.time + _seconds(tol.match_time_s)
            ),
            func.ST_DWithin(
                func.Geography(HazardEvent.epicentre),
                func.Geography(point),
                tol.match_distance_km * 1000,
            ),
        )
        # Distinct ids of one source are distinct events (two microquakes 4 s apart at
        # The Geysers are two USGS events), so only other sources' events are candidates;
        # except BMKG, whose id is the origin time: a re-picked time is a revision.
        .where(
            or_(
                ~HazardEvent.id.in_(
                    select(EventReport.event_id).where(EventReport.source == r.source)
                ),
                and_(literal(r.source in SOURCES_WITHOUT_IDS), dt <= SAME_SOURCE_REVISION_S),
            )
        )
        .order_by(dt)
        .with_for_update()
    )
    for event in session.scalars(q):
        if r.magnitude is None or event.magnitude is None:
            return event
        if abs(event.magnitude - r.magnitude) <= tol.match_magnitude:
            return event
    return None


def _seconds(s: float) -> timedelta:
    return timedelta(seconds=s)


def find_event(session: Session, r: Report, tol: FeedSettings) -> HazardEvent | None:
    if r.references:
        ref = session.scalars(
            select(EventReport).where(
                EventReport.source == r.source, EventReport.source_id.in_(r.references)
            )
        ).first()
        if ref is not None:
            return session.get(HazardEvent, ref.event_id, with_for_update=True)
    if r.event_type == "earthquake":
        return _match_earthquake(session, r, tol)
    return None
