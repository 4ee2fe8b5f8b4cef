"""FastAPI dependencies as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
from fastapi import Depends, Path, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.api import audit
from service.auth.service import ANONYMOUS, Principal, authenticate
from service.errors import Forbidden, Unauthorized
from service.settings import Settings


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the
# thread pool, a hand-off to a worker thread and back (GIL and wake-ups) on every request.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.session_factory


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; routes commit explicitly, anything else rolls back.

    Making a session does no I/O (it connects on first use), so it is made on the event
    loop; closing it may (the rollback that returns the connection to the pool), so that
    runs in a worker thread, under its own limiter as FastAPI does for the exit of sync
    dependencies: a session holding a connection must never wait for a thread-pool token
    that routes blocked on the exhausted pool hold (that would deadlock until pool_timeout)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
    finally:
        await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for read-only routes, in autocommit (db.make_read_session_factory).

    Closed on the event loop, not in a worker thread: with no transaction open, returning
    its connection to the pool does no I/O (psycopg skips the ROLLBACK of an idle
    connection, and resetting autocommit is a client-side flag), so the thread hop would
    only add a wake-up per request."""
    factory: sessionmaker[Session] = request.app.state.read_session_factory
    session = factory()
    try:
        yield session
    finally:
        session.close()


async def get_read_engine(request: Request) -> Engine:
    """The engine in autocommit for the hottest read routes (OGC items, tiles): the route
    opens a Core connection in its worker thread (`with engine.connect() as conn`) and closes
    it before the response is sent. No ORM session: making and closing one was a sixth of
    the interpreter's time for a remembered tile."""
    engine: Engine = request.app.state.read_engine
    return engine


# Database ids are bigint: bound them so an out-of-range id is a 400/422, never a 500.
MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]

SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the session (and its pooled connection) is closed as soon as the route
# has returned and its response is built, not after the body has been sent (FastAPI's default
# for dependencies with yield). Otherwise a connection stays checked out while a large body
# drains to a slow client, a keep-alive client's next request needs a second one, the pool
# overflows and SQLAlchemy opens and closes a PostgreSQL connection (a fork) per request:
# that was most of the p99 of /ogc items and tiles under load (docs/ogc.md, "Speed").
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
# For GET routes answered by one statement (OGC items, tiles): no BEGIN/ROLLBACK around it.
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
ReadEngineDep = Annotated[Engine, Depends(get_read_engine)]


def get_principal(request: Request) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use 'Authorization: Bearer <api key>'")
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        principal = authenticate(session=session, token=token.strip())
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked; create one with `siaga keys create`")
    audit.remember_principal(request, principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(role: str) -> Callable[[Principal], Principal]:
    """Dependency factory: the caller must hold `role` or a higher one."""

    def dependency(principal: PrincipalDep) -> Principal:
        if principal.key_id is None:
            raise Unauthorized(f"this action needs an API key with role {role!r} or higher")
        if not principal.has(role):
            raise Forbidden(f"role {principal.role!r} may not do this; it needs {role!r}")
        return principal

    # Read by the role-matrix test, which derives each write route's role from the route table.
    dependency.required_role = role  # type: ignore[attr-defined]
    return dependency


CoordinatorDep = Annotated[Principal, Depends(require_role("coordinator"))]
ResponderDep = Annotated[Principal, Depends(require_role("responder"))]
AdminDep = Annotated[Principal, Depends(require_role("admin"))]


class AuditedWrite:
    """The write-route ritual in one place: flush the change, record who made it in the same
    transaction (ops.audit; service.api.audit names the caller), commit. Routes take it as
    `write: AuditDep` and end with
    `write.commit("groups.create", f"group:{group.id}", details)`."""

    def __init__(self, request: Request, session: Session) -> None:
        self.request = request
        self.session = session

    def commit(self, action: str, target: str | None = None, details: dict | None = None) -> None:
        self.session.flush()
        audit.record(
            session=self.session, actor=self.request, action=action, target=target, details=details
        )
        self.session.commit()

    def record_committed(
        self, action: str, target: str | None = None, details: dict | None = None
    ) -> None:
        """For services that own their transactions (imports): the entry follows the change
        in its own transaction."""
        audit.record_committed(
            session_factory=self.request.app.state.session_factory,
            actor=self.request,
            action=action,
            target=target,
            details=details,
        )


async def get_audited_write(request: Request, session: SessionDep) -> AuditedWrite:
    return AuditedWrite(request, session)


AuditDep = Annotated[AuditedWrite, Depends(get_audited_write)]
