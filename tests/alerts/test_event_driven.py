"""The event-driven evaluation: wake-ups at commit, only the touched rules, each alert once,
and no judgement about watches the wake-up did not name."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select, text

from service.alerts.jobs import evaluate_job, evaluate_touched
from service.alerts.models import Alert, AlertRule, AlertWatch
from service.alerts.signals import parse_refs
from service.messaging import outbox
from service.runtime import Runtime
from service.wakeup import OUTBOX, SIGNALS, Listener, notify
from tests.alerts.test_signals import NOW, A, B, seed


def _rules(session, tree) -> None:
    for name, hazards, trigger, threshold in (
        ("gempa", ["earthquake"], "mmi", "5"),
        ("banjir", ["flood"], "risk_level", "sedang"),
    ):
        session.add(
            AlertRule(
                group_id=tree.group.id,
                name=name,
                hazards=hazards,
                trigger=trigger,
                threshold=threshold,
                ack_minutes={},
            )
        )
    session.commit()


def _quake_id(session) -> int:
    return int(session.scalar(text("SELECT id FROM hazard_events WHERE primary_source_id='q1'")))


def test_parse_refs_ignores_what_it_does_not_know() -> None:
    assert parse_refs(["event:3", "layer:7", "event:3", "event:x", "bogus", "layer:-1", ""]) == (
        [3],
        [7],
    )


def test_touched_evaluation_alerts_once_for_the_event_only(
    settings, engine, session_factory, session, make_tree, outbox_rows
) -> None:
    tree = make_tree()
    seed(session, tree)
    _rules(session, tree)
    rt = Runtime(settings, engine, session_factory)
    quake = _quake_id(session)
    summary = evaluate_touched(rt, [f"event:{quake}"], now=NOW)
    session.expire_all()
    alerts = {(a.hazard, a.community_code) for a in session.scalars(select(Alert))}
    # Only the quake's signal: the flood scores were not part of this wake-up.
    assert alerts == {("earthquake", A)} and len(summary.alerts_created) == 1
    (alert_id,) = summary.alerts_created
    sent = len(outbox_rows.sent(alert_id=alert_id))
    assert sent > 0
    # The same wake-up again (another worker heard it too, or the feed repeated the quake)
    # and then the interval safety net: the earthquake alert is not made again.
    evaluate_touched(rt, [f"event:{quake}"], now=NOW + timedelta(seconds=5))
    evaluate_job(rt, now=NOW + timedelta(seconds=10))
    session.expire_all()
    assert session.scalar(text("SELECT count(*) FROM alerts WHERE hazard = 'earthquake'")) == 1
    assert len(outbox_rows.sent(alert_id=alert_id)) == sent


def test_touched_evaluation_leaves_unnamed_watches_alone(
    settings, engine, session_factory, session, make_tree
) -> None:
    """An open flood watch is not "below" because a quake's wake-up did not look at floods:
    no all-clear timer starts (the full interval evaluation is the one that judges it)."""
    tree = make_tree()
    seed(session, tree)
    # Flood scores from a feed's layer (a water-level raster, say): a warning, so a watch opens
    # (scores of a static map would only ever give preparedness notices).
    session.execute(text("""UPDATE hazard_layers SET properties = '{"feed_id": 1}'"""))
    session.commit()
    _rules(session, tree)
    rt = Runtime(settings, engine, session_factory)
    evaluate_job(rt, now=NOW)  # flood alert for A (and the quake), watches open
    session.expire_all()
    flood = session.scalars(select(AlertWatch).where(AlertWatch.hazard == "flood")).one()
    assert flood.open_level and flood.below_since is None
    evaluate_touched(rt, [f"event:{_quake_id(session)}"], now=NOW + timedelta(minutes=5))
    session.expire_all()
    flood = session.scalars(select(AlertWatch).where(AlertWatch.hazard == "flood")).one()
    assert flood.open_level and flood.below_since is None
    # The full evaluation, which sees every signal, still judges it as before.
    assert (
        session.scalar(text("SELECT count(*) FROM alerts WHERE community_code = :b"), {"b": B}) == 0
    )


def test_listener_hears_commits_not_rollbacks(settings, session_factory) -> None:
    heard: list[tuple[str, str]] = []
    got = threading.Event()
    connected = threading.Event()

    def handle(channel: str, payload: str) -> None:
        heard.append((channel, payload))
        got.set()

    listener = Listener(settings.database.url, [SIGNALS, OUTBOX], handle, on_connect=connected.set)
    listener.start()
    try:
        assert connected.wait(10)
        with session_factory() as s:
            s.begin()
            notify(s, SIGNALS, "event:1")
            s.rollback()  # nothing stored: nothing heard
        with session_factory() as s, s.begin():
            notify(s, SIGNALS, "event:2")
            outbox.enqueue(
                session=s, idempotency_key="wake-1", phone="+6281100000009", channel="sms",
                body="uji",
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while len(heard) < 2 and time.monotonic() < deadline:
            got.wait(0.1)
        time.sleep(0.3)
    finally:
        listener.stop()
        listener.join(5)
    assert sorted(heard) == [(OUTBOX, ""), (SIGNALS, "event:2")]


def test_listener_reconnects_and_says_so(settings, session_factory) -> None:
    """The listener's connection is killed (a database restart, a network cut): it connects
    again, calls on_connect (the worker then runs the full evaluation for what it missed)
    and hears the next notification."""
    heard: list[str] = []
    connects: list[float] = []
    listener = Listener(
        settings.database.url,
        [SIGNALS],
        lambda _c, payload: heard.append(payload),
        on_connect=lambda: connects.append(time.monotonic()),
    )
    listener.start()
    try:
        deadline = time.monotonic() + 10
        while not connects and time.monotonic() < deadline:
            time.sleep(0.02)
        with session_factory() as s, s.begin():
            killed = s.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query = 'LISTEN siaga_signals' AND datname = current_database()"
                )
            )
        assert killed == 1
        deadline = time.monotonic() + 15
        while len(connects) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(connects) == 2
        with session_factory() as s, s.begin():
            notify(s, SIGNALS, "event:9")
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        listener.stop()
        listener.join(5)
    assert heard == ["event:9"]


def test_recompute_waits_for_the_first_alerts_of_the_evaluation_it_woke(
    settings, engine, session_factory
) -> None:
    """In a worker, a poll's risk recompute starts once the evaluation that the shaking's
    NOTIFY woke has committed its first alerts (bounded), not after all of them; with
    nothing woken it waits only for the wake-up's grace period."""
    from service.scheduler import Evaluator

    rt = Runtime(settings, engine, session_factory)
    stop = threading.Event()
    evaluator = Evaluator(rt, stop)
    marks: list[str] = []
    evaluator.start()
    import service.alerts.jobs as alerts_jobs

    original = alerts_jobs.evaluate_touched

    def slow(rt_: Runtime, payloads: list[str], first_out=None) -> None:
        time.sleep(0.8)
        marks.append("first alerts committed")
        first_out()
        time.sleep(2.0)  # the other rules
        marks.append("all: " + ",".join(payloads))

    alerts_jobs.evaluate_touched = slow  # type: ignore[assignment]
    try:
        t0 = time.monotonic()
        evaluator.wait_for_rules()
        assert time.monotonic() - t0 < 1.0 and not marks  # nothing woken: a short grace
        threading.Timer(0.1, evaluator.add, args=("event:1",)).start()
        t0 = time.monotonic()
        evaluator.wait_for_rules()
        assert marks == ["first alerts committed"] and time.monotonic() - t0 >= 0.8
        evaluator.idle.wait(5)
        assert marks[-1] == "all: event:1"
    finally:
        alerts_jobs.evaluate_touched = original
        stop.set()
        evaluator.join(5)
