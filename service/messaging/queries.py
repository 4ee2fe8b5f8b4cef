"""Read models of the outbox for the API and for alerts' per-recipient views."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import Select, func, select
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


# Which members belong to some groups, as a select of member ids. Alerts owns groups and
# members and sits above messaging: it registers this at start-up (service.alerts.hooks).
GroupMembers = Callable[[list[int]], Select[Any]]
_group_members: list[GroupMembers] = []


def set_group_members(query: GroupMembers | None) -> None:
    """Register (or, with None, clear) the process's group-members query."""
    _group_members.clear()
    if query is not None:
        _group_members.append(query)


def _in_groups(q: Select[Any], group_ids: Collection[int] | None) -> Select[Any]:
    if group_ids is None:
        return q
    if not _group_members:
        raise RuntimeError(
            "no group-members query is registered in this process: call "
            "service.alerts.hooks.install() at start-up"
        )
    return q.where(Delivery.member_id.in_(_group_members[0](list(group_ids))))


def list_deliveries(
    *,
    session: Session,
    alert_id: int | None = None,
    status: str | None = None,
    phone: str | None = None,
    limit: int = 100,
    offset: int = 0,
    group_ids: Collection[int] | None = None,
) -> dict[str, Any]:
    """`group_ids`: only deliveries to members of these groups (None: all)."""
    q = _in_groups(select(Delivery), group_ids)
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


def get_delivery(
    *, session: Session, delivery_id: int, group_ids: Collection[int] | None = None
) -> dict[str, Any] | None:
    """One delivery; None if absent or (with `group_ids`) not to a member of those groups."""
    q = _in_groups(select(Delivery).where(Delivery.id == delivery_id), group_ids)
    d = session.execute(q).scalar_one_or_none()
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
