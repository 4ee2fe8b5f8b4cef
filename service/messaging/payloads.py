"""Typed models of the provider webhook payloads (pure: no I/O).

A signed payload that does not fit is the provider's mistake, not a reason to fail: the
webhook acknowledges it (a non-2xx makes Meta and Twilio retry for days) and logs what did not
fit. Meta batches are checked item by item, so one odd status does not drop its neighbours.
Lengths follow the columns the values end up in (ids 128, error codes 32, phones 20); whether
a sender is a real phone number is judged later, by service.messaging.inbound.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

ProviderId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
StatusName = Annotated[str, StringConstraints(min_length=1, max_length=32)]
ErrorCodeStr = Annotated[str, StringConstraints(max_length=32)]
Timestamp = Annotated[str, StringConstraints(max_length=20)] | int | float
# Twilio: '+62…', 'whatsapp:+62…'; Meta: the wa_id, digits only. Whether a sender is a phone
# number is for service.messaging.inbound to judge (it keeps the message as `invalid_sender`);
# here only that what it normalises to fits the phone column (20 characters).
PHONE_COLUMN = 20


class _Payload(BaseModel):
    """Unknown fields are the providers' business: ignored, never a reason to refuse."""

    model_config = ConfigDict(extra="ignore")


def storable_sender(value: str) -> bool:
    """Whether the sender, normalised as inbound does ('+' and digits), fits the column."""
    address = value.strip()
    if address.lower().startswith("whatsapp:"):
        address = address.split(":", 1)[1]
    kept = re.sub(r"[^\d+]", "", address)
    return len(kept if kept.startswith("+") else "+" + kept) <= PHONE_COLUMN


def _sender(value: str) -> str:
    if not storable_sender(value):
        raise ValueError(f"longer than a phone number ({PHONE_COLUMN} characters)")
    return value


Sender = Annotated[str, StringConstraints(max_length=64), AfterValidator(_sender)]


# -- Twilio (application/x-www-form-urlencoded: every value is a string) ----------------------


class TwilioStatus(_Payload):
    MessageSid: ProviderId | None = None
    SmsSid: ProviderId | None = None
    MessageStatus: StatusName | None = None
    SmsStatus: StatusName | None = None
    ErrorCode: ErrorCodeStr | None = None
    ErrorMessage: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @property
    def sid(self) -> str | None:
        return self.MessageSid or self.SmsSid

    @property
    def status(self) -> str | None:
        return self.MessageStatus or self.SmsStatus


class TwilioInbound(_Payload):
    MessageSid: ProviderId | None = None
    SmsMessageSid: ProviderId | None = None
    SmsSid: ProviderId | None = None
    From: Sender
    Body: str = ""
    ButtonPayload: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @property
    def sid(self) -> str | None:
        return self.MessageSid or self.SmsMessageSid or self.SmsSid

    @model_validator(mode="after")
    def _has_sid(self) -> TwilioInbound:
        if not self.sid:
            raise ValueError("MessageSid is missing")
        return self


# -- Meta WhatsApp Cloud API (JSON) -----------------------------------------------------------


class MetaError(_Payload):
    code: int | ErrorCodeStr | None = None
    title: str | None = None
    message: str | None = None


class MetaStatus(_Payload):
    id: ProviderId
    status: StatusName
    timestamp: Timestamp | None = None
    errors: list[MetaError] | None = None
    biz_opaque_callback_data: Annotated[str, StringConstraints(max_length=512)] | None = None


class MetaText(_Payload):
    body: str = ""


class MetaButton(_Payload):
    text: str = ""
    payload: str | None = None


class MetaReply(_Payload):
    id: str | None = None
    title: str = ""


class MetaInteractive(_Payload):
    button_reply: MetaReply | None = None
    list_reply: MetaReply | None = None


class MetaMedia(_Payload):
    caption: str = ""


class MetaLocation(_Payload):
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None


class MetaMessage(_Payload):
    id: ProviderId
    from_: Sender = Field(alias="from")
    timestamp: Timestamp | None = None
    type: Annotated[str, StringConstraints(max_length=32)] = ""
    text: MetaText | None = None
    button: MetaButton | None = None
    interactive: MetaInteractive | None = None
    image: MetaMedia | None = None
    video: MetaMedia | None = None
    document: MetaMedia | None = None
    location: MetaLocation | None = None

    def text_and_button(self) -> tuple[str, str | None]:
        """What the member wrote (or tapped), and the button payload if any."""
        if self.type == "text" and self.text:
            return self.text.body, None
        if self.type == "button" and self.button:
            return self.button.text, self.button.payload
        if self.type == "interactive" and self.interactive:
            reply = self.interactive.button_reply or self.interactive.list_reply
            return (reply.title, reply.id) if reply else ("", None)
        media = {"image": self.image, "video": self.video, "document": self.document}.get(self.type)
        if media is not None:
            return media.caption, None
        if self.type == "location" and self.location:
            loc = self.location
            return f"lokasi {loc.latitude},{loc.longitude} {loc.name or ''}".strip(), None
        return "", None


class MetaValue(_Payload):
    # Items are checked one by one (MetaStatus / MetaMessage) so one odd item is skipped alone.
    statuses: list[Any] | None = None
    messages: list[Any] | None = None


class MetaChange(_Payload):
    value: MetaValue | None = None


class MetaEntry(_Payload):
    changes: list[MetaChange] | None = None


class MetaWebhook(_Payload):
    object: str | None = None
    entry: list[MetaEntry]


def problems(exc: ValidationError) -> str:
    """Where and why a payload did not fit, without the values (they may hold phone numbers)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def scrub(value: Any) -> Any:
    """Drop NUL characters: PostgreSQL text and JSONB cannot store them."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value
