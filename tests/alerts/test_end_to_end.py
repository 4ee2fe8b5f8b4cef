"""Rule fires -> alert + outbox in one transaction -> dispatcher over real HTTP to the fake
Twilio -> signed status callbacks -> a signed inbound "YA" acknowledges, "BERHENTI" opts out."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from service.alerts.evaluation import evaluate_signals
from service.alerts.models import AlertRecipient, AlertRule
from service.alerts.rules import Signal
from service.messaging.dispatcher import Dispatcher
from tests.fakes.twilio import sign
from tests.messaging.conftest import TWILIO_TOKEN, Fakes, LiveApp, drain_all

CODE = "32.73.01.1001"


def _inbound(
    live: LiveApp, phone: str, body: str, sid: str, whatsapp: bool = True
) -> httpx.Response:
    url = f"{live.url}/webhooks/twilio/inbound"
    params = {
        "MessageSid": sid,
        "From": f"whatsapp:{phone}" if whatsapp else phone,
        "Body": body,
        "To": "whatsapp:+14155238886",
    }
    headers = {"X-Twilio-Signature": sign(url, params, TWILIO_TOKEN)}
    return httpx.post(url, data=params, headers=headers, timeout=10)


def test_alert_to_delivered_and_acknowledged(
    session, session_factory, settings, make_tree, fakes: Fakes, live_app: LiveApp, admin_headers
) -> None:
    tree = make_tree()
    session.add(
        AlertRule(
            group_id=tree.group.id,
            name="banjir",
            hazards=["flood"],
            trigger="risk_level",
            threshold="sedang",
            cooldown_minutes=60,
            all_clear_after_minutes=60,
            ack_minutes={},
        )
    )
    session.commit()
    now = datetime.now(UTC)
    run_settings = settings.model_copy(update={"alerts": live_app.alerts})
    alert_id = evaluate_signals(
        session=session,
        settings=run_settings,
        signals=[Signal(CODE, "flood", "layer:3:v9", now, risk_level="tinggi")],
        now=now,
    ).alerts_created[0]
    session.commit()

    d = Dispatcher.from_settings(session_factory=session_factory, settings=live_app.alerts)
    try:
        drain_all(session_factory, [d], timeout=30)
    finally:
        d.close()
    fakes.twilio_gateway.wait_callbacks(timeout=10)
    counts = fakes.twilio_gateway.per_recipient()
    consenting = {m.phone for m in tree.members.values() if m.consent}
    assert {p.split(":")[-1] for p in counts} == consenting and max(counts.values()) == 1
    bodies = [m.body for m in fakes.twilio_gateway.accepted]
    assert all(b is not None and ("BANJIR" in b or "FLOOD" in b) for b in bodies)

    ketua = tree.members["ketua"]
    assert _inbound(live_app, ketua.phone, "Ya", "SMe2e0001").status_code == 200
    report = _inbound(
        live_app, tree.members["sekretaris"].phone, "Jembatan RW 2 putus", "SMe2e0002"
    )
    assert report.status_code == 200
    forged = httpx.post(
        f"{live_app.url}/webhooks/twilio/inbound",
        data={"MessageSid": "SMx", "From": ketua.phone, "Body": "YA"},
        headers={"X-Twilio-Signature": "bm9wZQ=="},
        timeout=10,
    )
    assert forged.status_code == 403

    detail = httpx.get(
        f"{live_app.url}/api/v1/alerts/{alert_id}", headers=admin_headers, timeout=10
    ).json()
    assert detail["counts"]["delivered"] == 5 and detail["counts"]["acknowledged"] == 1
    assert detail["counts"]["time_to_first_ack_s"] is not None
    by_phone = {r["phone"]: r for r in detail["recipients"]}
    head = by_phone[ketua.phone]
    assert head["status"] == "delivered" and head["provider"] == "twilio"
    assert head["provider_message_id"].startswith("SM") and head["acknowledged_at"] is not None
    assert [e["status"] for e in head["status_history"]][-1] == "delivered"
    assert by_phone[tree.members["warga3"].phone]["status"] == "skipped"
    reports = (
        session.execute(
            select(AlertRecipient.member_id).where(AlertRecipient.acked_at.is_not(None))
        )
        .scalars()
        .all()
    )
    assert reports == [ketua.id]
    from service.alerts.models import GroundReport

    session.expire_all()
    kept = session.scalars(select(GroundReport)).all()
    assert [r.text for r in kept] == ["Jembatan RW 2 putus"] and kept[0].alert_id == alert_id
