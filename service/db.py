"""Declarative base, naming convention, engine and session factories."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, exc, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.orm import Session as Session

from service.errors import NotFound
from service.settings import DatabaseSettings, Settings

_T = TypeVar("_T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(settings: DatabaseSettings, **kwargs: object) -> Engine:
    engine = create_engine(
        settings.url,
        pool_size=settings.pool_size,
        connect_args={"options": f"-c statement_timeout={settings.statement_timeout_ms}"},
        **kwargs,
    )
    event.listen(engine, "checkout", drop_dead_connection)
    return engine


def drop_dead_connection(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    """`pool_pre_ping` without its round trip on every checkout, so a restarted database
    still costs no failed request.

    A pooled connection is idle: the server sends it nothing unless it is going away (a
    restart or crash terminates the backend, which sends an error and closes the socket).
    So a socket with nothing to read is alive, told by a zero-timeout poll; a readable one
    gets the real ping. Raising DisconnectionError makes the pool discard the connection
    and check out (or open) another one. Drivers other than psycopg 3 are not checked."""
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is None:
        return
    if pgconn.status != 0:  # libpq CONNECTION_OK is 0
        raise exc.DisconnectionError("the connection is broken")
    readable, _, _ = select.select([pgconn.socket], [], [], 0)
    if not readable:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as error:  # any failure here means: do not use this connection
        raise exc.DisconnectionError(f"the connection failed its ping: {error}") from error


def make_session_factory(engine: Engine, settings: Settings | None = None) -> sessionmaker[Session]:
    """Sessions carry the settings in `session.info["settings"]` when given: code reached
    through provider webhooks (a member's confirmation names the configured sender) reads
    them there instead of from a global."""
    info = {"settings": settings} if settings is not None else {}
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


def make_read_session_factory(
    engine: Engine, settings: Settings | None = None
) -> sessionmaker[Session]:
    """Sessions for read-only requests, in autocommit: each statement is its own snapshot,
    and there is no BEGIN before it nor ROLLBACK when the connection goes back to the pool
    (two round trips fewer per request). Use them only where one statement answers the
    request, or where statements need not agree with each other."""
    return make_session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"), settings)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session


def advisory_lock_key(*parts: object) -> int:
    """A stable signed 64-bit key for pg advisory locks from a name and ids."""
    import hashlib

    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def try_advisory_xact_lock(session: Session, *parts: object) -> bool:
    """Take a transaction-scoped advisory lock shared by every process on the database."""
    key = advisory_lock_key(*parts)
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar())


def advisory_xact_lock(session: Session, *parts: object) -> None:
    """Wait for a transaction-scoped advisory lock (released at commit or rollback)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_lock_key(*parts)})


# Each lock in the array's order, in one round trip (ORDER BY n: the order is the caller's).
_LOCK_EACH = text(
    "SELECT pg_advisory_xact_lock(k)"
    " FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY AS t(k, n) ORDER BY n"
)
_TRY_LOCK_EACH = text(
    "SELECT k FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY AS t(k, n)"
    " WHERE pg_try_advisory_xact_lock(k) ORDER BY n"
)


def advisory_xact_locks(session: Session, keys: list[int]) -> None:
    """`advisory_xact_lock` for many keys (from `advisory_lock_key`), waited for in the given
    order: callers that sort their keys never wait on each other in a ring."""
    if keys:
        session.execute(_LOCK_EACH, {"keys": keys}).all()


def try_advisory_xact_locks(session: Session, keys: list[int]) -> set[int]:
    """`try_advisory_xact_lock` for many keys: the keys whose lock this transaction holds."""
    if not keys:
        return set()
    return set(session.execute(_TRY_LOCK_EACH, {"keys": keys}).scalars())


def get_or_404(
    session: Session, model: type[_T], ident: int, missing: str, *, for_update: bool = False
) -> _T:
    """The row `model` with primary key `ident`, or NotFound (404) with the message `missing`
    (which says what is missing and where to look)."""
    row = session.get(model, ident, with_for_update=for_update)
    if row is None:
        raise NotFound(missing)
    return row
