"""Earthquake shaking intensity (MMI) from the event alone: pure numpy (docs/feeds.md, "Earthquake
shaking per community", has the equations, coefficients and the validation against ShakeMaps).

* Event type and an approximate rupture: service.feeds.rupture (Wells & Coppersmith 1994 for
  crustal events, Strasser et al. 2010 for interface/intraslab events; strike of a mapped
  fault when one is near, else the worst-case orientation for each site).
* Crustal events: Allen, T.I., Wald, D.J. and Worden, C.B. (2012), "Intensity attenuation for
  active crustal regions", Journal of Seismology 16, 409-433, doi:10.1007/s10950-012-9278-7,
  the rupture-distance form (table 2), at a reference site of Vs30 760 m/s:

    MMI = 3.950 + 0.913 M - 1.107 ln(sqrt(Rrup^2 + (1 + 0.813 exp(M - 5))^2))   (sigma ~0.7)

  then moved to the site's Vs30 through PGA (service.feeds.groundmotion.site_correction_mmi).
* Interface and intraslab events: BC Hydro (Abrahamson et al. 2016) PGA with its site term,
  to MMI with the Worden et al. (2012) GMICE (service.feeds.groundmotion).
* Sites without a Vs30 of their own: DEFAULT_VS30 (350 m/s, NEHRP D).

The older hypocentral-distance AWW (2012) form (their table 2: c0 2.085, c1 1.428, c2 -1.402,
c4 0.078, m1 -0.209, m2 2.042) is kept as `allen2012_mmi` for comparison: a point source
without site term, it runs about one unit low for large and deep events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod
from shapely.geometry import Polygon

from service.feeds import groundmotion, rupture
from service.feeds.rupture import EventKind

C0, C1, C2, C4, M1, M2 = 2.085, 1.428, -1.402, 0.078, -0.209, 2.042
# Allen, Wald & Worden (2012) rupture-distance form (their eq. 3, table 2):
R0, R1, R2, R3 = 3.950, 0.913, -1.107, 0.813
# Site amplification: the IPE describes a firm reference site; sites with no Vs30 of their own
# get DEFAULT_VS30 (NEHRP D stiff soil: the alluvial coastal and river plains most desa lie on).
IPE_REFERENCE_VS30 = 760.0
DEFAULT_VS30 = 350.0
EARTH_RADIUS_KM = 6371.0088
MMI_FLOOR, MMI_CEILING = 1.0, 12.0
METHOD = "ipe:aww2012"  # crustal: AWW (2012) rupture-distance IPE + site term
METHOD_SUBDUCTION = "gmpe:bchydro"  # interface/intraslab: BC Hydro PGA + Worden (2012) GMICE
_GEOD = Geod(ellps="WGS84")


def allen2012_mmi(magnitude: float, hypo_km: ArrayLike) -> NDArray[np.float64]:
    """MMI at hypocentral distance(s) `hypo_km` for moment magnitude `magnitude`."""
    r = np.maximum(np.asarray(hypo_km, dtype=np.float64), 0.0)
    rm = M1 + M2 * math.exp(magnitude - 5.0)
    mmi = C0 + C1 * magnitude + C2 * np.log(np.sqrt(r**2 + rm**2))
    far = r > 50.0
    mmi = np.where(far, mmi + C4 * np.log(np.where(far, r, 50.0) / 50.0), mmi)
    return np.clip(mmi, MMI_FLOOR, MMI_CEILING)


def allen2012_rrup_mmi(magnitude: float, rrup_km: ArrayLike) -> NDArray[np.float64]:
    """AWW (2012) rupture-distance form: MMI = 3.950 + 0.913 M - 1.107 ln(sqrt(Rrup^2 +
    (1 + 0.813 exp(M - 5))^2)) (sigma ~0.7), at the IPE's reference site."""
    r = np.maximum(np.asarray(rrup_km, dtype=np.float64), 0.0)
    near = (1.0 + R3 * math.exp(magnitude - 5.0)) ** 2
    return np.asarray(R0 + R1 * magnitude + R2 * np.log(np.sqrt(r**2 + near)), dtype=np.float64)


def haversine_km(lon0: float, lat0: float, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
    lam0, phi0 = math.radians(lon0), math.radians(lat0)
    lam, phi = (
        np.radians(np.asarray(lon, dtype=np.float64)),
        np.radians(np.asarray(lat, dtype=np.float64)),
    )
    a = np.sin((phi - phi0) / 2) ** 2 + math.cos(phi0) * np.cos(phi) * np.sin((lam - lam0) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass(frozen=True)
class Source:
    """What an estimate knows of a quake: magnitude, hypocentre, type and strike if known."""

    magnitude: float
    depth_km: float | None
    lon: float
    lat: float
    kind: EventKind | None = None  # None: from depth alone (rupture.classify)
    strike_deg: float | None = None  # None: the worst-case orientation for each site

    @property
    def event_kind(self) -> EventKind:
        return self.kind or rupture.classify(self.depth_km, None)


def method_of(src: Source) -> str:
    return METHOD if src.event_kind == "crustal" else METHOD_SUBDUCTION


def describe(src: Source) -> str:
    """The estimate's source line for a layer (what was assumed, with the equations)."""
    kind = src.event_kind
    orientation = f"strike {src.strike_deg:.0f}" if src.strike_deg is not None else "worst case"
    if kind == "crustal":
        model = "Allen, Wald & Worden (2012) IPE (Rrup), Wells & Coppersmith (1994) rupture"
    elif kind == "interface":
        model = "BC Hydro (2016) PGA + Worden (2012) GMICE, Strasser (2010) rupture"
    else:
        model = "BC Hydro (2016) intraslab PGA (Rhypo) + Worden (2012) GMICE"
    return f"Siaga estimate: {kind}, {model}, {orientation}, Vs30 {DEFAULT_VS30:.0f} m/s"


def source_distance_km(
    src: Source, points_lon: ArrayLike, points_lat: ArrayLike
) -> NDArray[np.float64]:
    """The distance the event type's equation uses: Rhypo for intraslab events, else Rrup."""
    kind = src.event_kind
    if kind == "intraslab":  # BC Hydro's intraslab model is fitted on hypocentral distance
        x, y = rupture.local_xy(src.lon, src.lat, points_lon, points_lat)
        return np.sqrt(x * x + y * y + float(src.depth_km or 0.0) ** 2)
    rup = rupture.rupture(src.magnitude, src.depth_km, kind, src.strike_deg)
    return rupture.rupture_km(rup, src.lon, src.lat, points_lon, points_lat)


def mmi_at_distance(src: Source, distance_km: ArrayLike, vs30: ArrayLike) -> NDArray[np.float64]:
    """MMI at the distance(s) `source_distance_km` gives, for site(s) of the given Vs30."""
    kind = src.event_kind
    if kind == "crustal":
        reference = allen2012_rrup_mmi(src.magnitude, distance_km)
        mmi = groundmotion.site_correction_mmi(reference, vs30, IPE_REFERENCE_VS30)
    else:
        ln_pga = groundmotion.bchydro_ln_pga(
            src.magnitude, distance_km, src.depth_km, kind == "intraslab", vs30
        )
        mmi = groundmotion.mmi_from_pga(np.exp(ln_pga) * groundmotion.G_CM_S2)
    return np.clip(mmi, MMI_FLOOR, MMI_CEILING)


TABLE_STEP_KM = 0.05  # one Vs30 for many points: MMI from a distance table, linear in between


def estimate_mmi(
    src: Source, points_lon: ArrayLike, points_lat: ArrayLike, vs30: ArrayLike = DEFAULT_VS30
) -> NDArray[np.float64]:
    """MMI at each point from the source alone (see the module docstring for the equations).

    With one Vs30 for more points than the table has rows (a grid), MMI is read off a table of
    distance every 50 m (MMI changes by well under 0.01 in 50 m), which halves the work."""
    d = source_distance_km(src, points_lon, points_lat)
    if np.ndim(vs30) == 0 and d.size > 4096:
        top = float(d.max()) if d.size else 0.0
        rows = np.arange(0.0, top + 2 * TABLE_STEP_KM, TABLE_STEP_KM)
        if rows.size < d.size:
            return np.interp(d, rows, mmi_at_distance(src, rows, vs30))
    return mmi_at_distance(src, d, vs30)


def mmi_at_points(
    *,
    magnitude: float,
    depth_km: float | None,
    lon: float,
    lat: float,
    points_lon: ArrayLike,
    points_lat: ArrayLike,
    kind: EventKind | None = None,
    strike_deg: float | None = None,
    vs30: ArrayLike = DEFAULT_VS30,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(MMI, epicentral distance km) at each point."""
    src = Source(magnitude, depth_km, lon, lat, kind, strike_deg)
    epi = haversine_km(lon, lat, points_lon, points_lat)
    return estimate_mmi(src, points_lon, points_lat, vs30), epi


def radius_for_mmi(
    *,
    magnitude: float,
    depth_km: float | None,
    mmi: float,
    max_km: float = 2000.0,
    kind: EventKind | None = None,
) -> float:
    """Epicentral distance (km) where the estimate (worst-case orientation, default Vs30)
    falls to `mmi`; 0 if never reached."""
    src = Source(magnitude, depth_km, 0.0, 0.0, kind)

    def at(d: float) -> float:
        return float(estimate_mmi(src, [d / 111.19492664455873], [0.0])[0])

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
    kind: EventKind | None = None,
    strike_deg: float | None = None,
    vs30: float = DEFAULT_VS30,
) -> tuple[NDArray[np.float32], Affine]:
    """A north-up MMI raster around the epicentre, out to where MMI falls to `min_mmi`.

    The grid's edges sit on multiples of `cell_deg`, so estimates of different events
    share one lattice. (The risk engine's coverage weights do not depend on it: they are
    built once on the population grid and any hazard raster is resampled onto that.)
    """
    radius = min(
        max(
            radius_for_mmi(magnitude=magnitude, depth_km=depth_km, mmi=min_mmi, kind=kind),
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
    src = Source(magnitude, depth_km, lon, lat, kind, strike_deg)
    # A row of longitudes against a column of latitudes: broadcasting spares the per-cell trig.
    mmi = np.broadcast_to(estimate_mmi(src, cols[None, :], rows[:, None], vs30), (height, width))
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
