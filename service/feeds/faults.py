"""Mapped faults (BMKG's fault_indo_world.geojson or any GeoJSON of LineStrings): event type and
strike for the shaking estimate.

`SIAGA_FEEDS_FAULTS_PATH` names the file; without one every estimate uses the worst-case
orientation and an event's type comes from its depth alone (service.feeds.rupture.classify).
A feature whose `Type` is "subduction" is a trench; any other is a crustal fault.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pyproj import Geod
from shapely.geometry import LineString, Point, shape
from shapely.strtree import STRtree

from service.feeds import rupture
from service.feeds.rupture import EventKind

log = logging.getLogger(__name__)
_GEOD = Geod(ellps="WGS84")
# A crustal fault within this horizontal distance of the epicentre gives the strike: about
# twice the epicentre uncertainty of BMKG's automatic solutions (~10 km).
CRUSTAL_STRIKE_MAX_KM = 20.0
KM_PER_DEG = 111.19


@dataclass(frozen=True)
class FaultSet:
    crustal: list[LineString]
    trenches: list[LineString]
    crustal_index: STRtree
    trench_index: STRtree


@lru_cache(maxsize=4)
def load(path: str) -> FaultSet | None:
    """The faults in `path` (read once per process); None when it cannot be read."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        crustal: list[LineString] = []
        trenches: list[LineString] = []
        for f in doc.get("features") or []:
            geom = shape(f["geometry"]) if f.get("geometry") else None
            if geom is None or geom.is_empty or geom.geom_type != "LineString":
                continue
            kind = str((f.get("properties") or {}).get("Type") or "").lower()
            (trenches if kind == "subduction" else crustal).append(geom)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("faults file %s not usable (%s): worst-case orientation for all", path, exc)
        return None
    return FaultSet(crustal, trenches, STRtree(crustal), STRtree(trenches))


def _nearest(
    lines: list[LineString], index: STRtree, lon: float, lat: float
) -> tuple[LineString, float] | None:
    """The nearest line and its distance (km; degrees scaled at the epicentre's latitude)."""
    if not lines:
        return None
    p = Point(lon, lat)
    i = index.nearest(p)
    if i is None:
        return None
    line = lines[int(i)]
    # nearest() measures in degrees: within Indonesia's +-11 deg of latitude a degree of
    # longitude is 98-100 % of one of latitude, so the nearest line is the same in km.
    near = line.interpolate(line.project(p))
    dist = _km(lon, lat, near.x, near.y)
    return line, dist


def _km(lon0: float, lat0: float, lon: float, lat: float) -> float:
    x, y = rupture.local_xy(lon0, lat0, np.array([lon]), np.array([lat]))
    return float(math.hypot(x[0], y[0]))


def strike_at(line: LineString, lon: float, lat: float) -> float:
    """Azimuth (degrees from north, 0-180) of the line's segment nearest to (lon, lat)."""
    p = Point(lon, lat)
    coords = list(line.coords)
    best, best_d = (coords[0], coords[-1]), math.inf
    for a, b in itertools.pairwise(coords):
        d = LineString([a, b]).distance(p)
        if d < best_d:
            best, best_d = (a, b), d
    (lon1, lat1), (lon2, lat2) = best[0][:2], best[1][:2]
    az, _, _ = _GEOD.inv(lon1, lat1, lon2, lat2)
    return float(az % 180.0)


def source_geometry(
    faults: FaultSet | None, lon: float, lat: float, depth_km: float | None
) -> tuple[EventKind, float | None, str]:
    """(event type, strike or None, how it was chosen) for an epicentre."""
    if faults is None:
        return rupture.classify(depth_km, None), None, "no fault map: worst-case orientation"
    trench = _nearest(faults.trenches, faults.trench_index, lon, lat)
    kind = rupture.classify(depth_km, trench[1] if trench else None)
    if kind == "interface" and trench is not None:
        return kind, strike_at(trench[0], lon, lat), f"strike of the trench {trench[1]:.0f} km away"
    if kind == "crustal":
        fault = _nearest(faults.crustal, faults.crustal_index, lon, lat)
        if fault is not None and fault[1] <= CRUSTAL_STRIKE_MAX_KM:
            return kind, strike_at(fault[0], lon, lat), f"strike of a fault {fault[1]:.0f} km away"
    return kind, None, "worst-case orientation"
