"""Evaluation: run every rule over its group's signals, then create what the rules decided.

Decisions come from the pure `rules.evaluate`; the alerts they call for are created together
(`creation.create_alerts`: a few statements for the whole evaluation, not a few per alert),
and the rules' watch states are loaded and saved in one statement each.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from service.alerts.creation import AlertRequest, create_alerts
from service.alerts.models import Alert, AlertGroup, AlertRule, AlertWatch
from service.alerts.rules import (
    Decision,
    RuleConfig,
    Signal,
    WatchState,
    evaluate,
    firing,
    in_quiet_hours,
)
from service.db import advisory_lock_key, advisory_xact_locks, try_advisory_xact_locks
from service.settings import Settings

WatchKey = tuple[str, str]  # (hazard, community code)
_STATE_FIELDS = (
    "open_level",
    "thread_alert_id",
    "last_alert_at",
    "last_alert_level",
    "last_source_ref",
    "below_since",
)


@dataclass
class EvaluationSummary:
    alerts_created: list[int] = field(default_factory=list)
    all_clears: list[int] = field(default_factory=list)
    held: int = 0
    suppressed: int = 0
    skipped_rules: list[int] = field(default_factory=list)  # another worker held the lock
    notices_created: list[int] = field(default_factory=list)  # preparedness, from maps

    def add(self, other: EvaluationSummary) -> None:
        self.alerts_created += other.alerts_created
        self.all_clears += other.all_clears
        self.held += other.held
        self.suppressed += other.suppressed
        self.skipped_rules += other.skipped_rules
        self.notices_created += other.notices_created


def rule_config(rule: AlertRule) -> RuleConfig:
    return RuleConfig(
        hazards=tuple(rule.hazards),
        trigger=rule.trigger,
        threshold=rule.threshold,
        cooldown=timedelta(minutes=rule.cooldown_minutes),
        quiet_start=rule.quiet_start,
        quiet_end=rule.quiet_end,
        timezone=rule.timezone,
        quiet_bypass_level=rule.quiet_bypass_level,
        all_clear_after=timedelta(minutes=rule.all_clear_after_minutes),
    )


def by_community(signals: list[Signal]) -> dict[str, list[Signal]]:
    grouped: dict[str, list[Signal]] = {}
    for signal in signals:
        grouped.setdefault(signal.community_code, []).append(signal)
    return grouped


def watching_rules(session: Session) -> list[tuple[int, list[str]]]:
    """Each enabled rule's id with its group's community codes, in rule order."""
    rows = session.execute(
        select(AlertRule.id, AlertGroup.community_codes)
        .join(AlertGroup, AlertGroup.id == AlertRule.group_id)
        .where(AlertRule.enabled.is_(True))
        .order_by(AlertRule.id)
    )
    return [(int(rule_id), list(codes)) for rule_id, codes in rows]


def rules_touching(watching: list[tuple[int, list[str]]], codes: Collection[str]) -> list[int]:
    """Ids of the rules (of `watching_rules`) whose group covers one of these communities."""
    wanted = set(codes)
    return [rule_id for rule_id, group_codes in watching if not wanted.isdisjoint(group_codes)]


def _enabled_rules(
    session: Session, rule_ids: list[int] | None
) -> list[tuple[AlertRule, AlertGroup]]:
    q = (
        select(AlertRule, AlertGroup)
        .join(AlertGroup, AlertGroup.id == AlertRule.group_id)
        .where(AlertRule.enabled.is_(True))
        .order_by(AlertRule.id)
    )
    if rule_ids is not None:
        q = q.where(AlertRule.id.in_(rule_ids))
    return [(rule, group) for rule, group in session.execute(q)]


def evaluate_signals(
    *, session: Session, settings: Settings, signals: list[Signal], now: datetime
) -> EvaluationSummary:
    """Run every enabled rule over the signals of its group's communities and act on it."""
    summary = EvaluationSummary()
    rules = _enabled_rules(session, None)
    # Two workers may evaluate at once; each rule's state is advanced by one of them.
    keys = {advisory_lock_key("alerts.rule", rule.id): rule.id for rule, _ in rules}
    taken = try_advisory_xact_locks(session, list(keys))
    summary.skipped_rules = [rule_id for key, rule_id in keys.items() if key not in taken]
    mine = [(rule, group) for rule, group in rules if rule.id not in summary.skipped_rules]
    evaluate_rules(
        session=session,
        settings=settings,
        rules=mine,
        signals=by_community(signals),
        now=now,
        summary=summary,
    )
    session.flush()
    return summary


def evaluate_touched_rules(
    *,
    session: Session,
    settings: Settings,
    rule_ids: list[int],
    signals: dict[str, list[Signal]],
    now: datetime,
) -> EvaluationSummary:
    """Evaluate some rules over the signals of some events only (an event-driven evaluation);
    `signals` by community code (`by_community`).

    Waits for the rules' locks (a running interval evaluation may hold them; its snapshot may
    predate these signals), and judges only the watches these signals name: a watch they do
    not name is not "below" just because this evaluation did not look at it.
    """
    summary = EvaluationSummary()
    ordered = sorted(rule_ids)
    if not ordered:
        return summary
    keys = [advisory_lock_key("alerts.rule", rule_id) for rule_id in ordered]
    advisory_xact_locks(session, keys)
    evaluate_rules(
        session=session,
        settings=settings,
        rules=_enabled_rules(session, ordered),
        signals=signals,
        now=now,
        summary=summary,
        partial=True,
    )
    session.flush()
    return summary


@dataclass
class _Pending:
    """What one rule decided: the alerts to create and the states to store after."""

    rule: AlertRule
    requests: list[tuple[AlertRequest, Decision | None]] = field(default_factory=list)
    states: dict[WatchKey, WatchState] = field(default_factory=dict)
    before: dict[WatchKey, WatchState] = field(default_factory=dict)


def evaluate_rules(
    *,
    session: Session,
    settings: Settings,
    rules: Sequence[tuple[AlertRule, AlertGroup]],
    signals: dict[str, list[Signal]],
    now: datetime,
    summary: EvaluationSummary,
    partial: bool = False,
) -> None:
    """Rules over their groups' signals: alerts, updates, all-clears and notices created
    together, states saved together. The caller holds the rules' locks."""
    states = _load_states(session, [rule.id for rule, _ in rules])
    threads = _threads(session, states)
    pending = []
    for rule, group in rules:
        one = _decide(rule, group, signals, states.get(rule.id, {}), threads, now, summary, partial)
        pending.append(one)
    requests = [request for one in pending for request, _ in one.requests]
    results = iter(create_alerts(session=session, settings=settings, requests=requests, now=now))
    changed: list[tuple[int, WatchKey, WatchState]] = []
    for one in pending:
        for _, decision in one.requests:
            alert, created = next(results)
            if decision is None:  # a preparedness notice
                if created:
                    summary.notices_created.append(alert.id)
            elif decision.kind == "all_clear":
                summary.all_clears.append(alert.id)
            else:
                summary.alerts_created.append(alert.id)
                key = (decision.hazard, decision.community_code)
                thread = decision.thread_alert_id if decision.kind == "update" else alert.id
                one.states[key] = replace(one.states[key], thread_alert_id=thread)
        changed += [
            (one.rule.id, key, state)
            for key, state in one.states.items()
            if one.before.get(key) != state
        ]
    _save_states(session, changed)


def _decide(
    rule: AlertRule,
    group: AlertGroup,
    by_code: dict[str, list[Signal]],
    states: dict[WatchKey, WatchState],
    threads: dict[int, Alert],
    now: datetime,
    summary: EvaluationSummary,
    partial: bool,
) -> _Pending:
    """One rule over its group's signals: what to create, and the states to store after."""
    mine = [s for code in group.community_codes for s in by_code.get(code, ())]
    # A hazard map says where danger can be, not that it is here: never a warning.
    maps = [s for s in mine if s.basis == "map"]
    mine = [s for s in mine if s.basis != "map"]
    status = "Exercise" if rule.drill else "Actual"
    out = _Pending(rule=rule)
    config = rule_config(rule)
    if rule.map_notice and maps:
        out.requests += _preparedness_requests(rule, group, config, maps, now, summary, status)
    if partial:
        named = {(s.hazard, s.community_code) for s in mine}
        states = {k: v for k, v in states.items() if k in named}
    result = evaluate(rule=config, signals=mine, states=states, now=now)
    out.before, out.states = states, result.states
    for decision in result.decisions:
        if decision.kind == "held":
            summary.held += 1
        elif decision.kind == "cooldown":
            summary.suppressed += 1
        elif decision.kind in ("alert", "update", "all_clear"):
            thread = threads.get(decision.thread_alert_id or -1)
            out.requests.append((_request(rule, group, decision, thread, status), decision))
    return out


def _preparedness_requests(
    rule: AlertRule,
    group: AlertGroup,
    config: RuleConfig,
    maps: list[Signal],
    now: datetime,
    summary: EvaluationSummary,
    status: str,
) -> list[tuple[AlertRequest, Decision | None]]:
    """One preparedness notice per map version and community at or above the threshold.

    Idempotent on the layer version (its source_ref): a recompute never sends it again, a new
    version of the map does. Held in quiet hours; nothing here is urgent.
    """
    out: list[tuple[AlertRequest, Decision | None]] = []
    for (hazard, code), (signal, level) in sorted(firing(config, maps).items()):
        if in_quiet_hours(config, now):
            summary.held += 1
            continue
        request = AlertRequest(
            group=group,
            rule=rule,
            hazard=hazard,
            community_code=code,
            level=level,
            kind="preparedness",
            source_ref=signal.source_ref,
            status=status,
            thread=None,
            headline=signal.headline,
            trigger=rule.trigger,
        )
        out.append((request, None))
    return out


def _request(
    rule: AlertRule, group: AlertGroup, decision: Decision, thread: Alert | None, status: str
) -> AlertRequest:
    if decision.kind == "all_clear":
        level = thread.level if thread is not None else 0
        source_ref = f"all_clear:{thread.id if thread else 'none'}"
    else:
        level = decision.level
        source_ref = decision.signal.source_ref if decision.signal else "unknown"
    return AlertRequest(
        group=group,
        rule=rule,
        hazard=decision.hazard,
        community_code=decision.community_code,
        level=level,
        kind=decision.kind,
        source_ref=source_ref,
        status=status,
        thread=thread,
        headline=decision.signal.headline if decision.signal else None,
        trigger=rule.trigger,
    )


def _load_states(session: Session, rule_ids: list[int]) -> dict[int, dict[WatchKey, WatchState]]:
    """Per rule: its watch states by (hazard, community code)."""
    out: dict[int, dict[WatchKey, WatchState]] = {rule_id: {} for rule_id in rule_ids}
    if not rule_ids:
        return out
    columns = [getattr(AlertWatch, f) for f in _STATE_FIELDS]
    rows = session.execute(
        select(AlertWatch.rule_id, AlertWatch.hazard, AlertWatch.community_code, *columns).where(
            AlertWatch.rule_id.in_(rule_ids)
        )
    )
    for rule_id, hazard, code, *state in rows:
        out[rule_id][(hazard, code)] = WatchState(**dict(zip(_STATE_FIELDS, state, strict=True)))
    return out


def _threads(session: Session, states: dict[int, dict[WatchKey, WatchState]]) -> dict[int, Alert]:
    """The open threads' first alerts (an update or all-clear continues one), by id."""
    ids = {s.thread_alert_id for by_key in states.values() for s in by_key.values()}
    ids.discard(None)
    if not ids:
        return {}
    return {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(ids)))}


@functools.cache
def _upsert_states() -> Any:
    upsert = pg_insert(AlertWatch)
    return upsert.on_conflict_do_update(
        index_elements=["rule_id", "hazard", "community_code"],
        set_={f: upsert.excluded[f] for f in _STATE_FIELDS},
    )


def _save_states(session: Session, changed: list[tuple[int, WatchKey, WatchState]]) -> None:
    if not changed:
        return
    rows = [
        {
            "rule_id": rule_id,
            "hazard": hazard,
            "community_code": code,
            **{f: getattr(state, f) for f in _STATE_FIELDS},
        }
        for rule_id, (hazard, code), state in changed
    ]
    # executemany of one statement built once: a VALUES list of this evaluation's rows was
    # a new statement to compile each time, which cost more than the whole upsert.
    session.execute(_upsert_states(), rows)
    # Rows another part of this session loaded are stale now: read them again when used.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, AlertWatch):
            session.expire(obj)
