"""Provider webhooks (Twilio status + inbound, WhatsApp Cloud API). Signatures are checked on
the raw request before anything is parsed or stored. The outbox's own views are in
routes/messaging.py."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from service.api.deps import OptionalIdQuery, SettingsDep
from service.db import utcnow
from service.errors import Forbidden, InvalidInput
from service.messaging import webhooks as hooks
from service.messaging.schemas import MetaWebhookAck
from service.settings import Settings

router = APIRouter(tags=["webhooks"])

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_WEBHOOK_BYTES = 1_000_000


def _public_url(request: Request, settings: Settings) -> str:
    """The URL Twilio called: rebuilt from the configured public base behind proxies."""
    base = settings.alerts.twilio_public_base_url
    if not base:
        return str(request.url)
    query = request.url.query
    return base.rstrip("/") + request.url.path + (f"?{query}" if query else "")


async def _raw_body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise InvalidInput("webhook body larger than 1 MB")
    return body


async def _twilio_params(request: Request, settings: Settings) -> dict[str, str]:
    raw = await _raw_body(request)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        pairs = []
    signature = request.headers.get("x-twilio-signature")
    if not hooks.twilio_valid(
        _public_url(request, settings), pairs, settings.alerts.twilio_auth_token, signature
    ):
        raise Forbidden(
            "missing or invalid X-Twilio-Signature; check SIAGA_ALERTS_TWILIO_AUTH_TOKEN and "
            "SIAGA_ALERTS_TWILIO_PUBLIC_BASE_URL (the URL Twilio calls)"
        )
    return dict(pairs)


def _in_transaction(factory: sessionmaker[Session], fn: Any, *args: Any, **kwargs: Any) -> Any:
    with factory() as session, session.begin():
        return fn(session, *args, **kwargs)


@router.post("/webhooks/twilio/status", status_code=204, response_class=Response)
async def twilio_status(request: Request, d: OptionalIdQuery = None) -> Response:
    """Twilio StatusCallback: stored monotonically, deduplicated on (MessageSid, status)."""
    settings: Settings = request.app.state.settings
    params = await _twilio_params(request, settings)
    outcome = await run_in_threadpool(
        _in_transaction,
        request.app.state.session_factory,
        hooks.handle_twilio_status,
        params,
        delivery_hint=d,
        now=utcnow(),
    )
    if outcome == "invalid":  # signed but malformed: acknowledged (logged) so Twilio stops
        return Response(status_code=200)
    return Response(status_code=204)


@router.post("/webhooks/twilio/inbound", response_class=Response)
async def twilio_inbound(request: Request) -> Response:
    """Twilio incoming SMS/WhatsApp: STOP/BERHENTI/MULAI, acknowledgements, reports."""
    settings: Settings = request.app.state.settings
    params = await _twilio_params(request, settings)
    await run_in_threadpool(
        _in_transaction,
        request.app.state.session_factory,
        hooks.handle_twilio_inbound,
        params,
        now=utcnow(),
    )
    return Response(TWIML_EMPTY, media_type="text/xml")


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse)
def whatsapp_verify(
    settings: SettingsDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    """Meta's subscription handshake: echo the challenge when the verify token matches."""
    expected = settings.alerts.meta_verify_token
    if mode != "subscribe" or not expected or token is None or not _equal(token, expected):
        raise Forbidden("hub.verify_token does not match SIAGA_ALERTS_META_VERIFY_TOKEN")
    return PlainTextResponse(challenge or "")


def _equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


@router.post("/webhooks/whatsapp", response_model=MetaWebhookAck)
async def whatsapp_events(request: Request) -> dict[str, Any]:
    """Meta Cloud API webhook: statuses and inbound messages, signature checked on raw bytes.

    A signed body that does not fit the payload model is acknowledged with 200 and logged."""
    settings: Settings = request.app.state.settings
    raw = await _raw_body(request)
    if not hooks.meta_valid(
        raw, settings.alerts.meta_app_secret, request.headers.get("x-hub-signature-256")
    ):
        raise Forbidden(
            "missing or invalid X-Hub-Signature-256; check SIAGA_ALERTS_META_APP_SECRET"
        )
    payload = hooks.parse_json(raw)
    if payload is None:  # signed, so Meta's: a 4xx would only make it retry for days
        hooks.log.warning("signed Meta webhook body is not JSON; acknowledged and ignored")
        return {"received": {"invalid": 1}}
    counts = await run_in_threadpool(
        _in_transaction, request.app.state.session_factory, hooks.handle_meta, payload, now=utcnow()
    )
    return {"received": counts}
