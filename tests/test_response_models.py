"""Every JSON route under /api/v1 and the health checks declares a pydantic response model,
so /docs shows a schema for it (issue 10)."""

from __future__ import annotations

import types
import typing

from fastapi.datastructures import DefaultPlaceholder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from service.main import ROUTERS


def _is_model(annotation: object) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return all(_is_model(a) for a in args)  # e.g. GroupPrivate | GroupPublic by role
    return typing.get_origin(annotation) is list and len(args) == 1 and _is_model(args[0])


def _json_routes() -> list[APIRoute]:
    routes = []
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.endpoint.__module__.startswith(
                "service.api.routes."
            ):
                continue
            response_class = route.response_class
            if isinstance(response_class, DefaultPlaceholder):
                response_class = response_class.value
            if route.status_code == 204 or not issubclass(response_class, JSONResponse):
                continue  # no body, or not JSON (Prometheus text)
            routes.append(route)
    return routes


def test_every_json_route_has_a_response_model() -> None:
    routes = _json_routes()
    assert len(routes) > 20
    untyped = [
        f"{','.join(sorted(r.methods))} {r.path} ({r.endpoint.__module__})"
        for r in routes
        if not _is_model(r.response_model)
    ]
    assert not untyped, "routes without a pydantic response model:\n" + "\n".join(untyped)
