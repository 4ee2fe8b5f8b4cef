"""Replies over the real HTTP webhooks, signed as Twilio and Meta sign: reply codes, drills
after real alerts, confirmations through the outbox, opt-outs, bad senders, long reports."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service.alerts.drills import create_drill
from service.alerts.evaluation import evaluate_signals
from service.alerts.models import Alert, AlertRecipient, AlertRule, GroundReport
from service.alerts.replies import REPORT_MAX_CHARS
from service.alerts.rules import Signal
from service.alerts.schemas import DrillIn
from service.alerts.segments import count_segments
from service.db import utcnow
from service.main import create_app
from service.messaging.dispatcher import Dispatcher
from service.settings import AlertSettings, Settings
from tests.alerts.conftest import Outbox, Tree
from tests.fakes.twilio import sign
from tests.messaging.conftest import drain_all

TOKEN = "twilio-webhook-token"
SECRET = "test_app_secret_123"
PUBLIC = "https://siaga.example.org"
CODE = "32.73.01.1001"


@pytest.fixture
def hook(with_alerts: Callable[[AlertSettings], Settings], clean_db: Any) -> Iterator[TestClient]:
    alerts = AlertSettings(
        twilio_auth_token=TOKEN, twilio_public_base_url=PUBLIC, meta_app_secret=SECRET
    )
    with TestClient(create_app(with_alerts(alerts), engine=clean_db)) as client:
        yield client


_sid = iter(range(1, 10_000))


def sms(client: TestClient, phone: str, body: str, sid: str | None = None) -> str:
    """A Twilio inbound SMS, signed; returns the MessageSid."""
    sid = sid or f"SM{next(_sid):032d}"
    params = {"MessageSid": sid, "From": phone, "To": "+15005550006", "Body": body}
    path = "/webhooks/twilio/inbound"
    r = client.post(
        path,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(PUBLIC + path, params, TOKEN),
        },
    )
    assert r.status_code == 200, r.text
    return sid


def whatsapp(client: TestClient, phone: str, body: str, wamid: str) -> None:
    """A Meta Cloud API inbound text message, signed over the raw body."""
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "messages": [
                                {
                                    "from": phone.lstrip("+"),
                                    "id": wamid,
                                    "timestamp": str(int(utcnow().timestamp())),
                                    "type": "text",
                                    "text": {"body": body},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    raw = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    r = client.post(
        "/webhooks/whatsapp",
        content=raw,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig},
    )
    assert r.status_code == 200, r.text


def quake_alert(session: Session, settings: Settings, tree: Tree, ago: timedelta) -> Alert:
    """A real (Actual) alert from a feed signal, sent `ago` before now."""
    rule = AlertRule(
        group_id=tree.group.id,
        name="gempa",
        hazards=["earthquake"],
        trigger="mmi",
        threshold="5",
        ack_minutes={},
    )
    session.add(rule)
    session.flush()
    at = utcnow() - ago
    signal = Signal(
        community_code=CODE,
        hazard="earthquake",
        source_ref="usgs:us7000abcd",
        observed_at=at,
        mmi=6.5,
    )
    [alert_id] = evaluate_signals(
        session=session, settings=settings, signals=[signal], now=at
    ).alerts_created
    session.commit()
    alert = session.get(Alert, alert_id)
    assert alert is not None and alert.status == "Actual"
    return alert


def drill(session: Session, settings: Settings, tree: Tree, ago: timedelta) -> Alert:
    alert = create_drill(
        session=session,
        settings=settings,
        group_id=tree.group.id,
        data=DrillIn(hazard="tsunami", level=3),
        now=utcnow() - ago,
    )
    session.commit()
    return alert


def acked(session: Session, alert_id: int) -> set[int]:
    session.expire_all()
    return set(
        session.scalars(
            select(AlertRecipient.member_id).where(
                AlertRecipient.alert_id == alert_id, AlertRecipient.acked_at.is_not(None)
            )
        )
    )


def confirmations(outbox: Outbox, phone: str) -> list[dict[str, Any]]:
    return [r for r in outbox.sent(phone=phone) if "confirmation" in r["purpose"]]


def test_every_alert_text_carries_its_reply_code(
    session: Session, settings: Settings, make_tree: Any, outbox_rows: Outbox
) -> None:
    tree = make_tree()
    real = quake_alert(session, settings, tree, timedelta(minutes=20))
    practice = drill(session, settings, tree, timedelta(minutes=10))
    assert (real.reply_code, practice.reply_code) == (1, 2)  # short: 1, 2, 3, ... per group
    for alert in (real, practice):
        rows = outbox_rows.sent(alert_id=alert.id)
        assert len(rows) == 5
        for row in rows:
            assert f"YA {alert.reply_code}" in row["body"], row["body"]
            if row["sms_fallback_body"]:
                assert f"YA {alert.reply_code}" in row["sms_fallback_body"]


def test_late_ya_after_a_drill_acknowledges_the_real_alert(
    session: Session, settings: Settings, make_tree: Any, hook: TestClient
) -> None:
    tree = make_tree()
    real = quake_alert(session, settings, tree, timedelta(minutes=30))
    practice = drill(session, settings, tree, timedelta(minutes=5))  # sent after the real one
    ketua, koor = tree.members["ketua"], tree.members["koordinator"]
    sms(hook, ketua.phone, "YA")  # late, no code
    assert acked(session, real.id) == {ketua.id}
    assert acked(session, practice.id) == set()
    # The drill is acknowledged with its code only.
    sms(hook, koor.phone, f"ya {practice.reply_code}")
    assert acked(session, practice.id) == {koor.id}
    assert koor.id not in acked(session, real.id)
    # ... and a code in a WhatsApp message names the real alert just as well.
    whatsapp(hook, tree.members["sekretaris"].phone, f"Siap {real.reply_code} pak", "wamid.S1")
    assert tree.members["sekretaris"].id in acked(session, real.id)


def test_a_drill_alone_is_acknowledged_without_its_code(
    session: Session, settings: Settings, make_tree: Any, hook: TestClient
) -> None:
    tree = make_tree()
    practice = drill(session, settings, tree, timedelta(minutes=5))
    sms(hook, tree.members["koordinator"].phone, "ok siap")
    assert acked(session, practice.id) == {tree.members["koordinator"].id}


def test_natural_replies_ack_and_reports_keep_the_rest(
    session: Session, settings: Settings, make_tree: Any, hook: TestClient
) -> None:
    tree = make_tree()
    real = quake_alert(session, settings, tree, timedelta(minutes=10))
    m = tree.members
    whatsapp(hook, m["ketua"].phone, "Ya sudah terima", "wamid.A1")
    whatsapp(hook, m["sekretaris"].phone, "ya, air naik 50cm di RT 3", "wamid.A2")
    sms(hook, m["koordinator"].phone, "tdk")
    sms(hook, m["warga2"].phone, "Ok siap laksanakan")
    whatsapp(hook, m["warga1"].phone, "ya 9 rumah terendam", "wamid.A3")  # 9: no code of theirs
    everyone = {m[k].id for k in ("ketua", "sekretaris", "warga2", "warga1")}
    assert acked(session, real.id) == everyone
    reports = {r.member_id: r.text for r in session.scalars(select(GroundReport))}
    assert reports == {
        m["sekretaris"].id: "air naik 50cm di RT 3",
        m["koordinator"].id: "tdk",
        m["warga1"].id: "9 rumah terendam",
    }
    handled = dict(
        session.execute(text("SELECT provider_message_id, handled_as FROM message_inbound")).all()
    )
    assert handled["wamid.A1"] == "ack" and handled["wamid.A2"] == "ack+report"


def test_confirmations_once_per_inbound_message_in_the_members_language(
    session: Session, settings: Settings, make_tree: Any, hook: TestClient, outbox_rows: Outbox
) -> None:
    tree = make_tree()
    real = quake_alert(session, settings, tree, timedelta(minutes=10))
    ketua, warga2 = tree.members["ketua"], tree.members["warga2"]  # warga2 reads English
    for _ in range(3):  # the provider retries the same webhook
        whatsapp(hook, ketua.phone, "YA", "wamid.C1")
        sms(hook, warga2.phone, "ya, jalan putus", sid="SMretry1")
    [id_answer] = confirmations(outbox_rows, ketua.phone)
    [en_answer] = confirmations(outbox_rows, warga2.phone)
    assert id_answer["channel"] == "whatsapp" and en_answer["channel"] == "sms"
    assert id_answer["body"].startswith("BPBD Bandung: Terima kasih")
    assert f"peringatan {real.reply_code}" in id_answer["body"]
    assert "report" in en_answer["body"] and "Thank you" in en_answer["body"]
    for answer in (id_answer, en_answer):
        count = count_segments(answer["body"])
        assert (count.encoding, count.segments) == ("GSM-7", 1)
    # A report without an ack is answered too.
    sms(hook, tree.members["koordinator"].phone, "air naik 50cm di RT 3")
    [report_answer] = confirmations(outbox_rows, tree.members["koordinator"].phone)
    assert "laporan Anda sudah diterima" in report_answer["body"]


def test_stop_and_start_are_answered_even_when_opted_out(
    session: Session, session_factory: Any, make_tree: Any, hook: TestClient, outbox_rows: Outbox
) -> None:
    tree = make_tree()
    phone = tree.members["koordinator"].phone
    sms(hook, phone, "BERHENTI")
    d = Dispatcher.from_settings(session_factory=session_factory, settings=AlertSettings())
    try:
        drain_all(session_factory, [d], timeout=20)
    finally:
        d.close()
    [stop] = confirmations(outbox_rows, phone)
    assert stop["purpose"] == "opt_out_confirmation" and stop["status"] == "delivered"
    assert "Balas MULAI" in stop["body"]
    sms(hook, phone, "MULAI")
    start = confirmations(outbox_rows, phone)[-1]
    assert "Balas BERHENTI" in start["body"] and start["purpose"] == "confirmation"


def test_a_number_that_is_no_member_gets_no_answer_and_is_logged(
    make_tree: Any, hook: TestClient, outbox_rows: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    make_tree()
    with caplog.at_level(logging.INFO, logger="service.alerts.replies"):
        sms(hook, "+6289999999999", "YA")
        sms(hook, "+6289999999998", "BERHENTI")
    assert outbox_rows.sent(phone="+6289999999999") == []
    assert outbox_rows.sent(phone="+6289999999998") == []
    assert "no member" in caplog.text


def test_stop_from_a_sender_that_is_no_phone_stores_no_opt_out(
    session: Session, make_tree: Any, hook: TestClient
) -> None:
    make_tree()
    sms(hook, "not-a-phone", "BERHENTI", sid="SMbad1")
    assert session.execute(text("SELECT count(*) FROM message_opt_outs")).scalar() == 0
    handled = session.execute(
        text("SELECT phone, handled_as FROM message_inbound WHERE provider_message_id = 'SMbad1'")
    ).one()
    assert tuple(handled) == ("+", "invalid_sender")


def test_a_long_report_is_cut_at_the_cap_and_the_cut_is_noted(
    session: Session, settings: Settings, make_tree: Any, hook: TestClient, outbox_rows: Outbox
) -> None:
    tree = make_tree()
    quake_alert(session, settings, tree, timedelta(minutes=10))
    phone = tree.members["koordinator"].phone
    long_text = "Air naik di RT 3. " * 120  # 2,160 characters
    sms(hook, phone, long_text)
    [report] = session.scalars(select(GroundReport)).all()
    assert len(report.text) == REPORT_MAX_CHARS == 1600
    assert report.dropped_chars == len(long_text) - 1600 == 560
    [answer] = confirmations(outbox_rows, phone)
    assert f"({report.dropped_chars} karakter dipotong)" in answer["body"]
