"""GDACS: the RSS feed (UTF-8 with BOM) and the JSON event API (`geteventlist/...`).

The RSS item guid is type+id ("EQ1457082"); the episode id changes with each update and is
the revision marker. `gdacs:bbox` is "lonmin lonmax latmin latmax", `georss:point` "lat lon".
The JSON API is a GeoJSON FeatureCollection with naive UTC dates; "no events" is HTTP
204/404 (handled by polling: an empty list).
"""

from __future__ import annotations

import re
from typing import Any

from shapely.geometry import box

from service.feeds.parsers.common import (
    FeedParseError,
    Report,
    child,
    children,
    iso_utc,
    leading_number,
    local,
    parse_feature_collection,
    parse_xml,
    rfc822_utc,
    strip_bom,
    text,
)

SOURCE = "gdacs"
GDACS_TYPES = {
    "EQ": "earthquake",
    "TC": "extreme_weather",  # tropical cyclone
    "FL": "flood",
    "VO": "volcano",
    "DR": "other",  # drought
    "WF": "other",  # wildfire
    "TS": "tsunami",
}
_DEPTH = re.compile(r"Depth:\s*([-+]?\d+(?:\.\d+)?)\s*km", re.IGNORECASE)


def _event_type(code: str | None) -> str:
    return GDACS_TYPES.get((code or "").upper(), "other")


def _depth(text_value: str | None) -> float | None:
    m = _DEPTH.search(text_value or "")
    return float(m.group(1)) if m else None


def _bbox_polygon(value: str | None) -> Any:
    if not value:
        return None
    try:
        lonmin, lonmax, latmin, latmax = (float(v) for v in value.split())
    except ValueError as exc:
        raise FeedParseError(f"GDACS: cannot read gdacs:bbox {value!r}") from exc
    if lonmax <= lonmin or latmax <= latmin:
        return None
    return box(lonmin, latmin, lonmax, latmax)


def parse_rss(data: bytes) -> list[Report]:
    root = parse_xml(data, "GDACS RSS")
    channel = child(root, "channel")
    if local(root) != "rss" or channel is None:
        raise FeedParseError("GDACS RSS: expected <rss><channel>")
    reports = []
    for item in children(channel, "item"):
        guid = text(item, "guid")
        etype = text(item, "eventtype")
        eventid = text(item, "eventid")
        source_id = guid or (f"{etype}{eventid}" if etype and eventid else None)
        if not source_id:
            raise FeedParseError("GDACS RSS: item without guid or eventtype+eventid")
        when = text(item, "fromdate") or text(item, "pubDate")
        if not when:
            raise FeedParseError(f"GDACS RSS: item {source_id} has no date")
        point = text(item, "point")  # georss:point "lat lon"
        lat = lon = None
        if point:
            try:
                lat, lon = (float(v) for v in point.split()[:2])
            except ValueError as exc:
                raise FeedParseError(f"GDACS RSS: bad georss:point {point!r}") from exc
        sev = child(item, "severity")
        sev_unit = sev.get("unit") if sev is not None else None
        sev_value = sev.get("value") if sev is not None else None
        sev_text = sev.text.strip() if sev is not None and sev.text else None
        pop = child(item, "population")
        modified = text(item, "datemodified")
        reports.append(
            Report(
                source=SOURCE,
                source_id=source_id,
                event_type=_event_type(etype or source_id[:2]),
                time=rfc822_utc(when, "GDACS fromdate"),
                updated=rfc822_utc(modified, "GDACS datemodified") if modified else None,
                title=text(item, "title"),
                lon=lon,
                lat=lat,
                footprint=_bbox_polygon(text(item, "bbox")),
                magnitude=leading_number(sev_value, "GDACS severity") if sev_unit == "M" else None,
                depth_km=_depth(sev_text) if etype == "EQ" else None,
                alert_level=text(item, "alertlevel"),
                properties={
                    "gdacs_type": etype,
                    "event_id": eventid,
                    "episode_id": text(item, "episodeid"),
                    "episode_alert_level": text(item, "episodealertlevel"),
                    "alert_score": text(item, "alertscore"),
                    "severity_text": sev_text,
                    "severity_unit": sev_unit,
                    "severity_value": sev_value,
                    "population": pop.get("value") if pop is not None else None,
                    "country": text(item, "country"),
                    "iso3": text(item, "iso3"),
                    "is_current": text(item, "iscurrent"),
                    "cap": text(item, "cap"),
                    "link": text(item, "link"),
                },
                raw=_flat(item),
            )
        )
    return reports


def _flat(item: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in item:
        if isinstance(c.tag, str):
            key = local(c)
            value = c.text.strip() if c.text and c.text.strip() else dict(c.attrib) or None
            out.setdefault(key, value)
    return out


def parse_api(data: bytes) -> list[Report]:
    reports = []
    for f in parse_feature_collection(data, "GDACS API"):
        p = f.get("properties") or {}
        etype, eventid = p.get("eventtype"), p.get("eventid")
        if not etype or eventid is None or not p.get("fromdate"):
            raise FeedParseError("GDACS API: feature without eventtype, eventid or fromdate")
        coords = (f.get("geometry") or {}).get("coordinates") or []
        sev = p.get("severitydata") or {}
        bbox = f.get("bbox")
        footprint = None
        if isinstance(bbox, list) and len(bbox) == 4:
            footprint = _bbox_polygon(f"{bbox[0]} {bbox[2]} {bbox[1]} {bbox[3]}")
        point = (f.get("geometry") or {}).get("type") == "Point" and len(coords) >= 2
        reports.append(
            Report(
                source=SOURCE,
                source_id=f"{etype}{eventid}",
                event_type=_event_type(etype),
                time=iso_utc(str(p["fromdate"]), "GDACS fromdate"),
                updated=iso_utc(str(p["datemodified"]), "GDACS datemodified")
                if p.get("datemodified")
                else None,
                title=p.get("htmldescription") or p.get("name"),
                lon=float(coords[0]) if point else None,
                lat=float(coords[1]) if point else None,
                footprint=footprint,
                magnitude=leading_number(sev.get("severity"), "GDACS severity")
                if sev.get("severityunit") == "M"
                else None,
                depth_km=_depth(sev.get("severitytext")) if etype == "EQ" else None,
                alert_level=p.get("alertlevel"),
                properties={
                    "gdacs_type": etype,
                    "event_id": str(eventid),
                    "episode_id": str(p.get("episodeid")),
                    "episode_alert_level": p.get("episodealertlevel"),
                    "alert_score": p.get("alertscore"),
                    "severity_text": sev.get("severitytext"),
                    "country": p.get("country"),
                    "iso3": p.get("iso3"),
                    "is_current": p.get("iscurrent"),
                    "source": p.get("source"),
                    "report": (p.get("url") or {}).get("report"),
                },
                raw=f,
            )
        )
    return reports


def parse(data: bytes) -> list[Report]:
    """RSS or JSON API body, detected from the first byte (204/404 are handled by polling)."""
    body = strip_bom(data).lstrip()
    if body[:1] == b"<":
        return parse_rss(data)
    return parse_api(data)
