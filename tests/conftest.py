"""Test fixtures: a real PostGIS database per test run, an app built from explicit settings.

DATABASE_URL names the server (the quick-start test command points it at the private
cluster); each run creates its own database on it, migrates it to head and drops it at the
end, so runs from several checkouts never collide. Tables are truncated after each test
that touched them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from service.auth.service import create_key
from service.db import make_session_factory
from service.main import create_app
from service.migrate import upgrade
from service.settings import (
    DEFAULT_DATABASE_URL,
    AlertSettings,
    ApiSettings,
    DatabaseSettings,
    FeedSettings,
    Settings,
    StorageSettings,
)

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
OUTPUT_DIR = ROOT / "test-output"


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    return DatabaseSettings(url=url).url  # normalise the driver


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    base = make_url(_server_url())
    name = f"siaga_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_engine(database_url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def _table_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                "AND tablename NOT IN ('alembic_version','spatial_ref_sys')"
            )
        )
        return [r[0] for r in rows]


@pytest.fixture
def clean_db(engine: Engine, _table_names: list[str]) -> Iterator[Engine]:
    yield engine
    if _table_names:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "TRUNCATE "
                    + ", ".join(f'"{t}"' for t in _table_names)
                    + " RESTART IDENTITY CASCADE"
                )
            )


@pytest.fixture(scope="session", autouse=True)
def job_handlers() -> None:
    """What every process that runs jobs does at start-up (service.scheduler)."""
    from service.risk.jobs import register_handlers

    register_handlers()


@pytest.fixture
def session_factory(clean_db: Engine) -> sessionmaker[Session]:
    return make_session_factory(clean_db)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        env="test",
        database=DatabaseSettings(url=database_url),
        api=ApiSettings(max_upload_mb=5),
        storage=StorageSettings(data_dir=data_dir),
        feeds=FeedSettings(
            connect_timeout_s=2, read_timeout_s=3, retries=1, allowed_hosts=["127.0.0.1"]
        ),
        alerts=AlertSettings(),
    )


@pytest.fixture
def app(settings: Settings, clean_db: Engine) -> FastAPI:
    return create_app(settings, engine=clean_db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def auth_headers(session_factory: sessionmaker[Session]) -> Callable[[str], dict[str, str]]:
    """auth_headers("admin") -> {"Authorization": "Bearer ..."} for a fresh key of that role."""

    def make(role: str) -> dict[str, str]:
        with session_factory() as s, s.begin():
            _, token = create_key(session=s, name=f"test-{role}", role=role)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def admin_headers(auth_headers: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return auth_headers("admin")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            "../shared/data is absent: real-data tests need the shared folder beside the project"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(exist_ok=True)
    return OUTPUT_DIR


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn server on loopback, in a thread, for clients that speak real HTTP."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server
