"""The API's side of the audit log: who the caller is, as a plain `service.ops.audit.Actor`.

`service.ops.audit` sits below auth and knows no keys or requests; here the caller's key
(`request.state.audit_actor`, set when the key is checked), request id and address become
the entry's actor. Routes record through `AuditDep` (service/api/deps.py) or through
`record`/`record_committed` below with the `Request`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from service.auth.service import Principal
from service.ops import audit
from service.ops.audit import ACTOR_STATE, AUDITED_FLAG, Actor, AuditEntry

ANONYMOUS_ACTOR = Actor(None, "anonymous", None)


def principal_actor(principal: Principal) -> Actor:
    return Actor(principal.key_id, principal.name, principal.role)


def remember_principal(request: Request, principal: Principal) -> None:
    """Keep the checked key on the request: its writes, and the middleware's fallback entry
    for a write that records nothing, name it."""
    request.state.principal = principal
    setattr(request.state, ACTOR_STATE, principal_actor(principal))


def request_actor(request: Request) -> Actor:
    """The caller of this request, and mark the request audited (the middleware then adds
    no fallback entry)."""
    setattr(request.state, AUDITED_FLAG, True)
    actor: Actor = getattr(request.state, ACTOR_STATE, ANONYMOUS_ACTOR)
    client = request.client.host if request.client else None
    # Without one on the request, ops.audit.record takes the request id of the log context.
    request_id = getattr(request.state, "request_id", None)
    return replace(actor, request_id=request_id, client_ip=client)


def record(
    *,
    session: Session,
    actor: Request,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """`service.ops.audit.record` with the request's caller as the actor."""
    return audit.record(
        session=session,
        actor=request_actor(actor),
        action=action,
        target=target,
        details=details,
    )


def record_committed(
    *,
    session_factory: sessionmaker[Session],
    actor: Request,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """`service.ops.audit.record_committed` with the request's caller as the actor."""
    audit.record_committed(
        session_factory=session_factory,
        actor=request_actor(actor),
        action=action,
        target=target,
        details=details,
    )
