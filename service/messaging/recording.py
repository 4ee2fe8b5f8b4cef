"""Writes a dispatcher's plan of outcomes (outcomes.plan_writes): the three kinds of update,
then the history events, in one statement over arrays (unnest), whatever the batch size, so
a batch costs one round trip. `claim_token = t.tok` guards every update against a row
another dispatcher reclaimed since. A plan with WhatsApp → SMS fallbacks is written in one
transaction with them, so a row never ends failed without its fallback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from service.messaging.events import EVENT_COLUMNS
from service.messaging.fallback import enqueue_fallbacks
from service.messaging.outcomes import WritePlan

_RECORD = text(
    """
    WITH accepted AS (
        UPDATE message_deliveries d
        SET status = t.st, provider_message_id = t.mid, claim_token = NULL, uncertain = false,
            accepted_at = :now, delivered_at = CASE WHEN t.st = 'delivered' THEN :now END,
            last_error_code = NULL, last_error_message = NULL, updated_at = :now
        FROM unnest(CAST(:a_id AS bigint[]), CAST(:a_tok AS text[]), CAST(:a_mid AS text[]),
                    CAST(:a_st AS text[])) AS t(id, tok, mid, st)
        WHERE d.id = t.id AND d.claim_token = t.tok
        RETURNING 1
    ), retried AS (
        UPDATE message_deliveries d
        SET status = 'pending', claim_token = NULL, next_attempt_at = t.next, uncertain = t.unc,
            last_error_code = t.code, last_error_message = t.msg, updated_at = :now
        FROM unnest(CAST(:r_id AS bigint[]), CAST(:r_tok AS text[]),
                    CAST(:r_next AS timestamptz[]), CAST(:r_unc AS boolean[]),
                    CAST(:r_code AS text[]), CAST(:r_msg AS text[]))
             AS t(id, tok, next, unc, code, msg)
        WHERE d.id = t.id AND d.claim_token = t.tok
        RETURNING 1
    ), closed AS (
        UPDATE message_deliveries d
        SET status = t.st, claim_token = NULL, last_error_code = t.code,
            last_error_message = t.msg, updated_at = :now
        FROM unnest(CAST(:f_id AS bigint[]), CAST(:f_tok AS text[]), CAST(:f_st AS text[]),
                    CAST(:f_code AS text[]), CAST(:f_msg AS text[])) AS t(id, tok, st, code, msg)
        WHERE d.id = t.id AND d.claim_token = t.tok
        RETURNING 1
    ), updated AS (
        SELECT (SELECT count(*) FROM accepted) + (SELECT count(*) FROM retried)
               + (SELECT count(*) FROM closed) AS n
    )
    """
    f"INSERT INTO message_delivery_events ({', '.join(EVENT_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:e_{c} AS {t})" for c, t in EVENT_COLUMNS.items())
    # The rows first, then their events (as separate statements did): a webhook that locked
    # a row and adds its `d<id>:accepted` must never wait on our event while we wait on it.
    + ") WHERE (SELECT n FROM updated) >= 0 ON CONFLICT (dedupe_key) DO NOTHING"
)


def _columns(prefix: str, items: list[dict[str, Any]], *names: str) -> dict[str, list[Any]]:
    return {f"{prefix}{n}": [i.get(n) for i in items] for n in names}


def record_parameters(plan: WritePlan, now: datetime) -> dict[str, Any]:
    return {
        "now": now,
        **_columns("a_", plan.accepted, "id", "tok", "mid", "st"),
        **_columns("r_", plan.retry, "id", "tok", "next", "unc", "code", "msg"),
        **_columns("f_", plan.final, "id", "tok", "st", "code", "msg"),
        **_columns("e_", plan.events, *EVENT_COLUMNS),
    }


def write_plan(conn: Connection, plan: WritePlan, *, now: datetime) -> None:
    """Apply `plan` on `conn`: an autocommit connection (the statement commits alone), or
    one inside the caller's transaction. Fallbacks need a transaction: see write_with_fallbacks.
    """
    conn.execute(_RECORD, record_parameters(plan, now))


def write_with_fallbacks(session: Session, plan: WritePlan, *, now: datetime) -> None:
    """Apply `plan` and enqueue its fallbacks in the caller's transaction."""
    session.execute(_RECORD, record_parameters(plan, now))
    enqueue_fallbacks(session, plan.fallbacks, now=now)
