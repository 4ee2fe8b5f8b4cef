"""Claims on the outbox: due rows taken with `FOR UPDATE SKIP LOCKED` and committed as
`sending` under a fresh claim token before any HTTP call, and stale claims of dead workers
turned back into `pending` + `uncertain` (looked up before they are sent again)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from service.messaging.events import add_events
from service.messaging.outcomes import Claimed

WHATSAPP_WINDOW = timedelta(hours=24)
OPTED_OUT_MESSAGE = "the number replied STOP/BERHENTI; MULAI restarts"

_CLAIM = text(
    """
    WITH due AS (
        SELECT id FROM message_deliveries
        WHERE status = 'pending' AND next_attempt_at <= :now
          AND channel = ANY(:channels)
        ORDER BY next_attempt_at, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE message_deliveries d
    SET status = 'sending', claim_token = :token, claimed_at = :now,
        first_claimed_at = coalesce(d.first_claimed_at, :now),
        attempts = d.attempts + 1, provider = :provider, updated_at = :now
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.idempotency_key, d.channel, d.phone, d.body, d.template,
              d.attempts, d.uncertain, d.first_claimed_at,
              d.purpose <> 'opt_out_confirmation' AND
              EXISTS (SELECT 1 FROM message_opt_outs o
                      WHERE o.phone = d.phone AND o.active) AS opted_out
    """
)
_CLOSE_OPTED_OUT = text(
    "UPDATE message_deliveries SET status = 'opted_out', claim_token = NULL, "
    "last_error_code = 'opted_out', last_error_message = :msg WHERE id = ANY(:ids)"
)
_REAP = text(
    """
    WITH stale AS (
        SELECT id FROM message_deliveries
        WHERE status = 'sending' AND claimed_at < :cutoff
        LIMIT 1000 FOR UPDATE SKIP LOCKED
    )
    UPDATE message_deliveries d
    SET status = 'pending', uncertain = true, claim_token = NULL,
        next_attempt_at = :now + CASE WHEN d.provider = 'meta'
            THEN make_interval(secs => :meta_wait) ELSE interval '0' END,
        updated_at = :now
    FROM stale WHERE d.id = stale.id
    RETURNING d.id, d.attempts
    """
)


def claim_due(
    session_factory: sessionmaker[Session],
    *,
    provider: str,
    channels: list[str],
    limit: int,
    now: datetime,
) -> list[Claimed | None]:
    """Claim up to `limit` due rows and commit; opted-out numbers are closed, not sent
    (returned as None so their rate tokens go back)."""
    token = str(uuid.uuid4())
    params = {"now": now, "channels": channels, "limit": limit, "token": token}
    with session_factory() as session, session.begin():
        rows = session.execute(_CLAIM, {**params, "provider": provider}).all()
        opted_out = [r.id for r in rows if r.opted_out]
        if opted_out:
            _close_opted_out(session, opted_out, now)
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
        )
        for r in rows
    ]


def _close_opted_out(session: Session, ids: list[int], now: datetime) -> None:
    session.execute(_CLOSE_OPTED_OUT, {"ids": ids, "msg": OPTED_OUT_MESSAGE})
    add_events(
        session,
        [
            {
                "dedupe_key": f"d{i}:opted_out",
                "delivery_id": i,
                "status": "opted_out",
                "source": "dispatcher",
                "occurred_at": now,
            }
            for i in ids
        ],
    )


def reap_stale(
    session_factory: sessionmaker[Session], *, now: datetime, lease_s: float, meta_wait_s: float
) -> int:
    """Rows left `sending` longer than the lease by a dead worker go back to `pending`,
    marked uncertain (at most 1,000 per call); returns how many.

    Providers without a lookup (Meta) wait `meta_wait_s` first: their status webhook, which
    carries our key, usually reconciles the row in the meantime.
    """
    cutoff = now - timedelta(seconds=lease_s)
    with session_factory() as session, session.begin():
        rows = session.execute(
            _REAP, {"cutoff": cutoff, "now": now, "meta_wait": meta_wait_s}
        ).all()
        add_events(
            session,
            [
                {
                    "dedupe_key": f"d{r.id}:stale:{r.attempts}",
                    "delivery_id": r.id,
                    "status": "stale_claim",
                    "source": "dispatcher",
                    "occurred_at": now,
                    "error_message": "claim expired mid-send; will look up before resending",
                }
                for r in rows
            ],
        )
    return len(rows)


def has_due(session_factory: sessionmaker[Session], channels: list[str], now: datetime) -> bool:
    with session_factory() as session:
        return bool(
            session.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM message_deliveries WHERE status = 'pending' "
                    "AND next_attempt_at <= :now AND channel = ANY(:ch))"
                ),
                {"now": now, "ch": channels},
            ).scalar()
        )


def whatsapp_window_open(
    session_factory: sessionmaker[Session], phones: list[str], now: datetime
) -> set[str]:
    """Numbers that wrote to us in the last 24 h (WhatsApp free-form text allowed)."""
    if not phones:
        return set()
    with session_factory() as session:
        rows = session.execute(
            text(
                "SELECT DISTINCT phone FROM message_inbound "
                "WHERE phone = ANY(:p) AND channel = 'whatsapp' AND received_at > :since"
            ),
            {"p": phones, "since": now - WHATSAPP_WINDOW},
        )
        return {r[0] for r in rows}
