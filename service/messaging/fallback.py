"""WhatsApp → SMS fallback: a new SMS delivery with the same content, once per delivery.

Three roads lead here: a send that failed with a code SMS can cure (or went dead), a status
webhook with such a code (status.py), and a WhatsApp message accepted but without a delivery
receipt in time (`sweep_unconfirmed_whatsapp`, run by the dispatcher).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from service.messaging.events import add_event
from service.messaging.models import Delivery
from service.messaging.outbox import NewDelivery, enqueue_many


def fallback_key(delivery: Delivery) -> str:
    return f"{delivery.idempotency_key}:sms"[:200]


def enqueue_sms_fallback(
    session: Session, delivery: Delivery, *, now: datetime, reason: str
) -> int | None:
    """A new SMS delivery with the same content (idempotent: one fallback per delivery)."""
    if delivery.channel != "whatsapp":
        return None
    [new_id] = enqueue_many(
        session=session,
        items=[
            NewDelivery(
                idempotency_key=fallback_key(delivery),
                phone=delivery.phone,
                channel="sms",
                body=delivery.sms_fallback_body or delivery.body,
                alert_id=delivery.alert_id,
                member_id=delivery.member_id,
                purpose=delivery.purpose,
                fallback_of=delivery.id,
            )
        ],
    )
    add_event(
        session,
        dedupe_key=f"d{delivery.id}:fallback_sms",
        delivery_id=delivery.id,
        status="fallback_sms",
        source="dispatcher",
        occurred_at=now,
        error_message=f"{reason}; SMS delivery {new_id}",
    )
    return new_id


def enqueue_fallbacks(session: Session, fallbacks: list[tuple[int, str]], *, now: datetime) -> None:
    """`enqueue_sms_fallback` for (delivery id, reason) pairs planned by the dispatcher."""
    for delivery_id, reason in fallbacks:
        delivery = session.get(Delivery, delivery_id)
        if delivery is not None:
            enqueue_sms_fallback(session, delivery, now=now, reason=reason)


def sweep_unconfirmed_whatsapp(session: Session, *, now: datetime, receipt_timeout_s: float) -> int:
    """WhatsApp accepted but with no delivery receipt in time: send it by SMS too (at most
    500 per call, in the caller's transaction)."""
    cutoff = now - timedelta(seconds=receipt_timeout_s)
    child = aliased(Delivery)
    rows = (
        session.execute(
            select(Delivery)
            .where(
                Delivery.channel == "whatsapp",
                Delivery.status.in_(("accepted", "queued", "sent")),
                Delivery.accepted_at < cutoff,
                ~select(child.id).where(child.fallback_of == Delivery.id).exists(),
            )
            .limit(500)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    for d in rows:
        enqueue_sms_fallback(session, d, now=now, reason="no WhatsApp delivery receipt in time")
    return len(rows)
