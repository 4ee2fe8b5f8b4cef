"""Writes a dispatcher's plan of outcomes (outcomes.plan_writes) in one transaction: one
statement per kind over arrays (unnest), whatever the batch size, then events and fallbacks.
`claim_token = t.tok` guards every update against a row another dispatcher reclaimed since."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from service.messaging.events import add_events
from service.messaging.fallback import enqueue_fallbacks
from service.messaging.outcomes import WritePlan

_MARK_ACCEPTED = text(
    """
    UPDATE message_deliveries d
    SET status = t.st, provider_message_id = t.mid, claim_token = NULL, uncertain = false,
        accepted_at = :now, delivered_at = CASE WHEN t.st = 'delivered' THEN :now END,
        last_error_code = NULL, last_error_message = NULL, updated_at = :now
    FROM unnest(CAST(:id AS bigint[]), CAST(:tok AS text[]), CAST(:mid AS text[]),
                CAST(:st AS text[])) AS t(id, tok, mid, st)
    WHERE d.id = t.id AND d.claim_token = t.tok
    """
)
_MARK_RETRY = text(
    """
    UPDATE message_deliveries d
    SET status = 'pending', claim_token = NULL, next_attempt_at = t.next, uncertain = t.unc,
        last_error_code = t.code, last_error_message = t.msg, updated_at = :now
    FROM unnest(CAST(:id AS bigint[]), CAST(:tok AS text[]), CAST(:next AS timestamptz[]),
                CAST(:unc AS boolean[]), CAST(:code AS text[]), CAST(:msg AS text[]))
         AS t(id, tok, next, unc, code, msg)
    WHERE d.id = t.id AND d.claim_token = t.tok
    """
)
_MARK_FINAL = text(
    """
    UPDATE message_deliveries d
    SET status = t.st, claim_token = NULL, last_error_code = t.code, last_error_message = t.msg,
        updated_at = :now
    FROM unnest(CAST(:id AS bigint[]), CAST(:tok AS text[]), CAST(:st AS text[]),
                CAST(:code AS text[]), CAST(:msg AS text[])) AS t(id, tok, st, code, msg)
    WHERE d.id = t.id AND d.claim_token = t.tok
    """
)


def _columns(items: list[dict[str, Any]], *names: str) -> dict[str, list[Any]]:
    return {n: [i[n] for i in items] for n in names}


def write_plan(session: Session, plan: WritePlan, *, now: datetime) -> None:
    """Apply `plan` in the caller's transaction."""
    if plan.accepted:
        session.execute(
            _MARK_ACCEPTED, {**_columns(plan.accepted, "id", "tok", "mid", "st"), "now": now}
        )
    if plan.retry:
        session.execute(
            _MARK_RETRY,
            {**_columns(plan.retry, "id", "tok", "next", "unc", "code", "msg"), "now": now},
        )
    if plan.final:
        session.execute(
            _MARK_FINAL, {**_columns(plan.final, "id", "tok", "st", "code", "msg"), "now": now}
        )
    add_events(session, plan.events)
    enqueue_fallbacks(session, plan.fallbacks, now=now)
