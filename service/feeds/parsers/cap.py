"""CAP 1.2 alerts (also 1.1/1.0) and their Atom/RSS index feeds (BMKG nowcasts, NWS).

Polygons are "lat,lon" pairs; BMKG puts many polygons (one per kecamatan, with holes and
fragments) in one area, so the footprint is the union of every polygon and circle of the
chosen info block, not the first one. `references` ("sender,identifier,sent" triples) tie
Update and Cancel messages to the alert they change. Times carry local offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from shapely import make_valid, unary_union
from shapely.affinity import scale
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from service.feeds.parsers.common import (
    FeedParseError,
    Report,
    child,
    children,
    iso_utc,
    local,
    parse_xml,
    rfc822_utc,
    text,
    type_from_words,
)

SOURCE = "cap"
CAP_NS_PREFIX = "urn:oasis:names:tc:emergency:cap:"
ATOM_NS = "http://www.w3.org/2005/Atom"


def _is_cap(el: etree._Element) -> bool:
    return etree.QName(el).namespace is not None and str(etree.QName(el).namespace).startswith(
        CAP_NS_PREFIX
    )


def parse_polygon(value: str) -> Polygon:
    """'lat,lon lat,lon ...' (closed ring, WGS84) -> a valid polygon in lon/lat."""
    try:
        pairs = [tuple(float(v) for v in p.split(",")) for p in value.split()]
    except ValueError as exc:
        raise FeedParseError(f"CAP: cannot read polygon {value[:60]!r}") from exc
    if len(pairs) < 4 or any(len(p) != 2 for p in pairs):
        raise FeedParseError(f"CAP: a polygon needs at least 4 'lat,lon' pairs, got {value[:60]!r}")
    return Polygon([(lon, lat) for lat, lon in pairs])


def parse_circle(value: str) -> BaseGeometry:
    """'lat,lon radius_km' -> an approximate circle (radius converted at that latitude)."""
    try:
        centre, radius = value.split()
        lat, lon = (float(v) for v in centre.split(","))
        radius_km = float(radius)
    except ValueError as exc:
        raise FeedParseError(f"CAP: cannot read circle {value!r}") from exc
    deg = radius_km / 111.32
    if deg <= 0:
        return Point(lon, lat)
    circle = Point(lon, lat).buffer(deg, quad_segs=16)
    return scale(circle, xfact=1 / max(math.cos(math.radians(lat)), 0.01), yfact=1.0)


def _polygonal(geom: BaseGeometry) -> MultiPolygon | None:
    parts: list[Polygon] = []
    stack = [geom]
    while stack:
        g = stack.pop()
        if isinstance(g, Polygon) and g.area > 1e-12:  # drop slivers from collinear rings
            parts.append(g)
        elif hasattr(g, "geoms"):
            stack.extend(g.geoms)
    return MultiPolygon(parts) if parts else None


def area_footprint(areas: list[etree._Element]) -> MultiPolygon | None:
    shapes: list[BaseGeometry] = []
    for area in areas:
        shapes += [
            make_valid(parse_polygon(p.text))
            for p in children(area, "polygon")
            if p.text and p.text.strip()
        ]
        shapes += [
            parse_circle(c.text) for c in children(area, "circle") if c.text and c.text.strip()
        ]
    if not shapes:
        return None
    return _polygonal(unary_union(shapes))


def parse_references(value: str | None) -> list[str]:
    """'sender,identifier,sent sender,identifier,sent' -> [identifier, ...]."""
    out = []
    for triple in (value or "").split():
        parts = triple.split(",")
        if len(parts) >= 2:
            out.append(parts[1])
    return out


def _choose_info(infos: list[etree._Element], language: str) -> etree._Element | None:
    for info in infos:
        if (text(info, "language") or "en-US").lower().startswith(language):
            return info
    return infos[0] if infos else None


def parse_alert(data: bytes, *, language: str = "id") -> Report:
    root = parse_xml(data, "CAP alert")
    if local(root) != "alert" or not _is_cap(root):
        raise FeedParseError(f"CAP: root is <{root.tag}>, expected a CAP <alert>")
    identifier = text(root, "identifier")
    sent = text(root, "sent")
    if not identifier or not sent or not text(root, "sender"):
        raise FeedParseError("CAP: <alert> needs identifier, sender and sent")
    infos = children(root, "info")
    info = _choose_info(infos, language)
    props: dict[str, Any] = {
        "sender": text(root, "sender"),
        "scope": text(root, "scope"),
        "languages": [text(i, "language") or "en-US" for i in infos],
    }
    severity = urgency = certainty = expires = None
    footprint = None
    time = iso_utc(sent, "CAP sent")
    title = None
    category = event = None
    if info is not None:
        category = text(info, "category")
        event = text(info, "event")
        severity, urgency, certainty = (
            text(info, "severity"),
            text(info, "urgency"),
            text(info, "certainty"),
        )
        start = text(info, "onset") or text(info, "effective")
        if start:
            time = iso_utc(start, "CAP onset/effective")
        exp = text(info, "expires")
        expires = iso_utc(exp, "CAP expires") if exp else None
        title = text(info, "headline") or event
        areas = children(info, "area")
        footprint = area_footprint(areas)
        props.update(
            {
                "category": category,
                "event": event,
                "area_desc": [text(a, "areaDesc") for a in areas],
                "description": text(info, "description"),
                "instruction": text(info, "instruction"),
                "sender_name": text(info, "senderName"),
                "web": text(info, "web"),
                "event_codes": {
                    text(c, "valueName"): text(c, "value") for c in children(info, "eventCode")
                },
            }
        )
    default = "extreme_weather" if category == "Met" else "other"
    return Report(
        source=SOURCE,
        source_id=identifier,
        event_type=type_from_words(event, default=default),
        time=time,
        updated=iso_utc(sent, "CAP sent"),
        title=title,
        footprint=footprint,
        lon=footprint.centroid.x if footprint is not None else None,
        lat=footprint.centroid.y if footprint is not None else None,
        severity=severity,
        urgency=urgency,
        certainty=certainty,
        expires=expires,
        status=text(root, "status"),
        msg_type=text(root, "msgType"),
        references=parse_references(text(root, "references")),
        properties=props,
        raw={"xml": data.decode("utf-8", errors="replace")},
    )


@dataclass
class IndexEntry:
    """One entry of a CAP index feed: where the full alert is, plus any summary fields."""

    id: str
    link: str | None
    updated: Any = None  # aware datetime when the feed gave one
    title: str | None = None
    summary: dict[str, str] = field(default_factory=dict)  # cap:* elements (NWS Atom)


def parse_index(data: bytes) -> list[IndexEntry]:
    """An RSS 2.0 or Atom index of CAP alerts (BMKG nowcast RSS, NWS Atom)."""
    root = parse_xml(data, "CAP index feed")
    name = local(root)
    entries: list[IndexEntry] = []
    if name == "rss":
        channel = child(root, "channel")
        if channel is None:
            raise FeedParseError("CAP index: <rss> without <channel>")
        for item in children(channel, "item"):
            ident = text(item, "guid") or text(item, "link")
            if not ident:
                raise FeedParseError("CAP index: RSS item without guid or link")
            pub = text(item, "pubDate")
            entries.append(
                IndexEntry(
                    id=ident,
                    link=text(item, "link"),
                    updated=rfc822_utc(pub, "CAP index pubDate") if pub else None,
                    title=text(item, "title"),
                )
            )
    elif name == "feed":
        for entry in children(root, "entry"):
            ident = text(entry, "id")
            if not ident:
                raise FeedParseError("CAP index: Atom entry without id")
            link = None
            for ln in children(entry, "link"):
                if ln.get("rel") in (None, "alternate", "related") and ln.get("href"):
                    link = ln.get("href")
                    break
            upd = text(entry, "updated")
            summary = {
                local(c): (c.text or "").strip()
                for c in entry
                if isinstance(c.tag, str) and _is_cap(c)
            }
            entries.append(
                IndexEntry(
                    id=ident,
                    link=link,
                    updated=iso_utc(upd, "CAP index updated") if upd else None,
                    title=text(entry, "title"),
                    summary=summary,
                )
            )
    else:
        raise FeedParseError(f"CAP index: root is <{name}>, expected <rss> or Atom <feed>")
    return entries


def is_alert(data: bytes) -> bool:
    """True when the body is a CAP <alert> rather than an index feed."""
    try:
        root = parse_xml(data, "CAP")
    except FeedParseError:
        return False
    return local(root) == "alert" and _is_cap(root)
