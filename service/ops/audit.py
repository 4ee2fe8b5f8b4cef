"""The audit log: who changed what, written in the same transaction as the change.

Write paths call `record(...)` with a plain `Actor`: the API builds it from the caller's key,
request id and address (`service.api.audit`), the CLI and jobs with `Actor.cli()` and
`Actor.system(job)`. This module knows no keys, roles or requests of its own:

    record(session=session, actor=Actor.cli(), action="groups.create",
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

from service.logs import request_id_var
from service.ops.models import AuditEntry

AUDITED_FLAG = "audited"
# Where the API keeps the caller (an Actor) on the request's state once its key is checked:
# the middleware's fallback entry reads it there.
ACTOR_STATE = "audit_actor"


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


def record(
    *,
    session: Session,
    actor: Actor,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to `session` (it commits or rolls back with the caller's change)."""
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
    actor: Actor,
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
