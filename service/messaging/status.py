"""Provider status reports (webhooks) applied to deliveries: each report is stored once as a
history event, and moves its delivery forward by rank only (a late `sent` never overwrites
`delivered`); a WhatsApp failure SMS can cure falls back to SMS."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service.messaging.events import add_event
from service.messaging.fallback import enqueue_sms_fallback
from service.messaging.models import Delivery
from service.messaging.providers.base import FINAL_LOCAL, STATUS_RANK, map_status

Outcome = Literal["recorded", "duplicate", "unknown", "ignored"]


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
    delivery = _delivery_by_message_id(session, provider, provider_message_id)
    if delivery is None and (delivery_id_hint is not None or idempotency_key_hint):
        delivery = _adopt_hinted_delivery(
            session,
            provider=provider,
            provider_message_id=provider_message_id,
            occurred_at=occurred_at,
            delivery_id_hint=delivery_id_hint,
            idempotency_key_hint=idempotency_key_hint,
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
    if _falls_back(delivery, status, error_code, fallback_codes):
        enqueue_sms_fallback(
            session, delivery, now=occurred_at, reason=f"WhatsApp error {error_code}"
        )
    return "recorded"


def _delivery_by_message_id(
    session: Session, provider: str, provider_message_id: str
) -> Delivery | None:
    return session.execute(
        select(Delivery)
        .where(Delivery.provider == provider, Delivery.provider_message_id == provider_message_id)
        .with_for_update()
    ).scalar_one_or_none()


def _adopt_hinted_delivery(
    session: Session,
    *,
    provider: str,
    provider_message_id: str,
    occurred_at: datetime,
    delivery_id_hint: int | None,
    idempotency_key_hint: str | None,
) -> Delivery | None:
    """The send's response was lost (crash, timeout) but the callback names our row: the
    row takes the report's message id and counts as accepted (None: no such row, or it
    already has another message id)."""
    hint = (
        Delivery.id == delivery_id_hint
        if delivery_id_hint is not None
        else Delivery.idempotency_key == idempotency_key_hint
    )
    candidate = session.execute(select(Delivery).where(hint).with_for_update()).scalar_one_or_none()
    if candidate is None:
        return None
    if candidate.provider_message_id == provider_message_id:
        return candidate  # the dispatcher recorded it while we waited for the lock
    if candidate.provider_message_id is not None:
        return None
    candidate.provider = provider
    candidate.provider_message_id = provider_message_id
    candidate.claim_token = None
    candidate.uncertain = False
    candidate.accepted_at = candidate.accepted_at or occurred_at
    if candidate.status in ("pending", "sending"):
        candidate.status = "accepted"
    add_event(
        session,
        dedupe_key=f"d{candidate.id}:accepted",
        delivery_id=candidate.id,
        status="accepted",
        source="dispatcher",
        occurred_at=occurred_at,
        provider_message_id=provider_message_id,
        error_message="recorded from the provider's status report after an uncertain send",
    )
    return candidate


def _falls_back(
    delivery: Delivery,
    status: str,
    error_code: str | None,
    fallback_codes: set[str] | frozenset[str],
) -> bool:
    """A WhatsApp failure with a code SMS can cure (outside the 24 h window, not a WhatsApp
    number)."""
    return (
        status in ("failed", "undelivered")
        and delivery.channel == "whatsapp"
        and error_code is not None
        and error_code in fallback_codes
    )


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
