"""outcomes.plan_writes: provider results in, a plan of writes out (pure, no database)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from service.messaging.outcomes import (
    Claimed,
    Outcome,
    RetryPolicy,
    WritePlan,
    backoff_s,
    plan_writes,
)
from service.messaging.providers.base import ProviderError, SendResult

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, retry_base_s=2.0, retry_max_s=60.0, meta_reconcile_wait_s=300)


def claimed(
    id_: int, *, channel: str = "sms", attempts: int = 1, provider: str = "twilio", **kw: object
) -> Claimed:
    fields: dict[str, object] = {
        "id": id_,
        "idempotency_key": f"k{id_}",
        "channel": channel,
        "phone": "+6281200000001",
        "body": "PERINGATAN",
        "template": None,
        "attempts": attempts,
        "uncertain": False,
        "first_claimed_at": NOW,
        "claim_token": f"tok{id_}",
        "provider": provider,
        **kw,
    }
    return Claimed(**fields)  # type: ignore[arg-type]


def plan(*outcomes: Outcome, lookup: bool = True) -> WritePlan:
    return plan_writes(
        list(outcomes),
        now=NOW,
        policy=POLICY,
        supports_lookup=lambda _name: lookup,
        rng=random.Random(1),
    )


def test_accepted_and_delivered_results_are_one_update_each_with_an_event() -> None:
    p = plan(
        Outcome(claimed(1), result=SendResult("SM1", "queued")),
        Outcome(claimed(2, provider="console"), result=SendResult("CN2", "delivered")),
        Outcome(claimed(3), result=SendResult("SM3", "queued"), via_lookup=True),
    )
    assert p.accepted == [
        {"id": 1, "tok": "tok1", "mid": "SM1", "st": "accepted"},
        {"id": 2, "tok": "tok2", "mid": "CN2", "st": "delivered"},
        {"id": 3, "tok": "tok3", "mid": "SM3", "st": "accepted"},
    ]
    assert not p.retry and not p.final and not p.fallbacks
    assert [e["dedupe_key"] for e in p.events] == ["d1:accepted", "d2:accepted", "d3:accepted"]
    assert p.events[0]["error_message"] is None
    assert "uncertain" in p.events[2]["error_message"]


def test_transient_errors_retry_with_backoff_until_the_last_attempt_then_die() -> None:
    err = ProviderError("transient", "500", "server error")
    p = plan(Outcome(claimed(1, attempts=1), error=err), Outcome(claimed(2, attempts=3), error=err))
    [retry] = p.retry
    assert retry["id"] == 1 and retry["unc"] is False and retry["code"] == "500"
    assert NOW + timedelta(seconds=1) <= retry["next"] <= NOW + timedelta(seconds=2)
    assert p.final == [{"id": 2, "tok": "tok2", "st": "dead", "code": "500", "msg": "server error"}]
    assert [e["dedupe_key"] for e in p.events] == ["d1:retry:1", "d2:dead:3"]
    assert p.fallbacks == []  # SMS rows never fall back


def test_retry_after_and_maybe_sent_without_lookup_wait_longer() -> None:
    slow = ProviderError("transient", "429", "slow down", retry_after_s=30)
    lost = ProviderError("transient", "timeout", "no answer", maybe_sent=True)
    p = plan(
        Outcome(claimed(1), error=slow),
        Outcome(claimed(2, provider="meta"), error=lost),
        lookup=False,
    )
    by_id = {r["id"]: r for r in p.retry}
    assert by_id[1]["next"] == NOW + timedelta(seconds=30) and by_id[1]["unc"] is False
    # No lookup: the row stays uncertain and waits for the status webhook.
    assert by_id[2]["next"] == NOW + timedelta(seconds=300) and by_id[2]["unc"] is True


def test_uncertain_rows_stay_uncertain_only_where_there_is_no_lookup() -> None:
    err = ProviderError("transient", "503", "busy")
    row = claimed(1, uncertain=True)
    assert plan(Outcome(row, error=err), lookup=True).retry[0]["unc"] is False
    assert plan(Outcome(row, error=err), lookup=False).retry[0]["unc"] is True


def test_whatsapp_failures_fall_back_to_sms_when_the_code_says_so_or_when_dead() -> None:
    window_closed = ProviderError("permanent", "63016", "outside window", fallback=True)
    bad_number = ProviderError("permanent", "21211", "invalid number")
    gave_up = ProviderError("transient", "500", "server error")
    p = plan(
        Outcome(claimed(1, channel="whatsapp"), error=window_closed),
        Outcome(claimed(2, channel="whatsapp"), error=bad_number),
        Outcome(claimed(3, channel="whatsapp", attempts=3), error=gave_up),
    )
    assert [(f["id"], f["st"]) for f in p.final] == [(1, "failed"), (2, "failed"), (3, "dead")]
    assert p.fallbacks == [(1, "WhatsApp failed with 63016"), (3, "WhatsApp dead with 500")]


def test_long_error_messages_are_cut_to_1000_characters() -> None:
    p = plan(Outcome(claimed(1), error=ProviderError("permanent", "x", "e" * 5000)))
    assert len(p.final[0]["msg"]) == 1000 and len(p.events[0]["error_message"]) == 1000


def test_backoff_doubles_with_equal_jitter_up_to_the_cap() -> None:
    rng = random.Random(3)
    for attempt, full in [(1, 2.0), (2, 4.0), (3, 8.0), (9, 60.0)]:
        delay = backoff_s(attempt, base=2.0, cap=60.0, rng=rng)
        assert full / 2 <= delay <= full
