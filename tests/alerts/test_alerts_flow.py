"""Alerts on a real PostGIS: created once, every member messaged directly, acknowledged,
escalated, all-cleared — driven by an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.alerts.drills import cancel_alert, create_drill
from service.alerts.escalation import escalate_due
from service.alerts.evaluation import evaluate_signals
from service.alerts.models import Alert, AlertRecipient, AlertRule, GroundReport
from service.alerts.replies import InboundMessage, handle_inbound
from service.alerts.rules import Signal
from service.alerts.schemas import DrillIn
from service.settings import Settings

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
CODE = "32.73.01.1001"


def flood(level: str = "tinggi", source: str = "layer:7:v1", at: datetime = T0) -> Signal:
    return Signal(
        community_code=CODE,
        hazard="flood",
        source_ref=source,
        observed_at=at,
        risk_level=level,
        headline="Tinggi muka air 2 m",
    )


def add_rule(session: Session, group_id: int, **kw: Any) -> AlertRule:
    values: dict[str, Any] = {
        "name": "banjir",
        "hazards": ["flood"],
        "trigger": "risk_level",
        "threshold": "sedang",
        "cooldown_minutes": 360,
        "all_clear_after_minutes": 60,
        "ack_minutes": {"2": 20},
    }
    values.update(kw)
    rule = AlertRule(group_id=group_id, **values)
    session.add(rule)
    session.commit()
    return rule


def reply(
    phone: str, text: str, at: datetime, mid: str, button: str | None = None
) -> InboundMessage:
    return InboundMessage(
        channel="whatsapp",
        phone=phone,
        text=text,
        received_at=at,
        provider="console",
        provider_message_id=mid,
        button_payload=button,
    )


def test_alert_created_once_and_every_member_messaged(
    session, settings: Settings, make_tree, outbox_rows
) -> None:
    tree = make_tree()
    add_rule(session, tree.group.id)
    first = evaluate_signals(session=session, settings=settings, signals=[flood()], now=T0)
    session.commit()
    assert len(first.alerts_created) == 1
    # The same signal again, later, and a second evaluation in the same instant: nothing new.
    again = evaluate_signals(
        session=session, settings=settings, signals=[flood()], now=T0 + timedelta(hours=9)
    )
    session.commit()
    assert again.alerts_created == [] and again.suppressed == 1
    assert session.scalar(select(func.count()).select_from(Alert)) == 1

    alert = session.get(Alert, first.alerts_created[0])
    assert (alert.kind, alert.msg_type, alert.level, alert.status) == (
        "alert",
        "Alert",
        2,
        "Actual",
    )
    assert alert.ack_due_at == T0 + timedelta(minutes=20)  # the rule's time for level 2
    sent = outbox_rows.sent(alert_id=alert.id)
    consenting = [m for m in tree.members.values() if m.consent]
    assert sorted(r["phone"] for r in sent) == sorted(m.phone for m in consenting)
    assert all(r["purpose"] == "alert" for r in sent)
    by_phone = {r["phone"]: r for r in sent}
    sms = by_phone[tree.members["koordinator"].phone]
    assert sms["channel"] == "sms" and sms["template"] is None
    assert (
        # T0 is 03:00 UTC: 10:00 in Bandung (province 32, WIB); the desa has its word.
        sms["body"].startswith("BPBD Bandung 10:00 WIB: SIAGA BANJIR di Desa Sukamaju.")
        and len(sms["body"]) <= 160
    )
    assert "FLOOD WATCH in Desa Sukamaju" in by_phone[tree.members["warga2"].phone]["body"]
    wa = by_phone[tree.members["ketua"].phone]
    assert wa["channel"] == "whatsapp" and wa["template"]["parameters"][3] == "Desa Sukamaju"
    skipped = session.scalar(
        select(AlertRecipient).where(AlertRecipient.member_id == tree.members["warga3"].id)
    )
    assert skipped.delivery_id is None and "consent" in skipped.skipped_reason


def test_rising_level_updates_thread_and_all_clear_closes_it(
    session, settings, make_tree, outbox_rows
) -> None:
    tree = make_tree()
    add_rule(session, tree.group.id, all_clear_after_minutes=60)
    a1 = evaluate_signals(session=session, settings=settings, signals=[flood("sedang")], now=T0)
    t1 = T0 + timedelta(minutes=20)
    a2 = evaluate_signals(
        session=session, settings=settings, signals=[flood("tinggi", "layer:7:v2", t1)], now=t1
    )
    session.commit()
    first, update = (
        session.get(Alert, a1.alerts_created[0]),
        session.get(Alert, a2.alerts_created[0]),
    )
    assert update.msg_type == "Update" and update.thread_id == first.id and update.level == 2
    t2 = t1 + timedelta(minutes=5)
    evaluate_signals(
        session=session, settings=settings, signals=[flood("rendah", "layer:7:v3", t2)], now=t2
    )
    t3 = t2 + timedelta(minutes=60)
    done = evaluate_signals(session=session, settings=settings, signals=[], now=t3)
    session.commit()
    clear = session.get(Alert, done.all_clears[0])
    assert (clear.kind, clear.msg_type, clear.thread_id) == ("all_clear", "Update", first.id)
    session.refresh(first)
    session.refresh(update)
    assert first.closed_at == t3 and update.closed_at == t3
    bodies = [r["body"] for r in outbox_rows.sent(alert_id=clear.id)]
    assert len(bodies) == 5 and all("AMAN" in b or "ALL CLEAR" in b for b in bodies)
    assert {r["purpose"] for r in outbox_rows.sent(alert_id=clear.id)} == {"all_clear"}


def test_ack_report_and_escalation_with_clock(session, settings, make_tree, outbox_rows) -> None:
    tree = make_tree()
    add_rule(session, tree.group.id, ack_minutes={"2": 30})
    alert_id = evaluate_signals(
        session=session, settings=settings, signals=[flood()], now=T0
    ).alerts_created[0]
    session.commit()
    m = tree.members
    # ketua acknowledges by text, sekretaris with a WhatsApp button; koordinator sends a report.
    assert (
        handle_inbound(
            session=session,
            message=reply(m["ketua"].phone, " ya! ", T0 + timedelta(minutes=3), "w1"),
        )
        == "ack"
    )
    assert (
        handle_inbound(
            session=session,
            message=reply(
                m["sekretaris"].phone, "", T0 + timedelta(minutes=4), "w2", button=f"ACK:{alert_id}"
            ),
        )
        == "ack"
    )
    text = "Air sudah masuk rumah di RT 03, tinggi 50 cm"
    assert (
        handle_inbound(
            session=session,
            message=reply(m["koordinator"].phone, text, T0 + timedelta(minutes=5), "w3"),
        )
        == "report"
    )
    assert (
        handle_inbound(
            session=session,
            message=reply(m["koordinator"].phone, text, T0 + timedelta(minutes=5), "w3"),
        )
        == "report"
    )
    assert (
        handle_inbound(session=session, message=reply("+6289999999999", "YA", T0, "w4"))
        == "unknown_sender"
    )
    session.commit()
    reports = session.scalars(select(GroundReport)).all()
    assert len(reports) == 1  # the webhook retry was kept once
    assert (reports[0].text, reports[0].community_code, reports[0].alert_id) == (
        text,
        CODE,
        alert_id,
    )
    assert reports[0].geom is not None

    # Before the deadline nobody is escalated.
    early = escalate_due(session=session, settings=settings, now=T0 + timedelta(minutes=29))
    assert early.escalated == []
    due = escalate_due(session=session, settings=settings, now=T0 + timedelta(minutes=30))
    session.commit()
    # koordinator, warga1, warga2 had not confirmed (warga3 was never messaged: no consent).
    assert len(due.escalated) == 3
    backup = outbox_rows.sent(purpose="escalation")
    assert [r["phone"] for r in backup] == [m["warga2"].phone]  # warga1's backup
    # warga2 reads English; the backup message says whose backup, with their number.
    assert "backup for Warga1 081100000004" in backup[0]["body"]
    notices = {r["phone"]: r["body"] for r in outbox_rows.sent(purpose="notice")}
    assert set(notices) == {m["ketua"].phone, m["koordinator"].phone}
    # Parents get names with the numbers to call.
    assert "Koordinator 081100000003" in notices[m["ketua"].phone]
    assert (
        "Warga2 081100000005" in notices[m["koordinator"].phone]
        and "Warga1 081100000004" in notices[m["koordinator"].phone]
    )
    # Escalation happens once.
    again = escalate_due(session=session, settings=settings, now=T0 + timedelta(hours=2))
    assert again.escalated == []
    acked = session.scalars(
        select(AlertRecipient).where(AlertRecipient.acked_at.is_not(None))
    ).all()
    assert {r.member_id for r in acked} == {m["ketua"].id, m["sekretaris"].id}


def test_ack_goes_to_latest_open_alert_and_covers_its_thread(
    session, settings, make_tree, outbox_rows
) -> None:
    tree = make_tree()
    add_rule(session, tree.group.id)
    a1 = evaluate_signals(
        session=session, settings=settings, signals=[flood("sedang")], now=T0
    ).alerts_created[0]
    t1 = T0 + timedelta(minutes=10)
    a2 = evaluate_signals(
        session=session, settings=settings, signals=[flood("tinggi", "v2", t1)], now=t1
    ).alerts_created[0]
    phone = tree.members["warga1"].phone
    assert (
        handle_inbound(session=session, message=reply(phone, "OK", t1 + timedelta(minutes=1), "x"))
        == "ack"
    )
    session.commit()
    rows = session.scalars(
        select(AlertRecipient).where(AlertRecipient.member_id == tree.members["warga1"].id)
    ).all()
    assert {r.alert_id: r.acked_at is not None for r in rows} == {a1: True, a2: True}


def test_drill_goes_through_pipeline_saying_latihan(
    session, settings, make_tree, outbox_rows
) -> None:
    tree = make_tree()
    alert = create_drill(
        session=session,
        settings=settings,
        group_id=tree.group.id,
        data=DrillIn(hazard="tsunami", level=3),
        now=T0,
    )
    session.commit()
    assert alert.status == "Exercise"
    bodies = [r["body"] for r in outbox_rows.sent(alert_id=alert.id)]
    assert len(bodies) == 5 and all(b.startswith("LATIHAN") for b in bodies)
    # Escalation of a drill says LATIHAN too.
    escalate_due(session=session, settings=settings, now=T0 + timedelta(hours=1))
    follow = outbox_rows.sent(purpose="notice") + outbox_rows.sent(purpose="escalation")
    assert follow and all(r["body"].startswith("LATIHAN") for r in follow)


def test_cancel_threads_and_stops_escalation(session, settings, make_tree, outbox_rows) -> None:
    tree = make_tree()
    add_rule(session, tree.group.id)
    alert_id = evaluate_signals(
        session=session, settings=settings, signals=[flood()], now=T0
    ).alerts_created[0]
    cancel = cancel_alert(
        session=session, settings=settings, alert_id=alert_id, now=T0 + timedelta(minutes=5)
    )
    session.commit()
    assert (cancel.msg_type, cancel.thread_id) == ("Cancel", alert_id)
    assert all(
        "DIBATALKAN" in r["body"] or "CANCELLED" in r["body"]
        for r in outbox_rows.sent(alert_id=cancel.id)
    )
    assert (
        escalate_due(session=session, settings=settings, now=T0 + timedelta(hours=3)).escalated
        == []
    )


def test_quiet_hours_hold_until_morning_in_the_db(
    session, settings, make_tree, outbox_rows
) -> None:
    from datetime import time

    tree = make_tree()
    add_rule(session, tree.group.id, quiet_start=time(22, 0), quiet_end=time(5, 0))
    night = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 23:00 WIB
    held = evaluate_signals(
        session=session, settings=settings, signals=[flood(at=night)], now=night
    )
    assert held.held == 1 and held.alerts_created == [] and outbox_rows.count() == 0
    morning = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # 05:00 WIB
    out = evaluate_signals(
        session=session, settings=settings, signals=[flood(at=night)], now=morning
    )
    session.commit()
    assert len(out.alerts_created) == 1


def test_expired_alert_is_neither_escalated_nor_acknowledged(
    session, settings, make_tree, outbox_rows
) -> None:
    tree = make_tree()
    create_drill(
        session=session,
        settings=settings,
        group_id=tree.group.id,
        data=DrillIn(hazard="flood", level=1),
        now=T0,
    )
    session.commit()
    later = T0 + timedelta(hours=settings.alerts.alert_expires_hours, minutes=1)
    assert escalate_due(session=session, settings=settings, now=later).escalated == []
    phone = tree.members["ketua"].phone
    assert handle_inbound(session=session, message=reply(phone, "YA", later, "late")) == "ack"
    session.commit()
    assert (
        session.scalar(
            select(func.count())
            .select_from(AlertRecipient)
            .where(AlertRecipient.acked_at.is_not(None))
        )
        == 0
    )
