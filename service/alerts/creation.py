"""Alert creation, set-based: every alert an evaluation decided on, their recipients and outbox
rows in a handful of statements, however many groups fire at once.

Each alert is created once: unique on its dedupe key (group, hazard, community, source,
level, kind, status), inserted with ON CONFLICT DO NOTHING, so a worker that races another
one uses the other's alert and fans nothing out. Everything is written in the caller's
transaction: an alert never exists without its deliveries.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from service.alerts.fanout import fan_out_many
from service.alerts.models import Alert, AlertGroup, AlertRule
from service.db import advisory_lock_key, advisory_xact_locks
from service.settings import Settings

MSG_TYPE = {
    "alert": "Alert",
    "update": "Update",
    "all_clear": "Update",
    "cancel": "Cancel",
    "preparedness": "Alert",
}


@dataclass(frozen=True)
class AlertRequest:
    """One alert to create (if its dedupe key is new) and fan out to its group."""

    group: AlertGroup
    rule: AlertRule | None
    hazard: str
    community_code: str
    level: int
    kind: str
    source_ref: str
    status: str
    thread: Alert | None
    headline: str | None
    trigger: str | None

    @property
    def dedupe_key(self) -> str:
        # A preparedness notice is sent once per map version and community, whatever its level.
        key_level = 0 if self.kind == "preparedness" else self.level
        return dedupe_key(
            self.group.id,
            self.hazard,
            self.community_code,
            self.source_ref,
            key_level,
            self.kind,
            self.status,
        )

    @property
    def thread_first(self) -> int | None:
        """The first alert of the thread this one continues (None: it starts one)."""
        return (self.thread.thread_id or self.thread.id) if self.thread is not None else None


def dedupe_key(
    group_id: int,
    hazard: str,
    community_code: str,
    source_ref: str,
    level: int,
    kind: str,
    status: str,
) -> str:
    return f"{group_id}:{hazard}:{community_code}:{source_ref}:{level}:{kind}:{status}"


def ack_minutes(settings: Settings, rule: AlertRule | None, level: int) -> float:
    if rule is not None and str(level) in (rule.ack_minutes or {}):
        return float(rule.ack_minutes[str(level)])
    a = settings.alerts
    return {1: a.ack_minutes_waspada, 2: a.ack_minutes_siaga}.get(level, a.ack_minutes_awas)


def create_alert(
    *,
    session: Session,
    settings: Settings,
    group: AlertGroup,
    rule: AlertRule | None,
    hazard: str,
    community_code: str,
    level: int,
    kind: str,
    source_ref: str,
    status: str,
    thread: Alert | None,
    headline: str | None,
    trigger: str | None,
    now: datetime,
) -> tuple[Alert, bool]:
    """One alert (see `create_alerts`): the alert and whether this call created it."""
    request = AlertRequest(
        group=group,
        rule=rule,
        hazard=hazard,
        community_code=community_code,
        level=level,
        kind=kind,
        source_ref=source_ref,
        status=status,
        thread=thread,
        headline=headline,
        trigger=trigger,
    )
    return create_alerts(session=session, settings=settings, requests=[request], now=now)[0]


def create_alerts(
    *, session: Session, settings: Settings, requests: Sequence[AlertRequest], now: datetime
) -> list[tuple[Alert, bool]]:
    """Per request, in order: its alert and whether this call created it (False when the
    dedupe key existed already, or an earlier request of this call had the same key).

    The new alerts are fanned out (recipients and outbox rows) in the same transaction.
    """
    if not requests:
        return []
    keys = [r.dedupe_key for r in requests]
    first_of_key: dict[str, AlertRequest] = {}
    for request, key in zip(requests, keys, strict=True):
        first_of_key.setdefault(key, request)
    existing = _alerts_by_key(session, list(first_of_key))
    new = [r for k, r in first_of_key.items() if k not in existing]
    created_keys: set[str] = set()
    if new:
        codes = _reply_codes(session, new)
        rows = [_alert_row(settings, r, code, now) for r, code in zip(new, codes, strict=True)]
        inserted = session.execute(
            pg_insert(Alert)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(Alert.dedupe_key),
            rows,
        )
        created_keys = set(inserted.scalars())
        # Another worker made the rest between our look and our insert: use theirs.
        existing.update(_alerts_by_key(session, [r.dedupe_key for r in new]))
    created = [first_of_key[k] for k in first_of_key if k in created_keys]
    _close_threads(session, created, now)
    fan_out_many(
        session=session,
        settings=settings,
        alerts=[(existing[r.dedupe_key], r.group) for r in created],
    )
    seen: set[str] = set()
    out = []
    for key in keys:
        out.append((existing[key], key in created_keys and key not in seen))
        seen.add(key)
    return out


def _alerts_by_key(session: Session, keys: list[str]) -> dict[str, Alert]:
    if not keys:
        return {}
    rows = session.scalars(select(Alert).where(Alert.dedupe_key.in_(keys)))
    return {a.dedupe_key: a for a in rows}


def _reply_codes(session: Session, requests: list[AlertRequest]) -> list[int]:
    """Each group's next reply codes (1, 2, 3, …), in request order; the groups' locks are
    held until the caller's transaction ends, so two workers never hand out the same one.
    Locks are taken in key order: two callers never wait on each other in a ring."""
    group_ids = sorted({r.group.id for r in requests})
    lock_keys = sorted(advisory_lock_key("alerts.reply_code", g) for g in group_ids)
    advisory_xact_locks(session, lock_keys)
    last = {
        group_id: code
        for group_id, code in session.execute(
            select(Alert.group_id, func.max(Alert.reply_code))
            .where(Alert.group_id.in_(group_ids))
            .group_by(Alert.group_id)
        )
    }
    codes = []
    for request in requests:
        code = (last.get(request.group.id) or 0) + 1
        last[request.group.id] = code
        codes.append(code)
    return codes


def _alert_row(
    settings: Settings, r: AlertRequest, reply_code: int, now: datetime
) -> dict[str, Any]:
    first = r.thread_first
    closes_thread = r.kind == "all_clear" or (r.kind == "cancel" and first is not None)
    return {
        "reply_code": reply_code,
        "identifier": f"{settings.alerts.cap_identifier_prefix}-{uuid.uuid4().hex}",
        "dedupe_key": r.dedupe_key,
        "group_id": r.group.id,
        "rule_id": r.rule.id if r.rule is not None else None,
        "thread_id": first,
        "hazard": r.hazard,
        "community_code": r.community_code,
        "level": r.level,
        "kind": r.kind,
        "msg_type": MSG_TYPE[r.kind],
        "status": r.status,
        "source_ref": r.source_ref,
        "trigger": r.trigger,
        "headline": r.headline,
        "sent_at": now,
        "expires_at": now + timedelta(hours=settings.alerts.alert_expires_hours),
        "ack_due_at": (now + timedelta(minutes=ack_minutes(settings, r.rule, r.level)))
        if r.kind in ("alert", "update")
        else None,
        "closed_at": now if closes_thread else None,
        "cancelled_at": now if r.kind == "cancel" and first is not None else None,
    }


def _close_threads(session: Session, created: list[AlertRequest], now: datetime) -> None:
    """An all-clear closes its thread; a cancel closes it and marks every message cancelled."""
    for r in created:
        first = r.thread_first
        if r.kind not in ("all_clear", "cancel") or first is None:
            continue
        in_thread = (Alert.id == first) | (Alert.thread_id == first)
        session.execute(
            update(Alert).where(in_thread, Alert.closed_at.is_(None)).values(closed_at=now)
        )
        if r.kind == "cancel":
            session.execute(update(Alert).where(in_thread).values(cancelled_at=now))
