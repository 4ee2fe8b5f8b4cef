"""Parsing of OGC API query parameters into plain values; every bad value is a clear 400."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from starlette.datastructures import QueryParams

from service.api.ogc.crs import Crs, check_bbox_in
from service.errors import InvalidInput
from service.ogc_collections import Filter

JSON_FORMATS = {"json", "geojson", "application/json", "application/geo+json"}
_FORMAT_NAMES = {"html": "html", "text/html": "html", "csv": "csv", "text/csv": "csv"}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Interval:
    """A closed time interval; None = open end."""

    start: datetime | None
    end: datetime | None


def single(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"query parameter {name!r} was given {len(values)} times; give it once")
    return values[0] if values else None


def reject_unknown(params: QueryParams, allowed: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(params.keys()) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"unknown query parameter(s) {', '.join(unknown)}; "
            f"this resource accepts: {', '.join(sorted(allowed))}"
        )


def pick_format(
    params: QueryParams, accept: str | None = None, *, offered: tuple[str, ...] = ("json", "html")
) -> str:
    """`json`, `html` or `csv`: from `f`, else a browser's Accept (HTML without JSON)."""
    f = single(params, "f")
    if f is not None:
        name = "json" if f.lower() in JSON_FORMATS else _FORMAT_NAMES.get(f.lower())
        if name not in offered:
            raise InvalidInput(
                f"format f={f!r} is not offered here; use one of: {', '.join(offered)}",
                parameter="f",
                allowed=list(offered),
            )
        return name
    accept = (accept or "").lower()
    if "html" in offered and "text/html" in accept and "json" not in accept:
        return "html"
    return "json"


def check_format(params: QueryParams) -> None:
    pick_format(params, offered=("json",))


def parse_limit(raw: str | None, *, default: int, maximum: int) -> int:
    """Limit over the advertised maximum is clamped, as OGC API Features requires."""
    if raw is None:
        return min(default, maximum)
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(
            f"limit={raw!r} is not an integer; give a whole number from 1 to {maximum}"
        ) from None
    if value < 1:
        raise InvalidInput(f"limit={value} is below 1; give a whole number from 1 to {maximum}")
    return min(value, maximum)


def parse_offset(raw: str | None) -> int:
    if raw is None:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"offset={raw!r} is not an integer; give a whole number >= 0") from None
    if value < 0:
        raise InvalidInput(f"offset={value} is negative; give a whole number >= 0")
    return value


def parse_bbox(raw: str | None, crs: Crs | None = None) -> tuple[float, float, float, float] | None:
    """`minLon,minLat,maxLon,maxLat` (or 6 numbers with heights, which are ignored); in
    another `bbox-crs`, four numbers in that CRS's axis order, returned as x/y."""
    if raw is None:
        return None
    if crs is not None and not crs.is_default:
        parts = raw.split(",")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise InvalidInput(
                f"bbox={raw!r} holds something that is not a number", parameter="bbox"
            ) from None
        if len(nums) == 6:
            nums = [nums[0], nums[1], nums[3], nums[4]]
        if len(nums) != 4:
            raise InvalidInput(f"bbox={raw!r} has {len(parts)} numbers; give 4", parameter="bbox")
        return check_bbox_in((nums[0], nums[1], nums[2], nums[3]), crs, raw)
    parts = raw.split(",")
    hint = "give bbox=minLon,minLat,maxLon,maxLat in degrees, e.g. bbox=106.7,-6.4,106.9,-6.1"
    if len(parts) not in (4, 6):
        raise InvalidInput(f"bbox={raw!r} has {len(parts)} numbers; {hint}")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise InvalidInput(f"bbox={raw!r} holds something that is not a number; {hint}") from None
    if not all(math.isfinite(n) for n in nums):
        raise InvalidInput(f"bbox={raw!r} holds a non-finite number; {hint}")
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    minx, miny, maxx, maxy = nums
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise InvalidInput(f"bbox={raw!r}: longitudes must lie in -180..180; {hint}")
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidInput(f"bbox={raw!r}: latitudes must lie in -90..90; {hint}")
    if miny > maxy:
        raise InvalidInput(f"bbox={raw!r}: the lower latitude is above the upper one; {hint}")
    # minLon > maxLon is legal: the box crosses the antimeridian.
    return minx, miny, maxx, maxy


def _parse_instant(text: str, *, is_end: bool) -> datetime:
    hint = "use RFC 3339, e.g. 2024-01-31T00:00:00Z or 2024-01-31"
    text = text.strip()
    if _DATE_ONLY.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"datetime value {text!r} is not a valid date; {hint}") from None
        start = datetime.combine(day, time.min, tzinfo=UTC)
        # A bare date as an interval end covers the whole of that day.
        return start + timedelta(days=1) - timedelta(microseconds=1) if is_end else start
    if "T" not in text.upper():
        raise InvalidInput(f"datetime value {text!r} is not RFC 3339; {hint}")
    try:
        value = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"datetime value {text!r} is not RFC 3339; {hint}") from None
    if value.tzinfo is None:
        raise InvalidInput(f"datetime value {text!r} has no time zone; add Z for UTC ({hint})")
    return value.astimezone(UTC)


def parse_datetime(raw: str | None) -> Interval | None:
    """An instant, or an interval `a/b` where either end may be `..` or empty (open)."""
    if raw is None:
        return None
    if "/" in raw:
        left, _, right = raw.partition("/")
        if "/" in right:
            raise InvalidInput(f"datetime={raw!r} has more than one '/'; give start/end")
        start = None if left.strip() in ("", "..") else _parse_instant(left, is_end=False)
        end = None if right.strip() in ("", "..") else _parse_instant(right, is_end=True)
        if start and end and start > end:
            raise InvalidInput(f"datetime={raw!r}: the start is after the end")
        return Interval(start, end)
    if raw.strip() in ("", ".."):
        raise InvalidInput(f"datetime={raw!r} is empty; give an instant or an interval start/end")
    start = _parse_instant(raw, is_end=False)
    if _DATE_ONLY.match(raw.strip()):
        return Interval(start, _parse_instant(raw, is_end=True))
    return Interval(start, start)


def parse_filter_values(flt: Filter, raw: str) -> list[Any]:
    """Comma-separated values of one filter parameter, converted to its type."""
    values = [v.strip() for v in raw.split(",")]
    if not values or any(v == "" for v in values):
        raise InvalidInput(
            f"{flt.name}={raw!r} has an empty value; give {flt.name}=a or {flt.name}=a,b"
        )
    if "\x00" in raw:
        raise InvalidInput(f"{flt.name} holds a NUL character; give plain text values")
    out: list[Any] = []
    for v in values:
        if flt.enum is not None and v not in flt.enum:
            raise InvalidInput(f"{flt.name}={v!r} is not one of: {', '.join(flt.enum)}")
        if flt.type == "integer":
            try:
                out.append(int(v))
            except ValueError:
                raise InvalidInput(f"{flt.name}={v!r} is not an integer") from None
        elif flt.type == "number":
            try:
                num = float(v)
            except ValueError:
                raise InvalidInput(f"{flt.name}={v!r} is not a number") from None
            if not math.isfinite(num):
                raise InvalidInput(f"{flt.name}={v!r} is not a finite number")
            out.append(num)
        elif flt.type == "boolean":
            if v.lower() not in ("true", "false"):
                raise InvalidInput(f"{flt.name}={v!r} is not true or false")
            out.append(v.lower() == "true")
        else:
            out.append(v)
    return out
