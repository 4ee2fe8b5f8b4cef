"""Scheduled alert jobs: plain idempotent functions, safe when several workers run."""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.schedulers.base import BaseScheduler

from service.alerts.escalation import EscalationSummary, escalate_due
from service.alerts.service import EvaluationSummary, evaluate_signals
from service.alerts.signals import gather_signals
from service.db import transaction, try_advisory_xact_lock, utcnow
from service.runtime import Runtime

log = logging.getLogger(__name__)


def evaluate_job(rt: Runtime, now: datetime | None = None) -> EvaluationSummary | None:
    """Gather signals from risk scores and feed events and run every group's rules."""
    now = now or utcnow()
    with transaction(rt.session_factory) as session:
        if not try_advisory_xact_lock(session, "alerts.evaluate"):
            return None  # another worker is on it
        signals = gather_signals(session=session, settings=rt.settings, now=now)
        summary = evaluate_signals(session=session, settings=rt.settings, signals=signals, now=now)
    if summary.alerts_created or summary.all_clears:
        log.info(
            "alerts: %d created, %d all-clear, %d held, %d in cooldown",
            len(summary.alerts_created),
            len(summary.all_clears),
            summary.held,
            summary.suppressed,
        )
    return summary


def escalate_job(rt: Runtime, now: datetime | None = None) -> EscalationSummary | None:
    """Escalate members who have not acknowledged in time (backup messaged, parent told)."""
    now = now or utcnow()
    with transaction(rt.session_factory) as session:
        if not try_advisory_xact_lock(session, "alerts.escalate"):
            return None
        summary = escalate_due(session=session, settings=rt.settings, now=now)
    if summary.escalated:
        log.info(
            "escalation: %d members, %d backups messaged, %d parents told",
            len(summary.escalated),
            summary.backups_messaged,
            summary.parents_told,
        )
    return summary


def register(scheduler: BaseScheduler, rt: Runtime) -> None:
    a = rt.settings.alerts
    scheduler.add_job(
        evaluate_job,
        "interval",
        seconds=a.evaluate_interval_seconds,
        args=[rt],
        id="alerts.evaluate",
        replace_existing=True,
    )
    scheduler.add_job(
        escalate_job,
        "interval",
        seconds=a.escalate_interval_seconds,
        args=[rt],
        id="alerts.escalate",
        replace_existing=True,
    )
