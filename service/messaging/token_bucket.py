"""A token bucket per provider kept in PostgreSQL, so every worker on every machine shares it.

Tokens refill at `rate` per second up to `capacity` (one second of sending by default). A
worker takes tokens *before* claiming rows and gives back what it could not use, so the
provider never sees more than `capacity + rate * t` messages in any `t` seconds. The clock is
the database's (`clock_timestamp()`), the one clock all workers agree on.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker


class TokenBucket:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        name: str,
        rate: float,
        capacity: float | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.name = name
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)

    def take(self, want: int) -> tuple[int, float]:
        """Take up to `want` whole tokens; returns (granted, seconds until the next token)."""
        with self.session_factory() as session, session.begin():
            session.execute(
                text(
                    "INSERT INTO message_rate_buckets (name, tokens, updated_at) "
                    "VALUES (:n, :cap, clock_timestamp()) ON CONFLICT (name) DO NOTHING"
                ),
                {"n": self.name, "cap": self.capacity},
            )
            tokens, elapsed = session.execute(
                text(
                    "SELECT tokens, "
                    "greatest(0, extract(epoch FROM clock_timestamp() - updated_at)) "
                    "FROM message_rate_buckets WHERE name = :n FOR UPDATE"
                ),
                {"n": self.name},
            ).one()
            available = min(self.capacity, float(tokens) + float(elapsed) * self.rate)
            granted = max(0, min(want, int(available)))
            session.execute(
                text(
                    "UPDATE message_rate_buckets SET tokens = :t, updated_at = clock_timestamp() "
                    "WHERE name = :n"
                ),
                {"t": available - granted, "n": self.name},
            )
        left = available - granted
        wait = 0.0 if left >= 1 else (1 - left) / self.rate
        return granted, wait

    def give_back(self, count: int) -> None:
        if count <= 0:
            return
        with self.session_factory() as session, session.begin():
            session.execute(
                text(
                    "UPDATE message_rate_buckets SET tokens = least(:cap, tokens + :c) "
                    "WHERE name = :n"
                ),
                {"cap": self.capacity, "c": count, "n": self.name},
            )
