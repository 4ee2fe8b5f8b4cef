"""Scheduled alert jobs: plain idempotent functions, safe when several workers run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from apscheduler.schedulers.base import BaseScheduler

from service.alerts.escalation import EscalationSummary, escalate_due
from service.alerts.evaluation import (
    EvaluationSummary,
    by_community,
    evaluate_signals,
    evaluate_touched_rules,
    rules_touching,
    watching_rules,
)
from service.alerts.signals import gather_signals, parse_refs, touched_signals
from service.db import transaction, try_advisory_xact_lock, utcnow
from service.runtime import Runtime

log = logging.getLogger(__name__)
RULES_PER_COMMIT = 10


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


def evaluate_touched(
    rt: Runtime,
    payloads: list[str],
    now: datetime | None = None,
    first_out: Callable[[], None] | None = None,
) -> EvaluationSummary:
    """The event-driven evaluation: the rules of the communities that these events' signals
    touch, one transaction per rule, so the first group's alert and outbox rows are committed
    (and its messages on their way) while the next rules are evaluated, on
    `evaluate_threads` connections at once.

    Every worker that hears a wake-up may run this for the same events; each rule's state is
    advanced under its lock and alerts are unique on their dedupe key, so each alert is made
    once. Payloads name events ("event:<id>") and hazard layers ("layer:<id>").
    `first_out` is called once the first rule's alerts are committed.
    """
    now = now or utcnow()
    event_ids, layer_ids = parse_refs(payloads)
    total = EvaluationSummary()
    if not event_ids and not layer_ids:
        return total
    with rt.session_factory() as session:
        watching = watching_rules(session)
        signals = touched_signals(
            session=session,
            settings=rt.settings,
            now=now,
            event_ids=event_ids,
            layer_ids=layer_ids,
            codes=sorted({code for _, codes in watching for code in codes}),
        )
        grouped = by_community(signals)
        rule_ids = rules_touching(watching, grouped)

    def batch(ids: list[int]) -> EvaluationSummary:
        with transaction(rt.session_factory) as session:
            return evaluate_touched_rules(
                session=session, settings=rt.settings, rule_ids=ids, signals=grouped, now=now
            )

    # The first rule commits alone and before the others start (the first messages leave at
    # once), then a few rules per commit (each commit waits for the disk), several at once.
    summaries = [batch(rule_ids[:1])] if rule_ids else []
    if first_out is not None:
        first_out()
    batches = [
        rule_ids[i : i + RULES_PER_COMMIT] for i in range(1, len(rule_ids), RULES_PER_COMMIT)
    ]
    threads = min(rt.settings.alerts.evaluate_threads, max(1, len(batches)))
    with ThreadPoolExecutor(threads, thread_name_prefix="siaga-evaluate") as pool:
        summaries += pool.map(batch, batches)
        for summary in summaries:
            total.add(summary)
    if total.alerts_created:
        log.info(
            "alerts (event-driven, %s): %d created, %d held, %d in cooldown",
            ",".join(payloads)[:200],
            len(total.alerts_created),
            total.held,
            total.suppressed,
        )
    return total


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
        # The safety net runs once at start: whatever was notified while no worker listened.
        next_run_time=utcnow(),
    )
    scheduler.add_job(
        escalate_job,
        "interval",
        seconds=a.escalate_interval_seconds,
        args=[rt],
        id="alerts.escalate",
        replace_existing=True,
    )
