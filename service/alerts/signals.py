"""Signals gathered from the database: current risk levels and recent hazard events.

The risk and feeds domains own those tables; this module reads them through their query
functions (`service.risk.current`, `service.feeds.touches`), typed against their models.
Signals may also arrive through `POST /api/v1/alerts/signals`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from service.alerts.rules import Signal
from service.communities.localtime import local_clock, zone_for
from service.feeds.touches import EventTouch, event_touches
from service.risk.current import current_levels
from service.settings import Settings


def risk_signals(
    *,
    session: Session,
    settings: Settings,
    now: datetime,
    layer_ids: list[int] | None = None,
    codes: Sequence[str] | None = None,
) -> list[Signal]:
    """One signal per community and hazard layer from the current risk scores (of the given
    layers only, when `layer_ids` is given).

    The source is the hazard layer version (a new version is new data; a recompute of the
    same version is not), so an unchanged layer never alerts twice.
    """
    return [
        Signal(
            community_code=r.community_code,
            hazard=r.hazard,
            source_ref=f"risk:layer:{r.layer_id}",
            observed_at=r.computed_at,
            risk_level=r.level,
            score=r.score,
            # A layer a feed or an event made is an observation; any other is a map.
            basis="feed" if r.observed else "map",
            headline=(r.layer_title or r.layer_name)[:120],
        )
        for r in current_levels(session, now=now, layer_ids=layer_ids, codes=codes)
    ]


def feed_signals(
    *,
    session: Session,
    settings: Settings,
    now: datetime,
    event_ids: list[int] | None = None,
    codes: Sequence[str] | None = None,
) -> list[Signal]:
    """Signals from active hazard events younger than the event window (and not expired):
    earthquakes by the shaking computed at each community, other events by the communities
    their footprint (e.g. a CAP polygon) touches. Only the given events with `event_ids`."""
    since = now - timedelta(hours=settings.alerts.event_window_hours)
    touches = event_touches(session, since=since, now=now, event_ids=event_ids, codes=codes)
    return [_event_signal(t, settings) for t in touches]


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


def _event_signal(t: EventTouch, settings: Settings) -> Signal:
    zone = zone_for(t.community_code, t.province_code, settings.alerts.timezone)
    reason = event_reason(
        hazard=t.hazard,
        title=t.title,
        magnitude=t.magnitude,
        properties=t.properties,
        clock=local_clock(t.time, zone),
    )
    return Signal(
        community_code=t.community_code,
        hazard=t.hazard,
        source_ref=f"event:{t.event_id}",
        observed_at=t.time,
        mmi=t.mmi,
        cap_severity=t.severity,
        alert_level=t.alert_level,
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
    codes: Sequence[str] | None = None,
) -> list[Signal]:
    """The signals of just these events and hazard layers (an event-driven evaluation), at
    the given communities only with `codes` (those some rule watches: a national quake
    touches 20,000 desa, of which a few hundred may have a group)."""
    out: list[Signal] = []
    if event_ids:
        out += feed_signals(
            session=session, settings=settings, now=now, event_ids=event_ids, codes=codes
        )
    if layer_ids:
        out += risk_signals(
            session=session, settings=settings, now=now, layer_ids=layer_ids, codes=codes
        )
    return out


def gather_signals(*, session: Session, settings: Settings, now: datetime) -> list[Signal]:
    return risk_signals(session=session, settings=settings, now=now) + feed_signals(
        session=session, settings=settings, now=now
    )
