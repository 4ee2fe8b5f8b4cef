"""A token bucket per provider kept in PostgreSQL, so every worker on every machine shares it.

Tokens refill at `rate` per second up to `capacity` (one second of sending by default). A
worker takes tokens *before* claiming rows and gives back what it could not use, so the
provider never sees more than `capacity + rate * t` messages in any `t` seconds. The clock is
the database's (`clock_timestamp()`), the one clock all workers agree on.

Taking and giving back are one statement each, atomic on their own: the dispatcher runs them
in autocommit on the connection it holds for a pass, one round trip apiece.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

_ENSURE = text(
    "INSERT INTO message_rate_buckets (name, tokens, updated_at) "
    "VALUES (:n, :cap, clock_timestamp()) ON CONFLICT (name) DO NOTHING"
)
# `FOR UPDATE` returns the newest version of the row (another worker may have taken tokens
# since this statement's snapshot) and holds it until the UPDATE below has written it.
_TAKE = text(
    """
    WITH cur AS (
        SELECT least(:cap, tokens + greatest(0, extract(epoch FROM clock_timestamp() - updated_at))
                           * :rate) AS available
        FROM message_rate_buckets WHERE name = :n FOR UPDATE
    ), granted AS (
        SELECT available, greatest(0, least(:want, floor(available)))::int AS n FROM cur
    ), taken AS (
        UPDATE message_rate_buckets b
        SET tokens = g.available - g.n, updated_at = clock_timestamp()
        FROM granted g WHERE b.name = :n
        RETURNING b.name
    )
    SELECT available, n FROM granted
    """
)
_GIVE_BACK = text(
    "UPDATE message_rate_buckets SET tokens = least(:cap, tokens + :c) WHERE name = :n"
)


class TokenBucket:
    def __init__(
        self,
        engine: Engine,
        *,
        name: str,
        rate: float,
        capacity: float | None = None,
    ) -> None:
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.name = name
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)

    def take(self, want: int, *, conn: Connection | None = None) -> tuple[int, float]:
        """Take up to `want` whole tokens; returns (granted, seconds until the next token).
        `conn`: an autocommit connection to use (else one from the pool)."""
        if conn is None:
            with self.engine.connect() as own:
                return self.take(want, conn=own)
        params = {"n": self.name, "cap": self.capacity, "rate": self.rate, "want": want}
        row = conn.execute(_TAKE, params).one_or_none()
        if row is None:  # the bucket's first use: it starts full
            conn.execute(_ENSURE, params)
            row = conn.execute(_TAKE, params).one()
        available, granted = float(row[0]), int(row[1])
        left = available - granted
        wait = 0.0 if left >= 1 else (1 - left) / self.rate
        return granted, wait

    def give_back(self, count: int, *, conn: Connection | None = None) -> None:
        if count <= 0:
            return
        if conn is None:
            with self.engine.connect() as own:
                return self.give_back(count, conn=own)
        conn.execute(_GIVE_BACK, {"cap": self.capacity, "c": count, "n": self.name})
