"""Fixed-window rate limits kept in PostgreSQL, so every API process counts together.

Each write is counted against two buckets, the API key (by its hash, so no key lookup is
needed before counting) and the client address; either over the limit refuses the request
with 429 and `Retry-After`. One statement does both upserts: one round trip per write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

WINDOW_SECONDS = 60

_HIT_SQL = text(
    """
    INSERT INTO rate_limit_windows AS w (bucket, window_start, hits)
    SELECT b, :window_start, 1 FROM unnest(CAST(:buckets AS text[])) AS b
    ON CONFLICT (bucket, window_start) DO UPDATE SET hits = w.hits + 1
    RETURNING bucket, hits
    """
)
_PURGE_SQL = text("DELETE FROM rate_limit_windows WHERE window_start < :before")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    bucket: str | None  # the bucket over its limit, when refused
    retry_after_s: int
    hits: dict[str, int]


def window_start(now: datetime, seconds: int = WINDOW_SECONDS) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def key_bucket(token: str) -> str:
    return "key:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def ip_bucket(address: str) -> str:
    return "ip:" + address[:100]


def hit(engine: Engine, *, buckets: list[str], limit: int, now: datetime | None = None) -> Verdict:
    """Count one hit in each bucket for the current window and judge it against `limit`."""
    now = now or datetime.now(UTC)
    start = window_start(now)
    with engine.begin() as conn:
        rows = conn.execute(_HIT_SQL, {"window_start": start, "buckets": buckets}).all()
        # Old windows are useless; purge now and then (about once per 50 writes) so the
        # table stays a few rows per active client without a separate job.
        if rows and rows[0][1] % 50 == 1:
            conn.execute(_PURGE_SQL, {"before": start - timedelta(seconds=WINDOW_SECONDS)})
    hits = {bucket: count for bucket, count in rows}
    retry = max(1, int((start + timedelta(seconds=WINDOW_SECONDS) - now).total_seconds() + 0.999))
    for bucket in buckets:
        if hits.get(bucket, 0) > limit:
            return Verdict(False, bucket, retry, hits)
    return Verdict(True, None, retry, hits)
