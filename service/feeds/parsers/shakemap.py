"""ShakeMap `grid.xml` (USGS and BMKG ShakeMap 3.5): event metadata and the MMI grid.

The grid is `nlon x nlat` points listed row by row from the north (lat_max) edge; each row
runs west to east. Points are cell centres, so the raster's outer edge lies half a cell
beyond lon_min/lat_max. BMKG writes `event_timestamp` in local time with a zone suffix
("2018-09-28T17:02:44WIB"); USGS writes UTC ("...UTC" or "Z").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from affine import Affine

from service.feeds.parsers.common import (
    FeedParseError,
    Report,
    child,
    children,
    local,
    parse_xml,
    zone_suffixed_time,
)

SOURCE = "shakemap"


@dataclass
class ShakeMapGrid:
    event_id: str
    shakemap_id: str | None
    version: int | None
    originator: str | None
    map_status: str | None
    event_type: str | None  # ACTUAL | SCENARIO
    process_time: datetime | None
    magnitude: float
    depth_km: float | None
    lat: float
    lon: float
    time: datetime
    description: str | None
    nlon: int
    nlat: int
    lon_min: float
    lat_min: float
    lon_max: float
    lat_max: float
    fields: list[str]
    mmi: np.ndarray  # float32 (nlat, nlon), north-up
    transform: Affine  # pixel (col,row) -> lon/lat of the cell's upper-left corner
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        west, north = self.transform @ (0, 0)
        east, south = self.transform @ (self.nlon, self.nlat)
        return (west, south, east, north)

    def to_report(self) -> Report:
        return Report(
            source=SOURCE,
            source_id=self.event_id,
            event_type="earthquake",
            time=self.time,
            updated=self.process_time,
            title=f"ShakeMap M{self.magnitude:g} {self.description or ''}".strip(),
            lon=self.lon,
            lat=self.lat,
            magnitude=self.magnitude,
            depth_km=self.depth_km,
            mmi=float(np.nanmax(self.mmi)) if self.mmi.size else None,
            status=self.map_status,
            properties={
                "shakemap_id": self.shakemap_id,
                "shakemap_version": self.version,
                "originator": self.originator,
                "shakemap_event_type": self.event_type,
                "grid": [self.nlon, self.nlat],
            },
            raw={"event_id": self.event_id, "description": self.description},
        )


def _float(attrs: Any, name: str, what: str) -> float:
    try:
        return float(attrs[name])
    except (KeyError, TypeError, ValueError) as exc:
        raise FeedParseError(f"ShakeMap grid.xml: {what} lacks a numeric {name!r}") from exc


@dataclass(frozen=True)
class _Spec:
    nlon: int
    nlat: int
    lon_min: float
    lon_max: float
    lat_min: float
    lat_max: float


def _fields(root: Any) -> list[str]:
    """The grid's column names in index order; LON, LAT and MMI must be among them."""
    fields_by_index = {}
    for f in children(root, "grid_field"):
        try:
            fields_by_index[int(f.get("index", "0"))] = f.get("name", "")
        except ValueError as exc:
            raise FeedParseError("ShakeMap: grid_field index must be an integer") from exc
    fields = [fields_by_index[i] for i in sorted(fields_by_index)]
    if "MMI" not in fields or "LON" not in fields or "LAT" not in fields:
        raise FeedParseError(f"ShakeMap: grid fields {fields} lack LON, LAT or MMI")
    return fields


def _spec(attrs: Any) -> _Spec:
    spec = _Spec(
        nlon=int(_float(attrs, "nlon", "grid_specification")),
        nlat=int(_float(attrs, "nlat", "grid_specification")),
        lon_min=_float(attrs, "lon_min", "spec"),
        lon_max=_float(attrs, "lon_max", "spec"),
        lat_min=_float(attrs, "lat_min", "spec"),
        lat_max=_float(attrs, "lat_max", "spec"),
    )
    if spec.nlon < 2 or spec.nlat < 2:
        raise FeedParseError(f"ShakeMap: grid of {spec.nlon} x {spec.nlat} points is too small")
    return spec


def _table(text: str | None, spec: _Spec, fields: list[str]) -> np.ndarray:
    """grid_data as one row per point, one column per field."""
    with warnings.catch_warnings():
        # numpy stops at a non-numeric token with a DeprecationWarning: make that an error.
        warnings.simplefilter("error", DeprecationWarning)
        try:
            values = np.fromstring(text or "", dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning) as exc:
            raise FeedParseError("ShakeMap: grid_data holds a non-numeric value") from exc
    nlon, nlat = spec.nlon, spec.nlat
    if values.size != nlon * nlat * len(fields):
        raise FeedParseError(
            f"ShakeMap: grid_data has {values.size} values, expected {nlon}x{nlat}x{len(fields)}"
            " (truncated file?)"
        )
    return values.reshape(nlon * nlat, len(fields))


def _mmi_grid(table: np.ndarray, fields: list[str], spec: _Spec) -> tuple[np.ndarray, Affine]:
    """The MMI column as a north-up array and its pixel-corner transform."""
    dx = (spec.lon_max - spec.lon_min) / (spec.nlon - 1)
    dy = (spec.lat_max - spec.lat_min) / (spec.nlat - 1)
    # Place each point by its coordinates rather than trusting the row order.
    cols = np.rint((table[:, fields.index("LON")] - spec.lon_min) / dx).astype(int)
    rows = np.rint((spec.lat_max - table[:, fields.index("LAT")]) / dy).astype(int)
    if cols.min() < 0 or cols.max() >= spec.nlon or rows.min() < 0 or rows.max() >= spec.nlat:
        raise FeedParseError("ShakeMap: grid points fall outside grid_specification")
    mmi = np.full((spec.nlat, spec.nlon), np.nan, dtype=np.float32)
    mmi[rows, cols] = table[:, fields.index("MMI")]
    transform = Affine(dx, 0.0, spec.lon_min - dx / 2, 0.0, -dy, spec.lat_max + dy / 2)
    return mmi, transform


def parse(data: bytes) -> ShakeMapGrid:
    root = parse_xml(data, "ShakeMap grid.xml")
    if local(root) != "shakemap_grid":
        raise FeedParseError(f"ShakeMap: root is <{local(root)}>, expected <shakemap_grid>")
    event = child(root, "event")
    spec_el = child(root, "grid_specification")
    data_el = child(root, "grid_data")
    if event is None or spec_el is None or data_el is None:
        raise FeedParseError(
            "ShakeMap grid.xml needs <event>, <grid_specification> and <grid_data>"
        )
    fields = _fields(root)
    spec = _spec(spec_el.attrib)
    mmi, transform = _mmi_grid(_table(data_el.text, spec, fields), fields, spec)
    ev = event.attrib
    stamp = ev.get("event_timestamp")
    if not stamp:
        raise FeedParseError("ShakeMap: <event> has no event_timestamp")
    proc = root.get("process_timestamp")
    version = root.get("shakemap_version")
    return ShakeMapGrid(
        event_id=root.get("event_id") or ev.get("event_id") or "",
        shakemap_id=root.get("shakemap_id"),
        version=int(version) if version and version.isdigit() else None,
        originator=root.get("shakemap_originator"),
        map_status=root.get("map_status"),
        event_type=root.get("shakemap_event_type"),
        process_time=zone_suffixed_time(proc, "process_timestamp") if proc else None,
        magnitude=_float(ev, "magnitude", "<event>"),
        depth_km=float(ev["depth"]) if ev.get("depth") else None,
        lat=_float(ev, "lat", "<event>"),
        lon=_float(ev, "lon", "<event>"),
        time=zone_suffixed_time(stamp, "event_timestamp"),
        description=(ev.get("event_description") or "").strip() or None,
        nlon=spec.nlon,
        nlat=spec.nlat,
        lon_min=spec.lon_min,
        lat_min=spec.lat_min,
        lon_max=spec.lon_max,
        lat_max=spec.lat_max,
        fields=fields,
        mmi=mmi,
        transform=transform,
        extra={"event_network": ev.get("event_network")},
    )
