"""Earthquake shaking intensity (MMI) from magnitude, depth and epicentre: pure numpy.

Intensity prediction equation: Allen, T.I., Wald, D.J. and Worden, C.B. (2012), "Intensity
attenuation for active crustal regions", Journal of Seismology 16, 409-433,
doi:10.1007/s10950-012-9278-7 - the hypocentral-distance form (their eq. 4, table 2):

    MMI = c0 + c1*M + c2*ln(sqrt(R^2 + Rm^2)) + S,   Rm = m1 + m2*exp(M - 5)
    S = 0 for R <= 50 km,  S = c4*ln(R/50) beyond,   R = hypocentral distance (km)
    c0 = 2.085, c1 = 1.428, c2 = -1.402, c4 = 0.078, m1 = -0.209, m2 = 2.042 (sigma ~0.7)

It was fitted on global active-crust data including Indonesian events, and USGS ShakeMap
uses this family of equations where no observations exist. It ignores site amplification
and fault extent (a point source), so it underestimates near long ruptures; a ShakeMap
grid, when one arrives, replaces the estimate.
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod
from shapely.geometry import Polygon

C0, C1, C2, C4, M1, M2 = 2.085, 1.428, -1.402, 0.078, -0.209, 2.042
EARTH_RADIUS_KM = 6371.0088
MMI_FLOOR, MMI_CEILING = 1.0, 12.0
METHOD = "ipe:allen2012"
_GEOD = Geod(ellps="WGS84")


def allen2012_mmi(magnitude: float, hypo_km: ArrayLike) -> NDArray[np.float64]:
    """MMI at hypocentral distance(s) `hypo_km` for moment magnitude `magnitude`."""
    r = np.maximum(np.asarray(hypo_km, dtype=np.float64), 0.0)
    rm = M1 + M2 * math.exp(magnitude - 5.0)
    mmi = C0 + C1 * magnitude + C2 * np.log(np.sqrt(r**2 + rm**2))
    far = r > 50.0
    mmi = np.where(far, mmi + C4 * np.log(np.where(far, r, 50.0) / 50.0), mmi)
    return np.clip(mmi, MMI_FLOOR, MMI_CEILING)


def haversine_km(lon0: float, lat0: float, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
    lam0, phi0 = math.radians(lon0), math.radians(lat0)
    lam, phi = (
        np.radians(np.asarray(lon, dtype=np.float64)),
        np.radians(np.asarray(lat, dtype=np.float64)),
    )
    a = np.sin((phi - phi0) / 2) ** 2 + math.cos(phi0) * np.cos(phi) * np.sin((lam - lam0) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def mmi_at_points(
    *,
    magnitude: float,
    depth_km: float | None,
    lon: float,
    lat: float,
    points_lon: ArrayLike,
    points_lat: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(MMI, epicentral distance km) at each point."""
    epi = haversine_km(lon, lat, points_lon, points_lat)
    hypo = np.sqrt(epi**2 + float(depth_km or 0.0) ** 2)
    return allen2012_mmi(magnitude, hypo), epi


def radius_for_mmi(
    *, magnitude: float, depth_km: float | None, mmi: float, max_km: float = 2000.0
) -> float:
    """Epicentral distance (km) where the estimate falls to `mmi`; 0 if never reached."""
    depth = float(depth_km or 0.0)

    def at(d: float) -> float:
        return float(allen2012_mmi(magnitude, math.hypot(d, depth)))

    if at(0.0) < mmi:
        return 0.0
    if at(max_km) >= mmi:
        return max_km
    lo, hi = 0.0, max_km
    for _ in range(60):  # MMI falls monotonically with distance: bisect
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if at(mid) >= mmi else (lo, mid)
    return lo


def mmi_grid(
    *,
    magnitude: float,
    depth_km: float | None,
    lon: float,
    lat: float,
    cell_deg: float = 0.01,
    min_mmi: float = 4.0,
    max_radius_km: float = 400.0,
) -> tuple[NDArray[np.float32], Affine]:
    """A north-up MMI raster around the epicentre, out to where MMI falls to `min_mmi`.

    The grid's edges sit on multiples of `cell_deg`, so estimates of different events
    share one lattice (and the risk engine's cached coverage weights where sizes match).
    """
    radius = min(
        max(
            radius_for_mmi(magnitude=magnitude, depth_km=depth_km, mmi=min_mmi),
            2 * cell_deg * 111.0,
        ),
        max_radius_km,
    )
    dlat = radius / 111.32
    dlon = radius / (111.32 * max(math.cos(math.radians(lat)), 0.05))
    west = math.floor((lon - dlon) / cell_deg) * cell_deg
    east = math.ceil((lon + dlon) / cell_deg) * cell_deg
    south = math.floor((lat - dlat) / cell_deg) * cell_deg
    north = math.ceil((lat + dlat) / cell_deg) * cell_deg
    width = max(round((east - west) / cell_deg), 1)
    height = max(round((north - south) / cell_deg), 1)
    transform = Affine(cell_deg, 0.0, west, 0.0, -cell_deg, north)
    cols = west + (np.arange(width) + 0.5) * cell_deg
    rows = north - (np.arange(height) + 0.5) * cell_deg
    grid_lon, grid_lat = np.meshgrid(cols, rows)
    mmi, _ = mmi_at_points(
        magnitude=magnitude,
        depth_km=depth_km,
        lon=lon,
        lat=lat,
        points_lon=grid_lon,
        points_lat=grid_lat,
    )
    return mmi.astype(np.float32), transform


def sample_raster(
    array: NDArray[np.floating],
    transform: Affine,
    lons: ArrayLike,
    lats: ArrayLike,
    nodata: float | None = None,
) -> NDArray[np.float64]:
    """Value of the cell containing each point (NaN outside the grid or on nodata)."""
    if transform.b != 0 or transform.d != 0:
        raise ValueError("sample_raster needs a north-up grid (no rotation)")
    x, y = np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)
    cols = np.floor((x - transform.c) / transform.a).astype(int)
    rows = np.floor((y - transform.f) / transform.e).astype(int)
    h, w = array.shape
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    out = np.full(cols.shape, np.nan)
    out[inside] = array[rows[inside], cols[inside]]
    if nodata is not None:
        out[out == nodata] = np.nan
    return out


def circle(lon: float, lat: float, radius_km: float, segments: int = 64) -> Polygon:
    """A geodesic circle (WGS84) as a lon/lat polygon."""
    az = np.linspace(0.0, 360.0, segments, endpoint=False)
    lons, lats, _ = _GEOD.fwd(
        np.full(segments, lon), np.full(segments, lat), az, np.full(segments, radius_km * 1000)
    )
    return Polygon(zip(lons, lats, strict=True))
