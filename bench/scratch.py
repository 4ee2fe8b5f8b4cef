"""The benches' shared set-up: a scratch database, a uniform population raster."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from geoalchemy2.shape import from_shape
from shapely.geometry import box
from sqlalchemy import create_engine, make_url, text

from service.feeds.layers import write_array_cog
from service.hazards.models import HazardLayer
from service.settings import DatabaseSettings


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new database on the server DATABASE_URL names (PostGIS and migrations are the
    caller's), yielded as its URL and dropped afterwards, whatever happened."""
    server = make_url(DatabaseSettings(url=os.environ.get("DATABASE_URL", "")).url)
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def add_uniform_population(
    factory: Any,
    data_dir: Path,
    bounds: tuple[float, float, float, float],
    res: float,
    *,
    name: str = "bench-population",
    people_per_cell: float = 12.0,
) -> None:
    """Write a COG of `people_per_cell` over `bounds` (west, south, east, north) at `res`
    degrees and add it as population layer `name` v1."""
    west, south, east, north = bounds
    shape = (round((north - south) / res), round((east - west) / res))
    rel = Path(f"rasters/{name}/v1.tif")
    write_array_cog(
        np.full(shape, people_per_cell, np.float32),
        Affine(res, 0, west, 0, -res, north),
        data_dir / rel,
    )
    with factory() as s, s.begin():
        s.add(
            HazardLayer(
                name=name,
                version=1,
                role="exposure",
                kind="raster",
                unit="people",
                classification={},
                raster_path=rel.as_posix(),
                raster_meta={"crs": "EPSG:4326", "width": shape[1], "height": shape[0]},
                properties={},
                extent=from_shape(box(*bounds), srid=4326),
            )
        )
