"""Every write route × every role, generated from the route table.

No key -> 401; a role below the route's -> 403; the route's role or a higher one -> neither
(whatever the empty body then earns: 400/404/422 or success). A new write route is covered
the moment it is added; one without a role dependency fails here. Provider webhooks are
exempt: they authenticate by signature, not by key.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import RouteContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.auth.models import ROLES
from service.auth.service import ROLE_RANK
from service.main import create_app
from service.settings import Settings
from tests.routes import required_role, write_routes

# slow: walks every route with every role (the fast loop is `-m "not slow"`).
pytestmark = pytest.mark.slow


def sample_path(route: RouteContext) -> str:
    """Fill path parameters with values of the right type that name nothing that exists."""
    values: dict[str, str] = {}
    for param in route.dependant.path_params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            values[param.name] = str(next(iter(annotation)).value)
        elif typing.get_origin(annotation) is typing.Literal:
            values[param.name] = str(typing.get_args(annotation)[0])
        else:
            values[param.name] = "999999"
    assert route.path_format is not None, route.path
    return route.path_format.format(**values)


ROUTE_TABLE = sorted({(m, r.path) for m, r in write_routes(create_app(Settings(env="test")))})


@pytest.fixture
def matrix_client(settings: Settings, clean_db: Engine) -> Iterator[TestClient]:
    api = settings.api.model_copy(update={"write_rate_per_minute": 1_000_000})
    app = create_app(settings.model_copy(update={"api": api}), engine=clean_db)
    with TestClient(app) as c:
        yield c


def test_every_write_route_requires_a_role() -> None:
    app = create_app(Settings(env="test"))
    missing = [f"{m} {r.path}" for m, r in write_routes(app) if required_role(r.dependant) is None]
    assert ROUTE_TABLE, "no write routes found"
    assert not missing, f"write routes without CoordinatorDep/ResponderDep/AdminDep: {missing}"


@pytest.mark.parametrize(
    ("method", "path_template"), ROUTE_TABLE, ids=[f"{m} {p}" for m, p in ROUTE_TABLE]
)
def test_role_matrix(
    method: str,
    path_template: str,
    matrix_client: TestClient,
    auth_headers: Callable[[str], dict[str, str]],
) -> None:
    app: FastAPI = matrix_client.app  # type: ignore[assignment]
    route = next(r for m, r in write_routes(app) if m == method and r.path == path_template)
    needed = required_role(route.dependant)
    assert needed is not None
    path = sample_path(route)

    def call(headers: dict[str, str]) -> int:
        return matrix_client.request(method, path, json={}, headers=headers).status_code

    seen = {"none": call({})}
    assert seen["none"] == 401, f"{method} {path} without a key gave {seen['none']}"
    for role in ROLES:
        status = call(auth_headers(role))
        seen[role] = status
        if ROLE_RANK[role] < ROLE_RANK[needed]:
            assert status == 403, f"{method} {path} as {role} (needs {needed}): {status}"
        else:
            assert status not in (401, 403), f"{method} {path} as {role} (needs {needed}): {status}"
    assert seen["none"] == 401
