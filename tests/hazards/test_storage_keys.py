"""Raster files are keyed by layer id and version: names that slug alike never share a file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from service.hazards.storage import pending_file, raster_relpath
from service.risk.service import recompute_layer
from service.settings import Settings
from tests.geobuilders import community_rows, square, write_geojson, write_raster

PALU = (119.84, -0.86)  # grid origin covering the three Palu squares of community_rows
JAKARTA = (106.80, -6.10)


def _upload(
    client: TestClient, headers: dict[str, str], path: Path, **form: str
) -> dict[str, object]:
    with path.open("rb") as fh:
        resp = client.post(
            "/api/v1/hazard-layers",
            files={"file": (path.name, fh, "image/tiff")},
            data=form,
            headers=headers,
        )
    assert resp.status_code == 201, resp.text
    return resp.json()["layer"]


def test_names_that_slug_alike_keep_their_own_files_and_scores(
    tmp_path: Path,
    client: TestClient,
    auth_headers: Callable[[str], dict[str, str]],
    data_dir: Path,
    settings: Settings,
    session_factory: sessionmaker[Session],
    engine: Engine,
) -> None:
    headers = auth_headers("coordinator")
    # Three Palu communities and three in Jakarta.
    jakarta = [
        {
            **row,
            "kode": f"31.71.01.{1001 + i}",
            "geometry": square(i, 0).__class__(
                [(x - 119.85 + 106.85, y + 0.88 - 6.15) for x, y in square(i, 0).exterior.coords]
            ),
        }
        for i, row in enumerate(community_rows(3))
    ]
    comm = write_geojson(tmp_path / "desa.geojson", community_rows(3) + jakarta)
    with comm.open("rb") as fh:
        resp = client.post(
            "/api/v1/communities/import", files={"file": ("desa.geojson", fh)}, headers=headers
        )
    assert resp.status_code == 200, resp.text

    depth = np.full((40, 60), 1.5, dtype="float32")  # 1.5 m over Palu
    pop_palu = np.full((40, 60), 10.0, dtype="float32")
    pop_jkt = np.full((30, 30), 99.0, dtype="float32")  # the look-alike name, in Jakarta
    layers = {
        "banjir palu": _upload(
            client,
            headers,
            write_raster(tmp_path / "a.tif", depth, origin=PALU),
            name="banjir palu",
            hazard="flood",
            unit="m",
        ),
        "pop palu": _upload(
            client,
            headers,
            write_raster(tmp_path / "b.tif", pop_palu, origin=PALU),
            name="pop palu",
            role="exposure",
        ),
        "banjir_palu": _upload(
            client,
            headers,
            write_raster(tmp_path / "c.tif", pop_jkt, origin=JAKARTA),
            name="banjir_palu",
            role="exposure",
        ),
        ".": _upload(
            client,
            headers,
            write_raster(tmp_path / "d.tif", depth * 2, origin=PALU),
            name=".",
            hazard="flood",
            unit="m",
        ),
        "..": _upload(
            client,
            headers,
            write_raster(tmp_path / "e.tif", depth * 3, origin=PALU),
            name="..",
            hazard="flood",
            unit="m",
        ),
    }
    expected = {
        "banjir palu": depth,
        "pop palu": pop_palu,
        "banjir_palu": pop_jkt,
        ".": depth * 2,
        "..": depth * 3,
    }
    paths = {name: str(layer["raster_path"]) for name, layer in layers.items()}
    assert len(set(paths.values())) == len(paths), paths
    for name, layer in layers.items():
        assert paths[name] == f"layers/{layer['id']}/v1.tif"
        with rasterio.open(data_dir / paths[name]) as cog:
            assert cog.read(1).tolist() == expected[name].tolist(), name
    # Nothing but the five files (no temporary leftovers, nothing outside the data dir).
    files = sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*.tif"))
    assert files == sorted(paths.values())

    summary = recompute_layer(
        session_factory=session_factory,
        layer_id=int(layers["banjir palu"]["id"]),
        settings=settings,
    )
    assert summary["status"] == "succeeded", summary
    with engine.connect() as conn:
        scored = conn.execute(
            text(
                "SELECT c.code, s.hazard_index FROM risk_scores s "
                "JOIN communities c ON c.id = s.community_id WHERE s.layer_id = :id ORDER BY 1"
            ),
            {"id": layers["banjir palu"]["id"]},
        ).all()
    assert [code for code, _ in scored] == [f"72.71.01.{1001 + i}" for i in range(3)]
    assert all(pop > 0 for _, pop in scored)


def test_relpath_is_the_row_id_and_version() -> None:
    assert raster_relpath(12, 3).as_posix() == "layers/12/v3.tif"


def test_pending_file_never_replaces_an_existing_file(tmp_path: Path) -> None:
    rel = raster_relpath(1, 1)
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes(b"first")
    try:
        with pending_file(tmp_path, rel, lambda dest: dest.write_bytes(b"second")):
            raise AssertionError("must not get here")
    except FileExistsError:
        pass
    assert (tmp_path / rel).read_bytes() == b"first"
    assert list((tmp_path / rel).parent.iterdir()) == [tmp_path / rel]


def test_layers_stored_under_the_old_name_keyed_paths_still_resolve(
    tmp_path: Path, session_factory: sessionmaker[Session], data_dir: Path, settings: Settings
) -> None:
    """A row written before the id scheme names `rasters/<slug>/v1.tif`: it is read as stored."""
    from service.risk.inputs import raster_file

    old = data_dir / "rasters" / "banjir-palu" / "v1.tif"
    old.parent.mkdir(parents=True)
    write_raster(old, np.ones((2, 2), dtype="float32"))
    assert raster_file(settings, "rasters/banjir-palu/v1.tif") == old
    with rasterio.open(raster_file(settings, "rasters/banjir-palu/v1.tif")) as ds:
        assert ds.read(1).sum() == 4
