"""Reading uploaded geo files: vector sources through pyogrio, polygon clean-up to EPSG:4326.

Every failure is an `InvalidFile` whose message names the file, the feature or field, and what
to do, so the CLI and the API can pass it on unchanged.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from service.errors import InvalidFile

WGS84 = "EPSG:4326"
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb")
RASTER_SUFFIXES = (".tif", ".tiff", ".asc")
VECTOR_HINT = (
    "upload GeoJSON (.geojson), GeoPackage (.gpkg) or a zipped Shapefile "
    "(.zip holding the .shp, .shx, .dbf and .prj)"
)
# How many offending features a message lists before it says "and N more".
MAX_LISTED = 8


def listing(items: Sequence[object], limit: int = MAX_LISTED) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def zip_members(path: Path, *, label: str) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return [n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n]
    except zipfile.BadZipFile as exc:
        raise InvalidFile(f"{label} is not a valid zip archive ({exc}); {VECTOR_HINT}") from exc


def vector_source(path: Path, *, label: str) -> str:
    """The GDAL path to read: the file itself, or the one .shp (or vector file) inside a zip."""
    if path.suffix.lower() != ".zip":
        return str(path)
    members = zip_members(path, label=label)
    shps = [m for m in members if m.lower().endswith(".shp")]
    if len(shps) > 1:
        raise InvalidFile(
            f"{label} holds {len(shps)} shapefiles ({listing(shps)}); zip one layer per upload"
        )
    if shps:
        return f"/vsizip/{path}/{shps[0]}"
    others = [m for m in members if m.lower().endswith((".geojson", ".json", ".gpkg"))]
    if len(others) == 1:
        return f"/vsizip/{path}/{others[0]}"
    raise InvalidFile(
        f"{label} is a zip without a .shp file (it holds: {listing(members) or 'nothing'}); "
        "zip the .shp together with its .shx, .dbf and .prj"
    )


def check_not_empty(path: Path, *, label: str) -> None:
    if not path.is_file():
        raise InvalidFile(f"{label} was not found; check the path")
    if path.stat().st_size == 0:
        raise InvalidFile(f"{label} is empty (0 bytes); {VECTOR_HINT}")


def gdal_reason(exc: Exception, source: str, label: str) -> str:
    """GDAL's complaint, first line, without our temp paths or its driver-prefix advice."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = reason.split("; It might help")[0].split(". It might help")[0]
    return reason.replace(f"'{source}'", label).replace(source, label)[:200].rstrip(" .;")


def read_vector(path: Path, *, label: str, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file into a GeoDataFrame with at least one feature and a geometry column."""
    check_not_empty(path, label=label)
    source = vector_source(path, label=label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layers = pyogrio.list_layers(source)
            if layer is None and len(layers) > 1:
                spatial = [str(n) for n, g in layers if g is not None]
                if len(spatial) != 1:
                    names = [str(n) for n, _ in layers]
                    raise InvalidFile(
                        f"{label} has {len(layers)} layers ({listing(names)}); "
                        "name the one to import with the layer option"
                    )
                layer = spatial[0]
            frame = pyogrio.read_dataframe(source, layer=layer)
    except (DataSourceError, DataLayerError) as exc:
        reason = gdal_reason(exc, source, label)
        raise InvalidFile(f"{label} is not a readable geo file ({reason}); {VECTOR_HINT}") from exc
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.isna().all():
        if len(frame) == 0:
            raise InvalidFile(f"{label} contains no features; export the layer with its features")
        raise InvalidFile(
            f"{label} has no geometry (a table without shapes); export it with its polygons "
            f"as {VECTOR_HINT.removeprefix('upload ')}"
        )
    if len(frame) == 0:
        raise InvalidFile(f"{label} contains no features; export the layer with its features")
    return frame


def to_wgs84(frame: gpd.GeoDataFrame, *, label: str) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326; a file without CRS is accepted only if it is plainly lon/lat."""
    if frame.crs is None:
        minx, miny, maxx, maxy = frame.total_bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise InvalidFile(
                f"{label} has no coordinate reference system and its coordinates are not "
                "longitude/latitude; include the .prj file (or save as GeoPackage with its CRS)"
            )
        return frame.set_crs(WGS84)
    if frame.crs.to_epsg() == 4326:
        return frame
    return frame.to_crs(WGS84)


@dataclass(frozen=True)
class CleanPolygons:
    geoms: np.ndarray  # shapely MultiPolygons, one per feature
    repaired: list[int]  # positions of features whose geometry was repaired


def _polygonal_parts(geom: BaseGeometry) -> list[Polygon]:
    parts = shapely.get_parts(shapely.get_parts(geom))
    return [p for p in parts if isinstance(p, Polygon) and not p.is_empty]


def clean_polygons(
    geoms: gpd.GeoSeries, *, label: str, feature_names: Sequence[str]
) -> CleanPolygons:
    """Force 2D MultiPolygons: repair invalid ones with make_valid, keeping polygonal parts.

    `feature_names[i]` says how to name feature i in a message (e.g. "feature 12 (kode 72.71...)").
    """
    arr = shapely.force_2d(np.asarray(geoms.values, dtype=object))
    missing = [feature_names[i] for i, g in enumerate(arr) if g is None or g.is_empty]
    if missing:
        raise InvalidFile(
            f"{label}: {listing(missing)} {'has' if len(missing) == 1 else 'have'} no geometry; "
            "draw the boundary or remove the feature"
        )
    types = shapely.get_type_id(arr)
    polygonal = np.isin(types, (3, 6))  # Polygon, MultiPolygon
    collections = types == 7
    bad = [
        f"{feature_names[int(i)]} is a {arr[i].geom_type}"
        for i in np.flatnonzero(~polygonal & ~collections)
    ]
    if bad:
        raise InvalidFile(
            f"{label}: polygons are needed but {listing(bad)}; "
            "use a polygon layer (boundaries or zones), not points or lines"
        )
    valid = shapely.is_valid(arr)
    out = np.empty(len(arr), dtype=object)
    repaired: list[int] = []
    for i, geom in enumerate(arr):
        if valid[i] and types[i] == 6:
            out[i] = geom
            continue
        fixed = geom if valid[i] else shapely.make_valid(geom)
        parts = _polygonal_parts(fixed)
        if not parts:
            raise InvalidFile(
                f"{label}: {feature_names[i]} has no polygon area left after repairing its "
                "geometry; fix or remove that feature"
            )
        out[i] = MultiPolygon(parts)
        if not valid[i]:
            repaired.append(i)
    return CleanPolygons(geoms=out, repaired=repaired)


def area_km2(geoms: np.ndarray) -> np.ndarray:
    """Area of EPSG:4326 geometries in km², on an equal-area projection (EPSG:6933)."""
    series = gpd.GeoSeries(list(geoms), crs=WGS84).to_crs("EPSG:6933")
    return np.asarray(series.area.to_numpy() / 1e6, dtype=float)


def json_safe(value: object) -> object:
    """A JSON-serialisable copy of one attribute value (NaN -> None, numpy -> Python)."""
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None  # JSON has no NaN/Infinity
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return (value if isinstance(value, str) else str(value)).replace("\x00", "")


def attributes(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, object]]:
    """Per-row dicts of the given columns with JSON-safe values."""
    cols = [frame[c].tolist() for c in columns]
    return (
        [
            {c: json_safe(v) for c, v in zip(columns, row, strict=True)}
            for row in zip(*cols, strict=True)
        ]
        if columns
        else [{} for _ in range(len(frame))]
    )


def find_column(frame: pd.DataFrame, name: str) -> str | None:
    """The frame's column called `name`, ignoring case."""
    if name in frame.columns:
        return name
    lowered = {str(c).lower(): str(c) for c in frame.columns if c != "geometry"}
    return lowered.get(name.lower())


def field_names(frame: pd.DataFrame) -> str:
    return ", ".join(str(c) for c in frame.columns if c != frame.geometry.name) or "none"
