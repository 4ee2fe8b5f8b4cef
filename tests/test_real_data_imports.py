"""Real boundary and hazard files from ../shared/data/real via the service, the API and the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from service.cli import app as cli_app
from service.communities.service import import_communities

# Every real file through GDAL, and the CLI in a subprocess: outside the fast loop.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BOUNDARIES = "real/admin_boundaries_kepmendagri2025"


def source_counts(folder: Path) -> dict[str, int]:
    """Feature counts per file as SOURCES.md states them ("Unknown x389, EPSG:4326")."""
    counts = {}
    for line in (folder / "SOURCES.md").read_text().splitlines():
        m = re.match(r"\| (\S+\.geojson) \|.*\| \w+ x(\d+), EPSG", line)
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


def invalid_codes(path: Path) -> set[str]:
    frame = pyogrio.read_dataframe(path)
    return set(frame.loc[~frame.geometry.is_valid, "kode"])


def db_scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_every_kepmendagri_file_imports_with_its_counts_and_reimports_unchanged(
    shared_data: Path,
    client,
    auth_headers: Callable[[str], dict[str, str]],
    session_factory: sessionmaker[Session],
    engine: Engine,
    database_url: str,
) -> None:
    folder = shared_data / BOUNDARIES
    expected = source_counts(folder)
    assert len(expected) == 12
    assert expected["palu_sigi_donggala_desa_kelurahan.geojson"] == 389
    assert expected["dki_jakarta_kelurahan.geojson"] == 261

    reports = {}
    # The API path for Palu+Sigi+Donggala, the CLI for Jakarta, the service for the rest.
    palu = folder / "palu_sigi_donggala_desa_kelurahan.geojson"
    r = client.post(
        "/api/v1/communities/import",
        files={"file": (palu.name, palu.read_bytes(), "application/geo+json")},
        headers=auth_headers("coordinator"),
    )
    assert r.status_code == 200, r.text
    reports[palu.name] = r.json()
    jakarta = folder / "dki_jakarta_kelurahan.geojson"
    result = CliRunner().invoke(
        cli_app,
        ["communities", "import", str(jakarta), "--json"],
        env={"DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    reports[jakarta.name] = json.loads(result.stdout)
    for name in sorted(expected):
        if name not in reports:
            report = import_communities(session_factory=session_factory, path=folder / name)
            reports[name] = report.model_dump()

    repaired_somewhere = 0
    for name, count in expected.items():
        report = reports[name]
        assert (report["features"], report["created"], report["updated"]) == (count, count, 0), name
        assert set(report["repaired"]) == invalid_codes(folder / name), name
        repaired_somewhere += len(report["repaired"])
    assert repaired_somewhere >= 10  # sulawesi_tengah kab alone has 6 invalid polygons
    assert db_scalar(engine, "SELECT count(*) FROM communities") == sum(expected.values())
    assert db_scalar(engine, "SELECT count(*) FROM communities WHERE NOT ST_IsValid(geom)") == 0
    assert (
        db_scalar(
            engine,
            "SELECT count(*) FROM communities WHERE code LIKE '72.71.__.____' "
            "AND level = 'desa_kelurahan' AND regency_name = 'Kota Palu' AND area_km2 > 0",
        )
        == 46
    )  # Kota Palu's 46 kelurahan

    for name, count in expected.items():
        again = import_communities(session_factory=session_factory, path=folder / name)
        assert (again.created, again.updated, again.unchanged) == (0, 0, count), name
    # And once more through the real `python -m service` entry point.
    proc = subprocess.run(
        [sys.executable, "-m", "service", "communities", "import", str(palu), "--json"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 389)


def _krb(value: str) -> str:
    return "KRB " + value.rsplit(" ", 1)[-1]  # "Kawasan Rawan Bencana II" -> "KRB II"


def test_hazard_zone_layers_import_with_their_classes(
    shared_data: Path,
    client,
    auth_headers: Callable[[str], dict[str, str]],
    database_url: str,
    engine: Engine,
    data_dir: Path,
) -> None:
    headers = auth_headers("coordinator")
    real = shared_data / "real"

    volcano = real / "pvmbg_volcano_krb" / "hazard_zone_volcano.shp"
    parts = [volcano.with_suffix(s) for s in (".shp", ".shx", ".dbf", ".prj")]
    r = client.post(
        "/api/v1/hazard-layers",
        files=[("file", (p.name, p.read_bytes())) for p in parts],
        data={"name": "pvmbg-krb", "hazard": "volcano", "source": "PVMBG 2007 via InaSAFE"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    raw = pyogrio.read_dataframe(volcano)
    expected = Counter(_krb(v) for v in raw["KRB"])
    layer = r.json()["layer"]
    assert r.json()["features"] == 171 and layer["zone_count"] == 171
    assert layer["class_counts"] == dict(expected)
    assert expected == {"KRB I": 115, "KRB II": 33, "KRB III": 23}

    tsunami = real / "inasafe_maumere" / "tsunami_polygon_WGS84.shp"
    result = CliRunner().invoke(
        cli_app,
        [
            "hazards",
            "import",
            str(tsunami),
            "--name",
            "maumere-tsunami",
            "--hazard",
            "tsunami",
            "--json",
        ],
        env={"DATABASE_URL": database_url, "SIAGA_STORAGE_DATA_DIR": str(data_dir)},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    raw = pyogrio.read_dataframe(tsunami)
    assert report["features"] == 1032
    assert report["layer"]["class_counts"] == dict(Counter(raw["Category"]))
    assert len(report["repaired"]) == int((~raw.geometry.is_valid).sum())

    flood = real / "inasafe_jakarta" / "Jakarta_RW_2007flood.shp"
    parts = [flood.with_suffix(s) for s in (".shp", ".shx", ".dbf", ".prj")]
    r = client.post(
        "/api/v1/hazard-layers",
        files=[("file", (p.name, p.read_bytes())) for p in parts],
        data={"name": "jakarta-rw-2007", "hazard": "flood", "class_field": "FLOODPRONE"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["features"] == 1009
    assert r.json()["layer"]["class_counts"] == {"yes": 1009}
    assert r.json()["layer"]["classification"]["name"] == "flood_prone"

    assert db_scalar(engine, "SELECT count(*) FROM hazard_zones") == 171 + 1032 + 1009
    assert db_scalar(engine, "SELECT count(*) FROM hazard_zones WHERE NOT ST_IsValid(geom)") == 0
    assert (
        db_scalar(
            engine, "SELECT count(*) FROM hazard_zones WHERE GeometryType(geom) <> 'MULTIPOLYGON'"
        )
        == 0
    )


RASTERS = [
    # (relative path, layer name, role, hazard)
    (
        "inasafe_jakarta/Flood_Current_Depth_Jakarta_geographic.asc",
        "jkt-flood-current",
        "hazard",
        "flood",
    ),
    (
        "inasafe_jakarta/Flood_Design_Depth_Jakarta_geographic.asc",
        "jkt-flood-design",
        "hazard",
        "flood",
    ),
    ("inasafe_jakarta/Population_Jakarta_geographic.asc", "jkt-population-hkv", "exposure", None),
    ("population_jakarta_sp2010/populaiton_jakarta.tif", "jkt-population-sp2010", "exposure", None),
    ("inasafe_merapi/pop_merapi_clip.tif", "merapi-population", "exposure", None),
    ("inasafe_jakarta/people_jakarta_clip.tif", "jkt-people-clip", "exposure", None),
]


def test_real_rasters_import_as_cogs(
    shared_data: Path,
    client,
    auth_headers: Callable[[str], dict[str, str]],
    database_url: str,
    data_dir: Path,
) -> None:
    headers = auth_headers("coordinator")
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "SIAGA_STORAGE_DATA_DIR": str(data_dir)}
    layers = {}
    for i, (rel, name, role, hazard) in enumerate(RASTERS):
        path = shared_data / "real" / rel
        if i % 2 == 0:  # half through the API (an .asc goes with its .prj), half through the CLI
            parts = [path] + ([path.with_suffix(".prj")] if path.suffix == ".asc" else [])
            form = {"name": name, "role": role, **({"hazard": hazard} if hazard else {})}
            r = client.post(
                "/api/v1/hazard-layers",
                data=form,
                headers=headers,
                files=[("file", (p.name, p.read_bytes())) for p in parts],
            )
            assert r.status_code == 201, r.text
            layers[rel] = r.json()["layer"]
        else:
            args = ["hazards", "import", str(path), "--name", name, "--role", role, "--json"]
            if hazard:
                args += ["--hazard", hazard]
            result = runner.invoke(cli_app, args, env=env)
            assert result.exit_code == 0, result.output
            layers[rel] = json.loads(result.stdout)["layer"]

    for rel, layer in layers.items():
        with rasterio.open(shared_data / "real" / rel) as src:
            band = src.read(1, masked=True).astype("float64")
            width, height = src.width, src.height
        meta = layer["raster_meta"]
        assert meta["crs"] == "EPSG:4326", rel
        assert (meta["width"], meta["height"]) == (width, height), rel
        assert meta["stats"]["valid_count"] == int(band.count()), rel
        assert meta["stats"]["sum"] == pytest.approx(float(band.sum()), rel=1e-9), rel
        cog = data_dir / layer["raster_path"]
        with rasterio.open(cog) as out:
            assert out.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG", rel
            assert np.allclose(out.read(1, masked=True).filled(0), band.filled(0)), rel
        assert (layer["role"] == "exposure") == (layer["classification"] == {}), rel

    sp2010 = layers["population_jakarta_sp2010/populaiton_jakarta.tif"]
    assert sp2010["raster_meta"]["stats"]["sum"] == pytest.approx(9_359_665, abs=1)
    assert (
        layers["inasafe_jakarta/Flood_Current_Depth_Jakarta_geographic.asc"]["classification"][
            "name"
        ]
        == "flood_depth"
    )
