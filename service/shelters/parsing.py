"""Shelter input in the forms coordinators have at hand (pure: text or JSON in, rows out).

One point: `{name, kind, capacity, notes, lon, lat}` or a GeoJSON Feature with a Point.
Many points: a GeoJSON FeatureCollection, a JSON list of either form, or CSV with a header
row naming `lon,lat` plus `name,kind,capacity,notes`. Every row is checked before any is
stored; the first problem is reported with its row number.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.errors import InvalidInput

ShelterKind = Literal["titik_kumpul", "shelter", "posko"]
MAX_ROWS = 5000
MAX_CAPACITY = 1_000_000


class ShelterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: ShelterKind = "titik_kumpul"
    capacity: int | None = Field(None, ge=0, le=MAX_CAPACITY, description="people it holds")
    notes: str | None = Field(None, max_length=2000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not v or "\x00" in v:
            raise ValueError("give a name people recognise, e.g. 'Masjid Al-Ikhlas'")
        return v

    @field_validator("lon", "lat")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class ShelterUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    kind: ShelterKind | None = None
    capacity: int | None = Field(None, ge=0, le=MAX_CAPACITY)
    notes: str | None = Field(None, max_length=2000)
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)


def _problem(where: str, exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "row"
    return InvalidInput(
        f"{where}: {field}: {first.get('msg', 'invalid')}; send name, kind (titik_kumpul, "
        "shelter or posko), capacity, notes, lon and lat"
    )


def _validate(values: Any, where: str) -> ShelterIn:
    if not isinstance(values, dict):
        raise InvalidInput(f"{where}: expected a JSON object or a GeoJSON Feature")
    try:
        return ShelterIn.model_validate(values)
    except ValidationError as exc:
        raise _problem(where, exc) from None


def feature_values(feature: dict[str, Any], where: str) -> dict[str, Any]:
    """The flat fields of a GeoJSON Feature with a Point geometry."""
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        raise InvalidInput(f"{where}: a shelter is a Point; got {_type_of(geometry)}")
    coords = geometry.get("coordinates")
    if (
        not isinstance(coords, list)
        or len(coords) < 2
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:2])
    ):
        raise InvalidInput(f"{where}: Point coordinates must be [lon, lat] numbers")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidInput(f"{where}: properties must be an object")
    if "lon" in props or "lat" in props:
        raise InvalidInput(f"{where}: give the position once, in the geometry")
    return {**props, "lon": coords[0], "lat": coords[1]}


def _type_of(geometry: Any) -> str:
    if isinstance(geometry, dict):
        return str(geometry.get("type"))
    return "no geometry" if geometry is None else type(geometry).__name__


def parse_json(body: Any) -> list[ShelterIn]:
    """A point, a Feature, a FeatureCollection or a list of points/Features."""
    if isinstance(body, dict) and body.get("type") == "FeatureCollection":
        items = body.get("features")
        if not isinstance(items, list):
            raise InvalidInput("a FeatureCollection needs a 'features' list")
    elif isinstance(body, list):
        items = body
    else:
        items = [body]
    if not items:
        raise InvalidInput("no shelters in the request; send at least one point")
    if len(items) > MAX_ROWS:
        raise InvalidInput(f"{len(items)} shelters in one request; send at most {MAX_ROWS}")
    out = []
    for i, item in enumerate(items, start=1):
        where = f"shelter {i}" if len(items) > 1 else "shelter"
        if isinstance(item, dict) and item.get("type") == "Feature":
            item = feature_values(item, where)
        out.append(_validate(item, where))
    return out


CSV_COLUMNS = ("name", "kind", "capacity", "notes", "lon", "lat")


def parse_csv(text: str) -> list[ShelterIn]:
    """CSV with a header row; `lon`, `lat` and `name` are required columns."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("name", "lon", "lat") if c not in header]
    if missing:
        raise InvalidInput(
            f"the CSV lacks column(s) {', '.join(missing)}; the header row must name "
            f"{','.join(CSV_COLUMNS)} (capacity, notes and kind may be left out)"
        )
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise InvalidInput(
            f"unknown CSV column(s) {', '.join(unknown)}; use {','.join(CSV_COLUMNS)}"
        )
    reader.fieldnames = header
    out = []
    try:
        for line, row in enumerate(reader, start=2):
            if None in row:
                raise InvalidInput(f"CSV line {line}: more values than header columns")
            values = {k: v.strip() for k, v in row.items() if v is not None and v.strip()}
            if not values:
                continue
            out.append(_validate(values, f"CSV line {line}"))
            if len(out) > MAX_ROWS:
                raise InvalidInput(f"more than {MAX_ROWS} shelters in one CSV; split the file")
    except csv.Error as exc:
        raise InvalidInput(f"the CSV cannot be read: {exc}") from None
    if not out:
        raise InvalidInput("the CSV has no shelter rows under its header")
    return out
