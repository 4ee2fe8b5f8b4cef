"""What the API shows of the outbox: deliveries with their status history, inbound messages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DeliveryEventPublic(BaseModel):
    status: str
    source: str  # dispatcher | twilio | meta
    provider_message_id: str | None
    error_code: str | None
    error_message: str | None
    occurred_at: datetime


class DeliveryPublic(BaseModel):
    id: int
    alert_id: int | None
    member_id: int | None
    phone: str
    channel: str
    purpose: str
    body: str
    status: str
    attempts: int
    provider: str | None
    provider_message_id: str | None
    last_error_code: str | None
    last_error_message: str | None
    fallback_of: int | None
    created_at: datetime
    accepted_at: datetime | None
    delivered_at: datetime | None
    next_attempt_at: datetime
    history: list[DeliveryEventPublic]


class DeliveryPage(BaseModel):
    total: int
    items: list[DeliveryPublic]


class InboundPublic(BaseModel):
    id: int
    provider: str
    provider_message_id: str
    channel: str
    phone: str
    body: str
    button_payload: str | None
    received_at: datetime
    handled_as: str | None  # stop, start, ack, report, …


class InboundPage(BaseModel):
    total: int
    items: list[InboundPublic]


class MetaWebhookAck(BaseModel):
    """What a Meta Cloud API webhook call was: counts by kind (statuses, messages, ignored)."""

    received: dict[str, int]
