"""The API process SIGKILLed in the middle of a community import: the import is all or
nothing (never half the features), and the same upload after a restart imports each
community exactly once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from service.auth.service import create_key
from tests.faults.conftest import Procs, wait_for
from tests.geobuilders import community_rows, square, write_geojson

pytestmark = pytest.mark.slow

N = 6000


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM communities")).scalar() or 0)


def import_in_progress(engine: Engine) -> bool:
    """Another connection to this database holds an open transaction (the import's)."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
                    "AND query ILIKE '%communities%'"
                )
            ).scalar()
        )


def serve(procs: Procs, database_url: str, data_dir: Path, port: int, log: str) -> Any:
    env = {"DATABASE_URL": database_url, "SIAGA_STORAGE_DATA_DIR": str(data_dir)}
    proc = procs.spawn(["-m", "service", "serve", "--port", str(port)], env, log)
    wait_for(lambda: _ok(f"http://127.0.0.1:{port}/healthz"), 60, "the API", every=0.2)
    return proc


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def upload(port: int, token: str, path: Path) -> httpx.Response:
    with path.open("rb") as f:
        return httpx.post(
            f"http://127.0.0.1:{port}/api/v1/communities/import",
            files={"file": (path.name, f, "application/geo+json")},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )


def test_serve_killed_mid_import(
    tmp_path: Path,
    database_url: str,
    data_dir: Path,
    engine: Engine,
    session_factory: sessionmaker[Session],
    procs: Procs,
) -> None:
    rows = community_rows(N)
    for i, row in enumerate(rows):
        row["kode"] = f"72.71.{1 + i // 9000:02d}.{1001 + i % 9000}"
        row["geometry"] = square(i % 100, i // 100)
    path = write_geojson(tmp_path / "desa.geojson", rows)
    with session_factory() as s, s.begin():
        _, token = create_key(session=s, name="faults", role="coordinator")
    port = _port()
    first = serve(procs, database_url, data_dir, port, "serve1.log")
    replies: list[Any] = []
    sender = threading.Thread(target=lambda: replies.append(_try(upload, port, token, path)))
    sender.start()
    wait_for(lambda: import_in_progress(engine), 60, "the import's transaction", every=0.01)
    procs.kill(first)
    sender.join(30)
    assert replies and isinstance(replies[0], httpx.HTTPError), replies  # no answer: mid-import
    # The dead client's transaction is rolled back: nothing half-imported, ever.
    wait_for(lambda: not import_in_progress(engine), 30, "the killed import's transaction to end")
    assert count(engine) in (0, N)

    serve(procs, database_url, data_dir, port, "serve2.log")
    r = upload(port, token, path)
    assert r.status_code == 200, r.text
    assert count(engine) == N
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT code) FROM communities")).scalar() == N


def _try(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except httpx.HTTPError as exc:
        return exc
