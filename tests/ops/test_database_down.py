"""Database down: every route answers 503 with Retry-After (a problem document, no driver
text); /readyz names what is down and nothing about where it is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import DatabaseSettings, Settings
from tests.conftest import free_port
from tests.routes import api_routes, write_routes
from tests.test_access_matrix import sample_path

LEAKS = ("127.0.0.1", "psycopg", "OperationalError", "connection", "postgres", "refused")


@pytest.fixture(scope="module")
def down_port() -> int:
    return free_port()  # nothing listens there


@pytest.fixture
def down_client(settings: Settings, down_port: int) -> Iterator[TestClient]:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{down_port}/siaga"
    broken = settings.model_copy(update={"database": DatabaseSettings(url=url)})
    with TestClient(create_app(broken), raise_server_exceptions=False) as client:
        yield client


def _assert_unavailable(resp, what: str, port: int) -> None:  # type: ignore[no-untyped-def]
    assert resp.status_code == 503, f"{what}: {resp.status_code} {resp.text[:200]}"
    assert resp.headers["retry-after"].isdigit(), what
    assert resp.headers["content-type"].startswith("application/problem+json"), what
    body = resp.text
    assert str(port) not in body and not any(leak in body for leak in LEAKS), (what, body)
    assert resp.json()["title"] == "Service unavailable"


def test_every_database_route_answers_503(
    down_client: TestClient, down_port: int, settings: Settings
) -> None:
    app = create_app(settings)
    key = {"Authorization": "Bearer some-key"}  # a key makes the key lookup hit the database
    unavailable = 0
    for route in api_routes(app):
        if "GET" not in (route.methods or set()):
            continue
        path = sample_path(route)
        resp = down_client.get(path, headers=key)
        assert resp.status_code < 500 or resp.status_code == 503, (path, resp.text[:300])
        if resp.status_code == 503 and path != "/readyz":
            _assert_unavailable(resp, f"GET {path}", down_port)
            unavailable += 1
    assert unavailable >= 25  # every route that reads the database
    # Writes: the key lookup before the body is read needs the database.
    for method, route in write_routes(app):
        path = sample_path(route)
        resp = down_client.request(method, path, json={}, headers=key)
        _assert_unavailable(resp, f"{method} {path}", down_port)


def test_ogc_items_and_tiles_answer_503(down_client: TestClient, down_port: int) -> None:
    for path in ("/ogc/collections/communities/items", "/tiles/risk/5/26/15.pbf"):
        _assert_unavailable(down_client.get(path), path, down_port)


def test_readyz_says_only_what_is_down(down_client: TestClient, down_port: int) -> None:
    resp = down_client.get("/readyz")
    assert resp.status_code == 503 and resp.headers["retry-after"].isdigit()
    body = resp.json()
    assert body["status"] == "unavailable" and body["down"] == ["database"]
    assert str(down_port) not in resp.text and not any(leak in resp.text for leak in LEAKS[:3])
    assert down_client.get("/healthz").status_code == 200


def test_readyz_when_up(client: TestClient) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200 and resp.json()["status"] == "ready"
