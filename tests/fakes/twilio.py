"""A fake Twilio Programmable Messaging API (2010-04-01 Messages resource).

POST /2010-04-01/Accounts/{sid}/Messages.json (form, Basic auth) -> 201 message JSON shaped
like Twilio's OpenAPI examples; errors in Twilio's REST envelope. GET on the same path lists
messages (newest first, filter `To`). Like real Twilio it does NOT deduplicate by default
(`dedupe=True` makes it honour the Idempotency-Key header). With `callbacks=True` it posts
signed StatusCallbacks (sent, delivered, sometimes out of order and repeated; failed with
63016 for WhatsApp outside the 24 h window).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

from tests.fakes.gateway import Accepted, Gateway, Receive, Scope, Send, header, read_body, respond

PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json$")
ERRORS = {
    21211: "Invalid 'To' Phone Number",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    21408: "Permission to send an SMS has not been enabled for the region of the 'To' number",
    63016: "Failed to send freeform message because you are outside the allowed window.",
}


def sign(url: str, params: dict[str, str], token: str) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def error_body(code: int, status: int, message: str | None = None) -> dict[str, Any]:
    return {
        "code": code,
        "message": message or ERRORS.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeTwilio:
    def __init__(
        self,
        gateway: Gateway,
        *,
        account_sid: str = "AC" + "a" * 32,
        auth_token: str = "fake-twilio-token",
        callbacks: bool = False,
        callback_shuffle: float = 0.3,
    ) -> None:
        self.gateway = gateway
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.callbacks = callbacks
        self.callback_shuffle = callback_shuffle
        expected = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.expected_auth = f"Basic {expected}"

    def resource(self, msg: Accepted) -> dict[str, Any]:
        p = msg.payload
        created = formatdate(msg.at, usegmt=True).replace("GMT", "+0000")
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{msg.id}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": p.get("Body"),
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": p.get("From"),
            "messaging_service_sid": p.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": msg.id,
            "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": p["To"],
            "uri": f"{base}.json",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/_fake/stats":
            await respond(send, 200, self.gateway.stats())
            return
        if not PATH.match(path):
            await respond(send, 404, error_body(20404, 404, "The requested resource was not found"))
            return
        if header(scope, "authorization") != self.expected_auth:
            await respond(send, 401, error_body(20003, 401, "Authenticate"))
            return
        if scope["method"] == "GET":
            await self.list(scope, send)
            return
        body = await read_body(receive)
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        to = params.get("To", "")
        phone = to.removeprefix("whatsapp:")
        if not re.fullmatch(r"\+[1-9]\d{6,14}", phone):
            await respond(send, 400, error_body(21211, 400, f"Invalid 'To' Phone Number: {to}"))
            return
        if not (params.get("From") or params.get("MessagingServiceSid")):
            await respond(send, 400, error_body(21603, 400, "A 'From' phone number is required."))
            return
        if not (params.get("Body") or params.get("ContentSid")):
            await respond(send, 400, error_body(21602, 400, "Message body is required."))
            return
        outcome = self.gateway.draw()
        if outcome == "5xx":
            self.gateway.failures["5xx"] += 1
            await respond(send, 503, error_body(20500, 503, "Service Unavailable"))
            return
        if outcome == "429":
            self.gateway.failures["429"] += 1
            await respond(send, 429, error_body(20429, 429, "Too Many Requests"))
            return
        code = self.gateway.faults.permanent.get(phone)
        if code:
            self.gateway.failures[str(code)] += 1
            await respond(send, 400, error_body(code, 400))
            return
        channel = "whatsapp" if to.startswith("whatsapp:") else "sms"
        key = header(scope, "idempotency-key")
        msg, new = self.gateway.accept(
            key=key,
            make=lambda: Accepted(
                id="SM" + secrets.token_hex(16),
                to=phone,
                channel=channel,
                body=params.get("Body"),
                key=key,
                at=time.time(),
                payload=params,
            ),
        )
        if new and self.callbacks and params.get("StatusCallback"):
            self.schedule_callbacks(msg, params["StatusCallback"])
        if outcome == "timeout":
            self.gateway.failures["timeout"] += 1
            await asyncio.sleep(self.gateway.faults.timeout_delay_s)
        elif self.gateway.faults.latency_s:
            await asyncio.sleep(self.gateway.faults.latency_s)
        await respond(send, 201, self.resource(msg))

    async def list(self, scope: Scope, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode())
        to = (query.get("To") or [None])[0]
        size = int((query.get("PageSize") or ["50"])[0])
        with self.gateway.lock:
            found = [m for m in self.gateway.accepted if to is None or m.payload.get("To") == to]
        found.sort(key=lambda m: m.at, reverse=True)
        await respond(
            send,
            200,
            {
                "messages": [self.resource(m) for m in found[:size]],
                "page": 0,
                "page_size": size,
                "first_page_uri": scope["path"],
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": scope["path"],
                "start": 0,
                "end": max(0, min(size, len(found)) - 1),
            },
        )

    def schedule_callbacks(self, msg: Accepted, url: str) -> None:
        rng = self.gateway.rng
        if (
            msg.channel == "whatsapp"
            and msg.to in self.gateway.faults.window_closed
            and not msg.payload.get("ContentSid")
        ):
            statuses = [("failed", "63016")]
        else:
            statuses = [("sent", ""), ("delivered", "")]
            if rng.random() < self.callback_shuffle:
                statuses.reverse()  # callbacks may arrive out of order
            if rng.random() < self.callback_shuffle:
                statuses.append(statuses[0])  # and more than once
        for status, code in statuses:
            params = {
                "MessageSid": msg.id,
                "SmsSid": msg.id,
                "MessageStatus": status,
                "SmsStatus": status,
                "AccountSid": self.account_sid,
                "From": msg.payload.get("From", ""),
                "To": msg.payload["To"],
                "ApiVersion": "2010-04-01",
            }
            if code:
                params["ErrorCode"] = code
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(url, params, self.auth_token),
                "I-Twilio-Idempotency-Token": secrets.token_hex(8),
            }
            self.gateway.post_later(url, headers, urlencode(params).encode())
