"""An approximate rupture for an earthquake known only by magnitude and hypocentre: pure numpy.

Event type (documented rule, docs/feeds.md "Shaking"):
  * deeper than `INTRASLAB_MIN_DEPTH_KM` (50 km): subduction intraslab - Indonesia's crust is
    at most ~40 km thick, so every deeper event is in a subducting slab;
  * 15-50 km deep and within `INTERFACE_MAX_KM` (250 km) of a mapped subduction trench:
    subduction interface;
  * anything else: active shallow crust.

Rupture dimensions from moment magnitude M (lengths in km):
  * crustal - Wells & Coppersmith (1994, BSSA 84(4), table 2A, all slip types):
    subsurface rupture length log10 L = -2.44 + 0.59 M, down-dip width log10 W = -1.01 + 0.32 M;
  * interface - Strasser, Arango & Bommer (2010, SRL 81(6), table 2):
    log10 L = -2.477 + 0.585 M, log10 W = -0.882 + 0.351 M;
  * intraslab - Strasser et al. (2010): log10 L = -2.350 + 0.562 M, log10 W = -1.058 + 0.356 M.

The rupture is a segment of length L through the epicentre, along the strike of the nearest
mapped fault when one is near, else turned towards each site (the worst case over orientations:
the distance to a disc of radius L/2 centred on the epicentre). In depth it spans W sin(dip)
centred on the hypocentre; the top of rupture is Ztor = max(0, h - W sin(dip) / 2) and the
rupture distance is sqrt(Rh^2 + Ztor^2) with Rh the horizontal distance to the segment
(the dip's horizontal offset is neglected, the worst case when its direction is unknown).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

EventKind = Literal["crustal", "interface", "intraslab"]

EARTH_RADIUS_KM = 6371.0088
INTRASLAB_MIN_DEPTH_KM = 50.0
INTERFACE_MIN_DEPTH_KM = 15.0
INTERFACE_MAX_KM = 250.0  # from a mapped subduction trench
# Typical dips (degrees): vertical strike-slip/steep crustal faults, shallow megathrusts.
DIP_DEG: dict[str, float] = {"crustal": 90.0, "interface": 15.0, "intraslab": 45.0}
# log10 L = a + b M, log10 W = c + d M
SCALING: dict[str, tuple[float, float, float, float]] = {
    "crustal": (-2.44, 0.59, -1.01, 0.32),  # Wells & Coppersmith 1994, all slip types
    "interface": (-2.477, 0.585, -0.882, 0.351),  # Strasser et al. 2010
    "intraslab": (-2.350, 0.562, -1.058, 0.356),  # Strasser et al. 2010
}


@dataclass(frozen=True)
class Rupture:
    kind: EventKind
    length_km: float
    width_km: float
    dip_deg: float
    top_km: float  # depth of the top edge
    strike_deg: float | None  # None: turned towards each site (worst case)


def classify(depth_km: float | None, trench_km: float | None) -> EventKind:
    """The event type from depth and distance to the nearest subduction trench (None: unknown)."""
    depth = float(depth_km or 0.0)
    if depth > INTRASLAB_MIN_DEPTH_KM:
        return "intraslab"
    if depth >= INTERFACE_MIN_DEPTH_KM and trench_km is not None and trench_km <= INTERFACE_MAX_KM:
        return "interface"
    return "crustal"


def dimensions(magnitude: float, kind: EventKind) -> tuple[float, float]:
    """(length, width) in km of the median rupture for `magnitude`."""
    a, b, c, d = SCALING[kind]
    return 10 ** (a + b * magnitude), 10 ** (c + d * magnitude)


def rupture(
    magnitude: float, depth_km: float | None, kind: EventKind, strike_deg: float | None = None
) -> Rupture:
    length, width = dimensions(magnitude, kind)
    dip = DIP_DEG[kind]
    top = max(0.0, float(depth_km or 0.0) - width * math.sin(math.radians(dip)) / 2)
    return Rupture(kind, length, width, dip, top, strike_deg)


def local_xy(
    lon0: float, lat0: float, lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """East and north offsets (km) from (lon0, lat0): equirectangular at the mid-latitude
    (under 0.5 % off a geodesic within the 400 km an estimate reaches)."""
    lam = np.radians(np.asarray(lon, dtype=np.float64) - lon0)
    lam = (lam + math.pi) % (2 * math.pi) - math.pi
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    phi0 = math.radians(lat0)
    x = EARTH_RADIUS_KM * lam * np.cos((phi + phi0) / 2)
    y = EARTH_RADIUS_KM * (phi - phi0)
    return x, y


def horizontal_km(
    r: Rupture, lon0: float, lat0: float, lon: ArrayLike, lat: ArrayLike
) -> NDArray[np.float64]:
    """Horizontal distance (km) from each site to the rupture segment through (lon0, lat0)."""
    x, y = local_xy(lon0, lat0, lon, lat)
    half = r.length_km / 2
    if r.strike_deg is None:
        return np.maximum(np.hypot(x, y) - half, 0.0)
    s = math.radians(r.strike_deg)
    along = x * math.sin(s) + y * math.cos(s)
    across = x * math.cos(s) - y * math.sin(s)
    return np.hypot(np.maximum(np.abs(along) - half, 0.0), across)


def rupture_km(
    r: Rupture, lon0: float, lat0: float, lon: ArrayLike, lat: ArrayLike
) -> NDArray[np.float64]:
    """Rupture distance Rrup (km): to the segment's top edge at depth Ztor."""
    return np.hypot(horizontal_km(r, lon0, lat0, lon, lat), r.top_km)
