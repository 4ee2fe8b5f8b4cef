"""The route table, flattened, for tests that walk the whole app."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from service.ops.middleware import WRITE_METHODS, is_webhook_path


def required_role(dependant: Dependant | None) -> str | None:
    """The role a route's dependencies demand (require_role marks its closures), if any."""
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


def api_routes(app: FastAPI) -> Iterator[RouteContext]:
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            yield route


def write_routes(app: FastAPI) -> Iterator[tuple[str, RouteContext]]:
    """Every (method, route) that changes state, provider webhooks excepted."""
    for route in api_routes(app):
        if is_webhook_path(route.path or ""):
            continue
        for method in sorted((route.methods or set()) & WRITE_METHODS):
            yield method, route


def public_get_routes(app: FastAPI) -> Iterator[RouteContext]:
    """GET routes anyone may call without a key."""
    for route in api_routes(app):
        if "GET" in (route.methods or set()) and required_role(route.dependant) is None:
            yield route
