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
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from service.messaging import inbound
from service.messaging.payloads import (
    MetaError,
    MetaMessage,
    MetaStatus,
    MetaValue,
    MetaWebhook,
    TwilioInbound,
    TwilioStatus,
    problems,
    scrub,
)
from service.messaging.providers import meta_whatsapp, twilio
from service.messaging.status import record_provider_status

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


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


def _fit(model: type[M], data: Any, what: str) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        log.warning(
            "signed %s payload does not fit, acknowledged and ignored: %s", what, problems(exc)
        )
        return None


def handle_twilio_status(
    session: Session, params: dict[str, str], *, delivery_hint: int | None, now: datetime
) -> str:
    form = _fit(TwilioStatus, scrub(params), "Twilio status")
    if form is None:
        return "invalid"
    if not form.sid or not form.status:
        return "ignored"
    return record_provider_status(
        session,
        provider="twilio",
        provider_message_id=form.sid,
        provider_status=form.status,
        occurred_at=now,
        error_code=form.ErrorCode or None,
        error_message=form.ErrorMessage or None,
        delivery_id_hint=delivery_hint,
        fallback_codes=twilio.ASYNC_FALLBACK_CODES,
    )


def handle_twilio_inbound(session: Session, params: dict[str, str], *, now: datetime) -> str:
    clean = scrub(params)
    form = _fit(TwilioInbound, clean, "Twilio inbound")
    if form is None or form.sid is None:
        return "invalid"
    channel, phone = inbound.normalise_sender(form.From)
    return inbound.receive(
        session,
        provider="twilio",
        provider_message_id=form.sid,
        channel=channel,
        phone=phone,
        text_=form.Body,
        button_payload=form.ButtonPayload or None,
        received_at=now,
        raw=clean,
    )


# -- Meta payloads ----------------------------------------------------------------------------


def _epoch(value: Any, default: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default


def _meta_status(session: Session, item: Any, now: datetime) -> str:
    st = _fit(MetaStatus, item, "Meta status")
    if st is None:
        return "invalid"
    err = (st.errors or [MetaError()])[0]
    return record_provider_status(
        session,
        provider="meta",
        provider_message_id=st.id,
        provider_status=st.status,
        occurred_at=_epoch(st.timestamp, now),
        error_code=str(err.code)[:32] if err.code is not None else None,
        error_message=err.title or err.message,
        idempotency_key_hint=st.biz_opaque_callback_data,
        fallback_codes=meta_whatsapp.ASYNC_FALLBACK_CODES,
    )


def _meta_message(session: Session, item: Any, now: datetime) -> str:
    clean = scrub(item)
    msg = _fit(MetaMessage, clean, "Meta message")
    if msg is None:
        return "invalid"
    body, button = msg.text_and_button()
    return inbound.receive(
        session,
        provider="meta",
        provider_message_id=msg.id,
        channel="whatsapp",
        phone=inbound.normalise_sender(msg.from_)[1],
        text_=body,
        button_payload=button,
        received_at=_epoch(msg.timestamp, now),
        raw=clean,
    )


def handle_meta(session: Session, payload: Any, *, now: datetime) -> dict[str, int]:
    """Every status and message in a webhook batch; returns counts by outcome.

    A payload whose envelope does not fit counts as one `invalid`; an item that does not fit
    counts as `invalid` and its neighbours are still handled."""
    counts: dict[str, int] = {}

    def bump(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    hook = _fit(MetaWebhook, payload, "Meta webhook")
    if hook is None:
        return {"invalid": 1}
    for entry in hook.entry:
        for change in entry.changes or []:
            value = change.value or MetaValue()
            for st in value.statuses or []:
                bump(_meta_status(session, st, now))
            for msg in value.messages or []:
                bump(_meta_message(session, msg, now))
    return counts


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or None when it is not JSON at all (or nested beyond reason)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
