"""Round trips per read request: a checkout sends nothing (no pre-ping), and a read session
in autocommit sends no BEGIN before its statement nor ROLLBACK after it (issue 14: each round
trip is a wake-up that waits for a CPU on a loaded machine)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from service.db import make_engine, make_read_session_factory, make_session_factory
from service.settings import DatabaseSettings


@pytest.fixture
def one_connection(database_url: str) -> Iterator[Engine]:
    engine = make_engine(DatabaseSettings(url=database_url, pool_size=1), max_overflow=0)
    yield engine
    engine.dispose()


def _last_statement(database_url: str, pid: int) -> str:
    """What the backend `pid` ran last, seen from another connection."""
    observer = create_engine(database_url)
    try:
        with observer.connect() as conn:
            return str(
                conn.execute(
                    text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                ).scalar()
            )
    finally:
        observer.dispose()


def test_read_session_sends_nothing_but_its_statements(
    one_connection: Engine, database_url: str
) -> None:
    factory = make_read_session_factory(one_connection)
    with factory() as session:
        pid = session.execute(text("SELECT pg_backend_pid() AS probe_read")).scalar()
    assert _last_statement(database_url, pid) == "SELECT pg_backend_pid() AS probe_read"

    with factory() as session:  # the same pooled connection, checked out again
        session.connection()
        # No ping on checkout (pool_pre_ping would have sent ";").
        assert _last_statement(database_url, pid) == "SELECT pg_backend_pid() AS probe_read"
        assert session.execute(text("SELECT pg_backend_pid() AS probe_again")).scalar() == pid
        # No BEGIN before the statement.
        assert _last_statement(database_url, pid) == "SELECT pg_backend_pid() AS probe_again"
    # Nor a ROLLBACK when the connection went back to the pool.
    assert _last_statement(database_url, pid) == "SELECT pg_backend_pid() AS probe_again"


def test_write_sessions_still_run_in_a_transaction(one_connection: Engine) -> None:
    factory = make_session_factory(one_connection)
    with factory() as session:
        session.execute(text("CREATE TEMP TABLE probe (x int)"))
        session.execute(text("INSERT INTO probe VALUES (1)"))
        session.rollback()
        gone = session.execute(text("SELECT to_regclass('pg_temp.probe')")).scalar()
    assert gone is None
