"""Fixtures for the risk tests: real layers and communities loaded through the builders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from sqlalchemy.orm import Session, sessionmaker

from service.risk import cache
from tests.risk import builders


@pytest.fixture(autouse=True)
def _fresh_weights_cache() -> Iterator[None]:
    cache.clear_memory()  # ids restart in each test, so cached keys could collide
    yield
    cache.clear_memory()


@pytest.fixture
def merapi(shared_data: Path, session_factory: sessionmaker[Session], data_dir: Path) -> dict:
    """3 x 3 tiling communities over the Merapi population raster, the KRB zones, the raster."""
    d = shared_data / "real" / "inasafe_merapi"
    with rasterio.open(d / "pop_merapi_clip.tif") as ds:
        b = ds.bounds
    xs = np.linspace(b.left, b.right, 4)
    ys = np.linspace(b.bottom, b.top, 4)
    boxes = [shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(3) for j in range(3)]
    comms = gpd.GeoDataFrame(
        {
            "kode": [f"34.04.{k:02d}.2001" for k in range(9)],
            "nama": [f"Desa {k}" for k in range(9)],
        },
        geometry=boxes,
        crs=4326,
    )
    zones = gpd.read_file(d / "donut.shp")
    with session_factory() as s, s.begin():
        builders.add_communities(s, comms, share_poor=0.2)
        pop = builders.add_raster_layer(
            s, data_dir, d / "pop_merapi_clip.tif", name="pop_merapi", role="exposure"
        )
        krb = builders.add_zone_layer(
            s, zones, "KRB", name="krb_merapi", hazard="volcano", scheme=builders.KRB_SCHEME
        )
        return {
            "pop_id": pop.id,
            "krb_id": krb.id,
            "codes": list(comms.kode),
            "zones": zones,
            "pop_path": d / "pop_merapi_clip.tif",
        }


@pytest.fixture
def jakarta(
    shared_data: Path, session_factory: sessionmaker[Session], data_dir: Path, tmp_path: Path
) -> dict:
    """Jakarta kelurahan, the SP2010 population raster, and a flood depth raster on its grid."""
    kel = gpd.read_file(
        shared_data / "real" / "admin_boundaries_kepmendagri2025" / "dki_jakarta_kelurahan.geojson"
    )
    pop_src = shared_data / "real" / "population_jakarta_sp2010" / "populaiton_jakarta.tif"
    with rasterio.open(pop_src) as ds:
        transform, h, w = ds.transform, ds.height, ds.width
    # A smooth depth field: deep in the north (the coast), dry in the south.
    rows = np.arange(h)[:, None] / h
    cols = np.arange(w)[None, :] / w
    depth = (2.2 * (1 - rows) ** 2 + 0.3 * np.sin(6 * cols) - 0.2).astype("float32")
    depth_path = builders.write_raster(tmp_path / "depth.tif", depth, transform, nodata=-9999.0)
    with session_factory() as s, s.begin():
        builders.add_communities(s, kel[["kode", "nama", "geometry"]])
        pop = builders.add_raster_layer(s, data_dir, pop_src, name="pop_jakarta", role="exposure")
        flood = builders.add_raster_layer(
            s,
            data_dir,
            depth_path,
            name="flood_depth_jkt",
            hazard="flood",
            scheme=builders.FLOOD_SCHEME,
            unit="m",
        )
        return {
            "pop_id": pop.id,
            "flood_id": flood.id,
            "depth_path": depth_path,
            "codes": list(kel.kode),
        }
