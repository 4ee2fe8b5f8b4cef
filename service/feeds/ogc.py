"""The OGC API collection `events`: hazard events with their footprint (or epicentre)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Float, FromClause, func, select

from service.feeds.models import EVENT_STATUSES, HazardEvent
from service.feeds.parsers.common import EVENT_TYPES
from service.ogc_collections import Collection, Filter


def _events_source() -> FromClause:
    e = HazardEvent
    return (
        select(
            e.id.label("id"),
            e.type.label("type"),
            e.status.label("status"),
            e.title.label("title"),
            e.time.label("time"),
            e.expires.label("expires"),
            e.magnitude.label("magnitude"),
            e.depth_km.label("depth_km"),
            e.mmi.label("mmi"),
            e.severity.label("severity"),
            e.urgency.label("urgency"),
            e.certainty.label("certainty"),
            e.alert_level.label("alert_level"),
            e.tsunami.label("tsunami"),
            e.primary_source.label("source"),
            e.revision.label("revision"),
            func.ST_X(e.epicentre).label("epicentre_lon"),
            func.ST_Y(e.epicentre).label("epicentre_lat"),
            e.properties["shaking_layer_id"].astext.cast(Float).label("shaking_layer_id"),
            # The footprint where one is known (CAP area, MMI VI estimate), else the epicentre.
            func.coalesce(e.footprint, e.epicentre).label("geom"),
        )
        .where(func.coalesce(e.footprint, e.epicentre).is_not(None))
        .subquery("ogc_events")
    )


def _min_magnitude(source: FromClause, values: list[Any]) -> ColumnElement[bool]:
    return source.c.magnitude >= max(float(v) for v in values)


EVENTS = Collection(
    id="events",
    title="Kejadian bahaya (hazard events)",
    description=(
        "Kejadian bahaya dari umpan BMKG, USGS, GDACS dan CAP: gempa (episentrum, area MMI VI "
        "perkiraan), peringatan cuaca (area CAP) dan lainnya. Hazard events from the BMKG, "
        "USGS, GDACS and CAP feeds: geometry is the footprint when known (CAP area, estimated "
        "MMI VI area of an earthquake, GDACS box), else the epicentre; datetime filters on "
        "the event time."
    ),
    source=_events_source,
    id_column="id",
    properties=(
        "type",
        "status",
        "title",
        "time",
        "expires",
        "magnitude",
        "depth_km",
        "mmi",
        "severity",
        "urgency",
        "certainty",
        "alert_level",
        "tsunami",
        "source",
        "revision",
        "epicentre_lon",
        "epicentre_lat",
        "shaking_layer_id",
    ),
    time_column="time",
    filters=(
        Filter(name="type", column="type", enum=EVENT_TYPES, description="event type"),
        Filter(name="status", column="status", enum=EVENT_STATUSES, description="event status"),
        Filter(name="source", column="source", description="primary source: bmkg, usgs, ..."),
        Filter(
            name="min_magnitude",
            type="number",
            where=_min_magnitude,
            description="only events of at least this magnitude",
        ),
    ),
    keywords=("gempa", "earthquake", "BMKG", "USGS", "GDACS", "CAP", "events"),
)

COLLECTIONS = (EVENTS,)
