"""Meta WhatsApp Business Cloud API: POST {base}/{version}/{phone-number-id}/messages (JSON).

Text inside the 24 h customer-service window, an approved template outside it. Our
idempotency key travels in `biz_opaque_callback_data`, which Meta returns on every status
webhook: that is how a send whose response we never recorded is reconciled (Meta has no
endpoint to list sent messages). The `Idempotency-Key` header is honoured by our fake and by
proxies that deduplicate; Meta ignores it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx

from service.messaging.providers.base import OutboundMessage, ProviderError, SendResult
from service.messaging.providers.wire import (
    WireRequest,
    WireResponse,
    exchange,
    response_or_raise,
)

# Graph error codes worth retrying (throttling, temporary service errors).
TRANSIENT_CODES = {1, 2, 4, 80007, 130429, 131000, 131016, 131056, 133004}
# Outside the 24 h window, undeliverable, not on WhatsApp: try SMS instead.
FALLBACK_CODES = {131047, 131026, 131049, 130472, 131030}
ASYNC_FALLBACK_CODES = {str(c) for c in FALLBACK_CODES}


class MetaWhatsAppProvider:
    name = "meta"
    supports_lookup = False

    def __init__(
        self,
        *,
        client: httpx.Client,
        base_url: str,
        api_version: str,
        phone_number_id: str,
        access_token: str,
    ) -> None:
        self.client = client
        self.url = f"{base_url.rstrip('/')}/{api_version}/{phone_number_id}/messages"
        self.headers: tuple[tuple[str, str], ...] = (("Authorization", f"Bearer {access_token}"),)

    @staticmethod
    def payload(message: OutboundMessage) -> dict[str, Any]:
        if message.channel != "whatsapp":
            raise ProviderError("permanent", "channel", "Meta Cloud API sends WhatsApp only")
        data: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.phone.lstrip("+"),
            "biz_opaque_callback_data": message.idempotency_key,
        }
        template = message.template or {}
        if message.use_template and template.get("name"):
            params = template.get("parameters") or template.get("variables") or []
            if isinstance(params, dict):
                params = [params[k] for k in sorted(params, key=str)]
            components = (
                [{"type": "body", "parameters": [{"type": "text", "text": str(p)} for p in params]}]
                if params
                else []
            )
            data["type"] = "template"
            data["template"] = {
                "name": template["name"],
                "language": {"code": template.get("language", "id")},
                "components": components,
            }
        else:
            data["type"] = "text"
            data["text"] = {"preview_url": False, "body": message.body}
        return data

    # -- requests and replies as data (any HTTP engine runs them) --------------------------

    def send_request(self, message: OutboundMessage) -> WireRequest:
        return WireRequest(
            "POST",
            self.url,
            (
                *self.headers,
                ("Content-Type", "application/json"),
                ("Idempotency-Key", message.idempotency_key),
            ),
            json.dumps(self.payload(message), ensure_ascii=False).encode(),
        )

    def send_result(self, response: WireResponse) -> SendResult:
        if response.status == 200:
            first = (response.json().get("messages") or [{}])[0]
            return SendResult(
                provider_message_id=str(first["id"]),
                status=str(first.get("message_status") or "accepted"),
            )
        raise self.error(response)

    @staticmethod
    def error(response: WireResponse) -> ProviderError:
        body = response.json_object()
        err: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
        code = err.get("code")
        details = (
            (err.get("error_data") or {}).get("details")
            if isinstance(err.get("error_data"), dict)
            else None
        )
        message = str(details or err.get("message") or response.reason or "error")
        if response.status == 429 or code in TRANSIENT_CODES or response.status >= 500:
            return ProviderError("transient", str(code or response.status), message)
        return ProviderError(
            "permanent", str(code or response.status), message, fallback=code in FALLBACK_CODES
        )

    def lookup_request(self, message: OutboundMessage) -> WireRequest | None:
        return None  # the Cloud API cannot list sent messages; status webhooks reconcile

    def lookup_result(
        self, response: WireResponse, message: OutboundMessage, *, since: datetime
    ) -> SendResult | None:
        return None

    # -- the same over the injected httpx client --------------------------------------------

    def send(self, message: OutboundMessage) -> SendResult:
        reply = exchange(self.client, self.send_request(message))
        return self.send_result(response_or_raise(self.name, reply))

    def lookup(self, message: OutboundMessage, *, since: datetime) -> SendResult | None:
        return None

    def close(self) -> None:
        pass
