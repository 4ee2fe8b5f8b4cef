"""Escalation down the tree: who has not acknowledged in time gets their backup messaged and
their parent told, once per alert. A plain idempotent function driven by an explicit `now`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.alerts.fanout import local_number, message_context
from service.alerts.models import Alert, AlertGroup, AlertRecipient, Member
from service.alerts.templates import MessageContext, TemplateError, render, whatsapp_template
from service.messaging import outbox
from service.settings import Settings


@dataclass
class EscalationSummary:
    escalated: list[int] = field(default_factory=list)  # recipient ids
    backups_messaged: int = 0
    parents_told: int = 0


def escalate_due(*, session: Session, settings: Settings, now: datetime) -> EscalationSummary:
    """Escalate every recipient whose alert is still open and whose time to acknowledge passed."""
    summary = EscalationSummary()
    by_parent: dict[tuple[int, int], list[Member]] = defaultdict(list)
    alerts: dict[int, Alert] = {}
    for recipient, alert in _due(session, now):
        alerts[alert.id] = alert
        member = session.get(Member, recipient.member_id)
        if member is None:
            continue
        recipient.escalated_at = now
        summary.escalated.append(recipient.id)
        backup = session.get(Member, member.backup_id) if member.backup_id else None
        if (
            backup is not None
            and backup.consent
            and _message_backup(session, settings, alert, member, backup)
        ):
            recipient.escalated_to_backup_id = backup.id
            summary.backups_messaged += 1
        if member.parent_id is not None:
            by_parent[(alert.id, member.parent_id)].append(member)
            recipient.escalated_to_parent_id = member.parent_id
    # One notice per parent and alert, naming everyone below them who has not confirmed.
    for (alert_id, parent_id), children in sorted(by_parent.items()):
        parent = session.get(Member, parent_id)
        if parent is None or not parent.consent:
            continue
        if _tell_parent(session, settings, alerts[alert_id], parent, children):
            summary.parents_told += 1
    session.flush()
    return summary


def _due(session: Session, now: datetime) -> list[tuple[AlertRecipient, Alert]]:
    """Recipients of open alerts past their time to acknowledge, not yet escalated; locked,
    skipping those another worker is escalating."""
    rows = session.execute(
        select(AlertRecipient, Alert)
        .join(Alert, Alert.id == AlertRecipient.alert_id)
        .where(
            Alert.kind.in_(("alert", "update")),
            Alert.closed_at.is_(None),
            or_(Alert.expires_at.is_(None), Alert.expires_at > now),
            Alert.ack_due_at.is_not(None),
            Alert.ack_due_at <= now,
            AlertRecipient.acked_at.is_(None),
            AlertRecipient.escalated_at.is_(None),
            AlertRecipient.skipped_reason.is_(None),
            AlertRecipient.member_id.is_not(None),
        )
        .order_by(Alert.id, AlertRecipient.id)
        .with_for_update(of=AlertRecipient, skip_locked=True)
    )
    return [(recipient, alert) for recipient, alert in rows]


def _group(session: Session, alert: Alert) -> AlertGroup:
    group = session.get(AlertGroup, alert.group_id)
    assert group is not None
    return group


def _message_backup(
    session: Session, settings: Settings, alert: Alert, member: Member, backup: Member
) -> bool:
    """The backup is asked to step in for the member; False if the text cannot be sent."""
    ctx = message_context(
        session=session,
        settings=settings,
        alert=alert,
        group=_group(session, alert),
        kind="backup",
        member_name=f"{member.name} {local_number(member.phone)}",
    )
    return _send(
        session,
        settings,
        ctx,
        alert=alert,
        to=backup,
        idempotency_key=f"escalation:{alert.id}:member:{member.id}:backup:{backup.id}",
        purpose="escalation",
        templated=True,
    )


def _tell_parent(
    session: Session, settings: Settings, alert: Alert, parent: Member, children: list[Member]
) -> bool:
    """The parent is told who below them has not confirmed; False if it cannot be sent."""
    ctx = message_context(
        session=session,
        settings=settings,
        alert=alert,
        group=_group(session, alert),
        kind="notice",
        names=tuple(f"{c.name} {local_number(c.phone)}" for c in children),
    )
    return _send(
        session,
        settings,
        ctx,
        alert=alert,
        to=parent,
        idempotency_key=f"notice:{alert.id}:parent:{parent.id}:"
        + ",".join(str(c.id) for c in children),
        purpose="notice",
        templated=False,
    )


def _send(
    session: Session,
    settings: Settings,
    ctx: MessageContext,
    *,
    alert: Alert,
    to: Member,
    idempotency_key: str,
    purpose: str,
    templated: bool,
) -> bool:
    """Queue the message for `to`; False if its text cannot be rendered. Only a `templated`
    message sent over WhatsApp carries a WhatsApp template."""
    body = _render(ctx, to, settings)
    if body is None:
        return False
    outbox.enqueue(
        session=session,
        idempotency_key=idempotency_key,
        phone=to.phone,
        channel=to.channel,
        body=body,
        alert_id=alert.id,
        member_id=to.id,
        template=whatsapp_template(ctx, language=to.language)
        if templated and to.channel == "whatsapp"
        else None,
        purpose=purpose,
        sms_fallback_body=_render(ctx, to, settings, "sms"),
    )
    return True


def _render(
    ctx: MessageContext, member: Member, settings: Settings, channel: str | None = None
) -> str | None:
    try:
        return render(
            ctx,
            language=member.language,
            channel=channel or member.channel,
            max_sms_segments=settings.alerts.sms_max_segments,
        )
    except TemplateError:
        return None
