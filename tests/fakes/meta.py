"""A fake WhatsApp Business Cloud API.

POST /{version}/{phone-number-id}/messages (JSON, Bearer token) -> 200 with contacts and
messages[].id as in Meta's docs; errors in the Graph error envelope (131047 outside the 24 h
window for free-form text, configured permanent codes per recipient). Deduplicates on the
Idempotency-Key header unless `dedupe=False`. With `webhook_url` it posts signed status
webhooks (sent, delivered) carrying `biz_opaque_callback_data`, as Meta does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

from tests.fakes.gateway import Accepted, Gateway, Receive, Scope, Send, header, read_body, respond

PATH = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<pnid>\d+)/messages$")
TITLES = {
    131047: "Re-engagement message",
    131026: "Message undeliverable",
    131030: "Recipient phone number not in allowed list",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    190: "Invalid OAuth access token",
    100: "Invalid parameter",
}


def graph_error(code: int, status: int = 400, details: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": f"(#{code}) {TITLES.get(code, 'Error')}",
            "type": "OAuthException",
            "code": code,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": details or TITLES.get(code, "Error"),
            },
            "fbtrace_id": secrets.token_urlsafe(12),
        }
    }


class FakeMeta:
    def __init__(
        self,
        gateway: Gateway,
        *,
        access_token: str = "fake-meta-token",
        app_secret: str = "fake-app-secret",
        phone_number_id: str = "1122334455667",
        webhook_url: str | None = None,
    ) -> None:
        self.gateway = gateway
        self.access_token = access_token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.webhook_url = webhook_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/_fake/stats":
            await respond(send, 200, self.gateway.stats())
            return
        m = PATH.match(scope["path"])
        if not m or scope["method"] != "POST" or m["pnid"] != self.phone_number_id:
            await respond(send, 400, graph_error(100, details="Unsupported post request"))
            return
        if header(scope, "authorization") != f"Bearer {self.access_token}":
            await respond(send, 401, graph_error(190, 401))
            return
        try:
            data = json.loads(await read_body(receive))
        except ValueError:
            await respond(send, 400, graph_error(100, details="body is not JSON"))
            return
        to = str(data.get("to", "")).lstrip("+")
        kind = data.get("type", "text")
        if data.get("messaging_product") != "whatsapp" or not re.fullmatch(r"[1-9]\d{6,14}", to):
            await respond(send, 400, graph_error(100, details="invalid messaging_product or to"))
            return
        if kind == "text" and not (data.get("text") or {}).get("body"):
            await respond(send, 400, graph_error(100, details="text.body is required"))
            return
        if kind == "template" and not (data.get("template") or {}).get("name"):
            await respond(send, 400, graph_error(132001, details="template name does not exist"))
            return
        phone = "+" + to
        outcome = self.gateway.draw()
        if outcome == "5xx":
            self.gateway.failures["5xx"] += 1
            await respond(send, 500, graph_error(131000, 500))
            return
        if outcome == "429":
            self.gateway.failures["429"] += 1
            await respond(send, 429, graph_error(130429, 429))
            return
        code = self.gateway.faults.permanent.get(phone)
        if code:
            self.gateway.failures[str(code)] += 1
            await respond(send, 400, graph_error(code))
            return
        if kind == "text" and phone in self.gateway.faults.window_closed:
            self.gateway.failures["131047"] += 1
            await respond(
                send,
                400,
                graph_error(
                    131047, details="more than 24 hours have passed since the customer last replied"
                ),
            )
            return
        key = header(scope, "idempotency-key")
        msg, new = self.gateway.accept(
            key=key,
            make=lambda: Accepted(
                id="wamid." + base64.b64encode(secrets.token_bytes(24)).decode(),
                to=phone,
                channel="whatsapp",
                body=(data.get("text") or {}).get("body"),
                key=key,
                at=time.time(),
                payload=data,
            ),
        )
        if new and self.webhook_url:
            self.schedule_webhooks(msg)
        if outcome == "timeout":
            self.gateway.failures["timeout"] += 1
            await asyncio.sleep(self.gateway.faults.timeout_delay_s)
        elif self.gateway.faults.latency_s:
            await asyncio.sleep(self.gateway.faults.latency_s)
        reply: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": data.get("to"), "wa_id": to}],
            "messages": [{"id": msg.id}],
        }
        if kind == "template":
            reply["messages"][0]["message_status"] = "accepted"
        await respond(send, 200, reply)

    def signed(self, payload: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        body = json.dumps(payload, separators=(",", ":")).encode()
        sig = hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={sig}"}, body

    def status_payload(self, msg: Accepted, status: str) -> dict[str, Any]:
        st: dict[str, Any] = {
            "id": msg.id,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": msg.to.lstrip("+"),
        }
        if msg.payload.get("biz_opaque_callback_data"):
            st["biz_opaque_callback_data"] = msg.payload["biz_opaque_callback_data"]
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "5467539754836534",
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "6281100000000",
                                    "phone_number_id": self.phone_number_id,
                                },
                                "statuses": [st],
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }

    def schedule_webhooks(self, msg: Accepted) -> None:
        assert self.webhook_url
        for status in ("sent", "delivered"):
            headers, body = self.signed(self.status_payload(msg, status))
            self.gateway.post_later(self.webhook_url, headers, body)
