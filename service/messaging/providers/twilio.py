"""Twilio Programmable Messaging: SMS and WhatsApp through one REST resource.

POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded, HTTP Basic auth.
Idempotency: every request carries our key in an `Idempotency-Key` header and in the
StatusCallback URL (`?d=<delivery id>`), so a status callback names the delivery even when
we crashed before recording the Twilio SID. Twilio itself does not deduplicate creates, so
an uncertain send (timeout, crash) is reconciled with `lookup` before it is sent again.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

import httpx

from service.messaging.providers.base import OutboundMessage, ProviderError, SendResult
from service.messaging.providers.wire import (
    WireRequest,
    WireResponse,
    exchange,
    response_or_raise,
)

# Sync error codes that no retry will cure.
PERMANENT_CODES = {
    20003,  # authentication: fix the credentials, then requeue
    20404,
    21211,  # invalid To
    21408,  # region not enabled
    21606,  # From not SMS capable
    21610,  # unsubscribed (replied STOP)
    21612,  # not reachable via SMS
    21614,  # not a mobile number (landline)
    21617,  # body > 1600
    21621,
    21656,  # bad ContentVariables
    63003,
    63007,  # no WhatsApp channel for From
    63016,  # WhatsApp outside 24 h window (-> SMS fallback)
    63024,  # invalid WhatsApp recipient
    63032,
    63051,
}
TRANSIENT_CODES = {20429, 63018, 30001, 30410}
# Codes after which the same text should go by SMS instead of WhatsApp.
FALLBACK_CODES = {63016, 63003, 63024, 63032}
# Async (status callback) codes that mean WhatsApp could not deliver.
ASYNC_FALLBACK_CODES = {"63016", "63003", "63024", "63032"}

# How far back of our first claim a lookup accepts a message (clock skew).
LOOKUP_SKEW = timedelta(seconds=30)


def _address(channel: str, phone: str) -> str:
    return f"whatsapp:{phone}" if channel == "whatsapp" else phone


class TwilioProvider:
    name = "twilio"
    supports_lookup = True

    def __init__(
        self,
        *,
        client: httpx.Client,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sms_from: str,
        whatsapp_from: str,
        status_callback_url: str | None = None,
        validity_period_s: int | None = 3600,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        # Built once: at thousands of messages a second the per-request auth flow shows up.
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.headers: tuple[tuple[str, str], ...] = (("Authorization", f"Basic {token}"),)
        self.sms_from = sms_from
        self.whatsapp_from = whatsapp_from
        self.status_callback_url = status_callback_url
        self.validity_period_s = validity_period_s

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def form(self, message: OutboundMessage) -> dict[str, str]:
        sender = self.whatsapp_from if message.channel == "whatsapp" else self.sms_from
        form: dict[str, str] = {"To": _address(message.channel, message.phone)}
        if sender.startswith("MG"):
            form["MessagingServiceSid"] = sender
        else:
            form["From"] = _address(message.channel, sender.removeprefix("whatsapp:"))
        template = message.template or {}
        if message.use_template and template.get("content_sid"):
            form["ContentSid"] = str(template["content_sid"])
            variables = template.get("variables") or {}
            if isinstance(variables, list):
                variables = {str(i + 1): str(v) for i, v in enumerate(variables)}
            form["ContentVariables"] = json.dumps(variables, ensure_ascii=False)
        else:
            form["Body"] = message.body
        if self.status_callback_url:
            sep = "&" if "?" in self.status_callback_url else "?"
            form["StatusCallback"] = (
                f"{self.status_callback_url}{sep}{urlencode({'d': message.delivery_id})}"
            )
        if self.validity_period_s and message.channel == "sms":
            # A warning still queued at the carrier after an hour is stale: drop it.
            form["ValidityPeriod"] = str(self.validity_period_s)
        return form

    # -- requests and replies as data (any HTTP engine runs them) --------------------------

    def send_request(self, message: OutboundMessage) -> WireRequest:
        return WireRequest(
            "POST",
            self.messages_url,
            (
                *self.headers,
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Idempotency-Key", message.idempotency_key),
            ),
            urlencode(self.form(message)).encode(),
        )

    def send_result(self, response: WireResponse) -> SendResult:
        if response.status in (200, 201):
            data = response.json()
            return SendResult(
                provider_message_id=str(data["sid"]), status=str(data.get("status") or "queued")
            )
        raise self.error(response)

    def error(self, response: WireResponse) -> ProviderError:
        body = response.json_object()
        code = body.get("code")
        message = str(body.get("message") or response.reason or "error")
        if response.status == 429 or code in TRANSIENT_CODES:
            return ProviderError(
                "transient", str(code or 429), message, retry_after_s=response.retry_after_s()
            )
        if response.status >= 500:
            return ProviderError("transient", str(code or response.status), message)
        if code in PERMANENT_CODES or 400 <= response.status < 500:
            return ProviderError(
                "permanent",
                str(code or response.status),
                message,
                fallback=code in FALLBACK_CODES,
            )
        return ProviderError("transient", str(code or response.status), message)

    def lookup_request(self, message: OutboundMessage) -> WireRequest:
        """Newest messages to this recipient (one created after our first claim is ours)."""
        query = urlencode({"To": _address(message.channel, message.phone), "PageSize": 50})
        return WireRequest("GET", f"{self.messages_url}?{query}", self.headers)

    def lookup_result(
        self, response: WireResponse, message: OutboundMessage, *, since: datetime
    ) -> SendResult | None:
        if response.status != 200:
            raise self.error(response)
        for item in response.json_object().get("messages", []):
            created = item.get("date_created")
            try:
                created_at = parsedate_to_datetime(created) if created else None
            except (TypeError, ValueError):
                created_at = None
            if created_at is None or created_at < since - LOOKUP_SKEW:
                continue
            if item.get("direction", "outbound-api").startswith("inbound"):
                continue
            if item.get("body") not in (None, "", message.body) and not message.use_template:
                continue
            return SendResult(
                provider_message_id=str(item["sid"]), status=str(item.get("status") or "queued")
            )
        return None

    # -- the same over the injected httpx client --------------------------------------------

    def send(self, message: OutboundMessage) -> SendResult:
        reply = exchange(self.client, self.send_request(message))
        return self.send_result(response_or_raise(self.name, reply))

    def lookup(self, message: OutboundMessage, *, since: datetime) -> SendResult | None:
        reply = exchange(self.client, self.lookup_request(message))
        return self.lookup_result(response_or_raise(self.name, reply), message, since=since)

    def close(self) -> None:
        pass
