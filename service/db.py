"""Declarative base, naming convention, engine and session factories."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, func, text
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
    return create_engine(
        settings.url,
        pool_size=settings.pool_size,
        pool_pre_ping=True,
        connect_args={"options": f"-c statement_timeout={settings.statement_timeout_ms}"},
        **kwargs,
    )


def make_session_factory(engine: Engine, settings: Settings | None = None) -> sessionmaker[Session]:
    """Sessions carry the settings in `session.info["settings"]` when given: code reached
    through provider webhooks (a member's confirmation names the configured sender) reads
    them there instead of from a global."""
    info = {"settings": settings} if settings is not None else {}
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


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
