"""Hazard layer import: zones with classes, rasters to COG, versions, API and CLI."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from pydantic import ValidationError
from pyproj import Transformer
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from service.cli import app as cli_app
from service.hazards.schemas import HazardLayerCreate
from service.hazards.service import import_hazard_layer
from service.hazards.storage import pending_file
from tests.geobuilders import square, write_ascii_grid, write_geojson, write_raster


def zone_rows(values: list[object], field: str = "KRB") -> list[dict[str, object]]:
    return [{field: v, "GUNUNG": "Demo", "geometry": square(i, 0)} for i, v in enumerate(values)]


def zones(engine: Engine, layer_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT hazard_class, intensity, properties, ST_IsValid(geom) AS valid "
                    "FROM hazard_zones WHERE layer_id = :id ORDER BY id"
                ),
                {"id": layer_id},
            ).mappings()
        ]


def test_volcano_zones_with_classes_and_versions(
    tmp_path: Path, session_factory: sessionmaker[Session], data_dir: Path, engine: Engine
) -> None:
    path = write_geojson(
        tmp_path / "krb.geojson",
        zone_rows(["Kawasan Rawan Bencana I", "Kawasan Rawan Bencana III", "KRB II", "Zona Merah"]),
    )
    spec = HazardLayerCreate(
        name="merapi-krb", hazard="volcano", class_map={"Zona Merah": "KRB III"}
    )
    first = import_hazard_layer(
        session_factory=session_factory, data_dir=data_dir, paths=[path], spec=spec
    )
    layer = first.layer
    assert (layer.version, layer.kind, first.features) == (1, "zones", 4)
    assert layer.class_counts == {"KRB I": 1, "KRB III": 2, "KRB II": 1}
    assert layer.classification["name"] == "volcano_krb"
    assert layer.classification["field"] == "KRB"
    assert layer.bbox == pytest.approx([119.85, -0.88, 119.89, -0.87])
    stored = zones(engine, layer.id)
    assert [z["hazard_class"] for z in stored] == ["KRB I", "KRB III", "KRB II", "KRB III"]
    assert [z["intensity"] for z in stored] == [0.33, 1.0, 0.67, 1.0]
    assert stored[0]["properties"]["KRB"] == "Kawasan Rawan Bencana I"
    assert stored[0]["properties"]["severity"] == 0.33

    second = import_hazard_layer(
        session_factory=session_factory, data_dir=data_dir, paths=[path], spec=spec
    )
    assert second.layer.version == 2 and second.layer.id != layer.id
    assert list(data_dir.iterdir()) == []  # zone layers write no files


def test_flood_depth_polygons_classified_by_thresholds(
    tmp_path: Path, session_factory: sessionmaker[Session], data_dir: Path, engine: Engine
) -> None:
    path = write_geojson(tmp_path / "depth.geojson", zone_rows([0.05, 0.4, 1.0, 2.2], "depth"))
    report = import_hazard_layer(
        session_factory=session_factory,
        data_dir=data_dir,
        paths=[path],
        spec=HazardLayerCreate(name="depth-zones", hazard="flood", scheme="flood_depth"),
    )
    assert report.features == 3 and report.skipped_below_threshold == 1
    stored = zones(engine, report.layer.id)
    assert [(z["hazard_class"], z["intensity"]) for z in stored] == [
        ("low", 0.4),
        ("medium", 1.0),
        ("high", 2.2),
    ]


def test_geotiff_in_utm_becomes_cog_with_metadata(
    tmp_path: Path, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    data = np.arange(12, dtype="float32").reshape(3, 4)
    data[0, 0] = -9999.0
    path = write_raster(
        tmp_path / "depth.tif", data, crs="EPSG:32750", origin=(815000.0, 9900000.0), res=100.0
    )
    report = import_hazard_layer(
        session_factory=session_factory,
        data_dir=data_dir,
        paths=[path],
        spec=HazardLayerCreate(name="Banjir Palu 2024", hazard="flood", unit="m"),
    )
    layer = report.layer
    meta = layer.raster_meta or {}
    assert layer.raster_path == f"layers/{layer.id}/v1.tif"
    assert meta["crs"] == "EPSG:32750" and (meta["width"], meta["height"]) == (4, 3)
    assert meta["nodata"] == -9999.0 and meta["dtype"] == "float32"
    assert meta["stats"]["valid_count"] == 11 and meta["stats"]["sum"] == pytest.approx(66.0)
    assert meta["transform"] == [100.0, 0.0, 815000.0, 0.0, -100.0, 9900000.0]
    assert layer.classification["name"] == "flood_depth"
    to_lonlat = Transformer.from_crs("EPSG:32750", "EPSG:4326", always_xy=True)
    west, north = to_lonlat.transform(815000.0, 9900000.0)
    east, south = to_lonlat.transform(815400.0, 9899700.0)
    assert layer.bbox == pytest.approx([west, south, east, north], abs=2e-5)
    with rasterio.open(data_dir / layer.raster_path) as cog:
        assert cog.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert cog.read(1).tolist() == data.tolist()


def test_api_asc_with_prj_as_two_parts_and_zipped(
    tmp_path: Path, client, auth_headers: Callable[[str], dict[str, str]], data_dir: Path
) -> None:
    headers = auth_headers("coordinator")
    grid = np.array([[0.0, 0.5, 1.0], [2.0, -9999, 0.2]])
    asc = write_ascii_grid(tmp_path / "flood.asc", grid)
    prj = asc.with_suffix(".prj")
    files = [("file", ("flood.asc", asc.read_bytes())), ("file", ("flood.prj", prj.read_bytes()))]
    r = client.post(
        "/api/v1/hazard-layers",
        files=files,
        data={"name": "jakarta-flood", "hazard": "flood", "unit": "m"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    layer = r.json()["layer"]
    assert layer["kind"] == "raster" and layer["raster_meta"]["crs"] == "EPSG:4326"
    assert layer["raster_meta"]["stats"]["valid_count"] == 5
    assert (data_dir / layer["raster_path"]).is_file()

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(asc, "flood.asc")
        zf.write(prj, "flood.prj")
    r = client.post(
        "/api/v1/hazard-layers",
        files={"file": ("flood.zip", buf.getvalue())},
        data={"name": "jakarta-flood", "hazard": "flood"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["layer"]["version"] == 2

    listing = client.get("/api/v1/hazard-layers", params={"latest": "true"}).json()
    assert [(x["name"], x["version"]) for x in listing] == [("jakarta-flood", 2)]
    assert len(client.get("/api/v1/hazard-layers").json()) == 2
    one = client.get(f"/api/v1/hazard-layers/{layer['id']}")
    assert one.status_code == 200 and one.json()["version"] == 1
    missing = client.get("/api/v1/hazard-layers/999999")
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]


def test_api_exposure_raster_and_auth(
    tmp_path: Path, client, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    body = write_raster(tmp_path / "pop.tif", np.full((2, 2), 25.0, dtype="float32")).read_bytes()
    files = {"file": ("pop.tif", body)}
    form = {"name": "population", "role": "exposure", "unit": "people"}
    assert client.post("/api/v1/hazard-layers", files=files, data=form).status_code == 401
    r = client.post(
        "/api/v1/hazard-layers", files=files, data=form, headers=auth_headers("coordinator")
    )
    assert r.status_code == 201, r.text
    layer = r.json()["layer"]
    assert layer["role"] == "exposure" and layer["hazard"] is None
    assert layer["classification"] == {} and layer["raster_meta"]["stats"]["sum"] == 100.0


def test_cli_hazard_import(
    tmp_path: Path, database_url: str, data_dir: Path, clean_db: Engine
) -> None:
    path = write_geojson(tmp_path / "tsunami.geojson", zone_rows(["Low", "High"], "Category"))
    env = {"DATABASE_URL": database_url, "SIAGA_STORAGE_DATA_DIR": str(data_dir)}
    result = CliRunner().invoke(
        cli_app,
        [
            "hazards",
            "import",
            str(path),
            "--name",
            "maumere",
            "--hazard",
            "tsunami",
            "--json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["layer"]["class_counts"] == {"Low": 1, "High": 1}
    bad = CliRunner().invoke(
        cli_app,
        [
            "hazards",
            "import",
            str(path),
            "--name",
            "x",
            "--hazard",
            "volcano",
        ],
        env=env,
    )
    assert bad.exit_code == 2 and "--class-field" in bad.stderr


def test_pending_file_is_removed_when_the_block_fails(tmp_path: Path) -> None:
    rel = Path("layers/1/v1.tif")
    with (
        pytest.raises(RuntimeError),
        pending_file(tmp_path, rel, lambda p: p.write_bytes(b"cog")) as final,
    ):
        assert final.read_bytes() == b"cog"
        raise RuntimeError("commit failed")
    assert list(tmp_path.rglob("*")) == []


def test_class_map_form_text_formats() -> None:
    pairs = HazardLayerCreate(name="x", hazard="volcano", class_map="Zona A=KRB III; Zona B=KRB II")
    assert pairs.class_map == {"Zona A": "KRB III", "Zona B": "KRB II"}
    as_json = HazardLayerCreate(name="x", hazard="volcano", class_map='{"Zona A": "KRB I"}')
    assert as_json.class_map == {"Zona A": "KRB I"}
    with pytest.raises(ValidationError, match="not VALUE=CLASS"):
        HazardLayerCreate(name="x", hazard="volcano", class_map="Zona A")
