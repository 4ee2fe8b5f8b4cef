"""Builders for tiny geo files with known answers (communities, zones, rasters)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from shapely.geometry import Polygon, box

# A 0.01° cell near Palu; areas are known to within the equal-area projection's accuracy.
ORIGIN = (119.85, -0.88)
STEP = 0.01


def square(col: int, row: int, size: float = STEP) -> Polygon:
    x0 = ORIGIN[0] + col * STEP
    y0 = ORIGIN[1] + row * STEP
    return box(x0, y0, x0 + size, y0 + size)


def bowtie(col: int, row: int) -> Polygon:
    """A self-intersecting (invalid) polygon; make_valid turns it into two triangles."""
    x0 = ORIGIN[0] + col * STEP
    y0 = ORIGIN[1] + row * STEP
    return Polygon([(x0, y0), (x0 + STEP, y0 + STEP), (x0 + STEP, y0), (x0, y0 + STEP)])


def community_rows(n: int = 3, **overrides: Any) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        row = {
            "kode": f"72.71.01.{1001 + i}",
            "nama": f"Kelurahan {i + 1}",
            "level": "desa_kelurahan",
            "kode_prov": "72",
            "kode_kab": "72.71",
            "kode_kec": "72.71.01",
            "nama_prov": "Sulawesi Tengah",
            "nama_kab": "Kota Palu",
            "nama_kec": "Palu Barat",
            "geometry": square(i, 0),
        }
        row.update(overrides)
        rows.append(row)
    return rows


def frame(rows: list[dict[str, Any]], crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def write_geojson(path: Path, rows: list[dict[str, Any]]) -> Path:
    frame(rows).to_file(path, driver="GeoJSON")
    return path


def write_gpkg(path: Path, rows: list[dict[str, Any]], crs: str = "EPSG:4326") -> Path:
    frame(rows).to_crs(crs).to_file(path, driver="GPKG")
    return path


def write_zipped_shapefile(
    path: Path, rows: list[dict[str, Any]], crs: str = "EPSG:4326", with_shp: bool = True
) -> Path:
    folder = path.parent / (path.stem + "_parts")
    folder.mkdir()
    shp = folder / "layer.shp"
    frame(rows).to_crs(crs).to_file(shp, driver="ESRI Shapefile")
    with zipfile.ZipFile(path, "w") as zf:
        for part in folder.iterdir():
            if part.suffix == ".shp" and not with_shp:
                continue
            zf.write(part, part.name)
    return path


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:4326",
    origin: tuple[float, float] = (119.85, -0.85),
    res: float = 0.001,
    nodata: float | None = -9999.0,
) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=Affine(res, 0.0, origin[0], 0.0, -res, origin[1]),
        nodata=nodata,
    ) as dst:
        dst.write(data, 1)
    return path


def write_ascii_grid(path: Path, data: np.ndarray, *, with_prj: bool = True) -> Path:
    """An ESRI ASCII grid and (optionally) its .prj in the old ESRI style InaSAFE files use."""
    rows, cols = data.shape
    lines = [
        f"ncols {cols}",
        f"nrows {rows}",
        "xllcorner 106.8",
        "yllcorner -6.2",
        "cellsize 0.001",
        "NODATA_value -9999",
    ]
    lines += [" ".join(f"{v:g}" for v in row) for row in data]
    path.write_text("\n".join(lines) + "\n")
    if with_prj:
        path.with_suffix(".prj").write_text(
            "Projection    GEOGRAPHIC\nDatum         WGS84\nSpheroid      WGS84\n"
            "Units         DD\nZunits        NO\n"
        )
    return path
