"""Signals gathered from the database: current risk levels and recent hazard events.

The risk and feeds domains own those tables; this module only reads them. Until their
models are on this branch there is nothing to read, and signals arrive through
`POST /api/v1/alerts/signals` instead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.alerts.rules import Signal
from service.settings import Settings


def risk_signals(*, session: Session, settings: Settings, now: datetime) -> list[Signal]:
    """One signal per community and hazard from the latest risk scores."""
    return []


def feed_signals(*, session: Session, settings: Settings, now: datetime) -> list[Signal]:
    """One signal per community touched by a hazard event younger than the event window."""
    return []


def gather_signals(*, session: Session, settings: Settings, now: datetime) -> list[Signal]:
    return risk_signals(session=session, settings=settings, now=now) + feed_signals(
        session=session, settings=settings, now=now
    )
