"""What a member's reply means: an acknowledgement or a ground report.

The contract between messaging (which receives provider webhooks and handles STOP/BERHENTI/
MULAI by number) and alerts (which owns members, alerts and reports).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from service.alerts.models import Alert, AlertGroup, AlertRecipient, GroundReport, Member
from service.alerts.redact import redact
from service.communities.models import Community


@dataclass(frozen=True)
class InboundMessage:
    channel: str  # "sms" | "whatsapp"
    phone: str  # E.164, e.g. "+6281234567890"
    text: str
    received_at: datetime
    provider: str  # "twilio" | "meta" | "console"
    provider_message_id: str
    button_payload: str | None = None


def _known_names(session: Session, group_id: int) -> list[str]:
    return list(session.scalars(select(Member.name).where(Member.group_id == group_id)))


ACK_CODES = frozenset({"YA", "OK", "1", "Y", "IYA", "SIAP"})
ACK_BUTTON_PREFIX = "ACK"


def is_ack(text: str, button_payload: str | None) -> bool:
    """YA / OK / 1 (any case, with stray punctuation or an emoji), or an acknowledge button."""
    if button_payload is not None and button_payload.strip().upper().startswith(ACK_BUTTON_PREFIX):
        return True
    word = re.sub(r"[^0-9A-Za-z]", "", text or "").upper()
    return word in ACK_CODES


def _button_alert_id(button_payload: str | None) -> int | None:
    """WhatsApp buttons carry `ACK:<alert id>`; a plain `ACK` means the latest open alert."""
    if not button_payload:
        return None
    _, _, rest = button_payload.partition(":")
    return int(rest) if rest.strip().isdigit() else None


def handle_inbound(*, session: Session, message: InboundMessage) -> str:
    """Acknowledge the member's latest open alert, or keep the text as a ground report.

    Returns "ack", "report" or "unknown_sender". Runs in the caller's transaction.
    """
    members = list(session.scalars(select(Member).where(Member.phone == message.phone)))
    if not members:
        return "unknown_sender"
    member_ids = [m.id for m in members]
    open_q = (
        select(AlertRecipient, Alert)
        .join(Alert, Alert.id == AlertRecipient.alert_id)
        .where(
            AlertRecipient.member_id.in_(member_ids),
            Alert.kind.in_(("alert", "update")),
            Alert.closed_at.is_(None),
            or_(Alert.expires_at.is_(None), Alert.expires_at > message.received_at),
        )
        .order_by(Alert.sent_at.desc(), Alert.id.desc())
    )
    if is_ack(message.text, message.button_payload):
        wanted = _button_alert_id(message.button_payload)
        if wanted is not None:
            open_q = open_q.where(Alert.id == wanted)
        row = session.execute(open_q.limit(1)).first()
        if row is not None:
            recipient, alert = row
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
        return "ack"

    if (
        session.scalar(
            select(GroundReport.id).where(
                GroundReport.provider_message_id == message.provider_message_id
            )
        )
        is not None
    ):
        return "report"  # a webhook retry: kept once
    latest = session.execute(open_q.limit(1)).first()
    member = members[0]
    open_alert = latest[1] if latest is not None else None
    if latest is not None:
        member = next(m for m in members if m.id == latest[0].member_id)
    community_code = member.community_code or (open_alert.community_code if open_alert else None)
    if community_code is None:
        group = session.get(AlertGroup, member.group_id)
        community_code = group.community_codes[0] if group and group.community_codes else None
    point = None
    if community_code is not None:
        point = session.scalar(
            select(func.ST_PointOnSurface(Community.geom)).where(Community.code == community_code)
        )
    session.add(
        GroundReport(
            group_id=member.group_id,
            member_id=member.id,
            alert_id=open_alert.id if open_alert else None,
            community_code=community_code,
            text=message.text[:2000],
            public_text=redact(message.text[:2000], _known_names(session, member.group_id)),
            channel=message.channel,
            provider_message_id=message.provider_message_id,
            received_at=message.received_at,
            geom=point,
        )
    )
    session.flush()
    return "report"
