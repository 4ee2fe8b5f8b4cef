"""Coordinate reference systems offered by /ogc (OGC API Features Part 2, CRS by reference).

Geometries are stored in EPSG:4326 with longitude first (CRS84 order). A response in another
CRS is transformed by PostGIS; EPSG:4326 as the standard defines it has latitude first, so its
coordinates are swapped (`ST_FlipCoordinates`), as are `bbox` values given in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.errors import InvalidInput

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
_WEB_MERCATOR_MAX = 20037508.342789244


@dataclass(frozen=True)
class Crs:
    uri: str
    srid: int
    # True when the first axis is latitude (northing): coordinates are swapped on the wire.
    lat_first: bool
    # Decimal digits of coordinates: 7 for degrees (about 1 cm), 2 for metres.
    precision: int
    # Valid bbox values in this CRS, in wire axis order: (min0, min1, max0, max1).
    limits: tuple[float, float, float, float]

    @property
    def is_default(self) -> bool:
        return self.uri == CRS84

    @property
    def header(self) -> dict[str, str]:
        return {"Content-Crs": f"<{self.uri}>"}


SUPPORTED: tuple[Crs, ...] = (
    Crs(CRS84, 4326, False, 7, (-180.0, -90.0, 180.0, 90.0)),
    Crs(EPSG4326, 4326, True, 7, (-90.0, -180.0, 90.0, 180.0)),
    Crs(
        EPSG3857,
        3857,
        False,
        2,
        (-_WEB_MERCATOR_MAX, -_WEB_MERCATOR_MAX, _WEB_MERCATOR_MAX, _WEB_MERCATOR_MAX),
    ),
)
DEFAULT = SUPPORTED[0]
CRS_URIS: list[str] = [c.uri for c in SUPPORTED]


def _spellings(crs: Crs) -> set[str]:
    """The URI (http or https) and the CURIEs clients send for it."""
    authority, version, code = crs.uri.rsplit("/", 3)[-3:]
    names = {crs.uri, crs.uri.replace("http://", "https://", 1)}
    names |= {f"{authority}:{code}", f"[{authority}:{code}]"}
    if version != "0":
        names |= {f"{authority}:{version}:{code}"}
    return names


_BY_NAME: dict[str, Crs] = {name: c for c in SUPPORTED for name in _spellings(c)}


def parse_crs(raw: str | None, *, name: str) -> Crs:
    """The CRS a `crs`, `bbox-crs` or `filter-crs` value names; anything else is a 400."""
    if raw is None:
        return DEFAULT
    found = _BY_NAME.get(raw.strip())
    if found is None:
        raise InvalidInput(
            f"{name}={raw!r} is not supported; use one of: {', '.join(CRS_URIS)}",
            parameter=name,
            allowed=CRS_URIS,
        )
    return found


def check_bbox_in(
    nums: tuple[float, float, float, float], crs: Crs, raw: str
) -> tuple[float, float, float, float]:
    """Check a bbox in `crs` (wire axis order) and return it as (minx, miny, maxx, maxy)."""
    lo0, lo1, hi0, hi1 = crs.limits
    a0, a1, b0, b1 = nums
    hint = f"give bbox in {crs.uri} axis order within {list(crs.limits)}"
    if not all(math.isfinite(n) for n in nums):
        raise InvalidInput(f"bbox={raw!r} holds a non-finite number; {hint}", parameter="bbox")
    if not (lo0 <= a0 <= hi0 and lo0 <= b0 <= hi0 and lo1 <= a1 <= hi1 and lo1 <= b1 <= hi1):
        raise InvalidInput(f"bbox={raw!r} lies outside the CRS's range; {hint}", parameter="bbox")
    if crs.lat_first:
        a0, a1, b0, b1 = a1, a0, b1, b0
    if a1 > b1 or (not crs.is_default and a0 > b0):
        raise InvalidInput(f"bbox={raw!r}: a lower corner is above the upper one; {hint}")
    return a0, a1, b0, b1
