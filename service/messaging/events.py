"""History events of deliveries: one row per thing that happened, deduplicated on a key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from service.messaging.models import DeliveryEvent


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


# Column -> array type, for statements that insert events over unnest (claims, recording).
EVENT_COLUMNS = {
    "dedupe_key": "text[]",
    "delivery_id": "bigint[]",
    "status": "text[]",
    "source": "text[]",
    "occurred_at": "timestamptz[]",
    "provider_message_id": "text[]",
    "error_code": "text[]",
    "error_message": "text[]",
}
