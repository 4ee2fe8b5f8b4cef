"""What a member's reply means: an acknowledgement or a ground report.

The contract between messaging (which receives provider webhooks and handles STOP/BERHENTI/
MULAI by number) and alerts (which owns members, alerts and reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class InboundMessage:
    channel: str  # "sms" | "whatsapp"
    phone: str  # E.164, e.g. "+6281234567890"
    text: str
    received_at: datetime
    provider: str  # "twilio" | "meta" | "console"
    provider_message_id: str
    button_payload: str | None = None


def handle_inbound(*, session: Session, message: InboundMessage) -> str:
    """Acknowledge the member's latest open alert, or keep the text as a ground report.

    Returns "ack", "report" or "unknown_sender". Runs in the caller's transaction.
    """
    raise NotImplementedError("filled in by the alerts work")
