"""Alerts: evaluate signals against every group's rules, create alerts once, fan out to the tree.

An alert and all of its deliveries are written in one transaction (the caller's): the
outbox rows are enqueued here, per member, directly — the cascade never depends on someone
forwarding a message.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, case, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.alerts.levels import LEVEL_NAMES
from service.alerts.models import Alert, AlertGroup, AlertRecipient, AlertRule, AlertWatch, Member
from service.alerts.rules import (
    Decision,
    RuleConfig,
    Signal,
    WatchState,
    evaluate,
    firing,
    in_quiet_hours,
)
from service.alerts.schemas import DrillIn
from service.alerts.templates import MessageContext, TemplateError, render, whatsapp_template
from service.communities.localtime import local_clock, place_label, zone_for
from service.communities.models import Community
from service.db import advisory_xact_lock, try_advisory_xact_lock
from service.errors import Conflict, InvalidInput, NotFound
from service.messaging import outbox
from service.messaging.models import Delivery
from service.settings import Settings
from service.shelters.service import nearest_shelter

log = logging.getLogger(__name__)

MSG_TYPE = {
    "alert": "Alert",
    "update": "Update",
    "all_clear": "Update",
    "cancel": "Cancel",
    "preparedness": "Alert",
}


@dataclass
class EvaluationSummary:
    alerts_created: list[int] = field(default_factory=list)
    all_clears: list[int] = field(default_factory=list)
    held: int = 0
    suppressed: int = 0
    skipped_rules: list[int] = field(default_factory=list)  # another worker held the lock
    notices_created: list[int] = field(default_factory=list)  # preparedness, from maps


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


def _load_states(session: Session, rule_id: int) -> dict[tuple[str, str], WatchState]:
    rows = session.scalars(select(AlertWatch).where(AlertWatch.rule_id == rule_id))
    return {
        (w.hazard, w.community_code): WatchState(
            open_level=w.open_level,
            thread_alert_id=w.thread_alert_id,
            last_alert_at=w.last_alert_at,
            last_alert_level=w.last_alert_level,
            last_source_ref=w.last_source_ref,
            below_since=w.below_since,
        )
        for w in rows
    }


def _save_state(session: Session, rule_id: int, key: tuple[str, str], state: WatchState) -> None:
    hazard, code = key
    row = session.get(AlertWatch, (rule_id, hazard, code))
    if row is None:
        row = AlertWatch(rule_id=rule_id, hazard=hazard, community_code=code)
        session.add(row)
    row.open_level = state.open_level
    row.thread_alert_id = state.thread_alert_id
    row.last_alert_at = state.last_alert_at
    row.last_alert_level = state.last_alert_level
    row.last_source_ref = state.last_source_ref
    row.below_since = state.below_since


def ack_minutes(settings: Settings, rule: AlertRule | None, level: int) -> float:
    if rule is not None and str(level) in (rule.ack_minutes or {}):
        return float(rule.ack_minutes[str(level)])
    a = settings.alerts
    return {1: a.ack_minutes_waspada, 2: a.ack_minutes_siaga}.get(level, a.ack_minutes_awas)


def evaluate_signals(
    *, session: Session, settings: Settings, signals: list[Signal], now: datetime
) -> EvaluationSummary:
    """Run every enabled rule over the signals of its group's communities and act on it."""
    summary = EvaluationSummary()
    rules = session.execute(
        select(AlertRule, AlertGroup)
        .join(AlertGroup, AlertGroup.id == AlertRule.group_id)
        .where(AlertRule.enabled.is_(True))
        .order_by(AlertRule.id)
    ).all()
    grouped = by_community(signals)
    for rule, group in rules:
        # Two workers may evaluate at once; each rule's state is advanced by one of them.
        if not try_advisory_xact_lock(session, "alerts.rule", rule.id):
            summary.skipped_rules.append(rule.id)
            continue
        evaluate_rule(
            session=session,
            settings=settings,
            rule=rule,
            group=group,
            by_community=grouped,
            now=now,
            summary=summary,
        )
    session.flush()
    return summary


def _preparedness_notices(
    session: Session,
    settings: Settings,
    group: AlertGroup,
    rule: AlertRule,
    maps: list[Signal],
    now: datetime,
    summary: EvaluationSummary,
) -> None:
    """One preparedness notice per map version and community at or above the threshold.

    Idempotent on the layer version (its source_ref): a recompute never sends it again, a new
    version of the map does. Held in quiet hours; nothing here is urgent.
    """
    config = rule_config(rule)
    for (hazard, code), (signal, level) in sorted(firing(config, maps).items()):
        if in_quiet_hours(config, now):
            summary.held += 1
            continue
        alert, created = create_alert(
            session=session,
            settings=settings,
            group=group,
            rule=rule,
            hazard=hazard,
            community_code=code,
            level=level,
            kind="preparedness",
            source_ref=signal.source_ref,
            status="Exercise" if rule.drill else "Actual",
            thread=None,
            headline=signal.headline,
            trigger=rule.trigger,
            now=now,
        )
        if created:
            summary.notices_created.append(alert.id)


def by_community(signals: list[Signal]) -> dict[str, list[Signal]]:
    by_community: dict[str, list[Signal]] = {}
    for signal in signals:
        by_community.setdefault(signal.community_code, []).append(signal)
    return by_community


def rules_touching(session: Session, codes: set[str]) -> list[int]:
    """Ids of the enabled rules whose group covers at least one of these communities."""
    if not codes:
        return []
    rows = session.execute(
        select(AlertRule.id, AlertGroup.community_codes)
        .join(AlertGroup, AlertGroup.id == AlertRule.group_id)
        .where(AlertRule.enabled.is_(True))
        .order_by(AlertRule.id)
    ).all()
    return [int(rule_id) for rule_id, group_codes in rows if not codes.isdisjoint(group_codes)]


def evaluate_touched_rule(
    *,
    session: Session,
    settings: Settings,
    rule_id: int,
    signals: dict[str, list[Signal]],
    now: datetime,
) -> EvaluationSummary:
    """Evaluate one rule over the signals of some events only (an event-driven evaluation);
    `signals` by community code (`by_community`).

    Waits for the rule's lock (a running interval evaluation may hold it; its snapshot may
    predate these signals), and judges only the watches these signals name: a watch they do
    not name is not "below" just because this evaluation did not look at it.
    """
    summary = EvaluationSummary()
    advisory_xact_lock(session, "alerts.rule", rule_id)
    row = session.execute(
        select(AlertRule, AlertGroup)
        .join(AlertGroup, AlertGroup.id == AlertRule.group_id)
        .where(AlertRule.id == rule_id, AlertRule.enabled.is_(True))
    ).first()
    if row is None:
        return summary
    evaluate_rule(
        session=session,
        settings=settings,
        rule=row[0],
        group=row[1],
        by_community=signals,
        now=now,
        summary=summary,
        partial=True,
    )
    session.flush()
    return summary


def evaluate_rule(
    *,
    session: Session,
    settings: Settings,
    rule: AlertRule,
    group: AlertGroup,
    by_community: dict[str, list[Signal]],
    now: datetime,
    summary: EvaluationSummary,
    partial: bool = False,
) -> None:
    """One rule over its group's signals: alerts, updates and all-clears, state saved."""
    mine = [s for code in group.community_codes for s in by_community.get(code, ())]
    # A hazard map says where danger can be, not that it is here: never a warning.
    maps = [s for s in mine if s.basis == "map"]
    mine = [s for s in mine if s.basis != "map"]
    if rule.map_notice and maps:
        _preparedness_notices(session, settings, group, rule, maps, now, summary)
    states = _load_states(session, rule.id)
    if partial:
        named = {(s.hazard, s.community_code) for s in mine}
        states = {k: v for k, v in states.items() if k in named}
    result = evaluate(rule=rule_config(rule), signals=mine, states=states, now=now)
    for decision in result.decisions:
        key = (decision.hazard, decision.community_code)
        if decision.kind == "held":
            summary.held += 1
        elif decision.kind == "cooldown":
            summary.suppressed += 1
        elif decision.kind in ("alert", "update"):
            alert, _ = _alert_from_decision(session, settings, group, rule, decision, now)
            summary.alerts_created.append(alert.id)
            thread = decision.thread_alert_id if decision.kind == "update" else alert.id
            result.states[key] = replace(result.states[key], thread_alert_id=thread)
        elif decision.kind == "all_clear":
            alert, _ = _alert_from_decision(session, settings, group, rule, decision, now)
            summary.all_clears.append(alert.id)
    for key, state in result.states.items():
        if states.get(key) != state:
            _save_state(session, rule.id, key, state)


def _alert_from_decision(
    session: Session,
    settings: Settings,
    group: AlertGroup,
    rule: AlertRule,
    decision: Decision,
    now: datetime,
) -> tuple[Alert, bool]:
    thread = session.get(Alert, decision.thread_alert_id) if decision.thread_alert_id else None
    if decision.kind == "all_clear":
        level = thread.level if thread is not None else 0
        source_ref = f"all_clear:{thread.id if thread else 'none'}"
    else:
        level = decision.level
        source_ref = decision.signal.source_ref if decision.signal else "unknown"
    return create_alert(
        session=session,
        settings=settings,
        group=group,
        rule=rule,
        hazard=decision.hazard,
        community_code=decision.community_code,
        level=level,
        kind=decision.kind,
        source_ref=source_ref,
        status="Exercise" if rule.drill else "Actual",
        thread=thread,
        headline=decision.signal.headline if decision.signal else None,
        trigger=rule.trigger,
        now=now,
    )


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
    """Create the alert once (idempotent on group, hazard, community, source, level, kind,
    status) and enqueue one delivery per member in the same transaction."""
    # A preparedness notice is sent once per map version and community, whatever its level.
    key_level = 0 if kind == "preparedness" else level
    key = dedupe_key(group.id, hazard, community_code, source_ref, key_level, kind, status)
    existing = session.scalar(select(Alert).where(Alert.dedupe_key == key))
    if existing is not None:
        return existing, False
    first = thread.thread_id or thread.id if thread is not None else None
    alert = Alert(
        reply_code=next_reply_code(session, group.id),
        identifier=f"{settings.alerts.cap_identifier_prefix}-{uuid.uuid4().hex}",
        dedupe_key=key,
        group_id=group.id,
        rule_id=rule.id if rule is not None else None,
        thread_id=first,
        hazard=hazard,
        community_code=community_code,
        level=level,
        kind=kind,
        msg_type=MSG_TYPE[kind],
        status=status,
        source_ref=source_ref,
        trigger=trigger,
        headline=headline,
        sent_at=now,
        expires_at=now + timedelta(hours=settings.alerts.alert_expires_hours),
        ack_due_at=(now + timedelta(minutes=ack_minutes(settings, rule, level)))
        if kind in ("alert", "update")
        else None,
    )
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        # Another worker created it between our look and our insert: use theirs.
        existing = session.scalar(select(Alert).where(Alert.dedupe_key == key))
        if existing is None:
            raise
        return existing, False
    if kind in ("all_clear", "cancel") and first is not None:
        session.execute(
            update(Alert)
            .where((Alert.id == first) | (Alert.thread_id == first), Alert.closed_at.is_(None))
            .values(closed_at=now)
        )
        if kind == "cancel":
            session.execute(
                update(Alert)
                .where((Alert.id == first) | (Alert.thread_id == first))
                .values(cancelled_at=now)
            )
            alert.closed_at = now
            alert.cancelled_at = now
    elif kind == "all_clear":
        alert.closed_at = now
    fan_out(session=session, settings=settings, alert=alert, group=group)
    return alert, True


def local_number(phone: str | None) -> str | None:
    """An Indonesian number as people dial it ('+6281234567890' -> '081234567890')."""
    if not phone:
        return None
    return "0" + phone[3:] if phone.startswith("+62") else phone


def next_reply_code(session: Session, group_id: int) -> int:
    """The group's next reply code (1, 2, 3, …), held until the caller's transaction ends so
    two workers never hand out the same one."""
    advisory_xact_lock(session, "alerts.reply_code", group_id)
    last = session.scalar(select(func.max(Alert.reply_code)).where(Alert.group_id == group_id))
    return (last or 0) + 1


def message_context(
    *,
    session: Session,
    settings: Settings,
    alert: Alert,
    group: AlertGroup,
    kind: str | None = None,
    member_name: str | None = None,
    names: tuple[str, ...] = (),
) -> MessageContext:
    """What a member's message says: place (Desa/Kel., Kec.), local time in the community's
    zone, the reason, the group's posko number and the nearest assembly point."""
    kind = kind or alert.kind
    community = session.scalar(select(Community).where(Community.code == alert.community_code))
    if community is not None:
        place = place_label(community.name, community.code, community.level)
        zone = zone_for(community.code, community.province_code, settings.alerts.timezone)
    else:
        place = alert.community_code
        zone = zone_for(alert.community_code, None, settings.alerts.timezone)
    shelter = (
        nearest_shelter(session=session, community_code=alert.community_code)
        if kind in ("alert", "update", "backup", "preparedness")
        else None
    )
    return MessageContext(
        kind=kind,
        hazard=alert.hazard,
        level=alert.level,
        community_name=place,
        sender_name=group.sender_name or settings.alerts.sender_name,
        drill=alert.status == "Exercise",
        headline=alert.headline if kind in ("alert", "update", "preparedness") else None,
        member_name=member_name,
        names=names,
        district_name=community.district_name if community is not None else None,
        local_time=local_clock(alert.sent_at, zone),
        contact_phone=local_number(group.contact_phone),
        shelter_name=shelter.name if shelter is not None else None,
        reply_code=alert.reply_code,
    )


def fan_out(*, session: Session, settings: Settings, alert: Alert, group: AlertGroup) -> int:
    """One delivery per member of the group, every member directly. Returns deliveries made.

    Bulk: texts are rendered once per language and channel, deliveries go to the outbox in
    one `enqueue_many`, recipients in one insert — a tree of 100,000 is one transaction.
    """
    members = session.execute(
        select(Member.id, Member.phone, Member.channel, Member.language, Member.consent)
        .where(Member.group_id == group.id)
        .order_by(Member.id)
    ).all()
    ctx = message_context(session=session, settings=settings, alert=alert, group=group)
    purpose = {"all_clear": "all_clear", "preparedness": "preparedness"}.get(alert.kind, "alert")
    templates_by_language = {lang: whatsapp_template(ctx, language=lang) for lang in ("id", "en")}
    texts: dict[tuple[str, str], str | TemplateError] = {}

    def text_for(language: str, channel: str) -> str | TemplateError:
        if (language, channel) not in texts:
            try:
                texts[(language, channel)] = render(
                    ctx,
                    language=language,
                    channel=channel,
                    max_sms_segments=settings.alerts.sms_max_segments,
                )
            except TemplateError as exc:
                log.error("alert %s (%s/%s): %s", alert.id, language, channel, exc)
                texts[(language, channel)] = exc
        return texts[(language, channel)]

    items: list[outbox.NewDelivery] = []
    unfit: list[tuple[int, str]] = []
    for member_id, phone, channel, language, consent in members:
        if not consent:
            continue
        body = text_for(language, channel)
        # WhatsApp may fall back to SMS: that text must fit SMS rules too.
        sms = text_for(language, "sms") if channel == "whatsapp" else body
        if isinstance(body, TemplateError) or isinstance(sms, TemplateError):
            unfit.append(
                (
                    member_id,
                    f"message does not fit: {body if isinstance(body, TemplateError) else sms}",
                )
            )
            continue
        items.append(
            outbox.NewDelivery(
                idempotency_key=f"alert:{alert.id}:member:{member_id}",
                phone=phone,
                channel=channel,
                body=body,
                alert_id=alert.id,
                member_id=member_id,
                template=templates_by_language[language] if channel == "whatsapp" else None,
                purpose=purpose,
                sms_fallback_body=sms if channel == "whatsapp" else None,
            )
        )
    outbox.enqueue_many(session=session, items=items)
    # Recipients straight from the tree and the outbox rows just written: one statement, no
    # per-member data sent back to the database (100,000 members stay one round trip).
    session.execute(
        insert(AlertRecipient).from_select(
            ["alert_id", "member_id", "channel", "phone", "delivery_id", "skipped_reason"],
            select(
                literal(alert.id, BigInteger),
                Member.id,
                Member.channel,
                Member.phone,
                Delivery.id,
                case((Member.consent.is_(False), "no consent recorded"), else_=None),
            )
            .select_from(Member)
            # By the unique idempotency key: alert_id alone matches every row of this alert,
            # and the planner's statistics do not know yet that there are 100,000 of them.
            .outerjoin(
                Delivery,
                Delivery.idempotency_key == func.concat(f"alert:{alert.id}:member:", Member.id),
            )
            .where(Member.group_id == group.id),
        )
    )
    for member_id, reason in unfit:
        session.execute(
            update(AlertRecipient)
            .where(AlertRecipient.alert_id == alert.id, AlertRecipient.member_id == member_id)
            .values(skipped_reason=reason)
        )
    return len(items)


def create_drill(
    *, session: Session, settings: Settings, group_id: int, data: DrillIn, now: datetime
) -> Alert:
    """An Exercise alert through the whole pipeline: CAP status Exercise, texts say LATIHAN."""
    group = session.get(AlertGroup, group_id)
    if group is None:
        raise NotFound(f"no group with id {group_id}")
    code = data.community_code or group.community_codes[0]
    if code not in group.community_codes:
        raise InvalidInput(f"community {code} is not covered by group {group_id}")
    alert, _ = create_alert(
        session=session,
        settings=settings,
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
        now=now,
    )
    return alert


def cancel_alert(*, session: Session, settings: Settings, alert_id: int, now: datetime) -> Alert:
    """Send a CAP Cancel for an alert thread sent in error, and forget the rule's state."""
    target = session.get(Alert, alert_id)
    if target is None:
        raise NotFound(f"no alert with id {alert_id}")
    if target.kind not in ("alert", "update"):
        raise Conflict(f"alert {alert_id} is a {target.kind} message; cancel the alert it follows")
    first = session.get(Alert, target.thread_id or target.id)
    assert first is not None
    if first.closed_at is not None:
        raise Conflict(f"alert {first.id} is closed already (all-clear or cancelled)")
    group = session.get(AlertGroup, target.group_id)
    assert group is not None
    alert, _ = create_alert(
        session=session,
        settings=settings,
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
        now=now,
    )
    session.execute(
        update(AlertWatch)
        .where(AlertWatch.thread_alert_id == first.id)
        .values(open_level=0, thread_alert_id=None, below_since=None)
    )
    return alert


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, "-")
