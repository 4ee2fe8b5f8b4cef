"""A token bucket per provider kept in PostgreSQL, so every worker on every machine shares it.

Tokens refill at `rate` per second up to `capacity` (one second of sending by default). A
worker takes tokens *before* it claims rows, and is charged only for the rows it will send,
so the provider never sees more than `capacity + rate * t` messages in any `t` seconds. The
clock is the database's (`clock_timestamp()`), the one clock all workers agree on.

Taking tokens is part of the claim's one statement (claims.claim_with_tokens, which uses
TAKE_CTES): a round trip per claim, on a loaded machine the dispatcher's dearest cost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

# `FOR UPDATE` returns the newest version of the row (another worker may have taken tokens
# since this statement's snapshot) and holds it until the statement has written it back.
# `granted.n` of the `available` tokens are granted (at most `:want`).
TAKE_CTES = """
    cur AS (
        SELECT least(:cap, tokens + greatest(0, extract(epoch FROM clock_timestamp() - updated_at))
                           * :rate) AS available
        FROM message_rate_buckets WHERE name = :bucket FOR UPDATE
    ), granted AS (
        SELECT available, greatest(0, least(:want, floor(available)))::int AS n FROM cur
    )
"""
_ENSURE = text(
    "INSERT INTO message_rate_buckets (name, tokens, updated_at) "
    "VALUES (:bucket, :cap, clock_timestamp()) ON CONFLICT (name) DO NOTHING"
)


class TokenBucket:
    def __init__(self, *, name: str, rate: float, capacity: float | None = None) -> None:
        self.name = name
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)

    def parameters(self, want: int) -> dict[str, Any]:
        """The bind parameters of TAKE_CTES."""
        return {"bucket": self.name, "cap": self.capacity, "rate": self.rate, "want": want}

    def ensure(self, conn: Connection) -> None:
        """Create the bucket, full, unless it exists."""
        conn.execute(_ENSURE, self.parameters(0))

    def wait_s(self, left: float) -> float:
        """Seconds until the next whole token, with `left` tokens in the bucket."""
        return 0.0 if left >= 1 else (1 - left) / self.rate
