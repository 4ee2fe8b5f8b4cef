"""Bad import input: a clear 4xx naming the problem, and nothing written (database, data dir)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import LineString, Point
from sqlalchemy import Engine, text

from tests.geobuilders import (
    community_rows,
    square,
    write_ascii_grid,
    write_geojson,
    write_raster,
    write_zipped_shapefile,
)

Files = list[tuple[str, tuple[str, bytes]]]


def snapshot(engine: Engine, data_dir: Path) -> dict[str, Any]:
    with engine.connect() as conn:
        db = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM communities), "
                "(SELECT coalesce(max(updated_at)::text, '') FROM communities), "
                "(SELECT md5(coalesce(string_agg(code || name || ST_AsText(geom), ',' "
                "ORDER BY code), '')) FROM communities), "
                "(SELECT count(*) FROM hazard_layers), (SELECT count(*) FROM hazard_zones)"
            )
        ).one()
    files = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*"))
    return {"db": tuple(db), "files": files}


def geojson_bytes(tmp: Path, rows: list[dict[str, Any]]) -> bytes:
    return write_geojson(tmp / "f.geojson", rows).read_bytes()


def fc(features: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def feature(props: dict[str, Any], geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _poly(i: int) -> dict[str, Any]:
    return square(i, 5).__geo_interface__


# Each case: (id, builder(tmp) -> files, form, expected status, phrases the message must hold)
COMMUNITY_CASES: list[tuple[str, Callable[[Path], Files], dict[str, str], int, list[str]]] = [
    (
        "not-geo",
        lambda t: [("file", ("notes.geojson", b"hello, this is not GeoJSON"))],
        {},
        400,
        ["notes.geojson", "is not a readable geo file", "GeoPackage"],
    ),
    (
        "empty",
        lambda t: [("file", ("desa.geojson", b""))],
        {},
        400,
        ["desa.geojson", "is empty", "0 bytes"],
    ),
    (
        "no-features",
        lambda t: [("file", ("desa.geojson", fc([])))],
        {},
        400,
        ["desa.geojson", "contains no features"],
    ),
    (
        "no-geometry",
        lambda t: [
            (
                "file",
                (
                    "desa.geojson",
                    fc(
                        [
                            feature({"kode": "72.71.01.1001", "nama": "A"}, None),
                            feature({"kode": "72.71.01.1002", "nama": "B"}, None),
                        ]
                    ),
                ),
            )
        ],
        {},
        400,
        ["desa.geojson", "has no geometry"],
    ),
    (
        "some-without-geometry",
        lambda t: [
            (
                "file",
                (
                    "desa.geojson",
                    fc(
                        [
                            feature({"kode": "72.71.01.1001", "nama": "A"}, _poly(0)),
                            feature({"kode": "72.71.01.1002", "nama": "B"}, None),
                        ]
                    ),
                ),
            )
        ],
        {},
        400,
        ["desa.geojson", "feature 2 (code 72.71.01.1002)", "no geometry"],
    ),
    (
        "points",
        lambda t: [
            (
                "file",
                ("desa.geojson", geojson_bytes(t, community_rows(3, geometry=Point(119.9, -0.9)))),
            )
        ],
        {},
        400,
        ["desa.geojson", "polygons are needed", "feature 1 (code 72.71.01.1001) is a Point"],
    ),
    (
        "lines",
        lambda t: [
            (
                "file",
                (
                    "desa.geojson",
                    geojson_bytes(
                        t,
                        [
                            *community_rows(1),
                            *community_rows(
                                1,
                                kode="72.71.01.1009",
                                geometry=LineString([(119.9, -0.9), (119.91, -0.9)]),
                            ),
                        ],
                    ),
                ),
            )
        ],
        {},
        400,
        ["feature 2 (code 72.71.01.1009) is a LineString"],
    ),
    (
        "missing-code",
        lambda t: [
            (
                "file",
                (
                    "desa.geojson",
                    fc(
                        [
                            feature({"kode": "72.71.01.1001", "nama": "A"}, _poly(0)),
                            feature({"kode": None, "nama": "B"}, _poly(1)),
                            feature({"kode": " ", "nama": "C"}, _poly(2)),
                        ]
                    ),
                ),
            )
        ],
        {},
        400,
        ["desa.geojson", "feature 2, feature 3", "no code", "'kode'"],
    ),
    (
        "duplicate-codes",
        lambda t: [
            (
                "file",
                (
                    "desa.geojson",
                    fc(
                        [
                            feature({"kode": "72.71.01.1001", "nama": "A"}, _poly(0)),
                            feature({"kode": "72.71.01.1001", "nama": "B"}, _poly(1)),
                        ]
                    ),
                ),
            )
        ],
        {},
        400,
        ["desa.geojson", "duplicate codes", "72.71.01.1001 (2x)"],
    ),
    (
        "no-code-field",
        lambda t: [
            (
                "file",
                (
                    "desa.geojson",
                    fc(
                        [
                            feature({"id_desa": "72.71.01.1001", "nama": "A"}, _poly(0)),
                        ]
                    ),
                ),
            )
        ],
        {},
        400,
        ["desa.geojson", "no code field 'kode'", "--code-field", "id_desa"],
    ),
    (
        "mapped-field-missing",
        lambda t: [("file", ("desa.geojson", geojson_bytes(t, community_rows(2))))],
        {"population_field": "jumlah"},
        400,
        ["has no field 'jumlah'", "population", "nama_kab"],
    ),
    (
        "share-as-percent",
        lambda t: [("file", ("desa.geojson", geojson_bytes(t, community_rows(2, miskin=12.5))))],
        {"share_poor_field": "miskin"},
        400,
        ["feature 1 (code 72.71.01.1001)", "'miskin'", "outside 0..1", "divide by 100"],
    ),
    (
        "zip-without-shp",
        lambda t: [
            (
                "file",
                (
                    "desa.zip",
                    write_zipped_shapefile(
                        t / "desa.zip", community_rows(2), with_shp=False
                    ).read_bytes(),
                ),
            )
        ],
        {},
        400,
        ["desa.zip", "zip without a .shp", "layer.dbf"],
    ),
    (
        "not-a-zip",
        lambda t: [("file", ("desa.zip", b"PK but not really a zip"))],
        {},
        400,
        ["desa.zip", "not a valid zip"],
    ),
    (
        "too-large",
        lambda t: [("file", ("big.geojson", b" " * (6 * 1024 * 1024)))],
        {},
        413,
        ["larger than the upload limit of 5 MB", "SIAGA_API_MAX_UPLOAD_MB"],
    ),
    (
        "unknown-form-field",
        lambda t: [("file", ("desa.geojson", geojson_bytes(t, community_rows(1))))],
        {"code_feild": "kode"},
        400,
        ["unknown form field(s): code_feild", "code_field"],
    ),
    (
        "two-files",
        lambda t: [
            ("file", ("a.geojson", geojson_bytes(t, community_rows(1)))),
            ("file", ("b.geojson", geojson_bytes(t, community_rows(1)))),
        ],
        {},
        400,
        ["send one file", "got 2"],
    ),
]


@pytest.fixture
def seeded(tmp_path: Path, client, auth_headers: Callable[[str], dict[str, str]]) -> dict[str, str]:
    """A database with some communities and one hazard layer, so 'unchanged' means something."""
    headers = auth_headers("coordinator")
    body = write_geojson(tmp_path / "seed.geojson", community_rows(4)).read_bytes()
    r = client.post(
        "/api/v1/communities/import", files={"file": ("seed.geojson", body)}, headers=headers
    )
    assert r.status_code == 200, r.text
    tif = write_raster(tmp_path / "seed.tif", np.ones((3, 3), dtype="float32")).read_bytes()
    r = client.post(
        "/api/v1/hazard-layers",
        files={"file": ("seed.tif", tif)},
        data={"name": "seed", "hazard": "flood"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return headers


def _check(response, status: int, phrases: list[str]) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    for phrase in phrases:
        assert phrase in detail, f"{phrase!r} not in {detail!r}"


@pytest.mark.parametrize(
    ("build", "form", "status", "phrases"),
    [c[1:] for c in COMMUNITY_CASES],
    ids=[c[0] for c in COMMUNITY_CASES],
)
def test_bad_community_file(
    build: Callable[[Path], Files],
    form: dict[str, str],
    status: int,
    phrases: list[str],
    tmp_path: Path,
    client,
    seeded: dict[str, str],
    engine: Engine,
    data_dir: Path,
) -> None:
    before = snapshot(engine, data_dir)
    files = build(tmp_path)
    response = client.post("/api/v1/communities/import", files=files, data=form, headers=seeded)
    _check(response, status, phrases)
    assert snapshot(engine, data_dir) == before


def _zones(tmp: Path, values: list[object], field: str = "KRB", geometry: Any = None) -> bytes:
    rows = [{field: v, "geometry": geometry or square(i, 0)} for i, v in enumerate(values)]
    return write_geojson(tmp / "zones.geojson", rows).read_bytes()


def _asc_zip(tmp: Path) -> bytes:
    asc = write_ascii_grid(tmp / "grid.asc", np.ones((2, 2)), with_prj=False)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(asc, "grid.asc")
    return buf.getvalue()


HAZARD_CASES: list[tuple[str, Callable[[Path], Files], dict[str, str], int, list[str]]] = [
    (
        "raster-without-crs",
        lambda t: [
            (
                "file",
                (
                    "depth.tif",
                    write_raster(
                        t / "d.tif", np.ones((2, 2), dtype="float32"), crs=None
                    ).read_bytes(),
                ),
            )
        ],
        {"name": "x", "hazard": "flood"},
        400,
        ["depth.tif has no coordinate reference system", "gdal_edit.py -a_srs"],
    ),
    (
        "asc-without-prj",
        lambda t: [
            (
                "file",
                (
                    "grid.asc",
                    write_ascii_grid(t / "grid.asc", np.ones((2, 2)), with_prj=False).read_bytes(),
                ),
            )
        ],
        {"name": "x", "hazard": "flood"},
        400,
        ["grid.asc has no coordinate reference system", ".prj"],
    ),
    (
        "zipped-asc-without-prj",
        lambda t: [("file", ("grid.zip", _asc_zip(t)))],
        {"name": "x", "hazard": "flood"},
        400,
        ["grid.zip has no coordinate reference system"],
    ),
    (
        "unknown-classes",
        lambda t: [
            (
                "file",
                ("krb.geojson", _zones(t, ["KRB I", "Zona Merah", "Zona Kuning", "Zona Merah"])),
            )
        ],
        {"name": "x", "hazard": "volcano"},
        400,
        [
            "krb.geojson",
            "field 'KRB'",
            "'Zona Merah' (2 features)",
            "'Zona Kuning' (1 features)",
            "--class-map",
            "class_map",
            "KRB I, KRB II, KRB III",
        ],
    ),
    (
        "class-map-to-unknown-class",
        lambda t: [("file", ("krb.geojson", _zones(t, ["A"])))],
        {"name": "x", "hazard": "volcano", "class_map": '{"A": "KRB IV"}'},
        400,
        ["KRB IV", "KRB I, KRB II, KRB III"],
    ),
    (
        "no-class-field",
        lambda t: [("file", ("krb.geojson", _zones(t, ["I"], field="zona")))],
        {"name": "x", "hazard": "volcano"},
        400,
        ["--class-field", "zona"],
    ),
    (
        "zone-points",
        lambda t: [("file", ("krb.geojson", _zones(t, ["I", "II"], geometry=Point(110.4, -7.5))))],
        {"name": "x", "hazard": "volcano"},
        400,
        ["polygons are needed", "feature 1 is a Point"],
    ),
    (
        "empty",
        lambda t: [("file", ("flood.tif", b""))],
        {"name": "x", "hazard": "flood"},
        400,
        ["flood.tif is empty"],
    ),
    (
        "not-a-raster",
        lambda t: [("file", ("flood.tif", b"II*\x00garbage"))],
        {"name": "x", "hazard": "flood"},
        400,
        ["flood.tif is not a readable raster"],
    ),
    (
        "exposure-zones",
        lambda t: [("file", ("krb.geojson", _zones(t, ["I"])))],
        {"name": "x", "role": "exposure"},
        400,
        ["exposure layers must be rasters"],
    ),
    (
        "hazard-missing",
        lambda t: [("file", ("krb.geojson", _zones(t, ["I"])))],
        {"name": "x"},
        422,
        ["hazard is required"],
    ),
    (
        "bad-hazard",
        lambda t: [("file", ("krb.geojson", _zones(t, ["I"])))],
        {"name": "x", "hazard": "meteor"},
        422,
        ["hazard"],
    ),
    (
        "unknown-scheme",
        lambda t: [("file", ("krb.geojson", _zones(t, ["I"])))],
        {"name": "x", "hazard": "volcano", "scheme": "krb5"},
        400,
        ["unknown classification scheme 'krb5'", "volcano_krb"],
    ),
    (
        "too-large",
        lambda t: [("file", ("big.tif", b"\x00" * (6 * 1024 * 1024)))],
        {"name": "x", "hazard": "flood"},
        413,
        ["larger than the upload limit"],
    ),
    (
        "zip-without-layer",
        lambda t: [
            (
                "file",
                (
                    "x.zip",
                    write_zipped_shapefile(
                        t / "x.zip", community_rows(1), with_shp=False
                    ).read_bytes(),
                ),
            )
        ],
        {"name": "x", "hazard": "flood"},
        400,
        ["x.zip", "zip without a .shp"],
    ),
    (
        "no-layer-file",
        lambda t: [("file", ("x.prj", b"GEOGCS[]"))],
        {"name": "x", "hazard": "flood"},
        400,
        ["x.prj", "is a layer file"],
    ),
]


@pytest.mark.parametrize(
    ("build", "form", "status", "phrases"),
    [c[1:] for c in HAZARD_CASES],
    ids=[c[0] for c in HAZARD_CASES],
)
def test_bad_hazard_file(
    build: Callable[[Path], Files],
    form: dict[str, str],
    status: int,
    phrases: list[str],
    tmp_path: Path,
    client,
    seeded: dict[str, str],
    engine: Engine,
    data_dir: Path,
) -> None:
    before = snapshot(engine, data_dir)
    response = client.post(
        "/api/v1/hazard-layers", files=build(tmp_path), data=form, headers=seeded
    )
    _check(response, status, phrases)
    assert snapshot(engine, data_dir) == before
