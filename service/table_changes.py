"""Which published tables changed: a version that caches of what is read from them can trust.

Every table an OGC collection reads carries the statement-level trigger `note_table_change`
(migrations/versions/20261206_0012_table_changes.py): each INSERT, UPDATE, DELETE, COPY or
TRUNCATE adds a row (table, transaction id) to `table_changes`, one per table and
transaction. The version of some tables is `(sum of weights):(newest transaction id)` of
their rows, read in the same statement as the data it stands for. Two statements see the
same version exactly when no write to those tables committed between their snapshots:
PostgreSQL's snapshots see ever larger sets of committed transactions, every row weighs at
least 1, and a transaction id is never reused in a cluster (so even a truncated
`table_changes` cannot bring an old version back).

The trigger only appends, so writers never wait for each other on it. `compact` folds each
table's rows into one of the same weight, keeping the version's sum; the worker runs it
(`compact_job`, every ten minutes).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.util import find_tables

from service.db import Base, transaction, try_advisory_xact_lock

TRIGGER = "note_table_change"

table_changes = Table(
    "table_changes",
    Base.metadata,
    Column("table_name", Text, primary_key=True),
    # The writing transaction (pg_current_xact_id() as bigint); the compacting one for a
    # folded row.
    Column("xid", BigInteger, primary_key=True),
    Column("weight", BigInteger, nullable=False, server_default="1"),
)


def version_of(tables: Iterable[str]) -> ColumnElement[str]:
    """The version of `tables` as a scalar subquery: `sum:newest xid` ("0:0" never written)."""
    return _version_of(frozenset(tables))


@cache
def _version_of(tables: frozenset[str]) -> ColumnElement[str]:
    # Built once per set of tables: SQL expressions are immutable, and building this one
    # cost more Python than PostgreSQL spends answering it.
    names = sorted(tables)
    return (
        select(
            func.concat(
                func.coalesce(func.sum(table_changes.c.weight), 0),
                ":",
                func.coalesce(func.max(table_changes.c.xid), 0),
            )
        )
        .where(table_changes.c.table_name.in_(names))
        .scalar_subquery()
    )


def tables_read_by(clause: ClauseElement) -> frozenset[str]:
    """Names of the tables a query reads, from its SQLAlchemy expression (joins, subqueries,
    correlated lookups in its columns)."""
    return frozenset(
        t.name
        for t in find_tables(
            clause,
            check_columns=True,
            include_aliases=True,
            include_joins=True,
            include_selects=True,
        )
        if isinstance(t, Table)
    )


def tables_with_trigger(session: Session | Connection) -> frozenset[str]:
    """The public tables that carry the change trigger (a cache trusts only those)."""
    rows = session.execute(
        text(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = :name AND NOT t.tgisinternal AND t.tgenabled <> 'D' "
            "AND c.relnamespace = 'public'::regnamespace"
        ),
        {"name": TRIGGER},
    )
    return frozenset(r[0] for r in rows)


# One statement: the rows of each table seen now are deleted and come back as one row with
# their summed weight (the version's sum is unchanged; rows of writers still running are not
# seen, so they stay). A concurrent compaction waits on the row locks, then finds nothing.
_COMPACT = text(
    """
    WITH gone AS (
        DELETE FROM table_changes RETURNING table_name, weight
    )
    INSERT INTO table_changes (table_name, xid, weight)
    SELECT table_name, pg_current_xact_id()::text::bigint, sum(weight)
    FROM gone GROUP BY table_name
    """
)


def compact(session: Session) -> None:
    """Fold `table_changes` to one row per table, in a transaction of its own that writes
    nothing else (the caller commits)."""
    session.execute(_COMPACT)


# A few writes a second make a few thousand rows between runs: the version reads them all.
COMPACT_MINUTES = 10


def compact_job(factory: sessionmaker[Session]) -> None:
    """The worker's job: one worker at a time compacts (the others find the lock taken)."""
    with transaction(factory) as session:
        if try_advisory_xact_lock(session, "table_changes.compact"):
            compact(session)
