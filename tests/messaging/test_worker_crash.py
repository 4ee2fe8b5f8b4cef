"""A dispatcher process killed with SIGKILL mid fan-out, then restarted: nobody missed,
nobody messaged twice (counted at a fake Twilio that, like Twilio, does not deduplicate)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.messaging.conftest import (
    TWILIO_SID,
    TWILIO_TOKEN,
    Fakes,
    enqueue_fanout,
    open_count,
    phones,
    rows,
)

# A worker process SIGKILLed mid fan-out: outside the fast loop (-m 'not slow').
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def spawn(database_url: str, fakes: Fakes, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SIAGA_ENV": "test",
        "SIAGA_ALERTS_SMS_PROVIDER": "twilio",
        "SIAGA_ALERTS_WHATSAPP_PROVIDER": "twilio",
        "SIAGA_ALERTS_TWILIO_BASE_URL": fakes.twilio_server.url,
        "SIAGA_ALERTS_TWILIO_ACCOUNT_SID": TWILIO_SID,
        "SIAGA_ALERTS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "SIAGA_ALERTS_TWILIO_SMS_FROM": "+15005550006",
        "SIAGA_ALERTS_HTTP_TIMEOUT_S": "1",
        "SIAGA_ALERTS_SENDING_LEASE_S": "2",
        "SIAGA_ALERTS_RETRY_BASE_S": "0.05",
        "SIAGA_ALERTS_RETRY_MAX_S": "0.3",
        "SIAGA_ALERTS_MAX_ATTEMPTS": "10",
        "SIAGA_ALERTS_RATE_PER_SECOND": "5000",
        "SIAGA_ALERTS_DISPATCH_BATCH": "40",
        "SIAGA_ALERTS_DISPATCH_INTERVAL_S": "0.1",
    }
    with log.open("ab") as out:  # the child has its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "service", "messaging", "dispatch"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_sigkill_mid_fanout_then_restart(
    database_url: str, session_factory: Any, fakes: Fakes, tmp_path: Path
) -> None:
    numbers = phones(400)
    # Slow answers keep messages in flight, so the kill lands between send and commit.
    fakes.faults(fakes.twilio_gateway, transient_5xx=0.05, latency_s=0.03, seed=5)
    enqueue_fanout(session_factory, numbers)
    log = tmp_path / "dispatch.log"

    first = spawn(database_url, fakes, log)
    try:
        wait_for(lambda: len(fakes.twilio_gateway.accepted) >= 120, 60, "the first sends")
        in_flight = rows(
            session_factory, "SELECT count(*) FROM message_deliveries WHERE status = 'sending'"
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    accepted_at_kill = len(fakes.twilio_gateway.accepted)
    left_sending = rows(
        session_factory, "SELECT count(*) FROM message_deliveries WHERE status = 'sending'"
    )[0][0]
    recorded = rows(
        session_factory, "SELECT count(*) FROM message_deliveries WHERE status = 'accepted'"
    )[0][0]
    sent_not_recorded = accepted_at_kill - recorded  # Twilio has them; our database does not
    assert accepted_at_kill < len(numbers), "the kill came too late to test anything"
    assert in_flight[0][0] > 0 and left_sending > 0, "no delivery was in flight at the kill"

    second = spawn(database_url, fakes, log)
    try:
        wait_for(lambda: open_count(session_factory) == 0, 60, "the restarted dispatcher")
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(15)
        except subprocess.TimeoutExpired:
            second.kill()
    counts = fakes.twilio_gateway.per_recipient()
    missing = set(numbers) - set(counts)
    twice = {p: n for p, n in counts.items() if n > 1}
    assert not missing, f"{len(missing)} recipients never messaged; log: {log.read_text()[-2000:]}"
    assert not twice, f"messaged more than once: {twice}"
    statuses = rows(
        session_factory, "SELECT status, count(*) FROM message_deliveries GROUP BY status"
    )
    assert dict(statuses) == {"accepted": 400}
    reclaimed = rows(
        session_factory, "SELECT count(*) FROM message_delivery_events WHERE status = 'stale_claim'"
    )
    assert reclaimed[0][0] == left_sending
    found = rows(
        session_factory,
        "SELECT count(*) FROM message_delivery_events "
        "WHERE error_message LIKE 'found at the provider%'",
    )
    print(f"in flight {left_sending}, sent but unrecorded {sent_not_recorded}")
    assert found[0][0] == sent_not_recorded  # each was looked up, none sent again
