"""Hazard layers made by feeds: an earthquake's MMI raster, a raster feed's new version.

Files follow the hazard-layer convention (`layers/<layer id>/v<N>.tif` under the data dir,
Cloud-Optimized GeoTIFF); a new version never overwrites an older one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from geoalchemy2.shape import from_shape
from rasterio.io import MemoryFile
from shapely.geometry import box
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.hazards import storage
from service.hazards.models import HazardLayer
from service.hazards.schemes import MMI

NODATA = -9999.0
# The mmi scheme (VI / VII / VIII+) of the hazards domain.
MMI_CLASSIFICATION: dict[str, Any] = MMI.to_dict()


def next_version(session: Session, name: str) -> int:
    current = session.scalar(select(func.max(HazardLayer.version)).where(HazardLayer.name == name))
    return int(current or 0) + 1


def write_array_cog(array: np.ndarray, transform: Affine, dest: Path) -> None:
    """A float32 single-band EPSG:4326 array to a Cloud-Optimized GeoTIFF at `dest`."""
    data = np.where(np.isfinite(array), array, NODATA).astype(np.float32)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": transform,
        "nodata": NODATA,
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(data, 1)
            rasterio.shutil.copy(
                mem.name,
                str(dest),
                driver="COG",
                COMPRESS="DEFLATE",
                BLOCKSIZE="512",
                OVERVIEWS="AUTO",
            )


def raster_meta(array: np.ndarray, transform: Affine, **extra: Any) -> dict[str, Any]:
    h, w = array.shape
    west, north = transform.c, transform.f
    east, south = west + transform.a * w, north + transform.e * h
    valid = array[np.isfinite(array)]
    return {
        "crs": "EPSG:4326",
        "transform": [transform.a, transform.b, transform.c, transform.d, transform.e, transform.f],
        "width": w,
        "height": h,
        "count": 1,
        "nodata": NODATA,
        "dtype": "float32",
        "bounds": [west, south, east, north],
        "res": [transform.a, -transform.e],
        "format": "COG",
        "stats": {
            "min": float(valid.min()) if valid.size else None,
            "max": float(valid.max()) if valid.size else None,
            "mean": float(valid.mean()) if valid.size else None,
        },
        **extra,
    }


@contextmanager
def raster_layer_version(
    *,
    session: Session,
    data_dir: Path,
    name: str,
    hazard: str,
    array: np.ndarray,
    transform: Affine,
    classification: dict[str, Any],
    title: str | None,
    source: str,
    event_id: int | None = None,
    valid_from: Any = None,
    unit: str | None = None,
    properties: dict[str, Any] | None = None,
) -> Iterator[HazardLayer]:
    """Write the raster and add a new version of layer `name`.

    The caller commits inside the block: a failed transaction removes the file again
    (the hazards domain's `pending_file` guard), a file never appears half-written.
    """
    version = next_version(session, name)
    meta = raster_meta(array, transform)
    west, south, east, north = meta["bounds"]
    layer = HazardLayer(
        name=name,
        version=version,
        role="hazard",
        hazard=hazard,
        kind="raster",
        title=title,
        source=source,
        unit=unit,
        valid_from=valid_from,
        classification=classification,
        raster_meta=meta,
        event_id=event_id,
        extent=from_shape(box(west, south, east, north), srid=4326),
        properties=properties or {},
    )
    session.add(layer)
    session.flush()  # the row's id names the file
    relpath = storage.raster_relpath(layer.id, layer.version)
    with storage.pending_file(
        data_dir, relpath, lambda dest: write_array_cog(array, transform, dest)
    ):
        layer.raster_path = relpath.as_posix()
        session.flush()
        yield layer


def read_geotiff(data: bytes) -> tuple[np.ndarray, Affine, str]:
    """A GeoTIFF body (raster feeds) -> (band 1 as float32 with NaN nodata, transform, crs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with MemoryFile(data) as mem, mem.open() as src:
            if src.crs is None:
                raise ValueError("the GeoTIFF has no coordinate reference system")
            band = src.read(1, masked=True).astype(np.float32)
            array = band.filled(np.nan)
            nodata = src.nodata
            if nodata is not None and not math.isnan(nodata):
                array[array == nodata] = np.nan
            return array, src.transform, src.crs.to_string()
