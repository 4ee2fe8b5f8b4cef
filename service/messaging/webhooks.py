"""Provider webhooks: signature checks and payload handling (the routes stay thin).

Twilio: X-Twilio-Signature = base64(HMAC-SHA1(auth token, URL + sorted form params)), checked
against the URL with and without the default port, in constant time. Meta:
X-Hub-Signature-256 = "sha256=" + hex(HMAC-SHA256(app secret, raw body)), checked on the
raw bytes before any parsing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.orm import Session

from service.messaging import inbound
from service.messaging.providers import meta_whatsapp, twilio
from service.messaging.status import record_provider_status


def twilio_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    pairs = sorted(params)  # by name, then value: repeated keys sorted by value
    data = url + "".join(name + value for name, value in pairs)
    digest = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if default is None or not parts.hostname:
        return variants
    host = parts.hostname
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{_userinfo(parts)}{host}:{default}")))
    elif parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{_userinfo(parts)}{host}")))
    return variants


def _userinfo(parts: Any) -> str:
    if parts.username is None:
        return ""
    return parts.username + (f":{parts.password}" if parts.password else "") + "@"


def twilio_valid(
    url: str, params: list[tuple[str, str]], auth_token: str, signature: str | None
) -> bool:
    if not signature or not auth_token:
        return False
    return any(
        hmac.compare_digest(twilio_signature(u, params, auth_token), signature)
        for u in _port_variants(url)
    )


def meta_valid(raw_body: bytes, app_secret: str, header: str | None) -> bool:
    if not header or not app_secret or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, header.strip())


# -- Twilio payloads --------------------------------------------------------------------------


def handle_twilio_status(
    session: Session, params: dict[str, str], *, delivery_hint: int | None, now: datetime
) -> str:
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not sid or not status:
        return "ignored"
    return record_provider_status(
        session,
        provider="twilio",
        provider_message_id=sid,
        provider_status=status,
        occurred_at=now,
        error_code=params.get("ErrorCode") or None,
        error_message=params.get("ErrorMessage") or None,
        delivery_id_hint=delivery_hint,
        fallback_codes=twilio.ASYNC_FALLBACK_CODES,
    )


def handle_twilio_inbound(session: Session, params: dict[str, str], *, now: datetime) -> str:
    sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid")
    sender = params.get("From")
    if not sid or not sender:
        return "ignored"
    channel, phone = inbound.normalise_sender(sender)
    return inbound.receive(
        session,
        provider="twilio",
        provider_message_id=sid,
        channel=channel,
        phone=phone,
        text_=params.get("Body", ""),
        button_payload=params.get("ButtonPayload") or None,
        received_at=now,
        raw=params,
    )


# -- Meta payloads ----------------------------------------------------------------------------


def _epoch(value: Any, default: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return default


def _inbound_text(message: dict[str, Any]) -> tuple[str, str | None]:
    kind = message.get("type")
    if kind == "text":
        return str((message.get("text") or {}).get("body", "")), None
    if kind == "button":
        b = message.get("button") or {}
        return str(b.get("text", "")), b.get("payload")
    if kind == "interactive":
        i = message.get("interactive") or {}
        reply = i.get("button_reply") or i.get("list_reply") or {}
        return str(reply.get("title", "")), reply.get("id")
    if kind in ("image", "video", "document") and isinstance(message.get(kind), dict):
        return str(message[kind].get("caption", "")), None
    if kind == "location":
        loc = message.get("location") or {}
        return (
            f"lokasi {loc.get('latitude')},{loc.get('longitude')} {loc.get('name') or ''}".strip(),
            None,
        )
    return "", None


def handle_meta(session: Session, payload: dict[str, Any], *, now: datetime) -> dict[str, int]:
    """Every status and message in a webhook batch; returns counts by outcome."""
    counts: dict[str, int] = {}

    def bump(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in entries or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            for st in value.get("statuses") or []:
                if not st.get("id") or not st.get("status"):
                    bump("ignored")
                    continue
                err = (st.get("errors") or [{}])[0]
                bump(
                    record_provider_status(
                        session,
                        provider="meta",
                        provider_message_id=str(st["id"]),
                        provider_status=str(st["status"]),
                        occurred_at=_epoch(st.get("timestamp"), now),
                        error_code=str(err["code"]) if err.get("code") is not None else None,
                        error_message=err.get("title") or err.get("message"),
                        idempotency_key_hint=st.get("biz_opaque_callback_data"),
                        fallback_codes=meta_whatsapp.ASYNC_FALLBACK_CODES,
                    )
                )
            for msg in value.get("messages") or []:
                if not msg.get("id") or not msg.get("from"):
                    bump("ignored")
                    continue
                body, button = _inbound_text(msg)
                bump(
                    inbound.receive(
                        session,
                        provider="meta",
                        provider_message_id=str(msg["id"]),
                        channel="whatsapp",
                        phone=inbound.normalise_sender(str(msg["from"]))[1],
                        text_=body,
                        button_payload=button,
                        received_at=_epoch(msg.get("timestamp"), now),
                        raw=msg,
                    )
                )
    return counts


def parse_json(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
