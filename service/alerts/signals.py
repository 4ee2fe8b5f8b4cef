"""Signals gathered from the database: current risk levels and recent hazard events.

The risk and feeds domains own those tables; this module only reads them, in SQL, and
returns nothing for a table that does not exist yet (the domains land independently).
Signals may also arrive through `POST /api/v1/alerts/signals`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from service.alerts.rules import Signal
from service.settings import Settings


def _have(session: Session, *tables: str) -> bool:
    return all(
        session.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": t}).scalar()
        for t in tables
    )


def risk_signals(*, session: Session, settings: Settings, now: datetime) -> list[Signal]:
    """One signal per community and hazard layer from the current risk scores.

    The source is the hazard layer version (a new version is new data; a recompute of the
    same version is not), so an unchanged layer never alerts twice.
    """
    if not _have(session, "risk_scores"):
        return []
    rows = session.execute(
        text(
            "SELECT c.code, s.hazard, s.layer_id, s.layer_name, s.level, s.score, s.computed_at "
            "FROM risk_scores s JOIN communities c ON c.id = s.community_id "
            "WHERE s.superseded_at IS NULL AND s.computed_at <= :now"
        ),
        {"now": now},
    ).all()
    return [
        Signal(
            community_code=r.code,
            hazard=r.hazard,
            source_ref=f"risk:layer:{r.layer_id}",
            observed_at=r.computed_at,
            risk_level=r.level,
            score=r.score,
        )
        for r in rows
    ]


def feed_signals(*, session: Session, settings: Settings, now: datetime) -> list[Signal]:
    """Signals from active hazard events younger than the event window (and not expired):
    earthquakes by the shaking computed at each community, other events by the communities
    their footprint (e.g. a CAP polygon) touches."""
    if not _have(session, "hazard_events"):
        return []
    since = now - timedelta(hours=settings.alerts.event_window_hours)
    params = {"now": now, "since": since}
    window = (
        "e.status = 'active' AND e.time >= :since AND e.time <= :now "
        "AND (e.expires IS NULL OR e.expires > :now)"
    )
    signals: list[Signal] = []
    if _have(session, "hazard_event_intensities"):
        rows = session.execute(
            text(
                "SELECT c.code, e.id, e.type, e.revision, e.time, e.title, i.mmi, e.severity, "
                "e.alert_level FROM hazard_event_intensities i "
                "JOIN hazard_events e ON e.id = i.event_id "
                "JOIN communities c ON c.id = i.community_id WHERE " + window
            ),
            params,
        ).all()
        signals += [_event_signal(r, r.mmi) for r in rows]
    rows = session.execute(
        text(
            "SELECT c.code, e.id, e.type, e.revision, e.time, e.title, e.severity, e.alert_level "
            "FROM hazard_events e JOIN communities c "
            "ON e.footprint IS NOT NULL AND ST_Intersects(c.geom, e.footprint) WHERE " + window
        ),
        params,
    ).all()
    signals += [_event_signal(r, None) for r in rows]
    return signals


def _event_signal(r: Row[Any], mmi: float | None) -> Signal:
    return Signal(
        community_code=r.code,
        hazard=r.type,
        source_ref=f"event:{r.id}",
        observed_at=r.time,
        mmi=mmi,
        cap_severity=r.severity,
        alert_level=r.alert_level,
        headline=(r.title or "")[:120] or None,
    )


def gather_signals(*, session: Session, settings: Settings, now: datetime) -> list[Signal]:
    return risk_signals(session=session, settings=settings, now=now) + feed_signals(
        session=session, settings=settings, now=now
    )
