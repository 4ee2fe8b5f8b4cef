"""The dispatcher over real HTTP against the fake gateways, on a real PostGIS database."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.db import utcnow
from service.messaging.dispatcher import Dispatcher
from service.messaging.outbox import enqueue
from service.messaging.outcomes import backoff_s
from service.settings import AlertSettings
from tests.messaging.conftest import Fakes, LiveApp, drain_all, enqueue_fanout, phones, rows

SessionFactory = sessionmaker[Session]


def dispatcher(session_factory: SessionFactory, settings: AlertSettings, **kw: Any) -> Dispatcher:
    return Dispatcher.from_settings(session_factory=session_factory, settings=settings, **kw)


def test_console_provider_keeps_messages_visible(session_factory: SessionFactory) -> None:
    ids = enqueue_fanout(session_factory, phones(3))
    d = dispatcher(session_factory, AlertSettings())
    try:
        drain_all(session_factory, [d], timeout=10)
    finally:
        d.close()
    got = rows(
        session_factory,
        "SELECT id, status, provider, provider_message_id FROM message_deliveries ORDER BY id",
    )
    assert [r.id for r in got] == ids
    assert {r.status for r in got} == {"delivered"} and {r.provider for r in got} == {"console"}
    assert all(r.provider_message_id.startswith("CN") for r in got)


@pytest.mark.slow  # a fan-out waiting out timeouts
@pytest.mark.parametrize("http_engine", ["curl", "httpx"])
def test_fanout_with_transient_failures_and_timeouts_messages_everyone_once(
    session_factory: SessionFactory, fakes: Fakes, live_app: LiveApp, http_engine: str
) -> None:
    numbers = phones(300)
    fakes.faults(
        fakes.twilio_gateway, transient_5xx=0.10, timeout=0.05, timeout_delay_s=0.8, seed=11
    )
    enqueue_fanout(session_factory, numbers)
    settings = live_app.alerts.model_copy(update={"http_engine": http_engine})
    d = dispatcher(session_factory, settings)
    assert d.engine.name == http_engine
    try:
        drain_all(session_factory, [d], timeout=60)
    finally:
        d.close()
    gateway = fakes.twilio_gateway
    assert gateway.failures["5xx"] > 10 and gateway.failures["timeout"] > 5  # faults really fired
    counts = gateway.per_recipient()
    assert set(counts) == set(numbers)
    assert max(counts.values()) == 1  # the fake does not dedupe: no recipient got two
    gateway.wait_callbacks(timeout=30)
    assert gateway.callback_errors == 0
    got = rows(
        session_factory,
        "SELECT d.phone, d.status, d.provider_message_id, "
        "array_agg(e.status ORDER BY e.id) AS history "
        "FROM message_deliveries d JOIN message_delivery_events e ON e.delivery_id = d.id "
        "GROUP BY d.id",
    )
    assert len(got) == 300
    by_phone = {m.to: m.id for m in gateway.accepted}
    for r in got:
        assert r.provider_message_id == by_phone[r.phone]
        assert r.status == "delivered", r  # monotonic even when 'sent' arrives late
        assert "accepted" in r.history and "delivered" in r.history and "sent" in r.history


def test_two_dispatchers_on_one_outbox_send_each_message_once(
    session_factory: SessionFactory, fakes: Fakes
) -> None:
    numbers = phones(240)
    fakes.faults(fakes.twilio_gateway, transient_5xx=0.1, seed=3)
    enqueue_fanout(session_factory, numbers)
    settings = fakes.alert_settings(dispatch_batch=20)
    a, b = dispatcher(session_factory, settings), dispatcher(session_factory, settings)
    try:
        drain_all(session_factory, [a, b], timeout=60)
    finally:
        a.close()
        b.close()
    counts = fakes.twilio_gateway.per_recipient()
    assert set(counts) == set(numbers) and max(counts.values()) == 1
    claimers = rows(session_factory, "SELECT count(DISTINCT status) FROM message_deliveries")
    assert claimers[0][0] == 1


@pytest.mark.parametrize("http_engine", ["curl", "httpx"])
def test_crash_between_send_and_commit_is_reconciled_not_resent(
    session_factory: SessionFactory, fakes: Fakes, http_engine: str
) -> None:
    """Claim and send, then 'crash' before recording: the next dispatcher looks it up."""
    numbers = phones(30)
    enqueue_fanout(session_factory, numbers)
    settings = fakes.alert_settings(http_engine=http_engine)
    crashed = dispatcher(session_factory, settings)
    claimed = [r for r in crashed.claim("twilio", ["sms"], 30, utcnow()) if r is not None]
    # 20 reached Twilio, 10 never left
    assert all(o.result is not None for o in crashed.send(claimed[:20]))
    crashed.close()
    assert len(fakes.twilio_gateway.accepted) == 20

    later = utcnow() + timedelta(seconds=settings.sending_lease_s + 1)
    survivor = dispatcher(session_factory, settings, clock=lambda: later)
    try:
        drain_all(session_factory, [survivor], timeout=30)
    finally:
        survivor.close()
    counts = fakes.twilio_gateway.per_recipient()
    assert set(counts) == set(numbers) and max(counts.values()) == 1
    found = rows(
        session_factory,
        "SELECT count(*) FROM message_delivery_events WHERE status = 'accepted' "
        "AND error_message LIKE 'found at the provider%'",
    )
    assert found[0][0] == 20


def test_meta_crash_is_reconciled_by_the_status_webhook(
    session_factory: SessionFactory, fakes: Fakes, live_app: LiveApp
) -> None:
    """Meta has no lookup: its status webhook carries our key and records the lost id."""
    fakes.meta_gateway.dedupe = False
    numbers = phones(10)
    enqueue_fanout(session_factory, numbers, channel="whatsapp")
    settings = live_app.alerts.model_copy(update={"whatsapp_provider": "meta"})
    crashed = dispatcher(session_factory, settings)
    claimed = [r for r in crashed.claim("meta", ["whatsapp"], 10, utcnow()) if r is not None]
    assert len(claimed) == 10
    assert all(o.result is not None for o in crashed.send(claimed))
    crashed.close()
    fakes.meta_gateway.wait_callbacks(timeout=10)
    later = utcnow() + timedelta(
        seconds=settings.sending_lease_s + settings.meta_reconcile_wait_s + 1
    )
    survivor = dispatcher(session_factory, settings, clock=lambda: later)
    try:
        drain_all(session_factory, [survivor], timeout=20)
    finally:
        survivor.close()
    counts = fakes.meta_gateway.per_recipient()
    assert set(counts) == set(numbers) and max(counts.values()) == 1
    got = rows(session_factory, "SELECT status, provider_message_id FROM message_deliveries")
    assert {r.status for r in got} == {"delivered"}
    assert {r.provider_message_id for r in got} == {m.id for m in fakes.meta_gateway.accepted}


def test_permanent_error_fails_at_once_with_the_provider_code(
    session_factory: SessionFactory, fakes: Fakes
) -> None:
    [landline, invalid, ok] = phones(3)
    fakes.faults(fakes.twilio_gateway, permanent={landline: 21614, invalid: 21211})
    enqueue_fanout(session_factory, [landline, invalid, ok])
    d = dispatcher(session_factory, fakes.alert_settings())
    try:
        drain_all(session_factory, [d], timeout=10)
    finally:
        d.close()
    got = {r.phone: r for r in rows(session_factory, "SELECT * FROM message_deliveries")}
    assert (got[landline].status, got[landline].last_error_code, got[landline].attempts) == (
        "failed",
        "21614",
        1,
    )
    assert (got[invalid].status, got[invalid].last_error_code) == ("failed", "21211")
    assert got[ok].status == "accepted"


def test_transient_errors_dead_letter_after_max_attempts(
    session_factory: SessionFactory, fakes: Fakes
) -> None:
    fakes.faults(fakes.twilio_gateway, transient_5xx=1.0)
    [delivery_id] = enqueue_fanout(session_factory, phones(1))
    d = dispatcher(session_factory, fakes.alert_settings(max_attempts=3))
    try:
        drain_all(session_factory, [d], timeout=10)
    finally:
        d.close()
    [row] = rows(
        session_factory, "SELECT status, attempts, last_error_code FROM message_deliveries"
    )
    assert (row.status, row.attempts, row.last_error_code) == ("dead", 3, "20500")
    history = [
        r.status
        for r in rows(
            session_factory,
            "SELECT status FROM message_delivery_events WHERE delivery_id = :i ORDER BY id",
            i=delivery_id,
        )
    ]
    assert history == ["retry", "retry", "dead"]
    assert fakes.twilio_gateway.requests == 3


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    delays = [backoff_s(a, base=1.0, cap=30.0, rng=rng) for a in range(1, 9)]
    for attempt, delay in enumerate(delays, start=1):
        full = min(30.0, 2 ** (attempt - 1))
        assert full / 2 <= delay <= full
    assert len({round(x, 6) for x in delays}) == len(delays)  # jittered


def test_rate_limit_holds_across_two_workers(session_factory: SessionFactory, fakes: Fakes) -> None:
    rate = 20.0
    numbers = phones(60)
    enqueue_fanout(session_factory, numbers)
    settings = fakes.alert_settings(rate_per_second=rate, dispatch_batch=10)
    a, b = dispatcher(session_factory, settings), dispatcher(session_factory, settings)
    started = time.monotonic()
    try:
        drain_all(session_factory, [a, b], timeout=30)
    finally:
        a.close()
        b.close()
    elapsed = time.monotonic() - started
    times = fakes.twilio_gateway.accept_times()
    assert len(times) == 60
    capacity = rate  # one second of burst
    # Tokens are granted in PostgreSQL; the fake stamps arrival, after a scheduling delay that
    # varies on a busy machine: allow a quarter second of it.
    slack = rate * 0.25
    for i in range(len(times)):
        for j in range(i, len(times)):
            # never more than capacity + rate * w messages in any w seconds
            assert j - i + 1 <= capacity + rate * (times[j] - times[i]) + slack, (i, j)
    assert elapsed >= (60 - capacity) / rate * 0.9  # without the limit: well under a second


def test_enqueue_is_idempotent_and_validates(session_factory: SessionFactory) -> None:
    from service.errors import InvalidInput

    with session_factory() as s, s.begin():
        first = enqueue(
            session=s, idempotency_key="a:1", phone="+6281234567890", channel="sms", body="x"
        )
        again = enqueue(
            session=s, idempotency_key="a:1", phone="+6281234567890", channel="sms", body="x"
        )
    assert first == again
    with session_factory() as s, s.begin():
        for bad in ({"phone": "081234"}, {"channel": "pigeon"}, {"body": " "}):
            args = {"phone": "+6281234567890", "channel": "sms", "body": "x", **bad}
            with pytest.raises(InvalidInput):
                enqueue(
                    session=s,
                    idempotency_key="a:2",
                    phone=args["phone"],
                    channel=args["channel"],
                    body=args["body"],
                )
    assert len(rows(session_factory, "SELECT id FROM message_deliveries")) == 1


class BrokenEngine:
    """Takes requests, then falls over while they are in flight."""

    name = "broken"

    def __init__(self) -> None:
        self.started: list[Any] = []

    def free(self) -> int:
        return 16

    def in_flight(self) -> int:
        return len(self.started)

    def start(self, tag: Any, request: Any) -> None:
        self.started.append(tag)

    def poll(self, timeout: float) -> list[Any]:
        raise RuntimeError("the HTTP engine fell over")

    def exchange_all(self, requests: Any, *, start_by: float | None = None) -> list[Any]:
        raise RuntimeError("the HTTP engine fell over")

    def close(self) -> None:
        pass


def test_a_broken_engine_leaves_rows_uncertain_not_stuck_sending(
    session_factory: SessionFactory, fakes: Fakes
) -> None:
    enqueue_fanout(session_factory, phones(5))
    d = dispatcher(session_factory, fakes.alert_settings(), engine=BrokenEngine())
    try:
        assert d.run_once().processed == 5
    finally:
        d.close()
    got = rows(session_factory, "SELECT status, uncertain, last_error_code FROM message_deliveries")
    # Any of them may have reached Twilio: each is looked up before it is sent again.
    assert {(r.status, r.uncertain, r.last_error_code) for r in got} == {
        ("pending", True, "network")
    }
    assert fakes.twilio_gateway.accepted == []


def test_the_lease_must_outlast_a_request() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"SENDING_LEASE_S \(12\).*HTTP_TIMEOUT_S \(10\)"):
        AlertSettings(sending_lease_s=12, http_timeout_s=10)
    assert AlertSettings(sending_lease_s=15, http_timeout_s=10).sending_lease_s == 15
