"""Inbound messages: stored once per provider id; STOP/BERHENTI and MULAI handled here by
phone number, everything else handed to the reply handler (acknowledgements and ground
reports).

Messaging sits below alerts and does not import it: alerts registers its handler with
`set_reply_handler` when a process starts (`service.alerts.hooks.install`, called by the app
factory and the worker). A process that receives a message with no handler registered raises
`NoReplyHandler` (the webhook answers 500 and the provider retries) instead of dropping it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from service.messaging.models import InboundMessage, OptOut
from service.messaging.outbox import E164

log = logging.getLogger(__name__)

STOP_WORDS = {"STOP", "BERHENTI", "UNSUBSCRIBE"}
START_WORDS = {"MULAI", "START", "UNSTOP"}


@dataclass(frozen=True)
class IncomingReply:
    """One inbound text as the reply handler sees it."""

    channel: str  # "sms" | "whatsapp"
    phone: str  # E.164, e.g. "+6281234567890"
    text: str
    received_at: datetime
    provider: str  # "twilio" | "meta" | "console"
    provider_message_id: str
    button_payload: str | None = None


class ReplyHandler(Protocol):
    """What alerts does with replies (`service.alerts.replies` is one)."""

    def handle_inbound(self, *, session: Session, message: IncomingReply) -> str:
        """Act on a reply in the caller's transaction; return what it was (ack, report...)."""
        ...

    def confirm_keyword(self, *, session: Session, message: IncomingReply, kind: str) -> bool:
        """Answer a STOP/MULAI (`kind` "stop" or "start")."""
        ...


class NoReplyHandler(RuntimeError):
    """A message arrived in a process that never registered a reply handler."""


_reply_handler: list[ReplyHandler] = []


def set_reply_handler(handler: ReplyHandler | None) -> None:
    """Register (or, with None, clear) the process's reply handler."""
    _reply_handler.clear()
    if handler is not None:
        _reply_handler.append(handler)


def reply_handler() -> ReplyHandler:
    if not _reply_handler:
        raise NoReplyHandler(
            "no reply handler is registered in this process: call "
            "service.alerts.hooks.install() at start-up"
        )
    return _reply_handler[0]


def normalise_sender(address: str) -> tuple[str, str]:
    """'whatsapp:+62…' / '+62…' / '62…' (wa_id) -> (channel, E.164 phone)."""
    address = address.strip()
    channel = "sms"
    if address.lower().startswith("whatsapp:"):
        channel = "whatsapp"
        address = address.split(":", 1)[1]
    digits = re.sub(r"[^\d+]", "", address)
    if not digits.startswith("+"):
        digits = "+" + digits
    return channel, digits


def keyword(text_: str) -> str:
    return re.sub(r"[^A-Z]", "", text_.strip().upper())


def receive(
    session: Session,
    *,
    provider: str,
    provider_message_id: str,
    channel: str,
    phone: str,
    text_: str,
    received_at: datetime,
    button_payload: str | None = None,
    raw: dict[str, Any] | None = None,
) -> str:
    """Store and act on one inbound message in the caller's transaction.

    Returns what it was: stop, start, ack, ack+report, report, unknown_sender,
    invalid_sender (the sender is no phone number: stored, nothing else done), pending (alerts
    could not take it yet; kept for later), error, or duplicate (already stored: nothing done).
    """
    handler = reply_handler()  # before anything is stored: no handler, nothing half-done
    new_id = session.execute(
        insert(InboundMessage)
        .values(
            provider=provider,
            provider_message_id=provider_message_id,
            channel=channel,
            phone=phone,
            body=text_,
            button_payload=button_payload,
            received_at=received_at,
            raw=raw or {},
        )
        .on_conflict_do_nothing(index_elements=["provider", "provider_message_id"])
        .returning(InboundMessage.id)
    ).scalar()
    if new_id is None:
        return "duplicate"
    message = IncomingReply(
        channel=channel,
        phone=phone,
        text=text_,
        received_at=received_at,
        provider=provider,
        provider_message_id=provider_message_id,
        button_payload=button_payload,
    )
    word = keyword(button_payload or text_)
    if not E164.match(phone):
        # Never an opt-out (or anything else) for "+" or a short code: kept for the record.
        log.warning("inbound %s from %r, which is no phone number", provider_message_id, phone)
        outcome = "invalid_sender"
    elif word in STOP_WORDS:
        outcome = "stop"
        set_opt_out(session, phone=phone, word=word, channel=channel, at=received_at, active=True)
        _confirm_keyword(session, handler, message, outcome)
    elif word in START_WORDS:
        outcome = "start"
        set_opt_out(session, phone=phone, word=word, channel=channel, at=received_at, active=False)
        _confirm_keyword(session, handler, message, outcome)
    else:
        outcome = _hand_to_alerts(session, handler, message)
    session.execute(
        text("UPDATE message_inbound SET handled_as = :h WHERE id = :id"),
        {"h": outcome, "id": new_id},
    )
    return outcome


def _hand_to_alerts(session: Session, handler: ReplyHandler, message: IncomingReply) -> str:
    try:
        with session.begin_nested():  # alerts' failure must not lose the stored message
            return handler.handle_inbound(session=session, message=message)
    except NotImplementedError:
        return "pending"
    except Exception:
        log.exception("alerts could not handle inbound %s", message.provider_message_id)
        return "error"


def _confirm_keyword(
    session: Session, handler: ReplyHandler, message: IncomingReply, kind: str
) -> None:
    try:
        with session.begin_nested():  # a failed answer must not undo the opt-out
            handler.confirm_keyword(session=session, message=message, kind=kind)
    except Exception:
        log.exception("could not answer %s %s", kind, message.provider_message_id)


def set_opt_out(
    session: Session, *, phone: str, word: str, channel: str, at: datetime, active: bool
) -> None:
    values = {
        "phone": phone,
        "active": active,
        "keyword": word,
        "channel": channel,
        "opted_out_at": at,
    }
    stmt = insert(OptOut).values(**values, opted_in_at=None if active else at)
    update: dict[str, Any] = {"active": active, "keyword": word, "channel": channel}
    if active:
        update["opted_out_at"] = at
    else:
        update["opted_in_at"] = at
    session.execute(stmt.on_conflict_do_update(index_elements=["phone"], set_=update))


def opted_out(session: Session, phones: Iterable[str]) -> set[str]:
    """The numbers among `phones` that asked not to be messaged (for alerts' views)."""
    phones = list(phones)
    if not phones:
        return set()
    rows = session.execute(select(OptOut.phone).where(OptOut.phone.in_(phones), OptOut.active))
    return set(rows.scalars())
