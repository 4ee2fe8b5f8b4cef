"""The development provider: every message is logged and kept on its delivery row.

Its message id is derived from the idempotency key, so sending twice is harmless.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from service.messaging.providers.base import OutboundMessage, SendResult
from service.messaging.providers.wire import WireRequest, WireResponse

log = logging.getLogger("siaga.messages")


def console_id(idempotency_key: str) -> str:
    return "CN" + hashlib.sha1(idempotency_key.encode()).hexdigest()[:32]


class ConsoleProvider:
    name = "console"
    supports_lookup = True

    def send(self, message: OutboundMessage) -> SendResult:
        log.info("[%s -> %s] %s", message.channel, message.phone, message.body)
        return SendResult(
            provider_message_id=console_id(message.idempotency_key), status="delivered"
        )

    def lookup(self, message: OutboundMessage, *, since: datetime) -> SendResult | None:
        return None  # sending again is idempotent

    # No HTTP: the dispatcher calls `send` directly.
    def send_request(self, message: OutboundMessage) -> WireRequest | None:
        return None

    def send_result(self, response: WireResponse) -> SendResult:
        raise TypeError("the console provider has no HTTP replies")

    def lookup_request(self, message: OutboundMessage) -> WireRequest | None:
        return None

    def lookup_result(
        self, response: WireResponse, message: OutboundMessage, *, since: datetime
    ) -> SendResult | None:
        return None

    def close(self) -> None:
        pass
