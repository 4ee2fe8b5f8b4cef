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
from typing import Any
from urllib.parse import urlencode

import httpx

from service.messaging.providers.base import OutboundMessage, ProviderError, SendResult

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
        self.headers = {"Authorization": f"Basic {token}"}
        self.sms_from = sms_from
        self.whatsapp_from = whatsapp_from
        self.status_callback_url = status_callback_url
        self.validity_period_s = validity_period_s

    @property
    def messages_url(self) -> httpx.URL:
        # Parsed once per base URL: httpx would otherwise parse the string on every request.
        if self._url_for != self.base_url:
            self._url_for = self.base_url
            self._messages_url = httpx.URL(
                f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
            )
        assert self._messages_url is not None
        return self._messages_url

    _url_for: str | None = None
    _messages_url: httpx.URL | None = None

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

    def send(self, message: OutboundMessage) -> SendResult:
        try:
            response = self.client.post(
                self.messages_url,
                content=urlencode(self.form(message)),
                headers={
                    **self.headers,
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Idempotency-Key": message.idempotency_key,
                },
            )
        except httpx.TransportError as exc:
            raise _transport_error("Twilio", exc) from exc
        if response.status_code in (200, 201):
            data = response.json()
            return SendResult(
                provider_message_id=str(data["sid"]), status=str(data.get("status") or "queued")
            )
        raise self.error(response)

    def error(self, response: httpx.Response) -> ProviderError:
        body: dict[str, Any] = {}
        try:
            parsed = response.json()
            if isinstance(parsed, dict):
                body = parsed
        except ValueError:
            pass
        code = body.get("code")
        message = str(body.get("message") or response.reason_phrase or "error")
        retry_after = _retry_after(response)
        if response.status_code == 429 or code in TRANSIENT_CODES:
            return ProviderError("transient", str(code or 429), message, retry_after_s=retry_after)
        if response.status_code >= 500:
            return ProviderError("transient", str(code or response.status_code), message)
        if code in PERMANENT_CODES or 400 <= response.status_code < 500:
            return ProviderError(
                "permanent",
                str(code or response.status_code),
                message,
                fallback=code in FALLBACK_CODES,
            )
        return ProviderError("transient", str(code or response.status_code), message)

    def lookup(self, message: OutboundMessage, *, since: datetime) -> SendResult | None:
        """Newest messages to this recipient; one created after our first claim is ours."""
        try:
            response = self.client.get(
                self.messages_url,
                params={"To": _address(message.channel, message.phone), "PageSize": 50},
                headers=self.headers,
            )
        except httpx.TransportError as exc:
            raise ProviderError("transient", "lookup", f"Twilio lookup failed: {exc}") from exc
        if response.status_code != 200:
            raise self.error(response)
        for item in response.json().get("messages", []):
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

    def close(self) -> None:
        pass


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _transport_error(provider: str, exc: httpx.TransportError) -> ProviderError:
    """Connect failures never reached the provider; read timeouts and dropped connections
    may have created the message, so the next attempt looks it up first."""
    not_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    code = "timeout" if isinstance(exc, httpx.TimeoutException) else "network"
    return ProviderError(
        "transient", code, f"{provider}: {type(exc).__name__} {exc}", maybe_sent=not not_sent
    )
