"""The one interface every provider implements, and the error kinds the dispatcher acts on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from service.messaging.providers.wire import WireRequest, WireResponse

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
    """A messaging provider. Its HTTP exchanges are data (`*_request` builds one, `*_result`
    reads the reply) so the dispatcher can run a whole batch through one engine; `send` and
    `lookup` do the same exchange over the provider's own injected httpx client."""

    name: str
    # True when `lookup` can find a message by recipient and time (Twilio); False when the
    # only reconciliation is the status webhook carrying our key (Meta).
    supports_lookup: bool

    def send_request(self, message: OutboundMessage) -> WireRequest | None:
        """The HTTP request that sends `message`; None for a provider without HTTP (console),
        whose `send` is called instead. Raises ProviderError for a message it cannot send."""
        ...

    def send_result(self, response: WireResponse) -> SendResult:
        """Read the reply to `send_request`; raise ProviderError when it is a failure."""
        ...

    def lookup_request(self, message: OutboundMessage) -> WireRequest | None:
        """The request that finds an earlier attempt of `message`; None when there is none."""
        ...

    def lookup_result(
        self, response: WireResponse, message: OutboundMessage, *, since: datetime
    ) -> SendResult | None:
        """The message this delivery already created (after `since`), or None."""
        ...

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
