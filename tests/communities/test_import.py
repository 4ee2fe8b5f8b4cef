"""Community import on real PostGIS: formats, CRS, repair, upsert counts, API and CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import shapely
from pyproj import Geod
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from service.cli import app as cli_app
from service.communities.schemas import FieldMapping
from service.communities.service import import_communities
from tests.geobuilders import (
    bowtie,
    community_rows,
    square,
    write_geojson,
    write_gpkg,
    write_zipped_shapefile,
)

GEOD = Geod(ellps="WGS84")


def geodesic_km2(geom: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def stored(engine: Engine) -> dict[str, dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, level, regency_code, population, share_poor, area_km2, "
                "properties, ST_AsText(geom) AS wkt, ST_IsValid(geom) AS valid, "
                "GeometryType(geom) AS gtype, ST_SRID(geom) AS srid FROM communities ORDER BY code"
            )
        ).mappings()
        return {r["code"]: dict(r) for r in rows}


def test_geojson_import_then_reimport_is_unchanged(
    tmp_path: Path, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    path = write_geojson(tmp_path / "desa.geojson", community_rows(3))
    first = import_communities(session_factory=session_factory, path=path)
    assert (first.features, first.created, first.updated, first.unchanged) == (3, 3, 0, 0)
    again = import_communities(session_factory=session_factory, path=path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)

    rows = stored(engine)
    assert sorted(rows) == ["72.71.01.1001", "72.71.01.1002", "72.71.01.1003"]
    one = rows["72.71.01.1001"]
    assert one["name"] == "Kelurahan 1" and one["level"] == "desa_kelurahan"
    assert one["regency_code"] == "72.71"
    assert one["gtype"] == "MULTIPOLYGON" and one["srid"] == 4326
    expected = geodesic_km2(square(0, 0))
    assert one["area_km2"] == pytest.approx(expected, rel=0.005)  # ~1.23 km² at 0.9° S


def test_reimport_updates_changed_features_only(
    tmp_path: Path, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    first = write_geojson(tmp_path / "a.geojson", community_rows(3))
    import_communities(session_factory=session_factory, path=first)
    rows = community_rows(4)
    rows[0]["nama"] = "Kelurahan Satu"  # renamed
    rows[1]["geometry"] = square(1, 0, size=0.005)  # boundary redrawn
    report = import_communities(
        session_factory=session_factory, path=write_geojson(tmp_path / "b.geojson", rows)
    )
    assert (report.created, report.updated, report.unchanged) == (1, 2, 1)
    data = stored(engine)
    assert len(data) == 4
    assert data["72.71.01.1001"]["name"] == "Kelurahan Satu"
    assert data["72.71.01.1002"]["area_km2"] == pytest.approx(
        geodesic_km2(square(1, 0, size=0.005)), rel=0.005
    )


def test_geopackage_in_utm_is_reprojected(
    tmp_path: Path, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    path = write_gpkg(tmp_path / "desa.gpkg", community_rows(2), crs="EPSG:32750")
    report = import_communities(session_factory=session_factory, path=path)
    assert report.created == 2
    geom = shapely.from_wkt(stored(engine)["72.71.01.1002"]["wkt"])
    # Back in lon/lat, the square is where it was (to well under a metre).
    assert geom.bounds == pytest.approx(square(1, 0).bounds, abs=1e-6)


def test_zipped_shapefile_with_custom_fields_and_indicators(
    tmp_path: Path, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    rows = [
        {
            "KD_DESA": f"72.10.05.200{i}",
            "NM_DESA": f"Desa {i}",
            "JML_PDDK": 1000 * (i + 1),
            "MISKIN": 0.1 * i,
            "geometry": square(i, 2),
        }
        for i in range(3)
    ]
    path = write_zipped_shapefile(tmp_path / "desa.zip", rows)
    mapping = FieldMapping(
        code_field="KD_DESA",
        name_field="NM_DESA",
        population_field="JML_PDDK",
        share_poor_field="MISKIN",
    )
    report = import_communities(session_factory=session_factory, path=path, mapping=mapping)
    assert report.created == 3
    assert report.fields["population"] == "JML_PDDK"
    data = stored(engine)
    second = data["72.10.05.2001"]
    assert second["population"] == 2000 and second["share_poor"] == pytest.approx(0.1)
    # No level field in the file: derived from the dotted code, as are parent codes.
    assert second["level"] == "desa_kelurahan" and second["regency_code"] == "72.10"


def test_invalid_geometry_is_repaired_and_reported(
    tmp_path: Path, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    rows = community_rows(2)
    rows[1]["geometry"] = bowtie(1, 0)
    assert not rows[1]["geometry"].is_valid
    report = import_communities(
        session_factory=session_factory, path=write_geojson(tmp_path / "x.geojson", rows)
    )
    assert report.repaired == ["72.71.01.1002"]
    fixed = stored(engine)["72.71.01.1002"]
    assert fixed["valid"] is True and fixed["gtype"] == "MULTIPOLYGON"
    assert len(shapely.from_wkt(fixed["wkt"]).geoms) == 2  # the two triangles of the bow-tie
    again = import_communities(
        session_factory=session_factory, path=write_geojson(tmp_path / "y.geojson", rows)
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_api_import_get_and_patch(
    tmp_path: Path, client, auth_headers: Callable[[str], dict[str, str]], engine: Engine
) -> None:
    coordinator = auth_headers("coordinator")
    rows = [{**r, "penduduk": 500} for r in community_rows(2)]
    body = write_geojson(tmp_path / "desa.geojson", rows).read_bytes()
    files = {"file": ("desa.geojson", body, "application/geo+json")}

    assert client.post("/api/v1/communities/import", files=files).status_code == 401
    viewer = client.post("/api/v1/communities/import", files=files, headers=auth_headers("viewer"))
    assert viewer.status_code == 403

    r = client.post(
        "/api/v1/communities/import",
        files=files,
        data={"population_field": "penduduk"},
        headers=coordinator,
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2 and r.json()["file"] == "desa.geojson"

    one = client.get("/api/v1/communities/72.71.01.1001")
    assert one.status_code == 200
    assert one.json()["population"] == 500 and one.json()["geometry"]["type"] == "MultiPolygon"
    bare = client.get("/api/v1/communities/72.71.01.1001", params={"geometry": "false"})
    assert bare.json()["geometry"] is None and bare.json()["area_km2"] > 1

    patch = {"population": 812, "share_elderly": 0.09, "has_task_force": True}
    assert client.patch("/api/v1/communities/72.71.01.1001", json=patch).status_code == 401
    r = client.patch("/api/v1/communities/72.71.01.1001", json=patch, headers=coordinator)
    assert r.status_code == 200, r.text
    assert r.json()["population"] == 812 and r.json()["has_task_force"] is True

    bad = client.patch(
        "/api/v1/communities/72.71.01.1001", json={"share_poor": 35}, headers=coordinator
    )
    assert bad.status_code == 422 and "share_poor" in bad.json()["detail"]
    missing = client.patch("/api/v1/communities/99.99", json={"population": 1}, headers=coordinator)
    assert missing.status_code == 404 and "99.99" in missing.json()["detail"]

    # Re-importing boundaries without population keeps the patched value.
    plain = write_geojson(tmp_path / "plain.geojson", community_rows(2)).read_bytes()
    r = client.post(
        "/api/v1/communities/import", files={"file": ("plain.geojson", plain)}, headers=coordinator
    )
    assert r.json()["unchanged"] == 2
    assert stored(engine)["72.71.01.1001"]["population"] == 812


def test_cli_import_prints_report(
    tmp_path: Path, database_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    rows = [{("KD_KEL" if k == "kode" else k): v for k, v in r.items()} for r in community_rows(2)]
    path = write_geojson(tmp_path / "desa.geojson", rows)
    runner = CliRunner()
    env = {"DATABASE_URL": database_url}
    result = runner.invoke(
        cli_app, ["communities", "import", str(path), "--code-field", "KD_KEL", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 2
    again = runner.invoke(
        cli_app, ["communities", "import", str(path), "--code-field", "KD_KEL"], env=env
    )
    assert again.exit_code == 0 and "0 created, 0 updated, 2 unchanged" in again.stdout
    wrong = runner.invoke(cli_app, ["communities", "import", str(path)], env=env)
    assert wrong.exit_code == 2
    assert "no code field 'kode'" in wrong.stderr and "KD_KEL" in wrong.stderr
    assert len(stored(engine)) == 2
