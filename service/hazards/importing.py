"""Hazard files -> validated zones or raster metadata; conversion of rasters to COG.

No database work here: the service calls these before it writes anything.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import rasterio.io
import rasterio.shutil
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds

from service.errors import InvalidFile
from service.geochecks import GeometryLimits, checked_wgs84, limit_vertices
from service.geoio import (
    RASTER_SUFFIXES,
    VECTOR_SUFFIXES,
    attributes,
    check_not_empty,
    clean_polygons,
    field_names,
    find_column,
    gdal_reason,
    listing,
    read_vector,
    zip_members,
)
from service.hazards.schemes import Scheme, categorise, class_index

WHOLE_READ_CELLS = 16_000_000
PRIMARY_SUFFIXES = (*VECTOR_SUFFIXES, *RASTER_SUFFIXES)
RASTER_HINT = (
    "upload a GeoTIFF (.tif), or an ESRI ASCII grid (.asc) together with its .prj "
    "(both files, or one zip holding both)"
)


def primary_file(paths: Sequence[Path], *, label: str) -> Path:
    """The main file among those uploaded together (e.g. the .asc beside its .prj)."""
    if not paths:
        raise InvalidFile("no file was uploaded; send the file in the multipart field 'file'")
    main = [p for p in paths if p.suffix.lower() in PRIMARY_SUFFIXES]
    if len(main) == 1:
        return main[0]
    if not main:
        names = ", ".join(p.name for p in paths)
        raise InvalidFile(
            f"{label}: none of the uploaded files ({names}) is a layer file; "
            f"send a .tif, .asc (+ .prj), .geojson, .gpkg or a zipped Shapefile"
        )
    raise InvalidFile(
        f"{label}: several layer files were uploaded together ({', '.join(p.name for p in main)}); "
        "import one layer at a time"
    )


def guess_kind(path: Path, *, label: str) -> str:
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return "raster"
    if suffix == ".zip":
        members = [m.lower() for m in zip_members(path, label=label)]
        if any(m.endswith(RASTER_SUFFIXES) for m in members) and not any(
            m.endswith(".shp") for m in members
        ):
            return "raster"
    return "zones"


# ---------------------------------------------------------------------------- zones


@dataclass(frozen=True)
class ZoneRows:
    classes: list[str]
    intensity: list[float | None]
    severity: list[float]
    properties: list[dict[str, object]]
    geoms: np.ndarray
    repaired: list[int]  # 1-based feature numbers
    simplified: list[int]  # 1-based feature numbers simplified to the vertex limit
    skipped: int  # threshold zones below the first class
    class_field: str
    intensity_field: str | None
    bounds: tuple[float, float, float, float]

    @property
    def class_counts(self) -> dict[str, int]:
        return dict(Counter(self.classes))


def _class_field(frame: pd.DataFrame, scheme: Scheme, wanted: str | None, label: str) -> str:
    if wanted:
        found = find_column(frame, wanted)
        if found is None:
            raise InvalidFile(
                f"{label} has no field {wanted!r} (given as the class field); "
                f"fields in the file: {field_names(frame)}"
            )
        return found
    for candidate in scheme.default_fields:
        found = find_column(frame, candidate)
        if found is not None:
            return found
    raise InvalidFile(
        f"{label}: which field holds the hazard class? None of {', '.join(scheme.default_fields)} "
        f"is present; name it with --class-field (form field class_field); "
        f"fields in the file: {field_names(frame)}"
    )


def _numbers(frame: pd.DataFrame, column: str, label: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = [
        f"feature {i + 1} ({frame[column].iloc[i]!r})"
        for i in np.flatnonzero(np.isnan(values) & frame[column].notna().to_numpy())
    ]
    if bad:
        raise InvalidFile(
            f"{label}: field {column!r} must be numeric but {listing(bad)} is not; "
            "fix those values or choose another field"
        )
    return values


@dataclass(frozen=True)
class _Classified:
    """Each feature's class, by the scheme: which features are kept, and their intensity."""

    keep: np.ndarray  # bool per feature; threshold schemes drop values below the first class
    classes: list[str]  # per kept feature
    severities: list[float]  # per kept feature
    intensity: np.ndarray | None  # per feature; None: the severity stands in
    intensity_field: str | None


def _check_class_map(scheme: Scheme, class_map: Mapping[str, str] | None) -> None:
    if not class_map:
        return
    unknown_targets = sorted(set(class_map.values()) - set(scheme.class_names))
    if unknown_targets:
        raise InvalidFile(
            f"class_map maps to {listing(unknown_targets)}, which scheme {scheme.name} does "
            f"not have; its classes are: {', '.join(scheme.class_names)}"
        )


def _classify_categories(
    frame: pd.DataFrame,
    scheme: Scheme,
    field_name: str,
    *,
    class_map: Mapping[str, str] | None,
    intensity_field: str | None,
    label: str,
) -> _Classified:
    raw = frame[field_name].tolist()
    result = categorise(scheme, raw, class_map)
    if result.unknown:
        counts = Counter(
            str(v) if v is not None else "<empty>"
            for v, c in zip(raw, result.classes, strict=True)
            if c is None
        )
        shown = [f"{v!r} ({counts.get(v, 0)} features)" for v in result.unknown]
        example = result.unknown[0]
        raise InvalidFile(
            f"{label}: field {field_name!r} has values that scheme {scheme.name} does not "
            f"know: {listing(shown)}. Map each to one of {', '.join(scheme.class_names)} "
            f"with --class-map '{example}={scheme.class_names[-1]}' (API form field "
            f"class_map, JSON object), or choose another --scheme / --class-field"
        )
    classes = [str(c) for c in result.classes]
    intensity: np.ndarray | None = None
    if intensity_field:
        column = find_column(frame, intensity_field)
        if column is None:
            raise InvalidFile(
                f"{label} has no field {intensity_field!r} (given as the intensity field); "
                f"fields in the file: {field_names(frame)}"
            )
        intensity = _numbers(frame, column, label)
    return _Classified(
        keep=np.ones(len(frame), dtype=bool),
        classes=classes,
        severities=[scheme.severity_of(c) for c in classes],
        intensity=intensity,
        intensity_field=intensity_field,
    )


def _classify_thresholds(
    frame: pd.DataFrame, scheme: Scheme, field_name: str, *, label: str
) -> _Classified:
    values = _numbers(frame, field_name, label)
    index = class_index(scheme, values)
    keep = index >= 0
    if not keep.any():
        raise InvalidFile(
            f"{label}: every value of field {field_name!r} is below the first class of "
            f"scheme {scheme.name} (from {scheme.classes[0].lower:g} {scheme.unit or ''}); "
            "check the field and the unit"
        )
    return _Classified(
        keep=keep,
        classes=[scheme.classes[i].name for i in index[keep]],
        severities=[scheme.classes[i].severity for i in index[keep]],
        intensity=values,
        intensity_field=field_name,
    )


def read_zones(
    path: Path,
    *,
    scheme: Scheme,
    label: str,
    class_field: str | None = None,
    class_map: Mapping[str, str] | None = None,
    intensity_field: str | None = None,
    layer: str | None = None,
    limits: GeometryLimits | None = None,
) -> ZoneRows:
    frame = read_vector(path, label=label, layer=layer)
    names = [f"feature {i + 1}" for i in range(len(frame))]
    frame = checked_wgs84(frame, label=label, names=names, limits=limits or GeometryLimits())
    field_name = _class_field(frame, scheme, class_field, label)
    _check_class_map(scheme, class_map)
    if scheme.type == "categorical":
        classified = _classify_categories(
            frame,
            scheme,
            field_name,
            class_map=class_map,
            intensity_field=intensity_field,
            label=label,
        )
    else:
        classified = _classify_thresholds(frame, scheme, field_name, label=label)
    keep = classified.keep

    cleaned = clean_polygons(frame.geometry, label=label, feature_names=names)
    all_geoms, simplified = limit_vertices(
        cleaned.geoms, label=label, names=names, limits=limits or GeometryLimits()
    )
    extra = [str(c) for c in frame.columns if c != frame.geometry.name]
    props = attributes(frame, extra)
    kept = np.flatnonzero(keep)
    severities = classified.severities
    properties = [{**props[i], "severity": s} for i, s in zip(kept, severities, strict=True)]
    intensities: list[float | None]
    if classified.intensity is None:
        intensities = list(severities)
    else:
        intensities = [None if math.isnan(v) else float(v) for v in classified.intensity[keep]]
    minx, miny, maxx, maxy = (float(v) for v in frame.geometry[keep].total_bounds)
    return ZoneRows(
        classes=classified.classes,
        intensity=intensities,
        severity=severities,
        properties=properties,
        geoms=all_geoms[keep],
        repaired=[i + 1 for i in cleaned.repaired],
        simplified=[i + 1 for i in simplified],
        skipped=int((~keep).sum()),
        class_field=field_name,
        intensity_field=classified.intensity_field,
        bounds=(minx, miny, maxx, maxy),
    )


# --------------------------------------------------------------------------- rasters


@dataclass(frozen=True)
class RasterInfo:
    source: str  # GDAL path to read
    meta: dict[str, Any] = field(default_factory=dict)
    bounds_4326: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def raster_source(path: Path, *, label: str) -> str:
    check_not_empty(path, label=label)
    if path.suffix.lower() != ".zip":
        return str(path)
    members = zip_members(path, label=label)
    rasters = [m for m in members if m.lower().endswith(RASTER_SUFFIXES)]
    if len(rasters) != 1:
        raise InvalidFile(
            f"{label} should hold exactly one raster (.tif or .asc with its .prj), "
            f"it holds: {listing(members) or 'nothing'}"
        )
    return f"/vsizip/{path}/{rasters[0]}"


def _stats(src: rasterio.io.DatasetReader) -> dict[str, float | int | None]:
    """Band-1 statistics over valid cells, block by block so large rasters fit in memory."""
    count, total, low, high = 0, 0.0, math.inf, -math.inf
    # Small rasters in one read (line-based formats like .asc have one-row blocks).
    whole = src.width * src.height <= WHOLE_READ_CELLS
    windows = [None] if whole else [w for _, w in src.block_windows(1)]
    for window in windows:
        data = np.ma.masked_invalid(src.read(1, window=window, masked=True).astype("float64"))
        n = int(data.count())
        if n:
            count += n
            total += float(data.sum())
            low = min(low, float(data.min()))
            high = max(high, float(data.max()))
    if count == 0:
        return {"valid_count": 0, "min": None, "max": None, "mean": None, "sum": None}
    return {"valid_count": count, "min": low, "max": high, "mean": total / count, "sum": total}


def inspect_raster(path: Path, *, label: str) -> RasterInfo:
    """Open, check and describe a raster (band 1 statistics over valid cells)."""
    source = raster_source(path, label=label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(source) as src:
                if src.crs is None:
                    hint = (
                        "upload its .prj beside the .asc with the same base name (or zip both)"
                        if source.lower().endswith(".asc")
                        else "set one (`gdal_edit.py -a_srs EPSG:4326 FILE.tif`) and upload again"
                    )
                    raise InvalidFile(f"{label} has no coordinate reference system; {hint}")
                if src.count < 1 or src.width < 1 or src.height < 1:
                    raise InvalidFile(f"{label} has no raster cells")
                bounds = tuple(src.bounds)
                try:
                    bounds_4326 = transform_bounds(src.crs, "EPSG:4326", *bounds, densify_pts=21)
                except Exception as exc:  # PROJ cannot transform this CRS
                    raise InvalidFile(
                        f"{label}: its CRS cannot be transformed to EPSG:4326 ({exc}); "
                        "reproject it first"
                    ) from exc
                epsg = src.crs.to_epsg()
                meta: dict[str, Any] = {
                    "crs": f"EPSG:{epsg}" if epsg else src.crs.to_wkt(),
                    "transform": list(src.transform)[:6],
                    "width": src.width,
                    "height": src.height,
                    "count": src.count,
                    "nodata": None if src.nodata is None or math.isnan(src.nodata) else src.nodata,
                    "nodata_is_nan": src.nodata is not None and math.isnan(src.nodata),
                    "dtype": src.dtypes[0],
                    "bounds": list(bounds),
                    "res": list(src.res),
                    "driver_in": src.driver,
                    "stats": _stats(src),
                }
    except RasterioIOError as exc:
        reason = gdal_reason(exc, source, label)
        raise InvalidFile(f"{label} is not a readable raster ({reason}); {RASTER_HINT}") from exc
    return RasterInfo(source=source, meta=meta, bounds_4326=tuple(bounds_4326))


def write_cog(source: str, dest: Path) -> None:
    """Copy any GDAL raster to a Cloud-Optimized GeoTIFF (deflate, internal overviews)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rasterio.shutil.copy(
            source,
            str(dest),
            driver="COG",
            COMPRESS="DEFLATE",
            BLOCKSIZE="512",
            OVERVIEWS="AUTO",
            BIGTIFF="IF_SAFER",
        )
