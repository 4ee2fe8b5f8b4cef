"""The one interface every provider implements, and the error kinds the dispatcher acts on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

ErrorKind = Literal["transient", "permanent"]


@dataclass(frozen=True)
class OutboundMessage:
    """What a provider needs to send one delivery."""

    delivery_id: int
    idempotency_key: str
    channel: str  # "sms" | "whatsapp"
    phone: str  # E.164
    body: str
    template: dict[str, Any] | None = None  # used instead of body outside the 24 h window
    use_template: bool = False


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str  # the provider's first status: queued, accepted, delivered (console)


@dataclass
class ProviderError(Exception):
    """A send that did not go through.

    `kind` decides what the dispatcher does: transient errors retry with backoff,
    permanent ones fail the delivery at once with the provider's `code`. `fallback` marks
    a WhatsApp failure that SMS can cure (outside the 24 h window).
    `maybe_sent` is set when the request may have reached the provider (timeouts, dropped
    connections): the next attempt looks the message up before sending again.
    """

    kind: ErrorKind
    code: str
    message: str
    fallback: bool = False
    maybe_sent: bool = False
    retry_after_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind} {self.code}: {self.message}"


class Provider(Protocol):
    name: str
    # True when `lookup` can find a message by recipient and time (Twilio); False when the
    # only reconciliation is the status webhook carrying our key (Meta).
    supports_lookup: bool

    def send(self, message: OutboundMessage) -> SendResult:
        """Send one message; raise ProviderError on failure."""
        ...

    def lookup(self, message: OutboundMessage, *, since: datetime) -> SendResult | None:
        """Find a message this delivery may already have created; None if there is none."""
        ...

    def close(self) -> None: ...


# Statuses providers report, ranked so a late `sent` never overwrites `delivered`.
STATUS_RANK: dict[str, int] = {
    "pending": 0,
    "sending": 5,
    "accepted": 10,
    "scheduled": 10,
    "queued": 10,
    "sent": 30,
    "undelivered": 40,
    "failed": 40,
    "delivered": 50,
    "read": 60,
    "played": 60,
}
# States a provider callback never moves a delivery out of.
FINAL_LOCAL = {"dead", "opted_out"}


def map_status(provider_status: str) -> str | None:
    """A provider's status name -> ours (None for statuses we do not track, e.g. 'deleted')."""
    s = provider_status.lower()
    if s in ("accepted", "scheduled", "queued", "sending"):
        return "accepted" if s != "queued" else "queued"
    if s in ("sent", "delivered", "read", "undelivered", "failed"):
        return s
    if s == "played":
        return "read"
    if s == "partially_delivered":
        return "delivered"
    return None
