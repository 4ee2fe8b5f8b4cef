"""Alerts under /api/v1/alerts: signals to evaluate now, the alert list and detail, cancel.
Thin: every route calls a service function; writes go through `AuditDep`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from service.alerts import readouts
from service.alerts.drills import cancel_alert
from service.alerts.evaluation import evaluate_signals
from service.alerts.models import Alert
from service.alerts.rules import Signal
from service.alerts.schemas import AlertDetail, AlertSummary, EvaluationOut, SignalIn
from service.api.deps import (
    AuditDep,
    CoordinatorDep,
    IdPath,
    OptionalIdQuery,
    PrincipalDep,
    SessionDep,
    SettingsDep,
)
from service.db import get_or_404, utcnow

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.post("/alerts/signals", response_model=EvaluationOut)
def post_signals(
    signals: list[SignalIn],
    session: SessionDep,
    settings: SettingsDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> EvaluationOut:
    """Evaluate signals (e.g. a level raised by hand, or another system's feed) against
    every group's rules now, exactly as the scheduled job does with risk and feed data.
    Not for keys bound to groups (the signals reach every group)."""
    principal.check_unbound("post signals (they reach every group's rules)")
    now = utcnow()
    sigs = [Signal(**{**s.model_dump(), "observed_at": s.observed_at or now}) for s in signals]
    summary = evaluate_signals(session=session, settings=settings, signals=sigs, now=now)
    details = {
        "signals": [s.model_dump(mode="json") for s in signals][:50],
        "alerts_created": summary.alerts_created,
    }
    write.commit("alerts.signals", None, details)
    return EvaluationOut(
        alerts_created=summary.alerts_created,
        held=summary.held,
        suppressed=summary.suppressed,
        all_clears=summary.all_clears,
        notices_created=summary.notices_created,
    )


@router.get("/alerts", response_model=list[AlertSummary])
def list_alerts(
    session: SessionDep,
    group_id: OptionalIdQuery = None,
    since: Annotated[datetime | None, Query(description="sent at or after (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    return readouts.list_alerts(
        session=session, group_id=group_id, limit=limit, offset=offset, since=since
    )


@router.get("/alerts/{alert_id}", response_model=AlertDetail, response_model_exclude_unset=True)
def get_alert(alert_id: IdPath, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """Per recipient: channel, status history, provider id, acknowledgement, escalation.
    Names and phone numbers for responder and admin keys and keys bound to the alert's group."""
    alert = get_or_404(session, Alert, alert_id, f"no alert with id {alert_id}")
    return readouts.alert_detail(
        session=session, alert_id=alert_id, include_pii=principal.sees_people(alert.group_id)
    )


@router.post(
    "/alerts/{alert_id}/cancel",
    status_code=201,
    response_model=AlertDetail,
    response_model_exclude_unset=True,
)
def cancel(
    alert_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> dict[str, Any]:
    """Send a CAP Cancel (and a DIBATALKAN message) for an alert sent in error."""
    target = get_or_404(session, Alert, alert_id, f"no alert with id {alert_id}")
    principal.check_group(target.group_id)
    alert = cancel_alert(session=session, settings=settings, alert_id=alert_id, now=utcnow())
    write.commit("alerts.cancel", f"alert:{alert_id}", {"cancel_alert_id": alert.id})
    return readouts.alert_detail(
        session=session, alert_id=alert.id, include_pii=principal.sees_people(alert.group_id)
    )
