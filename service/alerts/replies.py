"""What a member's reply means: an acknowledgement or a ground report.

The contract between messaging (which receives provider webhooks and handles STOP/BERHENTI/
MULAI by number) and alerts (which owns members, alerts and reports).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.orm import Session

from service.alerts.confirmations import confirmation_text
from service.alerts.models import Alert, AlertGroup, AlertRecipient, GroundReport, Member
from service.alerts.redact import redact
from service.alerts.reply_words import Reply, classify
from service.communities.models import Community
from service.messaging import outbox
from service.messaging.inbound import IncomingReply as InboundMessage

log = logging.getLogger(__name__)

# A report longer than this is cut; the rest is dropped and counted in `dropped_chars`.
REPORT_MAX_CHARS = 1600


def _known_names(session: Session, group_id: int) -> list[str]:
    return list(session.scalars(select(Member.name).where(Member.group_id == group_id)))


ACK_BUTTON_PREFIX = "ACK"


def _button_alert_id(button_payload: str | None) -> int | None:
    """WhatsApp buttons carry `ACK:<alert id>`; a plain `ACK` means the latest open alert."""
    if not button_payload:
        return None
    _, _, rest = button_payload.partition(":")
    rest = rest.strip()
    return int(rest) if rest.isdigit() and len(rest) < 19 else None


def _open_alerts(member_ids: list[int], at: datetime) -> Select[AlertRecipient, Alert]:
    """The members' alerts that still ask for an acknowledgement, newest first."""
    return (
        select(AlertRecipient, Alert)
        .join(Alert, Alert.id == AlertRecipient.alert_id)
        .where(
            AlertRecipient.member_id.in_(member_ids),
            Alert.kind.in_(("alert", "update")),
            Alert.closed_at.is_(None),
            or_(Alert.expires_at.is_(None), Alert.expires_at > at),
        )
        .order_by(Alert.sent_at.desc(), Alert.id.desc())
    )


def _target(
    session: Session, member_ids: list[int], at: datetime, *, code: str | None, alert_id: int | None
) -> tuple[tuple[AlertRecipient, Alert] | None, bool]:
    """The alert a reply is about, and whether its code (or button) named it.

    A code or button names one alert. Otherwise the newest open `Actual` alert; a drill
    (`Exercise`) only when no real alert is open, so a late "YA" never confirms a drill sent
    after a real warning.
    """
    if alert_id is not None or code is not None:
        named = select(AlertRecipient, Alert).join(Alert, Alert.id == AlertRecipient.alert_id)
        named = named.where(AlertRecipient.member_id.in_(member_ids))
        if alert_id is not None:
            named = named.where(Alert.id == alert_id)
        else:
            named = named.where(Alert.reply_code == int(code or 0), Alert.kind != "cancel")
        row = session.execute(named.order_by(Alert.sent_at.desc()).limit(1)).first()
        if row is not None:
            return (row[0], row[1]), True
    real_first = case((Alert.status == "Actual", 0), else_=1)
    newest = session.execute(
        _open_alerts(member_ids, at)
        .order_by(None)
        .order_by(real_first, Alert.sent_at.desc(), Alert.id.desc())
        .limit(1)
    ).first()
    return ((newest[0], newest[1]) if newest is not None else None), False


def _acknowledge(
    session: Session, recipient: AlertRecipient, alert: Alert, message: InboundMessage
) -> None:
    if recipient.acked_at is None:
        recipient.acked_at = message.received_at
        recipient.ack_channel = message.channel
        recipient.ack_text = (message.button_payload or message.text)[:200]
    # An acknowledgement of an update also answers the earlier messages of its thread.
    first = alert.thread_id or alert.id
    session.execute(
        update(AlertRecipient)
        .where(
            AlertRecipient.member_id == recipient.member_id,
            AlertRecipient.acked_at.is_(None),
            AlertRecipient.alert_id.in_(
                select(Alert.id).where((Alert.id == first) | (Alert.thread_id == first))
            ),
        )
        .values(acked_at=message.received_at, ack_channel=message.channel)
    )
    session.flush()


def handle_inbound(*, session: Session, message: InboundMessage) -> str:
    """Acknowledge the alert the reply is about, keep what it says beyond that as a ground
    report, and answer the member through the outbox (once per inbound message).

    Returns "ack", "ack+report", "report" or "unknown_sender". Runs in the caller's
    transaction.
    """
    members = list(
        session.scalars(select(Member).where(Member.phone == message.phone).order_by(Member.id))
    )
    if not members:
        log.info(
            "reply %s from a number that is no member: stored, not answered",
            message.provider_message_id,
        )
        return "unknown_sender"
    member_ids = [m.id for m in members]
    reply = classify(message.text)
    button = _button_alert_id(message.button_payload)
    if (message.button_payload or "").strip().upper().startswith(ACK_BUTTON_PREFIX):
        reply = Reply(ack=True)  # a WhatsApp acknowledge button
    if not reply.ack:
        target, _ = _target(session, member_ids, message.received_at, code=None, alert_id=None)
        dropped = _keep_report(session, members, target, message, message.text)
        _confirm(session, members, target, message, "report", dropped)
        return "report"
    target, named = _target(
        session, member_ids, message.received_at, code=reply.code, alert_id=button
    )
    if target is not None:
        _acknowledge(session, target[0], target[1], message)
    report = reply.report if named or reply.code is None else reply.report_with_code
    outcome = "ack"
    dropped = 0
    if report:
        dropped = _keep_report(session, members, target, message, report)
        outcome = "ack+report"
    kind = outcome if target is not None else ("report" if report else "ack")
    _confirm(session, members, target, message, kind, dropped)
    return outcome


def _keep_report(
    session: Session,
    members: list[Member],
    target: tuple[AlertRecipient, Alert] | None,
    message: InboundMessage,
    text: str,
) -> int:
    """Store the report once per provider message id; returns the characters cut off."""
    if (
        session.scalar(
            select(GroundReport.id).where(
                GroundReport.provider_message_id == message.provider_message_id
            )
        )
        is not None
    ):
        return 0  # a webhook retry: kept once
    member = members[0]
    open_alert = target[1] if target is not None else None
    if target is not None:
        member = next(m for m in members if m.id == target[0].member_id)
    community_code = member.community_code or (open_alert.community_code if open_alert else None)
    if community_code is None:
        group = session.get(AlertGroup, member.group_id)
        community_code = group.community_codes[0] if group and group.community_codes else None
    point = None
    if community_code is not None:
        point = session.scalar(
            select(func.ST_PointOnSurface(Community.geom)).where(Community.code == community_code)
        )
    kept = text[:REPORT_MAX_CHARS]
    dropped = len(text) - len(kept)
    if dropped:
        log.info(
            "report %s cut at %d characters, %d dropped",
            message.provider_message_id,
            REPORT_MAX_CHARS,
            dropped,
        )
    session.add(
        GroundReport(
            group_id=member.group_id,
            member_id=member.id,
            alert_id=open_alert.id if open_alert else None,
            community_code=community_code,
            text=kept,
            public_text=redact(kept, _known_names(session, member.group_id)),
            dropped_chars=dropped,
            channel=message.channel,
            provider_message_id=message.provider_message_id,
            received_at=message.received_at,
            geom=point,
        )
    )
    session.flush()
    return dropped


def _default_sender(session: Session) -> str:
    """The configured sender name: the session factory carries the settings (see db.py)."""
    settings: Any = session.info.get("settings")
    return str(settings.alerts.sender_name) if settings is not None else "SIAGA"


def _confirm(
    session: Session,
    members: list[Member],
    target: tuple[AlertRecipient, Alert] | None,
    message: InboundMessage,
    kind: str,
    dropped: int = 0,
) -> None:
    """Answer the member on the channel they wrote from, once per inbound message id."""
    member = members[0]
    if target is not None:
        member = next((m for m in members if m.id == target[0].member_id), member)
    group = session.get(AlertGroup, member.group_id)
    sender = (group.sender_name if group else None) or _default_sender(session)
    body = confirmation_text(
        kind,
        language=member.language,
        sender_name=sender,
        code=target[1].reply_code if target is not None else None,
        dropped=dropped,
    )
    raw_key = f"{message.provider}:{message.provider_message_id}"
    if len(raw_key) > 150:
        raw_key = hashlib.sha256(raw_key.encode()).hexdigest()
    outbox.enqueue(
        session=session,
        idempotency_key=f"confirm:{raw_key}",
        phone=message.phone,
        channel=message.channel if message.channel in ("sms", "whatsapp") else member.channel,
        body=body,
        member_id=member.id,
        purpose="opt_out_confirmation" if kind == "stop" else "confirmation",
    )


def confirm_keyword(*, session: Session, message: InboundMessage, kind: str) -> bool:
    """Answer BERHENTI/STOP ("stop") or MULAI ("start") from a member; False for a number that
    is no member (nothing is sent to it)."""
    members = list(
        session.scalars(select(Member).where(Member.phone == message.phone).order_by(Member.id))
    )
    if not members:
        log.info(
            "%s from a number that is no member (%s): not answered",
            kind,
            message.provider_message_id,
        )
        return False
    _confirm(session, members, None, message, kind)
    return True
