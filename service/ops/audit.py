"""The audit log: who changed what, written in the same transaction as the change.

Domains call `record(...)` in their write paths, passing the FastAPI `Request` (the key, the
request id and the client address are read from it) or an `Actor` for the CLI and jobs:

    record(session=session, actor=request, action="groups.create",
           target=f"group:{group.id}", details={"name": group.name})

A write route that records nothing is still logged by the request middleware after it
succeeds (action "http.POST" etc.), so no successful write goes unaudited.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from service.auth.service import Principal
from service.logs import request_id_var
from service.ops.models import AuditEntry

AUDITED_FLAG = "audited"


@dataclass(frozen=True)
class Actor:
    key_id: int | None
    key_name: str | None
    role: str | None
    request_id: str | None = None
    client_ip: str | None = None

    @classmethod
    def cli(cls, what: str = "cli") -> Actor:
        """The operator at the command line (no API key: the OS user is named instead)."""
        try:
            user = getpass.getuser()
        except Exception:  # no passwd entry in some containers
            user = "unknown"
        return cls(key_id=None, key_name=f"{what}:{user}", role="admin")

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(key_id=None, key_name=f"job:{job}", role=None)

    @classmethod
    def from_principal(
        cls, principal: Principal, *, request_id: str | None = None, client_ip: str | None = None
    ) -> Actor:
        return cls(principal.key_id, principal.name, principal.role, request_id, client_ip)


def actor_from_request(request: Request) -> Actor:
    principal: Principal | None = getattr(request.state, "principal", None)
    client = request.client.host if request.client else None
    request_id = getattr(request.state, "request_id", None) or request_id_var.get()
    if principal is None:
        return Actor(None, "anonymous", None, request_id, client)
    return Actor.from_principal(principal, request_id=request_id, client_ip=client)


def record(
    *,
    session: Session,
    actor: Actor | Request,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to `session` (it commits or rolls back with the caller's change)."""
    if isinstance(actor, Request):
        actor.state.audited = True
        actor = actor_from_request(actor)
    entry = AuditEntry(
        key_id=actor.key_id,
        key_name=actor.key_name,
        role=actor.role,
        action=action[:100],
        target=target,
        details=details or {},
        request_id=actor.request_id or request_id_var.get(),
        client_ip=actor.client_ip,
    )
    session.add(entry)
    return entry


def record_committed(
    *,
    session_factory: sessionmaker[Session],
    actor: Actor | Request,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record, in its own transaction, a change that a domain service already committed.

    For services that own their transactions (imports): the entry follows the change.
    """
    with session_factory() as session, session.begin():
        record(session=session, actor=actor, action=action, target=target, details=details)


def list_entries(
    *,
    session: Session,
    key_id: int | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEntry]:
    """Newest first; page with `before_id` (the smallest id of the previous page)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if key_id is not None:
        query = query.where(AuditEntry.key_id == key_id)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if target:
        query = query.where(AuditEntry.target == target)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))
