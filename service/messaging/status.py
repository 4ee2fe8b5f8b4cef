"""Recording what happened to a delivery: history events (deduplicated) and its current
status (monotonic: a late `sent` never overwrites `delivered`), plus SMS fallback rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from service.messaging.models import Delivery, DeliveryEvent
from service.messaging.outbox import NewDelivery, enqueue_many
from service.messaging.providers.base import FINAL_LOCAL, STATUS_RANK, map_status

Outcome = Literal["recorded", "duplicate", "unknown", "ignored"]


def add_event(
    session: Session,
    *,
    dedupe_key: str,
    delivery_id: int | None,
    status: str,
    source: str,
    occurred_at: datetime,
    provider_message_id: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """Insert one history event; False when an event with this key was already stored."""
    stmt = (
        insert(DeliveryEvent)
        .values(
            dedupe_key=dedupe_key[:255],
            delivery_id=delivery_id,
            status=status,
            source=source,
            occurred_at=occurred_at,
            provider_message_id=provider_message_id,
            error_code=error_code,
            error_message=error_message,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(DeliveryEvent.id)
    )
    return session.execute(stmt).scalar() is not None


_EVENT_COLUMNS = {
    "dedupe_key": "text[]",
    "delivery_id": "bigint[]",
    "status": "text[]",
    "source": "text[]",
    "occurred_at": "timestamptz[]",
    "provider_message_id": "text[]",
    "error_code": "text[]",
    "error_message": "text[]",
}
_INSERT_EVENTS = text(
    f"INSERT INTO message_delivery_events ({', '.join(_EVENT_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t})" for c, t in _EVENT_COLUMNS.items())
    + ") ON CONFLICT (dedupe_key) DO NOTHING"
)


def add_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Bulk add_event for the dispatcher's batches: one statement over arrays."""
    if events:
        session.execute(
            _INSERT_EVENTS,
            {c: [e.get(c) for e in events] for c in _EVENT_COLUMNS},
        )


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


def record_provider_status(
    session: Session,
    *,
    provider: str,
    provider_message_id: str,
    provider_status: str,
    occurred_at: datetime,
    error_code: str | None = None,
    error_message: str | None = None,
    delivery_id_hint: int | None = None,
    idempotency_key_hint: str | None = None,
    fallback_codes: set[str] | frozenset[str] = frozenset(),
) -> Outcome:
    """Store one provider status report (webhook) in the caller's transaction."""
    status = map_status(provider_status)
    if status is None:
        return "ignored"
    delivery = session.execute(
        select(Delivery)
        .where(Delivery.provider == provider, Delivery.provider_message_id == provider_message_id)
        .with_for_update()
    ).scalar_one_or_none()
    if delivery is None and (delivery_id_hint is not None or idempotency_key_hint):
        # The send's response was lost (crash, timeout) but the callback names our row.
        hint = (
            Delivery.id == delivery_id_hint
            if delivery_id_hint is not None
            else Delivery.idempotency_key == idempotency_key_hint
        )
        candidate = session.execute(
            select(Delivery).where(hint).with_for_update()
        ).scalar_one_or_none()
        if candidate is not None and candidate.provider_message_id == provider_message_id:
            delivery = candidate  # the dispatcher recorded it while we waited for the lock
        elif candidate is not None and candidate.provider_message_id is None:
            delivery = candidate
            delivery.provider = provider
            delivery.provider_message_id = provider_message_id
            delivery.claim_token = None
            delivery.uncertain = False
            delivery.accepted_at = delivery.accepted_at or occurred_at
            if delivery.status in ("pending", "sending"):
                delivery.status = "accepted"
            add_event(
                session,
                dedupe_key=f"d{delivery.id}:accepted",
                delivery_id=delivery.id,
                status="accepted",
                source="dispatcher",
                occurred_at=occurred_at,
                provider_message_id=provider_message_id,
                error_message="recorded from the provider's status report after an uncertain send",
            )
    new = add_event(
        session,
        dedupe_key=f"{provider}:{provider_message_id}:{provider_status.lower()}",
        delivery_id=delivery.id if delivery else None,
        status=provider_status.lower(),
        source=provider,
        occurred_at=occurred_at,
        provider_message_id=provider_message_id,
        error_code=error_code,
        error_message=error_message,
    )
    if not new:
        return "duplicate"
    if delivery is None:
        return "unknown"
    advance(
        delivery,
        status,
        occurred_at=occurred_at,
        error_code=error_code,
        error_message=error_message,
    )
    if (
        status in ("failed", "undelivered")
        and delivery.channel == "whatsapp"
        and error_code is not None
        and error_code in fallback_codes
    ):
        enqueue_sms_fallback(
            session, delivery, now=occurred_at, reason=f"WhatsApp error {error_code}"
        )
    return "recorded"


def advance(
    delivery: Delivery,
    status: str,
    *,
    occurred_at: datetime,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """Move a delivery forward by rank only; returns whether it moved."""
    if delivery.status in FINAL_LOCAL:
        return False
    if STATUS_RANK.get(status, 0) <= STATUS_RANK.get(delivery.status, 0):
        return False
    delivery.status = status
    if status in ("delivered", "read") and delivery.delivered_at is None:
        delivery.delivered_at = occurred_at
    if status in ("failed", "undelivered"):
        delivery.last_error_code = error_code
        delivery.last_error_message = error_message
    return True


def history(session: Session, delivery_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Status events per delivery, oldest first (for the API and alerts' views)."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return out
    rows = session.execute(
        text(
            "SELECT delivery_id, status, source, provider_message_id, error_code, error_message, "
            "occurred_at FROM message_delivery_events WHERE delivery_id = ANY(:ids) "
            "ORDER BY occurred_at, id"
        ),
        {"ids": delivery_ids},
    ).mappings()
    for r in rows:
        out[r["delivery_id"]].append({k: r[k] for k in r if k != "delivery_id"})
    return out
