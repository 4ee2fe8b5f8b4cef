"""Which communities the active hazard events touch, for the layers above feeds (alerts turns
them into signals): earthquakes by the shaking computed at each community, any event with a
footprint (a CAP polygon, an estimated MMI VI area) by the communities it intersects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from service.communities.models import Community, code_in
from service.feeds.models import EventIntensity, HazardEvent


@dataclass(frozen=True)
class EventTouch:
    community_code: str
    province_code: str | None
    event_id: int
    hazard: str
    revision: int
    time: datetime
    title: str | None
    severity: str | None
    alert_level: str | None
    magnitude: float | None
    properties: dict[str, Any]
    # The shaking at the community (earthquakes with computed intensities), else None.
    mmi: float | None


def _active(
    since: datetime, now: datetime, event_ids: list[int] | None
) -> list[ColumnElement[bool]]:
    e = HazardEvent
    out = [
        e.status == "active",
        e.time >= since,
        e.time <= now,
        or_(e.expires.is_(None), e.expires > now),
    ]
    if event_ids is not None:
        out.append(e.id.in_(event_ids))
    return out


def _columns(*extra: Any) -> Select:
    e = HazardEvent
    return select(
        Community.code,
        Community.province_code,
        e.id,
        e.type,
        e.revision,
        e.time,
        e.title,
        e.severity,
        e.alert_level,
        e.magnitude,
        e.properties,
        *extra,
    )


def event_touches(
    session: Session,
    *,
    since: datetime,
    now: datetime,
    event_ids: list[int] | None = None,
    codes: Sequence[str] | None = None,
) -> list[EventTouch]:
    """Active events of [since, now] (not expired at `now`), of the given events only with
    `event_ids`, at the given communities only with `codes`: one row per community with
    computed shaking, then one per community inside a footprint (an earthquake with both
    appears twice, as before)."""
    window = _active(since, now, event_ids)
    if codes is not None:
        window.append(code_in(codes))
    shaken = (
        _columns(EventIntensity.mmi)
        .select_from(EventIntensity)
        .join(HazardEvent, HazardEvent.id == EventIntensity.event_id)
        .join(Community, Community.id == EventIntensity.community_id)
        .where(*window)
    )
    inside = (
        _columns()
        .select_from(HazardEvent)
        .join(
            Community,
            and_(
                HazardEvent.footprint.is_not(None),
                func.ST_Intersects(Community.geom, HazardEvent.footprint),
            ),
        )
        .where(*window)
    )
    rows = [_touch(r, r.mmi) for r in session.execute(shaken)]
    return rows + [_touch(r, None) for r in session.execute(inside)]


def _touch(r: Any, mmi: float | None) -> EventTouch:
    return EventTouch(
        community_code=r.code,
        province_code=r.province_code,
        event_id=r.id,
        hazard=r.type,
        revision=r.revision,
        time=r.time,
        title=r.title,
        severity=r.severity,
        alert_level=r.alert_level,
        magnitude=r.magnitude,
        properties=r.properties,
        mmi=mmi,
    )
