"""Limits before reading: 401/403 and 413 answer at once, the body unread; webhooks capped
while streaming; upload folders of dead processes removed at start-up. Over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.api.uploads import PREFIX
from service.main import create_app
from service.settings import Settings, StorageSettings
from tests.conftest import LiveServer


def head_only(url: str, path: str, length: int, headers: dict[str, str]) -> tuple[int, float]:
    """Send request headers announcing `length` body bytes, send none; the status and delay."""
    host, port = url.removeprefix("http://").split(":")
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        f"Content-Length: {length}",
        "Content-Type: multipart/form-data; boundary=x",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    t0 = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = sock.recv(4096).decode("latin-1")  # times out (fails) if the server waits
    status = int(reply.split(" ", 2)[1])
    return status, time.monotonic() - t0


@pytest.fixture
def server(app) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    with LiveServer(app) as live:
        yield live


@pytest.mark.parametrize("path", ["/api/v1/hazard-layers", "/api/v1/communities/import"])
def test_upload_without_a_key_is_refused_before_the_body(
    server: LiveServer, auth_headers: Callable[[str], dict[str, str]], path: str
) -> None:
    gigabyte = 1024**3
    status, took = head_only(server.url, path, gigabyte, {})
    assert status == 401 and took < 5  # without the body: the old code waited for it forever
    # Within the upload limit (5 MB in tests) too: the key is checked before the body.
    assert head_only(server.url, path, 4 * 1024**2, {})[0] == 401
    bad = {"Authorization": "Bearer not-a-key"}
    assert head_only(server.url, path, 4 * 1024**2, bad)[0] == 401
    low = auth_headers("viewer")
    assert head_only(server.url, path, 4 * 1024**2, low)[0] == 403


def test_content_length_over_the_limit_is_413_at_once(
    server: LiveServer, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    status, took = head_only(
        server.url, "/api/v1/hazard-layers", 1024**3, auth_headers("coordinator")
    )
    assert status == 413 and took < 5
    status, took = head_only(server.url, "/webhooks/twilio/status", 600 * 1024**2, {})
    assert status == 413 and took < 5


def test_webhook_body_capped_while_streaming(server: LiveServer) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        nonlocal sent
        for _ in range(64):  # up to 64 MB
            sent += 1
            yield b"a" * (1024 * 1024)

    with httpx.Client(timeout=10) as client:
        try:
            resp = client.post(
                f"{server.url}/webhooks/twilio/status",
                content=chunks(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except httpx.HTTPError:  # the server may close while we still send
            pytest.fail(f"no response after {sent} MB")
    assert resp.status_code == 413, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "larger than the limit of 1 MB" in resp.json()["detail"]
    assert sent < 64


def test_json_route_bodies_are_capped_too(
    client: TestClient, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    big = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    resp = client.post(
        "/api/v1/groups",
        content=big,
        headers={**auth_headers("coordinator"), "Content-Type": "application/json"},
    )
    assert resp.status_code == 413 and "SIAGA_API_MAX_BODY_MB" in resp.json()["detail"]


def test_upload_folders_of_dead_processes_are_removed_at_start(
    tmp_path: Path, settings: Settings, clean_db: Engine
) -> None:
    root = tmp_path / "uploads"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = root / f"{PREFIX}{dead.pid}-abc"
    left.mkdir(parents=True)
    (left / "boundaries.gpkg").write_bytes(b"half an upload")
    alive = root / f"{PREFIX}{os.getppid()}-def"  # a live process (pytest's parent)
    alive.mkdir()
    storage = StorageSettings(data_dir=settings.storage.data_dir, upload_dir=root)
    app = create_app(settings.model_copy(update={"storage": storage}), engine=clean_db)
    with TestClient(app):
        assert not left.exists()
        assert alive.is_dir()
