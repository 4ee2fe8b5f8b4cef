"""Alerts an operator sends by hand: a drill (an Exercise through the whole pipeline) and the
CAP Cancel of an alert thread sent in error."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from service.alerts.creation import AlertRequest, create_alerts
from service.alerts.models import Alert, AlertGroup, AlertRule, AlertWatch
from service.alerts.schemas import DrillIn
from service.db import get_or_404
from service.errors import Conflict, InvalidInput
from service.settings import Settings


def create_drill(
    *, session: Session, settings: Settings, group_id: int, data: DrillIn, now: datetime
) -> Alert:
    """An Exercise alert through the whole pipeline: CAP status Exercise, texts say LATIHAN."""
    group = get_or_404(session, AlertGroup, group_id, f"no group with id {group_id}")
    code = data.community_code or group.community_codes[0]
    if code not in group.community_codes:
        raise InvalidInput(f"community {code} is not covered by group {group_id}")
    request = AlertRequest(
        group=group,
        rule=None,
        hazard=data.hazard,
        community_code=code,
        level=data.level,
        kind="alert",
        source_ref=f"drill:{now.isoformat()}",
        status="Exercise",
        thread=None,
        headline=None,
        trigger=None,
    )
    [(alert, _)] = create_alerts(session=session, settings=settings, requests=[request], now=now)
    return alert


def cancel_alert(*, session: Session, settings: Settings, alert_id: int, now: datetime) -> Alert:
    """Send a CAP Cancel for an alert thread sent in error, and forget the rule's state."""
    target = get_or_404(session, Alert, alert_id, f"no alert with id {alert_id}")
    if target.kind not in ("alert", "update"):
        raise Conflict(f"alert {alert_id} is a {target.kind} message; cancel the alert it follows")
    first = session.get(Alert, target.thread_id or target.id)
    assert first is not None
    if first.closed_at is not None:
        raise Conflict(f"alert {first.id} is closed already (all-clear or cancelled)")
    group = session.get(AlertGroup, target.group_id)
    assert group is not None
    request = AlertRequest(
        group=group,
        rule=session.get(AlertRule, target.rule_id) if target.rule_id else None,
        hazard=target.hazard,
        community_code=target.community_code,
        level=target.level,
        kind="cancel",
        source_ref=f"cancel:{first.id}",
        status=target.status,
        thread=first,
        headline=None,
        trigger=target.trigger,
    )
    [(alert, _)] = create_alerts(session=session, settings=settings, requests=[request], now=now)
    session.execute(
        update(AlertWatch)
        .where(AlertWatch.thread_alert_id == first.id)
        .values(open_level=0, thread_alert_id=None, below_since=None)
    )
    return alert
