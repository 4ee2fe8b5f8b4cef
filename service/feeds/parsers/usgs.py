"""USGS GeoJSON summary feeds (earthquake.usgs.gov/earthquakes/feed/v1.0/summary/...).

Upsert on `id`, refresh when `updated` changes. Geometry is [lon, lat, depth_km]; `time`
and `updated` are epoch milliseconds UTC; `alert` is the PAGER level; `status` may be
"deleted"; very old feeds wrote "REVIEWED" in capitals and had no `title`.
"""

from __future__ import annotations

from typing import Any

from service.feeds.parsers.common import (
    FeedParseError,
    Report,
    leading_number,
    ms_epoch_utc,
    parse_feature_collection,
)

SOURCE = "usgs"


def _feature_to_report(f: dict[str, Any]) -> Report:
    fid = f.get("id")
    props = f.get("properties")
    geom = f.get("geometry") or {}
    if not fid or not isinstance(props, dict):
        raise FeedParseError("USGS GeoJSON: feature without id or properties")
    coords = geom.get("coordinates") or []
    if geom.get("type") != "Point" or len(coords) < 2:
        raise FeedParseError(f"USGS GeoJSON: feature {fid} has no Point geometry")
    mag = leading_number(props.get("mag"), f"USGS {fid} mag")
    kind = str(props.get("type") or "earthquake").lower()
    status = str(props.get("status") or "").lower() or None
    title = props.get("title") or (
        f"M {mag:.1f} - {props.get('place')}" if mag is not None else props.get("place")
    )
    return Report(
        source=SOURCE,
        source_id=str(fid),
        event_type="earthquake" if kind == "earthquake" else "other",
        time=ms_epoch_utc(props.get("time"), f"USGS {fid} time"),
        updated=ms_epoch_utc(props["updated"], f"USGS {fid} updated")
        if props.get("updated")
        else None,
        title=title,
        lon=float(coords[0]),
        lat=float(coords[1]),
        depth_km=float(coords[2]) if len(coords) > 2 and coords[2] is not None else None,
        magnitude=mag,
        mmi=leading_number(props.get("mmi"), f"USGS {fid} mmi"),
        alert_level=props.get("alert"),
        tsunami=bool(props.get("tsunami")) if props.get("tsunami") is not None else None,
        status=status,
        properties={
            "place": props.get("place"),
            "url": props.get("url"),
            "detail": props.get("detail"),
            "mag_type": props.get("magType"),
            "usgs_type": kind,
            "ids": [i for i in str(props.get("ids") or "").split(",") if i],
            "felt": props.get("felt"),
            "cdi": props.get("cdi"),
            "sig": props.get("sig"),
        },
        raw=f,
    )


def parse(data: bytes) -> list[Report]:
    return [_feature_to_report(f) for f in parse_feature_collection(data, "USGS GeoJSON")]
