"""Coordinates are checked at import, before anything is written: a 400 naming the feature."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Polygon
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.main import create_app
from service.settings import ImportSettings, Settings
from tests.geobuilders import community_rows, frame, square, write_zipped_shapefile
from tests.test_import_bad_input import snapshot

RING = "[[119.85,-0.88],[{x},{y}],[119.86,-0.87],[119.85,-0.87],[119.85,-0.88]]"


def raw_geojson(x: str, y: str, props: str) -> bytes:
    """A one-feature GeoJSON text; x/y go in verbatim (NaN and Infinity are not JSON)."""
    ring = RING.format(x=x, y=y)
    return (
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":' + props + ","
        '"geometry":{"type":"Polygon","coordinates":[' + ring + "]}}]}"
    ).encode()


COMMUNITY = '{"kode":"72.71.01.1001","nama":"Lere"}'
ZONE = '{"KRB":"KRB III"}'


def post_communities(client: TestClient, headers: dict[str, str], body: bytes, name: str):
    return client.post("/api/v1/communities/import", files={"file": (name, body)}, headers=headers)


def post_zones(client: TestClient, headers: dict[str, str], body: bytes, name: str):
    return client.post(
        "/api/v1/hazard-layers",
        files={"file": (name, body)},
        data={"name": "krb", "hazard": "volcano"},
        headers=headers,
    )


BAD_COORDINATES = [
    ("nan", "NaN", "-0.88", ["not numbers", "NaN"]),
    ("infinity", "Infinity", "-0.88", ["not numbers"]),
    ("huge", "1e300", "-1e300", ["off the globe"]),
    ("outside-extent", "10.0", "-0.88", ["outside the service extent", "SIAGA_EXTENT"]),
]


@pytest.mark.parametrize(
    ("x", "y", "phrases"), [c[1:] for c in BAD_COORDINATES], ids=[c[0] for c in BAD_COORDINATES]
)
@pytest.mark.parametrize("target", ["communities", "zones"])
def test_bad_coordinates_are_a_400_naming_the_feature_and_nothing_is_written(
    target: str,
    x: str,
    y: str,
    phrases: list[str],
    client: TestClient,
    auth_headers: Callable[[str], dict[str, str]],
    engine: Engine,
    data_dir: Path,
) -> None:
    headers = auth_headers("coordinator")
    before = snapshot(engine, data_dir)
    if target == "communities":
        resp = post_communities(client, headers, raw_geojson(x, y, COMMUNITY), "desa.geojson")
        named = "feature 1 (code 72.71.01.1001)"
    else:
        resp = post_zones(client, headers, raw_geojson(x, y, ZONE), "krb.geojson")
        named = "feature 1"
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    detail = resp.json()["detail"]
    assert named in detail and all(p in detail for p in phrases), detail
    assert snapshot(engine, data_dir) == before


def _swap(poly: Polygon) -> Polygon:
    return Polygon([(y, x) for x, y in poly.exterior.coords])


def _gpkg(tmp: Path, rows: list[dict[str, Any]], crs: str) -> bytes:
    path = tmp / "f.gpkg"
    frame(rows, crs=crs).to_file(path, driver="GPKG")  # the CRS is declared, not applied
    return path.read_bytes()


def test_swapped_latitude_longitude_is_refused_with_the_fix(
    tmp_path: Path,
    client: TestClient,
    admin_headers: dict[str, str],
    engine: Engine,
    data_dir: Path,
) -> None:
    rows = community_rows(2)
    rows[1]["geometry"] = _swap(rows[1]["geometry"])  # latitude 119.8
    before = snapshot(engine, data_dir)
    resp = post_communities(client, admin_headers, _gpkg(tmp_path, rows, "EPSG:4326"), "d.gpkg")
    assert resp.status_code == 400, resp.text
    detail = resp.json()["detail"]
    assert "feature 2 (code 72.71.01.1002)" in detail and "swapped" in detail, detail
    assert "feature 1 " not in detail
    assert snapshot(engine, data_dir) == before


def test_projected_crs_holding_degrees_is_refused_with_the_fix(
    tmp_path: Path,
    client: TestClient,
    admin_headers: dict[str, str],
    engine: Engine,
    data_dir: Path,
) -> None:
    before = snapshot(engine, data_dir)
    body = _gpkg(tmp_path, community_rows(2), "EPSG:3857")
    resp = post_communities(client, admin_headers, body, "d.gpkg")
    assert resp.status_code == 400, resp.text
    detail = resp.json()["detail"]
    assert "EPSG:3857" in detail and "degrees" in detail and "EPSG:4326" in detail, detail
    assert snapshot(engine, data_dir) == before


def test_real_projected_file_still_imports(
    tmp_path: Path, client: TestClient, admin_headers: dict[str, str]
) -> None:
    path = tmp_path / "utm.gpkg"
    frame(community_rows(2)).to_crs("EPSG:32750").to_file(path, driver="GPKG")
    resp = post_communities(client, admin_headers, path.read_bytes(), "utm.gpkg")
    assert resp.status_code == 200, resp.text
    assert resp.json()["created"] == 2


def _app_with(settings: Settings, clean_db: Engine, **imports: Any) -> TestClient:
    changed = settings.model_copy(update={"imports": ImportSettings(**imports)})
    return TestClient(create_app(changed, engine=clean_db))


def test_extent_can_be_turned_off(
    settings: Settings, clean_db: Engine, admin_headers: dict[str, str]
) -> None:
    with _app_with(settings, clean_db, extent=None) as client:
        resp = post_communities(
            client, admin_headers, raw_geojson("10.0", "-0.88", COMMUNITY), "desa.geojson"
        )
    assert resp.status_code == 200, resp.text


def test_extent_setting_parses_and_disables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIAGA_EXTENT", "95, -11, 141, 6")
    assert ImportSettings().extent == (95.0, -11.0, 141.0, 6.0)
    monkeypatch.setenv("SIAGA_EXTENT", "none")
    assert ImportSettings().extent is None
    monkeypatch.setenv("SIAGA_EXTENT", "145,-15,90,10")
    with pytest.raises(ValueError, match="west < east"):
        ImportSettings()


def _many_vertices(n: int) -> Polygon:
    x0, y0 = square(0, 0).bounds[:2]
    pts = [(x0 + 0.01 * i / n, y0 + (0.0001 if i % 2 else 0.0)) for i in range(n)]
    return Polygon([*pts, (x0 + 0.01, y0 + 0.01), (x0, y0 + 0.01)])


@pytest.mark.parametrize("target", ["communities", "zones"])
def test_vertex_limit_refuses_or_simplifies(
    target: str,
    tmp_path: Path,
    settings: Settings,
    clean_db: Engine,
    data_dir: Path,
    admin_headers: dict[str, str],
    session_factory: sessionmaker[Session],
) -> None:
    rows = community_rows(2)
    rows[1]["geometry"] = _many_vertices(500)
    if target == "zones":
        rows = [{"KRB": "KRB III", "geometry": r["geometry"]} for r in rows]
    body = _gpkg(tmp_path, rows, "EPSG:4326")
    post = post_communities if target == "communities" else post_zones
    before = snapshot(clean_db, data_dir)
    with _app_with(settings, clean_db, max_vertices=100) as client:
        resp = post(client, admin_headers, body, "f.gpkg")
    assert resp.status_code == 400, resp.text
    detail = resp.json()["detail"]
    assert "feature 2" in detail and "503 vertices" in detail, detail
    assert "SIAGA_IMPORT_MAX_VERTICES" in detail and "SIAGA_IMPORT_SIMPLIFY" in detail
    assert snapshot(clean_db, data_dir) == before

    with _app_with(settings, clean_db, max_vertices=100, simplify=True) as client:
        resp = post(client, admin_headers, body, "f.gpkg")
    assert resp.status_code in (200, 201), resp.text
    simplified = resp.json()["simplified"]
    assert simplified == (["72.71.01.1002"] if target == "communities" else [2])
    with clean_db.connect() as conn:
        from sqlalchemy import text

        table = "communities" if target == "communities" else "hazard_zones"
        most = conn.execute(text(f"SELECT max(ST_NPoints(geom)) FROM {table}")).scalar_one()
    assert 4 <= most <= 100


def test_swapped_axes_without_a_crs_are_named(
    tmp_path: Path, client: TestClient, admin_headers: dict[str, str]
) -> None:
    rows = community_rows(1)
    rows[0]["geometry"] = _swap(rows[0]["geometry"])
    path = write_zipped_shapefile(tmp_path / "swapped.zip", rows)
    stripped = tmp_path / "noprj.zip"  # the same Shapefile without its .prj: no CRS
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(stripped, "w") as dst:
        for name in src.namelist():
            if not name.endswith(".prj"):
                dst.writestr(name, src.read(name))
    resp = post_communities(client, admin_headers, stripped.read_bytes(), "noprj.zip")
    assert resp.status_code == 400, resp.text
    assert "swapped" in resp.json()["detail"]
