"""CAP 1.2 documents and the Atom index (pure: dataclasses in, XML bytes out).

Timestamps follow the XSD pattern `YYYY-MM-DDThh:mm:ss+hh:mm` (no Z, no fractions), in
the configured local offset. Community polygons become CAP `lat,lon` rings, one `<polygon>`
per outer ring, simplified so a desa boundary stays a few KB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lxml import etree
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from service.alerts.levels import AWAS, SIAGA, WASPADA

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"

CATEGORY = {
    "flood": "Met",
    "extreme_weather": "Met",
    "earthquake": "Geo",
    "tsunami": "Geo",
    "volcano": "Geo",
    "landslide": "Geo",
}
EVENT_ID = {
    "flood": "Banjir",
    "extreme_weather": "Cuaca Ekstrem",
    "earthquake": "Gempa Bumi",
    "tsunami": "Tsunami",
    "volcano": "Erupsi Gunung Api",
    "landslide": "Tanah Longsor",
}
EVENT_EN = {
    "flood": "Flood",
    "extreme_weather": "Severe Weather",
    "earthquake": "Earthquake",
    "tsunami": "Tsunami",
    "volcano": "Volcanic Eruption",
    "landslide": "Landslide",
}
# level -> (urgency, severity, certainty)
LEVEL_CAP = {
    WASPADA: ("Future", "Moderate", "Possible"),
    SIAGA: ("Expected", "Severe", "Likely"),
    AWAS: ("Immediate", "Extreme", "Likely"),
}
EVACUATE_AT_AWAS = {"flood", "tsunami", "volcano", "landslide"}


def cap_time(dt: datetime, timezone: str = "Asia/Jakarta") -> str:
    """`2026-11-23T22:05:00+07:00`: the only form the CAP 1.2 XSD accepts."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(ZoneInfo(timezone)).replace(microsecond=0).isoformat(timespec="seconds")


# A preparedness notice from a hazard map: nothing is happening, something could.
PREPAREDNESS_CAP = ("Future", "Possible")


def response_type(hazard: str, level: int, kind: str) -> str:
    if kind == "preparedness":
        return "Prepare"
    if kind == "all_clear":
        return "AllClear"
    if kind == "cancel":
        return "None"
    if level >= AWAS:
        return "Evacuate" if hazard in EVACUATE_AT_AWAS else "Assess"
    return "Prepare" if level == SIAGA else "Monitor"


def cap_polygons(geom: BaseGeometry | None, *, tolerance: float = 0.0005) -> list[str]:
    """Outer rings as CAP polygons (`lat,lon` pairs, first = last, at least 4 pairs)."""
    if geom is None or geom.is_empty:
        return []
    simple = geom.simplify(tolerance, preserve_topology=True)
    parts: list[Polygon]
    if isinstance(simple, Polygon):
        parts = [simple]
    elif isinstance(simple, MultiPolygon):
        parts = list(simple.geoms)
    else:
        parts = [g for g in getattr(simple, "geoms", []) if isinstance(g, Polygon)]
    rings = []
    for part in sorted(parts, key=lambda p: -p.area):
        coords = list(part.exterior.coords)
        if len(coords) < 4:
            continue
        if coords[0] != coords[-1]:
            coords.append(coords[0])
        rings.append(" ".join(f"{lat:.5f},{lon:.5f}" for lon, lat, *_ in coords))
    return rings


@dataclass(frozen=True)
class CapArea:
    description: str
    polygons: list[str] = field(default_factory=list)
    geocodes: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class CapInfo:
    language: str
    category: str
    event: str
    response_type: str
    urgency: str
    severity: str
    certainty: str
    sender_name: str
    headline: str
    description: str
    instruction: str
    effective: datetime
    expires: datetime | None
    event_codes: list[tuple[str, str]] = field(default_factory=list)
    parameters: list[tuple[str, str]] = field(default_factory=list)
    areas: list[CapArea] = field(default_factory=list)
    web: str | None = None


@dataclass(frozen=True)
class CapMessage:
    identifier: str
    sender: str
    sent: datetime
    status: str  # Actual | Exercise
    msg_type: str  # Alert | Update | Cancel
    references: list[tuple[str, str, datetime]] = field(default_factory=list)
    note: str | None = None
    infos: list[CapInfo] = field(default_factory=list)
    scope: str = "Public"  # Public | Restricted
    restriction: str | None = None  # who may see it, required when scope is Restricted


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def build_cap_xml(msg: CapMessage, *, timezone: str = "Asia/Jakarta") -> bytes:
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", msg.identifier)
    _sub(root, "sender", msg.sender)
    _sub(root, "sent", cap_time(msg.sent, timezone))
    _sub(root, "status", msg.status)
    _sub(root, "msgType", msg.msg_type)
    _sub(root, "scope", msg.scope)
    if msg.restriction:
        _sub(root, "restriction", msg.restriction)
    if msg.note:
        _sub(root, "note", msg.note)
    if msg.references:
        _sub(
            root,
            "references",
            " ".join(
                f"{sender},{ident},{cap_time(sent, timezone)}"
                for sender, ident, sent in msg.references
            ),
        )
    for info in msg.infos:
        el = _sub(root, "info")
        _sub(el, "language", info.language)
        _sub(el, "category", info.category)
        _sub(el, "event", info.event)
        _sub(el, "responseType", info.response_type)
        _sub(el, "urgency", info.urgency)
        _sub(el, "severity", info.severity)
        _sub(el, "certainty", info.certainty)
        for name, value in info.event_codes:
            code = _sub(el, "eventCode")
            _sub(code, "valueName", name)
            _sub(code, "value", value)
        _sub(el, "effective", cap_time(info.effective, timezone))
        if info.expires is not None:
            _sub(el, "expires", cap_time(info.expires, timezone))
        _sub(el, "senderName", info.sender_name)
        _sub(el, "headline", info.headline[:160])
        _sub(el, "description", info.description)
        _sub(el, "instruction", info.instruction)
        if info.web:
            _sub(el, "web", info.web)
        for name, value in info.parameters:
            param = _sub(el, "parameter")
            _sub(param, "valueName", name)
            _sub(param, "value", value)
        for area in info.areas:
            a = _sub(el, "area")
            _sub(a, "areaDesc", area.description)
            for ring in area.polygons:
                _sub(a, "polygon", ring)
            for name, value in area.geocodes:
                geo = _sub(a, "geocode")
                _sub(geo, "valueName", name)
                _sub(geo, "value", value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


@dataclass(frozen=True)
class AtomEntry:
    identifier: str
    title: str
    summary: str
    updated: datetime
    link: str
    msg_type: str
    status: str
    severity: str
    expires: datetime | None


def build_atom(
    *,
    entries: list[AtomEntry],
    feed_id: str,
    self_link: str,
    title: str,
    updated: datetime,
    timezone: str = "Asia/Jakarta",
) -> bytes:
    """A CAP index feed (OASIS CAP Feeds / Google Public Alerts style), one entry per message."""
    root = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS, "cap": CAP_NS})

    def sub(
        parent: etree._Element, tag: str, text: str | None = None, ns: str = ATOM_NS, **attrs: str
    ) -> etree._Element:
        el = etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    sub(root, "id", feed_id)
    sub(root, "title", title)
    sub(root, "updated", cap_time(updated, timezone))
    sub(root, "link", rel="self", href=self_link, type="application/atom+xml")
    author = sub(root, "author")
    sub(author, "name", "Siaga")
    for entry in entries:
        e = sub(root, "entry")
        sub(e, "id", entry.identifier)
        sub(e, "title", entry.title)
        sub(e, "updated", cap_time(entry.updated, timezone))
        sub(e, "summary", entry.summary)
        sub(e, "link", rel="alternate", href=entry.link, type="application/cap+xml")
        sub(e, "status", entry.status, ns=CAP_NS)
        sub(e, "msgType", entry.msg_type, ns=CAP_NS)
        sub(e, "severity", entry.severity, ns=CAP_NS)
        if entry.expires is not None:
            sub(e, "expires", cap_time(entry.expires, timezone), ns=CAP_NS)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
