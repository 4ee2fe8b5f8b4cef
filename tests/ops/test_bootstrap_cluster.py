"""The embedded cluster is durable and password-protected (issue 11, item 10).

Runs real PostgreSQL clusters in a state folder and port of their own (never the shared one):
a fresh cluster asks for a SCRAM password kept 0600 in the state folder and handed on in the
URL, runs with fsync on for `run` and may turn it off for `test` without a restart; a cluster
left by an older checkout (trust, fsync=off on the command line) is migrated in place."""

from __future__ import annotations

import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from service import bootstrap

pytestmark = pytest.mark.slow

BINDIR = bootstrap._pg_bindir()
needs_pg = pytest.mark.skipif(BINDIR is None, reason="PostgreSQL server binaries not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cluster() -> Iterator[bootstrap.Cluster]:
    # Not pytest's tmp_path: the postgres user must be able to reach the data folder.
    state = Path(tempfile.mkdtemp(prefix="siaga-state-"))
    state.chmod(0o755)
    c = bootstrap.Cluster(state=state, port=_free_port())
    try:
        yield c
    finally:
        if (c.data / "postmaster.pid").exists():
            assert BINDIR is not None
            subprocess.run(
                bootstrap._as_postgres(
                    [str(BINDIR / "pg_ctl"), "-D", str(c.data), "-m", "fast", "-w", "stop"]
                ),
                check=False,
                capture_output=True,
            )
        shutil.rmtree(state, ignore_errors=True)


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _show(url: str, what: str) -> str:
    with psycopg.connect(_plain(url), connect_timeout=5) as conn:
        row = conn.execute(f"SHOW {what}").fetchone()
        assert row is not None
        return str(row[0])


def _no_password_refused(c: bootstrap.Cluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{c.port}/postgres",
            connect_timeout=5,
            password="",
        ).close()


@needs_pg
def test_fresh_cluster_has_a_password_and_fsync(cluster: bootstrap.Cluster) -> None:
    url = cluster.ensure(fsync=True)
    secret = cluster.password_file.read_text().strip()
    assert len(secret) >= 24 and f"postgres:{secret}@" in url
    assert stat.S_IMODE(cluster.password_file.stat().st_mode) == 0o600
    assert _show(url, "fsync") == "on"
    _no_password_refused(cluster)
    hba = (cluster.data / "pg_hba.conf").read_text()
    assert "trust" not in [
        line.split()[-1] for line in hba.splitlines() if line.strip()[:1] not in ("", "#")
    ]
    with psycopg.connect(_plain(url)) as conn:
        started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname='postgis'").fetchone()
    # `test` turns fsync off, `run` back on: by reload, the server keeps running.
    assert _show(cluster.ensure(fsync=False), "fsync") == "off"
    assert _show(cluster.ensure(fsync=True), "fsync") == "on"
    with psycopg.connect(_plain(url)) as conn:
        assert conn.execute("SELECT pg_postmaster_start_time()").fetchone() == started
    assert cluster.ensure(fsync=True) == url  # same password next time


@needs_pg
def test_trust_cluster_of_an_older_checkout_is_migrated(cluster: bootstrap.Cluster) -> None:
    """What the bootstrap used to make: initdb -A trust, started with -c fsync=off."""
    assert BINDIR is not None
    cluster.dir.mkdir(parents=True)
    if _root():
        shutil.chown(cluster.dir, "postgres", "postgres")
    subprocess.run(
        bootstrap._as_postgres(
            [str(BINDIR / "initdb"), "-D", str(cluster.data), "-U", "postgres", "-A", "trust"]
        ),
        check=True,
        capture_output=True,
    )
    cluster.run_dir.mkdir()
    if _root():
        shutil.chown(cluster.run_dir, "postgres", "postgres")
    opts = f"-k {cluster.run_dir} -p {cluster.port} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        bootstrap._as_postgres(
            [
                *[str(BINDIR / "pg_ctl"), "-D", str(cluster.data), "-o", opts],
                *["-l", str(cluster.dir / "server.log"), "-w", "start"],  # -l: frees our pipes
            ]
        ),
        check=True,
        capture_output=True,
    )
    trusted = f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
    assert _show(trusted, "fsync") == "off"  # the old, fragile state

    url = cluster.ensure(fsync=True)
    _no_password_refused(cluster)
    assert _show(url, "fsync") == "on"
    assert _show(url, "password_encryption") == "scram-sha-256"
    with psycopg.connect(_plain(url)) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname='postgres'").fetchone()
        assert row is not None and str(row[0]).startswith("SCRAM-SHA-256$")


def _root() -> bool:
    import os

    return os.geteuid() == 0


def test_a_foreign_server_on_the_port_is_left_alone(tmp_path: Path) -> None:
    """Another PostgreSQL on our port (e.g. a shared test server) is used, never reconfigured."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        c = bootstrap.Cluster(state=tmp_path / "state", port=server.getsockname()[1])
        assert not c.owns_port()
        if BINDIR is None:
            pytest.skip("PostgreSQL server binaries not installed")
        url = c.ensure(fsync=True)
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{c.port}/siaga"
    assert not (c.data / "PG_VERSION").exists()  # nothing initialised, nothing touched
