"""The durable outbox: one delivery row per recipient and channel.

Contract used by alerts: `enqueue` runs inside the caller's transaction (the same one that
creates the alert), so an alert and its deliveries commit or vanish together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def enqueue(
    *,
    session: Session,
    idempotency_key: str,
    phone: str,
    channel: str,  # "sms" | "whatsapp"
    body: str,
    alert_id: int | None = None,
    member_id: int | None = None,
    template: dict[str, Any] | None = None,  # WhatsApp template name/language/params for outside 24 h
    purpose: str = "alert",  # "alert" | "escalation" | "notice" | "all_clear"
) -> int:
    """Add one delivery (idempotent on `idempotency_key`) and return its id."""
    raise NotImplementedError("filled in by the messaging work")
