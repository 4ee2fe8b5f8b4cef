"""WhatsApp -> SMS fallback, templates outside the 24 h window, STOP/BERHENTI/MULAI."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import text

from service.db import utcnow
from service.messaging.dispatcher import Dispatcher
from service.settings import AlertSettings
from tests.fakes.twilio import sign
from tests.messaging.conftest import (
    TWILIO_TOKEN,
    Fakes,
    LiveApp,
    drain_all,
    enqueue_fanout,
    phones,
    rows,
)


def run(session_factory: Any, settings: AlertSettings, **kw: Any) -> Dispatcher:
    d = Dispatcher.from_settings(session_factory=session_factory, settings=settings, **kw)
    try:
        drain_all(session_factory, [d], timeout=20)
    finally:
        d.close()
    return d


def deliveries(session_factory: Any) -> list[Any]:
    return rows(
        session_factory,
        "SELECT id, channel, status, last_error_code, fallback_of, body, provider "
        "FROM message_deliveries ORDER BY id",
    )


def test_meta_outside_window_falls_back_to_sms(session_factory: Any, fakes: Fakes) -> None:
    [phone] = phones(1)
    fakes.faults(fakes.meta_gateway, window_closed={phone})
    enqueue_fanout(
        session_factory, [phone], channel="whatsapp", sms_fallback_body="PERINGATAN singkat -BPBD"
    )
    run(session_factory, fakes.alert_settings(whatsapp_provider="meta"))
    wa, sms = deliveries(session_factory)
    assert (wa.channel, wa.status, wa.last_error_code) == ("whatsapp", "failed", "131047")
    assert (sms.channel, sms.status, sms.fallback_of, sms.provider) == (
        "sms",
        "accepted",
        wa.id,
        "twilio",
    )
    assert fakes.meta_gateway.accepted == []
    [got] = fakes.twilio_gateway.accepted
    assert got.channel == "sms" and got.to == phone and got.body == "PERINGATAN singkat -BPBD"


def test_twilio_63016_callback_falls_back_to_sms(
    session_factory: Any, fakes: Fakes, live_app: LiveApp
) -> None:
    [phone] = phones(1)
    fakes.faults(fakes.twilio_gateway, window_closed={phone})
    enqueue_fanout(session_factory, [phone], channel="whatsapp")
    run(session_factory, live_app.alerts)
    fakes.twilio_gateway.wait_callbacks(timeout=10)  # the async 'failed' with ErrorCode 63016
    run(session_factory, live_app.alerts)
    wa, sms = deliveries(session_factory)
    assert (wa.status, wa.last_error_code) == ("failed", "63016")
    assert (sms.channel, sms.fallback_of) == ("sms", wa.id)
    assert [m.channel for m in fakes.twilio_gateway.accepted] == ["whatsapp", "sms"]


def test_whatsapp_without_receipt_in_time_falls_back_once(
    session_factory: Any, fakes: Fakes
) -> None:
    numbers = phones(3)
    enqueue_fanout(session_factory, numbers, channel="whatsapp")
    settings = fakes.alert_settings(whatsapp_receipt_timeout_s=600)
    run(session_factory, settings)  # accepted, but no receipt ever comes (no callbacks)
    assert {d.status for d in deliveries(session_factory)} == {"accepted"}

    soon = Dispatcher.from_settings(
        session_factory=session_factory,
        settings=settings,
        clock=lambda: utcnow() + timedelta(seconds=300),
    )
    assert soon.sweep_unconfirmed_whatsapp() == 0  # not yet
    soon.close()
    later = Dispatcher.from_settings(
        session_factory=session_factory,
        settings=settings,
        clock=lambda: utcnow() + timedelta(seconds=601),
    )
    assert later.sweep_unconfirmed_whatsapp() == 3
    assert later.sweep_unconfirmed_whatsapp() == 0  # one fallback per delivery
    later.close()
    run(session_factory, settings)
    sms = [d for d in deliveries(session_factory) if d.channel == "sms"]
    assert len(sms) == 3 and all(d.fallback_of for d in sms)
    assert sorted(m.to for m in fakes.twilio_gateway.accepted if m.channel == "sms") == numbers


def test_template_outside_the_window_body_inside(session_factory: Any, fakes: Fakes) -> None:
    quiet, chatty = phones(2)
    with session_factory() as s, s.begin():
        s.execute(
            text(
                "INSERT INTO message_inbound "
                "(provider, provider_message_id, channel, phone, body, received_at) "
                "VALUES ('twilio', 'SMin1', 'whatsapp', :p, 'halo', now() - interval '2 hours')"
            ),
            {"p": chatty},
        )
    template = {"content_sid": "HX" + "b" * 32, "variables": {"1": "banjir", "2": "Sukamaju"}}
    enqueue_fanout(session_factory, [quiet, chatty], channel="whatsapp", template=template)
    run(session_factory, fakes.alert_settings())
    sent = {m.to: m.payload for m in fakes.twilio_gateway.accepted}
    assert sent[quiet]["ContentSid"] == template["content_sid"] and "Body" not in sent[quiet]
    assert sent[quiet]["ContentVariables"] == '{"1": "banjir", "2": "Sukamaju"}'
    assert "ContentSid" not in sent[chatty] and sent[chatty]["Body"].startswith("PERINGATAN")


def inbound(live: LiveApp, params: dict[str, str]) -> httpx.Response:
    url = f"{live.url}/webhooks/twilio/inbound"
    signature = sign(url, params, TWILIO_TOKEN)
    return httpx.post(
        url,
        content=urlencode(params),
        headers={
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )


def test_stop_then_mulai(session_factory: Any, fakes: Fakes, live_app: LiveApp) -> None:
    [phone, other] = phones(2)
    msg = {"From": f"whatsapp:{phone}", "To": "whatsapp:+14155238886", "NumMedia": "0"}
    r = inbound(live_app, {**msg, "MessageSid": "SMstop", "Body": "berhenti"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert (
        inbound(live_app, {**msg, "MessageSid": "SMstop", "Body": "berhenti"}).status_code == 200
    )  # retried
    enqueue_fanout(session_factory, [phone, other], alert_id=1)
    run(session_factory, live_app.alerts)
    assert [m.to for m in fakes.twilio_gateway.accepted] == [other]  # never to the opted-out number
    statuses = {
        r.phone: r.status
        for r in rows(session_factory, "SELECT phone, status FROM message_deliveries")
    }
    assert statuses[phone] == "opted_out"
    assert statuses[other] in ("accepted", "sent", "delivered")

    assert inbound(live_app, {**msg, "MessageSid": "SMstart", "Body": "MULAI"}).status_code == 200
    enqueue_fanout(session_factory, [phone], alert_id=2)
    run(session_factory, live_app.alerts)
    assert sorted(m.to for m in fakes.twilio_gateway.accepted) == sorted([other, phone])
    handled = rows(
        session_factory, "SELECT provider_message_id, handled_as FROM message_inbound ORDER BY id"
    )
    assert [tuple(h) for h in handled] == [("SMstop", "stop"), ("SMstart", "start")]
    [opt] = rows(session_factory, "SELECT active, keyword, opted_in_at FROM message_opt_outs")
    assert opt.active is False and opt.keyword == "MULAI" and opt.opted_in_at is not None


def test_other_replies_are_kept_for_alerts(session_factory: Any, live_app: LiveApp) -> None:
    [phone] = phones(1)
    params = {
        "From": phone,
        "To": "+15005550006",
        "MessageSid": "SMrep",
        "Body": "Air sudah setinggi lutut",
    }
    assert inbound(live_app, params).status_code == 200
    [row] = rows(session_factory, "SELECT phone, body, channel, handled_as FROM message_inbound")
    assert (row.phone, row.body, row.channel) == (phone, "Air sudah setinggi lutut", "sms")
    assert row.handled_as in ("pending", "report", "unknown_sender")
    assert rows(session_factory, "SELECT phone FROM message_opt_outs") == []
