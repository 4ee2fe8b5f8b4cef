"""What the alerts API shows (read models): per alert, per recipient, and the counts that
matter, with each delivery's state from messaging's outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.alerts.levels import LEVEL_NAMES
from service.alerts.models import Alert, AlertGroup, AlertRecipient, Member
from service.db import get_or_404
from service.messaging.models import Delivery
from service.messaging.status import history


def _delivery_info(
    session: Session, delivery_ids: list[int], with_history: bool = True
) -> dict[int, dict[str, Any]]:
    """Per outbox delivery id (messaging's tables): channel, status, provider, provider
    message id, errors, history.

    A WhatsApp delivery that fell back to SMS reports the SMS row's outcome as well.
    """
    if not delivery_ids:
        return {}
    out: dict[int, dict[str, Any]] = {}
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.channel,
            Delivery.status,
            Delivery.provider,
            Delivery.provider_message_id,
            Delivery.last_error_code,
            Delivery.accepted_at,
            Delivery.delivered_at,
            Delivery.attempts,
        ).where(Delivery.id.in_(delivery_ids))
    ).all()
    for r in rows:
        out[r.id] = {
            "channel": r.channel,
            "status": r.status,
            "provider": r.provider,
            "provider_message_id": r.provider_message_id,
            "error_code": r.last_error_code,
            "accepted_at": r.accepted_at,
            "delivered_at": r.delivered_at,
            "attempts": r.attempts,
            "history": [],
            "fallback": None,
        }
    fallbacks = session.execute(
        select(
            Delivery.id,
            Delivery.fallback_of,
            Delivery.channel,
            Delivery.status,
            Delivery.provider_message_id,
        ).where(Delivery.fallback_of.in_(delivery_ids))
    ).all()
    for f in fallbacks:
        out[f.fallback_of]["fallback"] = {
            "delivery_id": f.id,
            "channel": f.channel,
            "status": f.status,
            "provider_message_id": f.provider_message_id,
        }
    if with_history:
        events = history(session, list(out))
        for delivery_id, items in events.items():
            out[delivery_id]["history"] = items
    return out


DELIVERED = ("delivered", "read")


def effective_status(delivery: dict[str, Any] | None) -> str | None:
    """The outcome for the member: a WhatsApp message that fell back counts as its SMS."""
    if delivery is None:
        return None
    fallback = delivery.get("fallback")
    if fallback and delivery["status"] not in DELIVERED:
        return str(fallback["status"])
    return str(delivery["status"])


def alert_label(alert: Alert) -> str:
    """A short title that never lets a drill or a cancelled alert look real."""
    words = []
    if alert.cancelled_at is not None:
        words.append("DIBATALKAN")
    if alert.status == "Exercise":
        words.append("LATIHAN")
    if alert.kind == "preparedness":
        words.append("KESIAPSIAGAAN")
    elif alert.kind == "all_clear":
        words.append("AMAN")
    elif alert.kind == "cancel":
        words.append("PEMBATALAN")
    else:
        words.append((LEVEL_NAMES.get(alert.level) or "").upper())
    return " ".join(w for w in (*words, alert.hazard) if w) + f": {alert.community_code}"


def alert_summary(alert: Alert, counts: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": alert.id,
        "identifier": alert.identifier,
        "group_id": alert.group_id,
        "rule_id": alert.rule_id,
        "thread_id": alert.thread_id,
        "hazard": alert.hazard,
        "community_code": alert.community_code,
        "level": alert.level,
        "level_name": LEVEL_NAMES.get(alert.level),
        "kind": alert.kind,
        "msg_type": alert.msg_type,
        "status": alert.status,
        "source_ref": alert.source_ref,
        "headline": alert.headline,
        "sent_at": alert.sent_at,
        "expires_at": alert.expires_at,
        "ack_due_at": alert.ack_due_at,
        "closed_at": alert.closed_at,
        "cancelled": alert.cancelled_at is not None,
        "cancelled_at": alert.cancelled_at,
        "label": alert_label(alert),
        "cap_url": f"/cap/alerts/{alert.id}.xml",
        "counts": counts,
    }


def _counts(
    alert: Alert, recipients: list[AlertRecipient], deliveries: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    statuses = [effective_status(deliveries.get(r.delivery_id or -1)) for r in recipients]
    acked = [r.acked_at for r in recipients if r.acked_at is not None]
    first_ack = min(acked) if acked else None
    return {
        "recipients": len(recipients),
        "enqueued": sum(1 for r in recipients if r.delivery_id is not None),
        "skipped": sum(1 for r in recipients if r.skipped_reason),
        "delivered": sum(1 for s in statuses if s in ("delivered", "read")),
        "failed": sum(1 for s in statuses if s in ("failed", "undelivered", "dead")),
        "opted_out": sum(1 for s in statuses if s == "opted_out"),
        "acknowledged": len(acked),
        "escalated": sum(1 for r in recipients if r.escalated_at is not None),
        "time_to_first_ack_s": (first_ack - alert.sent_at).total_seconds() if first_ack else None,
    }


def list_alerts(
    *, session: Session, group_id: int | None, limit: int, offset: int, since: datetime | None
) -> list[dict[str, Any]]:
    q = select(Alert).order_by(Alert.sent_at.desc(), Alert.id.desc()).limit(limit).offset(offset)
    if group_id is not None:
        q = q.where(Alert.group_id == group_id)
    if since is not None:
        q = q.where(Alert.sent_at >= since)
    alerts = list(session.scalars(q))
    ids = [a.id for a in alerts]
    recipients: dict[int, list[AlertRecipient]] = {i: [] for i in ids}
    if ids:
        for r in session.scalars(select(AlertRecipient).where(AlertRecipient.alert_id.in_(ids))):
            recipients[r.alert_id].append(r)
    deliveries = _delivery_info(
        session,
        [r.delivery_id for rs in recipients.values() for r in rs if r.delivery_id],
        with_history=False,
    )
    return [alert_summary(a, _counts(a, recipients[a.id], deliveries)) for a in alerts]


def alert_detail(*, session: Session, alert_id: int, include_pii: bool) -> dict[str, Any]:
    alert = get_or_404(session, Alert, alert_id, f"no alert with id {alert_id}")
    rows = session.execute(
        select(AlertRecipient, Member)
        .outerjoin(Member, Member.id == AlertRecipient.member_id)
        .where(AlertRecipient.alert_id == alert_id)
        .order_by(AlertRecipient.id)
    ).all()
    recipients = [r for r, _ in rows]
    deliveries = _delivery_info(session, [r.delivery_id for r in recipients if r.delivery_id])
    out = alert_summary(alert, _counts(alert, recipients, deliveries))
    group = session.get(AlertGroup, alert.group_id)
    out["group_name"] = group.name if group else None
    thread_first = alert.thread_id or alert.id
    out["thread"] = [
        {"id": a.id, "kind": a.kind, "msg_type": a.msg_type, "level": a.level, "sent_at": a.sent_at}
        for a in session.scalars(
            select(Alert)
            .where((Alert.id == thread_first) | (Alert.thread_id == thread_first))
            .order_by(Alert.sent_at, Alert.id)
        )
    ]
    items = []
    for recipient, member in rows:
        delivery = deliveries.get(recipient.delivery_id or -1, {})
        item: dict[str, Any] = {
            "member_id": recipient.member_id,
            "role": member.role if member else None,
            "channel": delivery.get("channel", recipient.channel),
            "delivery_id": recipient.delivery_id,
            "status": effective_status(delivery or None)
            or ("skipped" if recipient.skipped_reason else "enqueued"),
            "fallback": delivery.get("fallback"),
            "error_code": delivery.get("error_code"),
            "status_history": delivery.get("history", []),
            "provider": delivery.get("provider"),
            "provider_message_id": delivery.get("provider_message_id"),
            "skipped_reason": recipient.skipped_reason,
            "acknowledged_at": recipient.acked_at,
            "ack_channel": recipient.ack_channel,
            "escalated_at": recipient.escalated_at,
            "escalated_to_backup_id": recipient.escalated_to_backup_id,
            "escalated_to_parent_id": recipient.escalated_to_parent_id,
        }
        if include_pii:
            item["name"] = member.name if member else None
            item["phone"] = recipient.phone
        items.append(item)
    out["recipients"] = items
    out["escalation_count"] = int(
        session.scalar(
            select(func.count()).where(
                AlertRecipient.alert_id == alert_id, AlertRecipient.escalated_at.is_not(None)
            )
        )
        or 0
    )
    return out
