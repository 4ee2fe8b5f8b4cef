"""messaging tables: the outbox (deliveries), their status history, inbound messages,
opt-outs by phone number and the shared rate-limit buckets.

`alert_id` and `member_id` are plain bigint columns: the alerts tables live in their own
domain and a delivery may outlive (or precede) rows there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, TimestampMixin

CHANNELS = ("sms", "whatsapp")

# Dispatcher-owned states, then the provider's own (ranked in status.py).
DELIVERY_STATUSES = (
    "pending",  # waiting for next_attempt_at
    "sending",  # claimed; the HTTP call may be in flight (claim_token set)
    "accepted",  # the provider took it and gave us its id
    "queued",
    "sent",
    "delivered",
    "read",
    "undelivered",
    "failed",  # permanent error (sync or async)
    "dead",  # transient errors until max_attempts
    "opted_out",  # never sent: the number replied STOP/BERHENTI
)


def _in(values: tuple[str, ...]) -> str:
    return "('" + "','".join(values) + "')"


class Delivery(TimestampMixin, Base):
    """One message to one recipient on one channel."""

    __tablename__ = "message_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    alert_id: Mapped[int | None] = mapped_column(BigInteger)
    member_id: Mapped[int | None] = mapped_column(BigInteger)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    sms_fallback_body: Mapped[str | None] = mapped_column(Text)
    template: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    purpose: Mapped[str] = mapped_column(String(32), nullable=False, server_default="alert")
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # Set when a send may have reached the provider without us learning its id (crash,
    # timeout): the next attempt asks the provider before sending again.
    uncertain: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    last_error_code: Mapped[str | None] = mapped_column(String(32))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fallback_of: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("message_deliveries.id", ondelete="SET NULL")
    )

    __table_args__ = (
        CheckConstraint("channel IN " + _in(CHANNELS), name="channel"),
        CheckConstraint("status IN " + _in(DELIVERY_STATUSES), name="status"),
        Index("ix_message_deliveries_alert_id", "alert_id"),
        Index("ix_message_deliveries_fallback_of", "fallback_of"),
        Index(
            "ix_message_deliveries_provider_message_id",
            "provider",
            "provider_message_id",
            unique=True,
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
        # The claim query: only rows still to send are indexed.
        Index(
            "ix_message_deliveries_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_message_deliveries_sending",
            "claimed_at",
            postgresql_where=text("status = 'sending'"),
        ),
        Index(
            "ix_message_deliveries_awaiting_receipt",
            "accepted_at",
            postgresql_where=text(
                "channel = 'whatsapp' AND status IN ('accepted','queued','sent')"
            ),
        ),
    )


class DeliveryEvent(Base):
    """The status history of a delivery: ours (claimed, retry, dead) and the provider's.

    `dedupe_key` makes every write idempotent: a provider callback retried or repeated
    adds nothing.
    """

    __tablename__ = "message_delivery_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("message_deliveries.id", ondelete="CASCADE")
    )
    dedupe_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # dispatcher | twilio | meta
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        Index("ix_message_delivery_events_delivery_id", "delivery_id"),
        Index("ix_message_delivery_events_provider_message_id", "provider_message_id"),
    )


class InboundMessage(Base):
    """A message a member sent us (reply, STOP, report), deduplicated on the provider id."""

    __tablename__ = "message_inbound"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    provider_message_id: Mapped[str] = mapped_column(String(128), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    button_payload: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # stop | start | ack | report | unknown_sender | pending (alerts not ready) | error
    handled_as: Mapped[str | None] = mapped_column(String(24))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        Index(
            "uq_message_inbound_provider_message",
            "provider",
            "provider_message_id",
            unique=True,
        ),
        Index("ix_message_inbound_phone_received_at", "phone", "received_at"),
    )


class OptOut(Base):
    """A phone number that replied STOP/BERHENTI; MULAI sets `active` false again."""

    __tablename__ = "message_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    keyword: Mapped[str] = mapped_column(String(16), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    opted_out_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    opted_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateBucket(Base):
    """A token bucket per provider, shared by every worker on every machine."""

    __tablename__ = "message_rate_buckets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
