"""Claims on the outbox: due rows taken with `FOR UPDATE SKIP LOCKED` and committed as
`sending` under a fresh claim token before any HTTP call, and stale claims of dead workers
turned back into `pending` + `uncertain` (looked up before they are sent again).

Each step is one statement, atomic on its own, run in autocommit on the connection the
dispatcher holds for a pass: one round trip each (no BEGIN/COMMIT, no pool pre-ping), which
is what a loaded machine makes expensive."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, text
from sqlalchemy.orm import Session, sessionmaker

from service.messaging.events import EVENT_COLUMNS
from service.messaging.outcomes import Claimed
from service.messaging.token_bucket import TAKE_CTES, TokenBucket

WHATSAPP_WINDOW = timedelta(hours=24)
OPTED_OUT_MESSAGE = "the number replied STOP/BERHENTI; MULAI restarts"

_DUE = """
    SELECT id FROM message_deliveries
    WHERE status = 'pending' AND next_attempt_at <= :now AND channel = ANY(:channels)
    ORDER BY next_attempt_at, id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
"""
_MARK_SENDING = """
    UPDATE message_deliveries d
    SET status = 'sending', claim_token = :token, claimed_at = :now,
        first_claimed_at = coalesce(d.first_claimed_at, :now),
        attempts = d.attempts + 1, provider = :provider, updated_at = :now
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.idempotency_key, d.channel, d.phone, d.body, d.template,
              d.attempts, d.uncertain, d.first_claimed_at,
              d.purpose <> 'opt_out_confirmation' AND
              EXISTS (SELECT 1 FROM message_opt_outs o
                      WHERE o.phone = d.phone AND o.active) AS opted_out,
              d.channel = 'whatsapp' AND d.template IS NOT NULL AND
              EXISTS (SELECT 1 FROM message_inbound i
                      WHERE i.phone = d.phone AND i.channel = 'whatsapp'
                        AND i.received_at > :window_since) AS window_open
"""
_CLAIM = text(f"WITH due AS ({_DUE.format(limit=':limit')}) {_MARK_SENDING}")
# Rate tokens and rows in one statement: as many rows as tokens are granted, and the bucket
# charged only for the rows that will be sent (not for opted-out ones, nor for rows that
# were not there), so nothing needs giving back. The bucket row is locked first (the LIMIT
# needs it); rows are taken with SKIP LOCKED, so two dispatchers never wait on each other.
_CLAIM_WITH_TOKENS = text(
    f"""
    WITH {TAKE_CTES},
    due AS ({_DUE.format(limit="coalesce((SELECT n FROM granted), 0)")}),
    claimed AS ({_MARK_SENDING}),
    charged AS (
        UPDATE message_rate_buckets b
        SET tokens = g.available - (SELECT count(*) FROM claimed WHERE NOT claimed.opted_out),
            updated_at = clock_timestamp()
        FROM granted g WHERE b.name = :bucket
    )
    SELECT g.available, g.n AS granted, c.* FROM granted g LEFT JOIN claimed c ON true
    """
)
_EVENTS_FROM = ", ".join(EVENT_COLUMNS)
# Closed and noted in one statement: should the worker die between the claim and this, the
# rows are reaped, claimed again and closed then; nothing is sent to them either way.
_CLOSE_OPTED_OUT = text(
    f"""
    WITH closed AS (
        UPDATE message_deliveries SET status = 'opted_out', claim_token = NULL,
            last_error_code = 'opted_out', last_error_message = :msg
        WHERE id = ANY(:ids) AND claim_token = :token
        RETURNING id
    )
    INSERT INTO message_delivery_events ({_EVENTS_FROM})
    SELECT 'd' || id || '\\:opted_out', id, 'opted_out', 'dispatcher', :now,
           NULL, NULL, NULL
    FROM closed
    ON CONFLICT (dedupe_key) DO NOTHING
    """
)
_REAP = text(
    f"""
    WITH stale AS (
        SELECT id FROM message_deliveries
        WHERE status = 'sending' AND claimed_at < :cutoff
        LIMIT 1000 FOR UPDATE SKIP LOCKED
    ), reaped AS (
        UPDATE message_deliveries d
        SET status = 'pending', uncertain = true, claim_token = NULL,
            next_attempt_at = :now + CASE WHEN d.provider = 'meta'
                THEN make_interval(secs => :meta_wait) ELSE interval '0' END,
            updated_at = :now
        FROM stale WHERE d.id = stale.id
        RETURNING d.id, d.attempts
    ), noted AS (
        INSERT INTO message_delivery_events ({_EVENTS_FROM})
        SELECT 'd' || id || '\\:stale\\:' || attempts, id, 'stale_claim', 'dispatcher', :now, NULL,
               NULL, 'claim expired mid-send; will look up before resending'
        FROM reaped
        ON CONFLICT (dedupe_key) DO NOTHING
    )
    SELECT count(*) FROM reaped
    """
)


# The outbox's statistics are stale by nature: it holds a million sent rows and, for a
# minute after a national fan-out, 100,000 pending ones that the last ANALYZE did not see;
# and a claim's LIMIT is the tokens granted, unknown when the statement is planned (the
# planner guesses a tenth of the table). Trusting both, it read every pending row and
# sorted them on disk, then hash-joined the claim with the whole table: 50-100 ms a claim
# and a core of PostgreSQL for the whole fan-out. Every statement of a pass touches a few
# rows by key in index order, so a pass's connection plans without sorts, bitmap scans,
# hash or merge joins (`dispatch_planning`), and gets the server's defaults back after.
_PLANNER_OFF = ("enable_sort", "enable_bitmapscan", "enable_hashjoin", "enable_mergejoin")
_INDEX_ORDER = "; ".join(f"SET {name} = off" for name in _PLANNER_OFF)
_DEFAULT_PLANNING = "; ".join(f"RESET {name}" for name in _PLANNER_OFF)


@contextmanager
def dispatch_planning(conn: Connection) -> Iterator[Connection]:
    """Plan this connection's statements for a queue (index order, no sorts) while inside."""
    conn.exec_driver_sql(_INDEX_ORDER)
    try:
        yield conn
    finally:
        if not conn.invalidated:
            conn.exec_driver_sql(_DEFAULT_PLANNING)


def autocommit(session_factory: sessionmaker[Session]) -> Engine:
    """The sessions' engine, its connections in autocommit (one statement, one round trip)."""
    engine = session_factory.kw["bind"]
    assert isinstance(engine, Engine), "the dispatcher needs a session factory bound to an engine"
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def claim_due(
    conn: Connection,
    *,
    provider: str,
    channels: list[str],
    limit: int,
    now: datetime,
) -> list[Claimed | None]:
    """Claim up to `limit` due rows (committed at once: `conn` is in autocommit); opted-out
    numbers are closed, not sent (returned as None). No rate tokens: see claim_with_tokens."""
    token = str(uuid.uuid4())
    params = _claim_parameters(provider, channels, now, token)
    rows = conn.execute(_CLAIM, {**params, "limit": limit}).all()
    return _claimed(conn, rows, provider=provider, token=token, now=now)


@dataclass
class TokenClaim:
    rows: list[Claimed | None]  # None: an opted-out row, closed
    granted: int  # rate tokens there were for the rows asked for
    wait_s: float  # until the next token, when fewer than one is left


def claim_with_tokens(
    conn: Connection,
    bucket: TokenBucket,
    *,
    provider: str,
    channels: list[str],
    want: int,
    now: datetime,
) -> TokenClaim:
    """Take up to `want` rate tokens from `bucket` and claim that many due rows, in one
    statement (committed at once); the bucket is charged for the rows to send only."""
    token = str(uuid.uuid4())
    params = {
        **_claim_parameters(provider, channels, now, token),
        **bucket.parameters(want),
    }
    result = conn.execute(_CLAIM_WITH_TOKENS, params).all()
    if not result:  # the bucket's first use: it starts full
        bucket.ensure(conn)
        result = conn.execute(_CLAIM_WITH_TOKENS, params).all()
    available, granted = float(result[0].available), int(result[0].granted)
    rows = [r for r in result if r.id is not None]
    claimed = _claimed(conn, rows, provider=provider, token=token, now=now)
    used = sum(1 for c in claimed if c is not None)
    return TokenClaim(claimed, granted, bucket.wait_s(available - used))


def _claim_parameters(
    provider: str, channels: list[str], now: datetime, token: str
) -> dict[str, Any]:
    return {
        "now": now,
        "channels": channels,
        "token": token,
        "provider": provider,
        "window_since": now - WHATSAPP_WINDOW,
    }


def _claimed(
    conn: Connection, rows: Sequence[Row[Any]], *, provider: str, token: str, now: datetime
) -> list[Claimed | None]:
    opted_out = [r.id for r in rows if r.opted_out]
    if opted_out:
        conn.execute(
            _CLOSE_OPTED_OUT,
            {"ids": opted_out, "msg": OPTED_OUT_MESSAGE, "token": token, "now": now},
        )
    return [
        None
        if r.opted_out
        else Claimed(
            id=r.id,
            idempotency_key=r.idempotency_key,
            channel=r.channel,
            phone=r.phone,
            body=r.body,
            template=r.template,
            attempts=r.attempts,
            uncertain=r.uncertain,
            first_claimed_at=r.first_claimed_at,
            claim_token=token,
            provider=provider,
            window_open=bool(r.window_open),
        )
        for r in rows
    ]


def reap_stale(conn: Connection, *, now: datetime, lease_s: float, meta_wait_s: float) -> int:
    """Rows left `sending` longer than the lease by a dead worker go back to `pending`,
    marked uncertain (at most 1,000 per call); returns how many.

    Providers without a lookup (Meta) wait `meta_wait_s` first: their status webhook, which
    carries our key, usually reconciles the row in the meantime.
    """
    cutoff = now - timedelta(seconds=lease_s)
    params = {"cutoff": cutoff, "now": now, "meta_wait": meta_wait_s}
    return int(conn.execute(_REAP, params).scalar_one())


def has_due(conn: Connection, channels: list[str], now: datetime) -> bool:
    return bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM message_deliveries WHERE status = 'pending' "
                "AND next_attempt_at <= :now AND channel = ANY(:ch))"
            ),
            {"now": now, "ch": channels},
        ).scalar()
    )
