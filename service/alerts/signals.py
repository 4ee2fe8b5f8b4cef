"""Signals gathered from the database: current risk levels and recent hazard events.

The risk and feeds domains own those tables; this module only reads them, in SQL, and
returns nothing for a table that does not exist yet (the domains land independently).
Signals may also arrive through `POST /api/v1/alerts/signals`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from service.alerts.rules import Signal
from service.communities.localtime import local_clock, zone_for
from service.settings import Settings


def _have(session: Session, *tables: str) -> bool:
    return all(
        session.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": t}).scalar()
        for t in tables
    )


def risk_signals(
    *, session: Session, settings: Settings, now: datetime, layer_ids: list[int] | None = None
) -> list[Signal]:
    """One signal per community and hazard layer from the current risk scores (of the given
    layers only, when `layer_ids` is given).

    The source is the hazard layer version (a new version is new data; a recompute of the
    same version is not), so an unchanged layer never alerts twice.
    """
    if not _have(session, "risk_scores"):
        return []
    only = "" if layer_ids is None else " AND s.layer_id = ANY(:layers)"
    rows = session.execute(
        text(
            "SELECT c.code, s.hazard, s.layer_id, s.layer_name, s.level, s.score, s.computed_at, "
            "l.title, l.event_id, l.properties ->> 'feed_id' AS feed_id "
            "FROM risk_scores s JOIN communities c ON c.id = s.community_id "
            "JOIN hazard_layers l ON l.id = s.layer_id "
            "WHERE s.superseded_at IS NULL AND s.computed_at <= :now" + only
        ),
        {"now": now, "layers": layer_ids},
    ).all()
    return [
        Signal(
            community_code=r.code,
            hazard=r.hazard,
            source_ref=f"risk:layer:{r.layer_id}",
            observed_at=r.computed_at,
            risk_level=r.level,
            score=r.score,
            # A layer a feed or an event made is an observation; any other is a map.
            basis="feed" if r.event_id is not None or r.feed_id is not None else "map",
            headline=(r.title or r.layer_name)[:120],
        )
        for r in rows
    ]


def feed_signals(
    *, session: Session, settings: Settings, now: datetime, event_ids: list[int] | None = None
) -> list[Signal]:
    """Signals from active hazard events younger than the event window (and not expired):
    earthquakes by the shaking computed at each community, other events by the communities
    their footprint (e.g. a CAP polygon) touches. Only the given events with `event_ids`."""
    if not _have(session, "hazard_events"):
        return []
    since = now - timedelta(hours=settings.alerts.event_window_hours)
    params = {"now": now, "since": since, "events": event_ids}
    window = (
        "e.status = 'active' AND e.time >= :since AND e.time <= :now "
        "AND (e.expires IS NULL OR e.expires > :now)"
    ) + ("" if event_ids is None else " AND e.id = ANY(:events)")
    signals: list[Signal] = []
    if _have(session, "hazard_event_intensities"):
        rows = session.execute(
            text(
                "SELECT c.code, c.province_code, e.id, e.type, e.revision, e.time, e.title, "
                "i.mmi, e.severity, e.alert_level, e.magnitude, e.properties "
                "FROM hazard_event_intensities i "
                "JOIN hazard_events e ON e.id = i.event_id "
                "JOIN communities c ON c.id = i.community_id WHERE " + window
            ),
            params,
        ).all()
        signals += [_event_signal(r, r.mmi, settings) for r in rows]
    rows = session.execute(
        text(
            "SELECT c.code, c.province_code, e.id, e.type, e.revision, e.time, e.title, "
            "e.severity, e.alert_level, e.magnitude, e.properties FROM hazard_events e "
            "JOIN communities c "
            "ON e.footprint IS NOT NULL AND ST_Intersects(c.geom, e.footprint) WHERE " + window
        ),
        params,
    ).all()
    signals += [_event_signal(r, None, settings) for r in rows]
    return signals


def event_reason(
    *,
    hazard: str,
    title: str | None,
    magnitude: float | None,
    properties: dict[str, Any] | None,
    clock: str,
) -> str | None:
    """Why the alert is sent, in a few words: a quake's magnitude, place and local time; a
    CAP warning's event and area; otherwise the event's title."""
    props = properties or {}
    if hazard == "earthquake" and magnitude is not None:
        place = str(props.get("wilayah") or "").strip()
        if not place and title:
            place = re.sub(r"^\S*\s*M\s?[\d.,]+\s*", "", title).strip()
        return " ".join(p for p in (f"Gempa M{magnitude:.1f}", place[:60], clock) if p)
    event = str(props.get("event") or "").strip()
    areas = props.get("area_desc") or []
    if event and isinstance(areas, list) and areas:
        return f"{event[:60]}: {str(areas[0])[:50]}"
    return (title or "")[:120] or None


def _event_signal(r: Row[Any], mmi: float | None, settings: Settings) -> Signal:
    zone = zone_for(r.code, r.province_code, settings.alerts.timezone)
    reason = event_reason(
        hazard=r.type,
        title=r.title,
        magnitude=r.magnitude,
        properties=r.properties,
        clock=local_clock(r.time, zone),
    )
    return Signal(
        community_code=r.code,
        hazard=r.type,
        source_ref=f"event:{r.id}",
        observed_at=r.time,
        mmi=mmi,
        cap_severity=r.severity,
        alert_level=r.alert_level,
        headline=reason[:120] if reason else None,
    )


def parse_refs(payloads: list[str]) -> tuple[list[int], list[int]]:
    """Wake-up payloads ("event:<id>", "layer:<id>") as event ids and layer ids; anything
    else is ignored (a notification is a hint, never trusted input)."""
    events: set[int] = set()
    layers: set[int] = set()
    for payload in payloads:
        kind, _, number = payload.partition(":")
        if not number.isdigit():
            continue
        if kind == "event":
            events.add(int(number))
        elif kind == "layer":
            layers.add(int(number))
    return sorted(events), sorted(layers)


def touched_signals(
    *,
    session: Session,
    settings: Settings,
    now: datetime,
    event_ids: list[int],
    layer_ids: list[int],
) -> list[Signal]:
    """The signals of just these events and hazard layers (an event-driven evaluation)."""
    out: list[Signal] = []
    if event_ids:
        out += feed_signals(session=session, settings=settings, now=now, event_ids=event_ids)
    if layer_ids:
        out += risk_signals(session=session, settings=settings, now=now, layer_ids=layer_ids)
    return out


def gather_signals(*, session: Session, settings: Settings, now: datetime) -> list[Signal]:
    return risk_signals(session=session, settings=settings, now=now) + feed_signals(
        session=session, settings=settings, now=now
    )
