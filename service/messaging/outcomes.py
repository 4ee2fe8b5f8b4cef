"""What happened to each claimed row, turned into a plan of writes: pure, no I/O.

The dispatcher sends a window of claimed rows and gets one `Outcome` per row (a provider
result or a `ProviderError`). `plan_writes` decides, for each, the row's next state
(accepted, retry later, failed or dead), its history event and whether a WhatsApp row falls
back to SMS; `recording.write_plan` then applies the whole plan in one transaction.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from service.messaging.providers.base import ProviderError, SendResult


@dataclass(frozen=True)
class Claimed:
    """A row this dispatcher claimed: what it needs to send it and to record the outcome."""

    id: int
    idempotency_key: str
    channel: str
    phone: str
    body: str
    template: dict[str, Any] | None
    attempts: int
    uncertain: bool
    first_claimed_at: datetime
    claim_token: str
    provider: str
    window_open: bool = False  # WhatsApp: the number wrote to us in the last 24 h


@dataclass
class Outcome:
    row: Claimed
    result: SendResult | None = None
    error: ProviderError | None = None
    via_lookup: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    retry_base_s: float
    retry_max_s: float
    meta_reconcile_wait_s: float


@dataclass
class WritePlan:
    """Column lists per kind of update (one statement each over arrays), events, fallbacks."""

    accepted: list[dict[str, Any]] = field(default_factory=list)  # id, tok, mid, st
    retry: list[dict[str, Any]] = field(default_factory=list)  # id, tok, next, unc, code, msg
    final: list[dict[str, Any]] = field(default_factory=list)  # id, tok, st, code, msg
    events: list[dict[str, Any]] = field(default_factory=list)
    fallbacks: list[tuple[int, str]] = field(default_factory=list)  # (delivery id, reason)


def backoff_s(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay / 2 + rng.uniform(0, delay / 2)


def plan_writes(
    outcomes: list[Outcome],
    *,
    now: datetime,
    policy: RetryPolicy,
    supports_lookup: Callable[[str], bool],
    rng: random.Random,
) -> WritePlan:
    """The writes that record `outcomes`; `supports_lookup(provider name)` says whether an
    uncertain row can be looked up at its provider before it is sent again."""
    plan = WritePlan()
    for o in outcomes:
        if o.result is not None:
            _plan_accepted(plan, o.row, o.result, now=now, via_lookup=o.via_lookup)
        else:
            assert o.error is not None
            _plan_failure(plan, o.row, o.error, now, policy, supports_lookup, rng)
    return plan


def _plan_accepted(
    plan: WritePlan, r: Claimed, result: SendResult, *, now: datetime, via_lookup: bool
) -> None:
    status = "delivered" if result.status == "delivered" else "accepted"
    plan.accepted.append(
        {"id": r.id, "tok": r.claim_token, "mid": result.provider_message_id, "st": status}
    )
    plan.events.append(
        {
            "dedupe_key": f"d{r.id}:accepted",
            "delivery_id": r.id,
            "status": "accepted",
            "source": "dispatcher",
            "occurred_at": now,
            "provider_message_id": result.provider_message_id,
            "error_message": "found at the provider after an uncertain send"
            if via_lookup
            else None,
        }
    )


def _plan_failure(
    plan: WritePlan,
    r: Claimed,
    err: ProviderError,
    now: datetime,
    policy: RetryPolicy,
    supports_lookup: Callable[[str], bool],
    rng: random.Random,
) -> None:
    message = err.message[:1000]
    if err.kind == "transient" and r.attempts < policy.max_attempts:
        delay = backoff_s(r.attempts, base=policy.retry_base_s, cap=policy.retry_max_s, rng=rng)
        if err.retry_after_s:
            delay = max(delay, min(err.retry_after_s, policy.retry_max_s))
        lookup = supports_lookup(r.provider)
        uncertain = err.maybe_sent or (r.uncertain and not lookup)
        if err.maybe_sent and not lookup:
            # No lookup (Meta): give the status webhook time to name the message.
            delay = max(delay, policy.meta_reconcile_wait_s)
        plan.retry.append(
            {
                "id": r.id,
                "tok": r.claim_token,
                "next": now + timedelta(seconds=delay),
                "unc": uncertain,
                "code": err.code,
                "msg": message,
            }
        )
        status = "retry"
    else:
        status = "failed" if err.kind == "permanent" else "dead"
        plan.final.append(
            {"id": r.id, "tok": r.claim_token, "st": status, "code": err.code, "msg": message}
        )
        if r.channel == "whatsapp" and (err.fallback or status == "dead"):
            plan.fallbacks.append((r.id, f"WhatsApp {status} with {err.code}"))
    plan.events.append(
        {
            "dedupe_key": f"d{r.id}:{status}:{r.attempts}",
            "delivery_id": r.id,
            "status": status,
            "source": "dispatcher",
            "occurred_at": now,
            "error_code": err.code,
            "error_message": message,
        }
    )
