"""Key and role checks before a request body is read (pure ASGI).

FastAPI parses a route's body (a multipart upload, say) before it solves the route's
dependencies, so a 1 GB upload without a key would be read whole before its 401. This
middleware finds the route first, and when the route demands a role (`require_role`) it
checks the key and the role from the headers alone: 401/403 at once, body unread. The route's
own dependency checks again afterwards (the two agree; this one only answers earlier).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import anyio
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.auth.service import Principal, authenticate
from service.errors import (
    DATABASE_DOWN,
    Forbidden,
    SiagaError,
    Unauthorized,
    database_unavailable,
    problem,
    status_for,
)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def required_role(dependant: Dependant | None) -> str | None:
    """The role a route's dependencies demand (`require_role` marks its closures), if any."""
    if dependant is None:
        return None
    for sub in dependant.dependencies:
        role = getattr(sub.call, "required_role", None)
        if role:
            return str(role)
        deeper = required_role(sub)
        if deeper:
            return deeper
    return None


RouteTable = list[tuple[re.Pattern[str], frozenset[str], str, object]]


def role_table(routes: Iterable[object]) -> RouteTable:
    """(path regex, methods, role) for every API route that demands a role."""
    table: RouteTable = []
    for route in iter_route_contexts(list(routes)):  # type: ignore[arg-type]
        if not isinstance(route.original_route, APIRoute):
            continue
        role = required_role(route.dependant)
        methods = frozenset(route.methods or ()) & BODY_METHODS
        if role and methods:
            table.append((route.path_regex, methods, role, route))
    return table


def check(session_factory: sessionmaker[Session], header: str | None, role: str) -> Principal:
    """The same verdicts as `service.api.deps.require_role`, from the header alone."""
    if not header:
        raise Unauthorized(f"this action needs an API key with role {role!r} or higher")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use 'Authorization: Bearer <api key>'")
    with session_factory() as session:
        principal = authenticate(session=session, token=token.strip())
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked; create one with `siaga keys create`")
    if not principal.has(role):
        raise Forbidden(f"role {principal.role!r} may not do this; it needs {role!r}")
    return principal


class AuthBeforeBodyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._table: RouteTable | None = None

    def _role_for(self, scope: Scope) -> str | None:
        if self._table is None:
            self._table = role_table(scope["app"].routes)
        path, method = scope["path"], scope["method"]
        for regex, methods, role, route in self._table:
            if method in methods and regex.match(path):
                scope.setdefault("route", route)  # metrics and logs name the route template
                return role
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS or "app" not in scope:
            await self.app(scope, receive, send)
            return
        role = self._role_for(scope)
        factory = getattr(scope["app"].state, "session_factory", None)
        if role is None or factory is None:
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        try:
            await anyio.to_thread.run_sync(lambda: check(factory, header, role))
        except DATABASE_DOWN:
            await database_unavailable()(scope, receive, send)
            return
        except SiagaError as exc:
            response = problem(status_for(exc), exc.title, exc.detail)
            response.headers["Connection"] = "close"  # the body stays unread
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
