"""Read models of the outbox for the API and for alerts' per-recipient views."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.messaging.models import Delivery, InboundMessage
from service.messaging.status import history

DELIVERY_FIELDS = (
    "id", "alert_id", "member_id", "phone", "channel", "purpose", "body", "status", "attempts",
    "provider", "provider_message_id", "last_error_code", "last_error_message", "fallback_of",
    "created_at", "accepted_at", "delivered_at", "next_attempt_at",
)  # fmt: skip


def _public(d: Delivery) -> dict[str, Any]:
    return {f: getattr(d, f) for f in DELIVERY_FIELDS}


def deliveries_for_alert(*, session: Session, alert_id: int) -> list[dict[str, Any]]:
    """Every delivery of one alert with its status history, for alerts' API."""
    rows = (
        session.execute(select(Delivery).where(Delivery.alert_id == alert_id).order_by(Delivery.id))
        .scalars()
        .all()
    )
    events = history(session, [d.id for d in rows])
    return [{**_public(d), "history": events[d.id]} for d in rows]


def list_deliveries(
    *,
    session: Session,
    alert_id: int | None = None,
    status: str | None = None,
    phone: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    q = select(Delivery)
    if alert_id is not None:
        q = q.where(Delivery.alert_id == alert_id)
    if status:
        q = q.where(Delivery.status == status)
    if phone:
        q = q.where(Delivery.phone == phone)
    total = session.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = (
        session.execute(q.order_by(Delivery.id.desc()).limit(limit).offset(offset)).scalars().all()
    )
    events = history(session, [d.id for d in rows])
    return {
        "total": total,
        "items": [{**_public(d), "history": events[d.id]} for d in rows],
    }


def get_delivery(*, session: Session, delivery_id: int) -> dict[str, Any] | None:
    d = session.get(Delivery, delivery_id)
    if d is None:
        return None
    return {**_public(d), "history": history(session, [d.id])[d.id]}


def list_inbound(*, session: Session, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    total = session.execute(select(func.count(InboundMessage.id))).scalar_one()
    rows = session.execute(
        select(InboundMessage).order_by(InboundMessage.id.desc()).limit(limit).offset(offset)
    ).scalars()
    fields = ("id", "provider", "provider_message_id", "channel", "phone", "body",
              "button_payload", "received_at", "handled_as")  # fmt: skip
    return {"total": total, "items": [{f: getattr(m, f) for f in fields} for m in rows]}
