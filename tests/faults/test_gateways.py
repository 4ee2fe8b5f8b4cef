"""Slow and failing gateways: a slow answer holds one request slot, never a batch, and
whatever the gateway does, every recipient gets the message exactly once and no row is
left `sending`."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from service.messaging.dispatcher import Dispatcher
from tests.faults.conftest import wait_for
from tests.messaging.conftest import Fakes, drain_all, enqueue_fanout, phones, rows

pytestmark = pytest.mark.slow


def accepted(session_factory: Any) -> int:
    return int(
        rows(session_factory, "SELECT count(*) FROM message_deliveries WHERE status = 'accepted'")[
            0
        ][0]
    )


def assert_exactly_once(session_factory: Any, fakes: Fakes, numbers: list[str]) -> None:
    counts = fakes.twilio_gateway.per_recipient()
    assert set(counts) == set(numbers), f"{len(set(numbers) - set(counts))} never messaged"
    assert max(counts.values()) == 1, {p: n for p, n in counts.items() if n > 1}
    statuses = dict(
        rows(session_factory, "SELECT status, count(*) FROM message_deliveries GROUP BY status")
    )
    assert statuses == {"accepted": len(numbers)}


def test_one_slow_answer_never_holds_a_batch(session_factory: Any, fakes: Fakes) -> None:
    numbers = phones(400)
    # 5 % of the requests are accepted, then answered after 3 s: later than the 1 s timeout.
    fakes.faults(fakes.twilio_gateway, timeout=0.05, timeout_delay_s=3.0, seed=11)
    settings = fakes.alert_settings(
        http_timeout_s=1.0, sending_lease_s=4.0, dispatch_batch=50, dispatch_concurrency=16
    )
    enqueue_fanout(session_factory, numbers)
    d = Dispatcher.from_settings(session_factory=session_factory, settings=settings)
    done = threading.Event()
    sender = threading.Thread(
        target=lambda: (drain_all(session_factory, [d], timeout=60), done.set()), daemon=True
    )
    t0 = time.monotonic()
    sender.start()
    try:
        # Waiting for each batch's slowest request costs >= 1 s per batch of 50: 8 s for 400
        # (10 s measured before the window; about 2-5 s with it on a busy machine).
        wait_for(lambda: accepted(session_factory) >= 0.9 * len(numbers), 30, "90 % recorded")
        ninety = time.monotonic() - t0
        sender.join(60)
    finally:
        d.close()
    assert done.is_set(), "the dispatcher did not finish"
    batch_bound = len(numbers) / 50 * 1.0
    assert ninety < batch_bound * 0.75, f"90 % recorded after {ninety:.1f} s"
    assert fakes.twilio_gateway.failures["timeout"] >= 10  # the faults really happened
    assert_exactly_once(session_factory, fakes, numbers)
    # Every timed-out request was looked up, found, and not sent again.
    found = rows(
        session_factory,
        "SELECT count(*) FROM message_delivery_events "
        "WHERE error_message LIKE 'found at the provider%'",
    )[0][0]
    assert found == fakes.twilio_gateway.failures["timeout"]


def test_failing_and_slow_gateway_loses_and_doubles_nothing(
    session_factory: Any, fakes: Fakes
) -> None:
    numbers = phones(300)
    fakes.faults(
        fakes.twilio_gateway,
        transient_5xx=0.1,
        throttle_429=0.05,
        timeout=0.05,
        timeout_delay_s=1.5,
        latency_s=0.01,
        seed=3,
    )
    settings = fakes.alert_settings(http_timeout_s=0.5, sending_lease_s=2.0)
    enqueue_fanout(session_factory, numbers)
    a = Dispatcher.from_settings(session_factory=session_factory, settings=settings)
    b = Dispatcher.from_settings(session_factory=session_factory, settings=settings)
    try:
        drain_all(session_factory, [a, b], timeout=90)
    finally:
        a.close()
        b.close()
    failures = fakes.twilio_gateway.failures
    assert failures["5xx"] and failures["429"] and failures["timeout"]
    assert_exactly_once(session_factory, fakes, numbers)
    assert not rows(
        session_factory, "SELECT id FROM message_deliveries WHERE claim_token IS NOT NULL"
    )


def test_a_pass_that_failed_mid_window_never_mixes_up_replies(
    session_factory: Any, fakes: Fakes
) -> None:
    """The database fails while requests are in flight: the pass ends, its requests stay in
    the engine, and their late replies are not taken for the next pass's rows."""
    numbers = phones(60)
    fakes.faults(fakes.twilio_gateway, latency_s=0.3, seed=2)
    settings = fakes.alert_settings(
        http_timeout_s=2.0, sending_lease_s=3.0, dispatch_batch=4, dispatch_concurrency=16
    )
    enqueue_fanout(session_factory, numbers)
    d = Dispatcher.from_settings(session_factory=session_factory, settings=settings)
    real_record = d.record
    failed = []

    def failing_once(outcomes: Any) -> None:
        if not failed and d.engine.in_flight() > 0:  # requests of this pass still out
            failed.append(d.engine.in_flight())
            raise RuntimeError("the database went away")
        real_record(outcomes)

    d.record = failing_once  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="went away"):
            for _ in range(20):
                d.run_once()
        assert failed and d.engine.in_flight() > 0  # their replies are still coming
        drain_all(session_factory, [d], timeout=60)
    finally:
        d.close()
    assert_exactly_once(session_factory, fakes, numbers)
    sid_of = {m.id: m.to for m in fakes.twilio_gateway.accepted}
    got = rows(session_factory, "SELECT phone, provider_message_id FROM message_deliveries")
    assert all(sid_of[sid] == phone for phone, sid in got)  # each row has its own message
