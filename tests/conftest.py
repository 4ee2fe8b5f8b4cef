"""Test fixtures: a real PostGIS database per test run, an app built from explicit settings.

DATABASE_URL names the server (the quick-start test command points it at the private
cluster); each run creates its own database on it and drops it at the end, so runs from
several checkouts never collide. The database is a copy of a template migrated to head
once per state of migrations/ (`siaga_template_<digest>`), so a run pays for the migrations
only when they changed. Tables are truncated after each test that touched them.
"""

from __future__ import annotations

import hashlib
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
from sqlalchemy import URL, Connection, Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
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


TEMPLATE_PREFIX = "siaga_template_"
_TEMPLATE_LOCK = 7_171_717_172  # one run at a time builds, drops or copies a template


def _migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "migrations").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _create_migrated_database(admin: Engine, base: URL, name: str) -> None:
    """Create database `name` at the migrations' head, by copying the template of this state
    of migrations/ (built first when absent; templates of other states are dropped)."""
    template = TEMPLATE_PREFIX + _migrations_digest()
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _TEMPLATE_LOCK})
        try:
            ready = conn.scalar(
                text("SELECT datistemplate FROM pg_database WHERE datname = :n"), {"n": template}
            )
            if not ready:  # absent, or a build that died half-way
                conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{template}"'))
                upgrade(base.set(database=template).render_as_string(hide_password=False))
                conn.execute(text(f'ALTER DATABASE "{template}" WITH IS_TEMPLATE true'))
                _drop_other_templates(conn, keep=template)
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _TEMPLATE_LOCK})


def _drop_other_templates(conn: Connection, *, keep: str) -> None:
    stale = conn.scalars(
        text("SELECT datname FROM pg_database WHERE datname LIKE :p AND datname <> :keep"),
        {"p": TEMPLATE_PREFIX + "%", "keep": keep},
    ).all()
    for name in stale:
        try:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false'))
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        except DBAPIError:  # in use by a run that is not ours: it goes next time
            continue


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    base = make_url(_server_url())
    name = f"siaga_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    _create_migrated_database(admin, base, name)
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
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


# Which tables a test left rows in, or drew ids from: one cheap query, where truncating all
# ~30 tables costs 0.2-0.7 s per test on a busy machine.
_USED_SEQUENCE_TABLES = """
    SELECT DISTINCT t.relname FROM pg_sequences ps
    JOIN pg_class s ON s.relname = ps.sequencename AND s.relnamespace = 'public'::regnamespace
    JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
        AND d.deptype IN ('a', 'i')
    JOIN pg_class t ON t.oid = d.refobjid
    WHERE ps.schemaname = 'public' AND ps.last_value IS NOT NULL
"""


@pytest.fixture(scope="session")
def _dirty_tables_sql(_table_names: list[str]) -> str:
    with_rows = [f"SELECT '{t}' WHERE EXISTS (SELECT FROM \"{t}\")" for t in _table_names]
    return " UNION ".join([*with_rows, _USED_SEQUENCE_TABLES])


@pytest.fixture
def clean_db(engine: Engine, _table_names: list[str], _dirty_tables_sql: str) -> Iterator[Engine]:
    yield engine
    if not _table_names:
        return
    with engine.begin() as conn:
        dirty = set(conn.scalars(text(_dirty_tables_sql))) & set(_table_names)
        if dirty:
            # The same end state as truncating every table: all empty, every id from 1.
            tables = ", ".join(f'"{t}"' for t in sorted(dirty))
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


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
