"""DELETE a community or a hazard layer: admin only, audited, scores and files go with it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from service.cli import app as cli_app
from service.risk.service import recompute_layer
from service.settings import Settings
from tests.geobuilders import community_rows, square, write_geojson, write_raster

PALU = (119.84, -0.86)


def _count(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _setup(
    tmp_path: Path,
    client: TestClient,
    headers: dict[str, str],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> dict[str, int]:
    comm = write_geojson(tmp_path / "desa.geojson", community_rows(3))
    with comm.open("rb") as fh:
        resp = client.post(
            "/api/v1/communities/import", files={"file": ("desa.geojson", fh)}, headers=headers
        )
    assert resp.status_code == 200, resp.text
    ids: dict[str, int] = {}
    pop = write_raster(tmp_path / "pop.tif", np.full((40, 60), 10.0, "float32"), origin=PALU)
    zones = write_geojson(
        tmp_path / "krb.geojson",
        [{"KRB": "KRB III", "geometry": square(i, 0)} for i in range(3)],
    )
    for key, path, form in (
        ("pop", pop, {"name": "pop", "role": "exposure"}),
        ("krb", zones, {"name": "krb", "hazard": "volcano"}),
    ):
        with path.open("rb") as fh:
            resp = client.post(
                "/api/v1/hazard-layers",
                files={"file": (path.name, fh)},
                data=form,
                headers=headers,
            )
        assert resp.status_code == 201, resp.text
        ids[key] = int(resp.json()["layer"]["id"])
    summary = recompute_layer(
        session_factory=session_factory, layer_id=ids["krb"], settings=settings
    )
    assert summary["status"] == "succeeded", summary
    return ids


def test_delete_community_and_layer_over_http(
    tmp_path: Path,
    client: TestClient,
    auth_headers: Callable[[str], dict[str, str]],
    settings: Settings,
    session_factory: sessionmaker[Session],
    engine: Engine,
    data_dir: Path,
) -> None:
    admin = auth_headers("admin")
    ids = _setup(tmp_path, client, admin, settings, session_factory)
    code = "72.71.01.1001"
    scores = (
        "SELECT count(*) FROM risk_scores s JOIN communities c ON c.id = s.community_id "
        "WHERE c.code = :code"
    )
    assert _count(engine, scores, code=code) == 1

    assert client.delete(f"/api/v1/communities/{code}").status_code == 401
    forbidden = client.delete(f"/api/v1/communities/{code}", headers=auth_headers("coordinator"))
    assert forbidden.status_code == 403
    resp = client.delete(f"/api/v1/communities/{code}", headers=admin)
    assert resp.status_code == 204, resp.text
    assert client.get(f"/api/v1/communities/{code}").status_code == 404
    assert client.delete(f"/api/v1/communities/{code}", headers=admin).status_code == 404
    assert _count(engine, "SELECT count(*) FROM communities") == 2
    assert _count(engine, "SELECT count(*) FROM risk_scores") == 2  # the others' scores stay
    assert (
        _count(
            engine,
            "SELECT count(*) FROM audit_log WHERE action = 'communities.delete' AND target = :t "
            "AND role = 'admin'",
            t=f"community:{code}",
        )
        == 1
    )

    pop_path = data_dir / f"layers/{ids['pop']}/v1.tif"
    assert pop_path.is_file()
    forbidden = client.delete(
        f"/api/v1/hazard-layers/{ids['krb']}", headers=auth_headers("coordinator")
    )
    assert forbidden.status_code == 403
    assert client.delete(f"/api/v1/hazard-layers/{ids['krb']}", headers=admin).status_code == 204
    assert _count(engine, "SELECT count(*) FROM risk_scores") == 0
    assert _count(engine, "SELECT count(*) FROM hazard_zones") == 0
    assert client.delete(f"/api/v1/hazard-layers/{ids['pop']}", headers=admin).status_code == 204
    assert not pop_path.exists() and not pop_path.parent.exists()
    assert client.get(f"/api/v1/hazard-layers/{ids['pop']}").status_code == 404
    assert (
        _count(engine, "SELECT count(*) FROM audit_log WHERE action = 'hazard_layers.delete'") == 2
    )


def test_delete_from_the_cli(
    tmp_path: Path,
    client: TestClient,
    auth_headers: Callable[[str], dict[str, str]],
    settings: Settings,
    session_factory: sessionmaker[Session],
    engine: Engine,
    database_url: str,
    data_dir: Path,
) -> None:
    ids = _setup(tmp_path, client, auth_headers("admin"), settings, session_factory)
    env = {"DATABASE_URL": database_url, "SIAGA_STORAGE_DATA_DIR": str(data_dir)}
    runner = CliRunner()
    result = runner.invoke(cli_app, ["communities", "delete", "72.71.01.1002", "--yes"], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli_app, ["hazards", "delete", str(ids["pop"]), "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert not (data_dir / f"layers/{ids['pop']}/v1.tif").exists()
    missing = runner.invoke(cli_app, ["communities", "delete", "72.71.01.1002", "--yes"], env=env)
    assert missing.exit_code == 2 and "no community" in missing.stderr
    assert _count(engine, "SELECT count(*) FROM communities") == 2
    assert (
        _count(
            engine,
            "SELECT count(*) FROM audit_log WHERE action IN "
            "('communities.delete', 'hazard_layers.delete') AND key_name LIKE 'cli:%'",
        )
        == 2
    )
