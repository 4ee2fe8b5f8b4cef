"""Coordinate checks for imported polygons, run before anything is written (pure, no I/O).

A boundary or zone file must hold finite coordinates that are plausible for its declared CRS,
land on the globe after reprojection to EPSG:4326, lie inside the service extent (when one is
set) and stay under a per-feature vertex limit. Each failure is an `InvalidFile` naming the
file, the features and the likely fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from service.errors import InvalidFile
from service.settings import ImportSettings

# Longitude west, latitude south, longitude east, latitude north.
Extent = tuple[float, float, float, float]
# Indonesia (about 95..141 E, 11 S..6 N) with a margin of several degrees.
INDONESIA_EXTENT: Extent = (90.0, -15.0, 145.0, 10.0)
MAX_LISTED = 8
CRS_FIX = (
    "set the CRS the coordinates are really in (include the right .prj, or "
    "`ogr2ogr -a_srs EPSG:4326 out.gpkg in.gpkg` for longitude/latitude in degrees)"
)
SWAP_FIX = (
    "latitude and longitude look swapped (x holds the latitude); swap them (QGIS: Processing > "
    "'Swap X and Y coordinates') and upload again"
)


@dataclass(frozen=True)
class GeometryLimits:
    """What an imported polygon may be; `extent=None` turns the service extent off."""

    extent: Extent | None = INDONESIA_EXTENT
    max_vertices: int = 100_000
    simplify: bool = False  # simplify features over the vertex limit instead of refusing

    @classmethod
    def of(cls, settings: ImportSettings) -> GeometryLimits:
        return cls(
            extent=settings.extent,
            max_vertices=settings.max_vertices,
            simplify=settings.simplify,
        )


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _present(geoms: np.ndarray) -> np.ndarray:
    return ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))


def check_source(
    geoms: np.ndarray, *, label: str, names: Sequence[str], projected_crs: str | None
) -> None:
    """Before reprojection: finite numbers; a projected CRS must not hold degree values."""
    present = _present(geoms)
    coords, index = shapely.get_coordinates(geoms[present], return_index=True)
    where = np.flatnonzero(present)
    bad = np.unique(index[~np.isfinite(coords).all(axis=1)])
    if len(bad):
        listed = [names[int(where[i])] for i in bad]
        raise InvalidFile(
            f"{label}: {_listing(listed)} {'has' if len(listed) == 1 else 'have'} coordinates "
            "that are not numbers (NaN or Infinity); fix or remove those vertices and upload again"
        )
    if projected_crs and len(coords):
        lon_ok = np.abs(coords[:, 0]) <= 180
        lat_ok = np.abs(coords[:, 1]) <= 90
        if bool((lon_ok & lat_ok).all()):
            raise InvalidFile(
                f"{label} declares the projected CRS {projected_crs} (metres) but every "
                "coordinate lies within ±180/±90, which looks like longitude/latitude in "
                f"degrees; the file's CRS is probably wrong: {CRS_FIX}"
            )


def _inside(bounds: np.ndarray, extent: Extent) -> np.ndarray:
    w, s, e, n = extent
    return (bounds[:, 0] >= w) & (bounds[:, 2] <= e) & (bounds[:, 1] >= s) & (bounds[:, 3] <= n)


def _swapped(bounds: np.ndarray) -> np.ndarray:
    return bounds[:, [1, 0, 3, 2]]


def check_wgs84(
    geoms: np.ndarray,
    *,
    label: str,
    names: Sequence[str],
    crs: str,
    limits: GeometryLimits,
) -> None:
    """After reprojection to EPSG:4326: on the globe, not swapped, inside the service extent."""
    present = _present(geoms)
    where = np.flatnonzero(present)
    bounds = shapely.bounds(geoms[present])
    if not len(bounds):
        return
    finite = np.isfinite(bounds).all(axis=1)
    globe = finite & _inside(bounds, (-180.0, -90.0, 180.0, 90.0))
    swapped_ok = _inside(_swapped(bounds), (-180.0, -90.0, 180.0, 90.0))
    if limits.extent is not None:
        swapped_ok &= _inside(_swapped(bounds), limits.extent)
    if not globe.all():
        off = [names[int(where[i])] for i in np.flatnonzero(~globe)]
        swap = bool(swapped_ok[~globe].all())
        raise InvalidFile(
            f"{label}: {_listing(off)} {'lies' if len(off) == 1 else 'lie'} off the globe after "
            f"reprojection from {crs} (longitude must be in -180..180, latitude in -90..90); "
            + (SWAP_FIX if swap else f"the coordinates or the declared CRS are wrong: {CRS_FIX}")
        )
    if limits.extent is None:
        return
    inside = _inside(bounds, limits.extent)
    if not inside.all():
        off = [names[int(where[i])] for i in np.flatnonzero(~inside)]
        w, s, e, n = limits.extent
        swap = bool(swapped_ok[~inside].all())
        hint = (
            SWAP_FIX
            if swap
            else "check the coordinates and the CRS of the file; if the service covers another "
            "area, set SIAGA_EXTENT (or SIAGA_EXTENT=none to turn the check off)"
        )
        raise InvalidFile(
            f"{label}: {_listing(off)} {'is' if len(off) == 1 else 'are'} outside the service "
            f"extent (longitude {w:g}..{e:g}, latitude {s:g}..{n:g}); {hint}"
        )


def limit_vertices(
    geoms: np.ndarray, *, label: str, names: Sequence[str], limits: GeometryLimits
) -> tuple[np.ndarray, list[int]]:
    """Refuse (or simplify, when allowed) features with more vertices than the limit.

    Returns the geometries and the positions of the features that were simplified.
    """
    counts = shapely.get_num_coordinates(geoms)
    over = np.flatnonzero(counts > limits.max_vertices)
    if not len(over):
        return geoms, []
    if not limits.simplify:
        listed = [f"{names[int(i)]} ({int(counts[i]):,} vertices)" for i in over]
        raise InvalidFile(
            f"{label}: {_listing(listed)} {'has' if len(listed) == 1 else 'have'} more than "
            f"{limits.max_vertices:,} vertices (SIAGA_IMPORT_MAX_VERTICES); simplify the "
            "boundary first (`ogr2ogr -simplify 0.0001 out.gpkg in.gpkg` or mapshaper), or "
            "import with simplify on (SIAGA_IMPORT_SIMPLIFY=true)"
        )
    out = geoms.copy()
    for i in over:
        simple = simplify_to(geoms[i], limits.max_vertices)
        parts = [p for p in shapely.get_parts(simple) if isinstance(p, Polygon) and not p.is_empty]
        out[i] = MultiPolygon(parts)  # GEOS may hand back a Polygon for a one-part shape
    return out, [int(i) for i in over]


def simplify_to(geom: shapely.Geometry, max_vertices: int) -> shapely.Geometry:
    """Douglas-Peucker with a growing tolerance until the shape has at most `max_vertices`."""
    minx, miny, maxx, maxy = geom.bounds
    tolerance = max(maxx - minx, maxy - miny) / 1e5 or 1e-9
    simple = geom
    for _ in range(40):
        simple = shapely.simplify(geom, tolerance, preserve_topology=True)
        if shapely.get_num_coordinates(simple) <= max_vertices:
            return simple
        tolerance *= 2
    return simple


def check_frame(
    frame: gpd.GeoDataFrame,
    *,
    label: str,
    names: Sequence[str],
    limits: GeometryLimits,
) -> None:
    """The source-side checks for a frame as read (before `to_wgs84`)."""
    crs = frame.crs
    projected = None
    if crs is not None and crs.is_projected:
        epsg = crs.to_epsg()
        projected = f"EPSG:{epsg}" if epsg else (crs.name or "a projected CRS")
    check_source(
        np.asarray(frame.geometry.values, dtype=object),
        label=label,
        names=names,
        projected_crs=projected,
    )


def crs_name(frame: gpd.GeoDataFrame) -> str:
    if frame.crs is None:
        return "longitude/latitude (no CRS declared)"
    epsg = frame.crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else str(frame.crs.name)


def checked_wgs84(
    frame: gpd.GeoDataFrame, *, label: str, names: Sequence[str], limits: GeometryLimits
) -> gpd.GeoDataFrame:
    """Check the frame as read, reproject it to EPSG:4326, check it again."""
    from service.geoio import to_wgs84  # geoio reads files; this module stays import-light

    check_frame(frame, label=label, names=names, limits=limits)
    source_crs = crs_name(frame)

    def check_lonlat(lonlat: gpd.GeoDataFrame) -> None:
        geoms = np.asarray(lonlat.geometry.values, dtype=object)
        check_wgs84(geoms, label=label, names=names, crs=source_crs, limits=limits)

    if frame.crs is None:  # taken as longitude/latitude: name swapped axes before refusing
        check_lonlat(frame)
    out = to_wgs84(frame, label=label)
    check_lonlat(out)
    return out
