"""Writing risk score rows in bulk with PostgreSQL COPY (psycopg 3).

An ORM `insert(RiskScore)` of 84,000 rows with three JSONB columns each spent most of its
time in SQLAlchemy's and psycopg's per-row parameter handling; COPY streams the rows as
text in one round trip, inside the session's transaction (so a failure still rolls back).
The lines come ready-made from `score_rows` (one template per layer).
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.copy import QueuedLibpqWriter
from sqlalchemy.orm import Session

COLUMNS = (
    "community_id",
    "layer_id",
    "layer_name",
    "hazard",
    "method",
    "score",
    "level",
    "hazard_index",
    "vulnerability_index",
    "capacity_index",
    "components",
    "inputs",
    "exposure",
    "computed_at",
    "job_id",
)


def copy_lines(session: Session, chunks: Iterable[str]) -> None:
    """COPY text-format lines (columns as `COLUMNS`) into risk_scores."""
    conn = session.connection().connection.driver_connection
    if conn is None:  # pragma: no cover - a session always has a live connection here
        raise RuntimeError("no database connection for COPY")
    statement = f"COPY risk_scores ({', '.join(COLUMNS)}) FROM STDIN"
    # A writer thread sends each chunk while the next one is formatted, so PostgreSQL
    # parses rows while Python builds them.
    with conn.cursor() as cur, cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
        for chunk in chunks:
            copy.write(chunk)
