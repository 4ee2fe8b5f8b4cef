"""Delivery state from messaging's outbox (status, provider id, history) for the alerts API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.messaging.models import Delivery
from service.messaging.status import history


def lookup(
    *, session: Session, delivery_ids: list[int], with_history: bool = True
) -> dict[int, dict[str, Any]]:
    """Per delivery id: channel, status, provider, provider message id, errors, history.

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
