"""What every feed parser returns, and the small helpers they share.

Parsers are pure: bytes in, `Report`s out, no I/O. A report is one source's view of one
hazard event (BMKG's, USGS's or GDACS's record of the same earthquake are three reports).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from lxml import etree
from shapely.geometry.base import BaseGeometry

# The event types Siaga knows; they match the hazard types of hazard layers.
EVENT_TYPES = ("flood", "earthquake", "tsunami", "volcano", "landslide", "extreme_weather", "other")

# Indonesian local time zones as they appear in BMKG text ("17:59:19 WIB").
ZONE_OFFSETS = {"WIB": 7, "WITA": 8, "WIT": 9, "UTC": 0, "GMT": 0, "Z": 0}


class FeedParseError(ValueError):
    """The bytes are not the feed format we expected; the message says what was wrong."""


@dataclass
class Report:
    source: str  # bmkg | usgs | gdacs | cap | shakemap | inatews
    source_id: str  # stable id within the source (BMKG has none: its UTC origin time)
    event_type: str  # one of EVENT_TYPES
    time: datetime  # UTC: origin time, or CAP onset/effective/sent
    title: str | None = None
    lon: float | None = None
    lat: float | None = None
    footprint: BaseGeometry | None = None  # polygonal area in lon/lat (EPSG:4326)
    magnitude: float | None = None
    depth_km: float | None = None
    mmi: float | None = None  # highest reported/felt intensity
    severity: str | None = None  # CAP Extreme|Severe|Moderate|Minor|Unknown
    urgency: str | None = None
    certainty: str | None = None
    alert_level: str | None = None  # GDACS Green|Orange|Red, USGS PAGER green..red
    tsunami: bool | None = None
    updated: datetime | None = None  # the source's own last-change time, if it has one
    expires: datetime | None = None
    status: str | None = None  # source status: automatic/reviewed/deleted, CAP status
    msg_type: str | None = None  # CAP Alert|Update|Cancel
    references: list[str] = field(default_factory=list)  # CAP: source ids referred to
    properties: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.event_type not in EVENT_TYPES:
            raise FeedParseError(f"unknown event type {self.event_type!r}")
        if self.time.tzinfo is None:
            raise FeedParseError("report time must be timezone-aware")
        self.time = self.time.astimezone(UTC)
        if self.lat is not None and not -90 <= self.lat <= 90:
            raise FeedParseError(f"latitude {self.lat} out of range in {self.source_id}")
        if self.lon is not None and not -180 <= self.lon <= 360:
            raise FeedParseError(f"longitude {self.lon} out of range in {self.source_id}")


# -- XML ------------------------------------------------------------------------------

# No entity expansion, no DTD, no network: feeds are untrusted input (XXE, billion laughs).
_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


def parse_xml(data: bytes, what: str) -> etree._Element:
    """Parse untrusted XML: strip a BOM and leading whitespace (BMKG's RSS has both)."""
    body = strip_bom(data).lstrip()
    if not body:
        raise FeedParseError(f"{what}: empty body")
    if body[:1] != b"<":
        raise FeedParseError(f"{what}: not XML (starts with {body[:20]!r})")
    if b"<!DOCTYPE" in body[:2048] and b"<!ENTITY" in body[:65536]:
        raise FeedParseError(f"{what}: XML with entity declarations is refused")
    try:
        root = etree.fromstring(body, parser=_SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise FeedParseError(f"{what}: malformed XML ({exc})") from exc
    if root is None:
        raise FeedParseError(f"{what}: no XML root element")
    if etree.QName(root).localname.lower() == "html":
        raise FeedParseError(f"{what}: got an HTML page, not feed data")
    return root


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


def child(el: etree._Element, name: str) -> etree._Element | None:
    """First child with this local name, in any namespace."""
    for c in el:
        if isinstance(c.tag, str) and local(c) == name:
            return c
    return None


def children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and local(c) == name]


def text(el: etree._Element, name: str) -> str | None:
    c = child(el, name)
    if c is None or c.text is None:
        return None
    value = c.text.strip()
    return value or None


# -- JSON -----------------------------------------------------------------------------


def strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def parse_json(data: bytes, what: str) -> Any:
    body = strip_bom(data).strip()
    if not body:
        raise FeedParseError(f"{what}: empty body")
    if body[:1] == b"<":
        raise FeedParseError(f"{what}: got HTML/XML ({body[:40]!r}...) where JSON was expected")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedParseError(f"{what}: invalid or truncated JSON ({exc})") from exc


def parse_feature_collection(data: bytes, what: str) -> list[dict[str, Any]]:
    """The features of a GeoJSON FeatureCollection body, or a FeedParseError saying why not."""
    doc = parse_json(data, what)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise FeedParseError(f"{what}: expected a GeoJSON FeatureCollection")
    features = doc.get("features") or []
    if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
        raise FeedParseError(f"{what}: 'features' must be a list of objects")
    return features


# -- numbers and times ----------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def leading_number(value: Any, what: str) -> float | None:
    """ "5.0 SR" -> 5.0, "10 km" -> 10.0, 4.5 -> 4.5, None/"" -> None."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    m = _NUMBER.search(str(value))
    if not m:
        raise FeedParseError(f"{what}: no number in {value!r}")
    return float(m.group())


def iso_utc(value: str, what: str) -> datetime:
    """ISO 8601 with offset; a naive value is taken as UTC (GDACS API)."""
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise FeedParseError(f"{what}: bad time {value!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def zone_suffixed_time(value: str, what: str) -> datetime:
    """'2018-09-28T17:02:44WIB', '2009-09-30T10:16:09UTC', '...Z' -> aware UTC."""
    m = re.fullmatch(
        r"\s*(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*([A-Za-z]+)?\s*", value
    )
    if not m:
        return iso_utc(value, what)
    zone = (m.group(2) or "UTC").upper()
    if zone not in ZONE_OFFSETS:
        raise FeedParseError(f"{what}: unknown time zone {zone!r} in {value!r}")
    naive = datetime.fromisoformat(m.group(1).replace(" ", "T"))
    return naive.replace(tzinfo=timezone(timedelta(hours=ZONE_OFFSETS[zone]))).astimezone(UTC)


def rfc822_utc(value: str, what: str) -> datetime:
    from email.utils import parsedate_to_datetime

    try:
        dt = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError) as exc:
        raise FeedParseError(f"{what}: bad RFC 822 date {value!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def ms_epoch_utc(value: Any, what: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError) as exc:
        raise FeedParseError(f"{what}: bad epoch milliseconds {value!r}") from exc


_TYPE_WORDS = (
    ("tsunami", "tsunami"),
    ("gempa", "earthquake"),
    ("earthquake", "earthquake"),
    ("banjir", "flood"),
    ("flood", "flood"),
    ("longsor", "landslide"),
    ("landslide", "landslide"),
    ("erupsi", "volcano"),
    ("gunung", "volcano"),
    ("volcan", "volcano"),
)


def type_from_words(*texts: str | None, default: str = "other") -> str:
    joined = " ".join(t for t in texts if t).lower()
    for word, kind in _TYPE_WORDS:
        if word in joined:
            return kind
    return default
