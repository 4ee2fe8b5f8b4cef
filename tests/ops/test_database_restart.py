"""A database that goes away and comes back: 503 with Retry-After meanwhile, then recovery.

Runs its own throwaway PostgreSQL (initdb in a temp folder, another port): the shared cluster
is never stopped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.bootstrap import _as_postgres, _pg_bindir
from service.db import make_engine, make_read_session_factory, make_session_factory
from service.main import create_app
from service.migrate import upgrade
from service.settings import DatabaseSettings, Settings
from tests.conftest import free_port

pytestmark = pytest.mark.slow


class Cluster:
    def __init__(self, bindir: Path, folder: Path, port: int) -> None:
        self.bindir, self.folder, self.port = bindir, folder, port
        self.data = folder / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/siaga"

    def _run(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(self.bindir / args[0]), *args[1:]]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )

    def start(self) -> None:
        opts = f"-k {self.folder} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-o",
            opts,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def psql(self, db: str, sql: str) -> None:
        subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                db,
                "-qtA",
                "-c",
                sql,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    folder = Path(tempfile.mkdtemp(prefix="siaga-pg-restart-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = Cluster(bindir, folder, free_port())
    cluster.init()
    cluster.start()
    try:
        cluster.psql("postgres", "CREATE DATABASE siaga")
        cluster.psql("siaga", "CREATE EXTENSION postgis")
        upgrade(cluster.url)
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _until(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.3)


def test_database_restart_gives_503_then_recovers(own_cluster: Cluster, settings: Settings) -> None:
    app_settings = settings.model_copy(update={"database": DatabaseSettings(url=own_cluster.url)})
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/v1/hazard-layers").status_code == 200

        own_cluster.stop()
        for path in ("/api/v1/hazard-layers", "/ogc/collections/communities/items"):
            resp = client.get(path)
            assert resp.status_code == 503, resp.text
            assert resp.headers["retry-after"] == "5"
            assert str(own_cluster.port) not in resp.text
        write = client.post("/api/v1/groups", json={}, headers={"Authorization": "Bearer k"})
        assert write.status_code == 503
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["down"] == ["database"]

        own_cluster.start()
        _until(lambda: client.get("/api/v1/hazard-layers").status_code == 200)
        assert client.get("/readyz").json()["status"] == "ready"


def test_restarted_database_costs_no_failed_request(own_cluster: Cluster) -> None:
    """Pooled connections that died with the server are dropped at checkout (the socket of an
    idle connection is readable only when the server is going away), without a ping."""
    engine = make_engine(DatabaseSettings(url=own_cluster.url, pool_size=2))
    write = make_session_factory(engine)
    read = make_read_session_factory(engine)
    try:
        for factory in (write, read):
            with factory() as session:
                assert session.execute(text("SELECT 1")).scalar() == 1
        own_cluster.stop()
        own_cluster.start()
        for factory in (write, read):
            with factory() as session:  # the first try after the restart, for each
                assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
