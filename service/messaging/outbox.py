"""The durable outbox: one delivery row per recipient and channel.

Contract used by alerts: `enqueue` runs inside the caller's transaction (the same one that
creates the alert), so an alert and its deliveries commit or vanish together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Select, func, insert, select, text
from sqlalchemy.orm import Session

from service.errors import InvalidInput
from service.messaging.models import CHANNELS, Delivery
from service.wakeup import OUTBOX, notify

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
PURPOSES = (
    "alert",
    "escalation",
    "notice",
    "all_clear",
    "fallback",
    "confirmation",  # the answer to a member's YA or report
    "opt_out_confirmation",  # the one answer to BERHENTI/STOP, sent although opted out
)


@dataclass(frozen=True)
class NewDelivery:
    idempotency_key: str
    phone: str
    channel: str
    body: str
    alert_id: int | None = None
    member_id: int | None = None
    template: dict[str, Any] | None = None
    purpose: str = "alert"
    sms_fallback_body: str | None = None
    fallback_of: int | None = None


def _validate(item: NewDelivery) -> dict[str, Any]:
    if not item.idempotency_key or len(item.idempotency_key) > 200:
        raise InvalidInput("idempotency_key must be 1-200 characters")
    if item.channel not in CHANNELS:
        raise InvalidInput(f"channel {item.channel!r} is not one of {', '.join(CHANNELS)}")
    if not E164.match(item.phone):
        raise InvalidInput(f"phone {item.phone!r} is not E.164 (e.g. +6281234567890)")
    if not item.body.strip() and not item.template:
        raise InvalidInput("a delivery needs a body or a template")
    return {
        "idempotency_key": item.idempotency_key,
        "phone": item.phone,
        "channel": item.channel,
        "body": item.body,
        "alert_id": item.alert_id,
        "member_id": item.member_id,
        "template": item.template,
        "purpose": item.purpose,
        "sms_fallback_body": item.sms_fallback_body,
        "fallback_of": item.fallback_of,
    }


_ARRAY_TYPES = {
    "idempotency_key": "text[]",
    "phone": "text[]",
    "channel": "text[]",
    "body": "text[]",
    "alert_id": "bigint[]",
    "member_id": "bigint[]",
    "template": "text[]",
    "purpose": "text[]",
    "sms_fallback_body": "text[]",
    "fallback_of": "bigint[]",
}
_COLUMNS = ", ".join(_ARRAY_TYPES)
_INSERT_UNNEST = text(
    f"INSERT INTO message_deliveries ({_COLUMNS}) "
    "SELECT idempotency_key, phone, channel, body, alert_id, member_id, template::jsonb, purpose, "
    "sms_fallback_body, fallback_of FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t})" for c, t in _ARRAY_TYPES.items())
    + f") AS t({_COLUMNS}) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key"
)


def enqueue(
    *,
    session: Session,
    idempotency_key: str,
    phone: str,
    channel: str,  # "sms" | "whatsapp"
    body: str,
    alert_id: int | None = None,
    member_id: int | None = None,
    template: dict[str, Any]
    | None = None,  # WhatsApp template name/language/params for outside 24 h
    purpose: str = "alert",  # one of PURPOSES
    sms_fallback_body: str | None = None,  # the SMS text if WhatsApp falls back (default: body)
) -> int:
    """Add one delivery (idempotent on `idempotency_key`) and return its id.

    `template` for Twilio: {"content_sid": "HX…", "variables": {"1": "…"}}; for Meta:
    {"name": "peringatan_gempa", "language": "id", "parameters": ["…"]}. Both may be given.
    """
    item = NewDelivery(
        idempotency_key=idempotency_key,
        phone=phone,
        channel=channel,
        body=body,
        alert_id=alert_id,
        member_id=member_id,
        template=template,
        purpose=purpose,
        sms_fallback_body=sms_fallback_body,
    )
    return enqueue_many(session=session, items=[item])[0]


def enqueue_many(*, session: Session, items: Iterable[NewDelivery]) -> list[int]:
    """Bulk `enqueue`: ids in input order; existing keys keep their row."""
    rows = [_validate(i) for i in items]
    if not rows:
        return []
    ids: dict[str, int] = {}
    for start in range(0, len(rows), 20_000):
        chunk = rows[start : start + 20_000]
        # One statement over arrays: a 100,000-recipient fan-out costs seconds, not minutes.
        columns = {c: [r[c] for r in chunk] for c in _ARRAY_TYPES}
        columns["template"] = [
            json.dumps(r["template"]) if r["template"] is not None else None for r in chunk
        ]
        inserted = session.execute(_INSERT_UNNEST, columns)
        ids.update({key: id_ for id_, key in inserted})
        missing = [r["idempotency_key"] for r in chunk if r["idempotency_key"] not in ids]
        if missing:
            found = session.execute(
                select(Delivery.id, Delivery.idempotency_key).where(
                    Delivery.idempotency_key.in_(missing)
                )
            )
            ids.update({key: id_ for id_, key in found})
    notify(session, OUTBOX)  # dispatchers wake when this transaction commits
    return [ids[r["idempotency_key"]] for r in rows]


# The columns a select given to `insert_from_select` yields, in this order.
SELECT_COLUMNS = (
    "id",  # from `next_delivery_id()`: the caller knows its rows' ids without a join back
    "idempotency_key",
    "phone",
    "channel",
    "body",
    "alert_id",
    "member_id",
    "template",
    "purpose",
    "sms_fallback_body",
)


def next_delivery_id() -> Any:
    """SQL for a new delivery's id, drawn from the outbox's own sequence."""
    return func.nextval(func.pg_get_serial_sequence(Delivery.__tablename__, "id"))


def insert_from_select(rows: Select[Any]) -> Insert:
    """Bulk `enqueue` of rows the database makes itself (a fan-out pairs texts with members):
    `rows` yields `SELECT_COLUMNS`. The keys must be new: one that exists fails the
    statement, and the caller's transaction, rather than leaving the caller with an id
    that is not there. The caller vouches for the values (members' numbers are E.164,
    channels and purposes known): nothing here looks at them one by one. RETURNING the ids;
    call `wake_dispatchers` in the same transaction."""
    names = [c.name for c in rows.selected_columns]
    if names != list(SELECT_COLUMNS):
        raise ValueError(f"insert_from_select wants the columns {SELECT_COLUMNS}, got {names}")
    return insert(Delivery).from_select(list(SELECT_COLUMNS), rows).returning(Delivery.id)


def wake_dispatchers(session: Session) -> None:
    notify(session, OUTBOX)  # dispatchers wake when this transaction commits
