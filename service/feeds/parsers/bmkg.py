"""BMKG earthquake open data (TEWS): autogempa, gempaterkini, gempadirasakan; JSON and XML.

Field notes (REFERENCE section 3): every value is a string; `DateTime` (ISO, UTC) is the
authoritative time; `Coordinates` is "lat,lon"; `Lintang`/`Bujur` carry LS/LU/BT/BB
hemispheres; the pre-2021 XML had no DateTime, `<coordinates>lon,lat</coordinates>`,
"5.0 SR" magnitudes and `Wilayah1..5`, with `Tanggal` like "27-Aug-19" in local time.
BMKG gives no event id: the source id is the UTC origin time to the second.
Also the InaTEWS realtime GeoJSON (`gemparealtime`), best effort.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from lxml import etree

from service.feeds import felt
from service.feeds.parsers.common import (
    ZONE_OFFSETS,
    FeedParseError,
    Report,
    children,
    iso_utc,
    leading_number,
    local,
    parse_feature_collection,
    parse_json,
    parse_xml,
    strip_bom,
)

SOURCE = "bmkg"

MONTHS = {
    # Indonesian abbreviations and names, then English ones (the old feed used "Aug").
    "jan": 1,
    "januari": 1,
    "feb": 2,
    "februari": 2,
    "mar": 3,
    "maret": 3,
    "apr": 4,
    "april": 4,
    "mei": 5,
    "jun": 6,
    "juni": 6,
    "jul": 7,
    "juli": 7,
    "agu": 8,
    "agt": 8,
    "agustus": 8,
    "sep": 9,
    "september": 9,
    "okt": 10,
    "oktober": 10,
    "nov": 11,
    "november": 11,
    "des": 12,
    "desember": 12,
    "may": 5,
    "aug": 8,
    "oct": 10,
    "dec": 12,
    "january": 1,
    "february": 2,
    "march": 3,
    "june": 6,
    "july": 7,
    "august": 8,
    "october": 10,
    "december": 12,
}


def parse_felt(text: str | None) -> list[dict[str, Any]]:
    """'III Pekalongan, II-III Batang' -> [{mmi_min, mmi_max, place}, ...]; '-' -> [].

    See service.feeds.felt.parse: ranges, "III - IV", "dan"-joined places; text that cannot
    be read is left out here and kept in the raw record."""
    return [
        {"mmi_min": f.mmi_min, "mmi_max": f.mmi_max, "place": f.place} for f in felt.parse(text)
    ]


def tsunami_potential(text: str | None) -> bool | None:
    """'Tidak berpotensi tsunami' -> False; 'Potensi tsunami untuk diteruskan...' -> True."""
    if not text:
        return None
    t = text.lower()
    if "tsunami" not in t:
        return False  # e.g. "Gempa ini dirasakan untuk diteruskan pada masyarakat"
    return not re.search(r"\btidak\b", t)


def hemisphere_value(text: str | None, positive: str, negative: str) -> float | None:
    """'6.83 LS' -> -6.83; '1.04 LU' -> 1.04; '110.44 BT' -> 110.44."""
    if not text:
        return None
    m = re.fullmatch(r"\s*([-+]?\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not m:
        raise FeedParseError(f"BMKG: cannot read coordinate {text!r}")
    value = float(m.group(1))
    hemi = m.group(2).upper()
    if hemi == negative:
        return -abs(value)
    if hemi in (positive, ""):
        return value
    raise FeedParseError(
        f"BMKG: unknown hemisphere {hemi!r} in {text!r} (use {positive}/{negative})"
    )


def local_date_time(tanggal: str, jam: str) -> datetime:
    """'04 Okt 2021' / '27-Aug-19' + '17:59:19 WIB' -> aware UTC."""
    m = re.fullmatch(r"\s*(\d{1,2})[-\s]+([A-Za-z]+)[-\s]+(\d{2,4})\s*", tanggal)
    if not m or m.group(2).lower() not in MONTHS:
        raise FeedParseError(f"BMKG: cannot read Tanggal {tanggal!r}")
    year = int(m.group(3))
    year = year + 2000 if year < 100 else year
    t = re.fullmatch(r"\s*(\d{1,2}):(\d{2}):(\d{2})\s*([A-Za-z]*)\s*", jam)
    if not t:
        raise FeedParseError(f"BMKG: cannot read Jam {jam!r}")
    zone = (t.group(4) or "WIB").upper()
    if zone not in ZONE_OFFSETS:
        raise FeedParseError(f"BMKG: unknown time zone {zone!r} in Jam {jam!r}")
    tz = timezone(timedelta(hours=ZONE_OFFSETS[zone]))
    dt = datetime(
        year,
        MONTHS[m.group(2).lower()],
        int(m.group(1)),
        int(t.group(1)),
        int(t.group(2)),
        int(t.group(3)),
        tzinfo=tz,
    )
    return dt.astimezone(UTC)


def _record_to_report(rec: dict[str, Any], *, lon_first: bool) -> Report:
    if rec.get("DateTime"):
        time = iso_utc(str(rec["DateTime"]), "BMKG DateTime")
    elif rec.get("Tanggal") and rec.get("Jam"):
        time = local_date_time(str(rec["Tanggal"]), str(rec["Jam"]))
    else:
        raise FeedParseError("BMKG: record has neither DateTime nor Tanggal+Jam")

    lat = hemisphere_value(rec.get("Lintang"), "LU", "LS")
    lon = hemisphere_value(rec.get("Bujur"), "BT", "BB")
    coords = rec.get("Coordinates") or rec.get("coordinates")
    if coords:
        try:
            a, b = (float(x) for x in str(coords).split(",")[:2])
        except ValueError as exc:
            raise FeedParseError(f"BMKG: cannot read Coordinates {coords!r}") from exc
        c_lat, c_lon = (b, a) if lon_first else (a, b)
        # Lintang/Bujur are unambiguous; Coordinates must agree with them when both exist.
        if lat is not None and abs(lat - c_lat) > 0.011:
            raise FeedParseError(
                f"BMKG: Coordinates {coords!r} disagree with Lintang {rec.get('Lintang')!r}"
            )
        if lon is not None and abs(lon - c_lon) > 0.011:
            raise FeedParseError(
                f"BMKG: Coordinates {coords!r} disagree with Bujur {rec.get('Bujur')!r}"
            )
        lat = c_lat if lat is None else lat
        lon = c_lon if lon is None else lon
    if lat is None or lon is None:
        raise FeedParseError("BMKG: record has no location (Coordinates or Lintang/Bujur)")

    magnitude = leading_number(rec.get("Magnitude"), "BMKG Magnitude")
    depth = leading_number(rec.get("Kedalaman"), "BMKG Kedalaman")
    felt_places = parse_felt(rec.get("Dirasakan"))
    wilayah = rec.get("Wilayah") or "; ".join(
        str(rec[k])
        for k in ("Wilayah1", "Wilayah2", "Wilayah3", "Wilayah4", "Wilayah5")
        if rec.get(k)
    )
    potensi = rec.get("Potensi")
    tsunami = tsunami_potential(potensi)
    title = f"Gempa M{magnitude:g} {wilayah}".strip() if magnitude is not None else wilayah
    props: dict[str, Any] = {"wilayah": wilayah or None, "potensi": potensi, "felt": felt_places}
    if rec.get("Dirasakan") and str(rec["Dirasakan"]).strip() != "-":
        props["felt_text"] = str(rec["Dirasakan"])
    if rec.get("Shakemap"):
        props["shakemap_image"] = f"https://data.bmkg.go.id/DataMKG/TEWS/{rec['Shakemap']}"
    return Report(
        source=SOURCE,
        source_id=time.strftime("%Y%m%d%H%M%S"),
        event_type="earthquake",
        time=time,
        title=title,
        lon=lon,
        lat=lat,
        magnitude=magnitude,
        depth_km=depth,
        mmi=float(max(f["mmi_max"] for f in felt_places)) if felt_places else None,
        tsunami=tsunami,
        properties=props,
        raw=dict(rec),
    )


def parse_json_feed(data: bytes) -> list[Report]:
    doc = parse_json(data, "BMKG JSON")
    try:
        gempa = doc["Infogempa"]["gempa"]
    except (KeyError, TypeError) as exc:
        raise FeedParseError("BMKG JSON: expected {'Infogempa': {'gempa': ...}}") from exc
    records = gempa if isinstance(gempa, list) else [gempa]
    if not all(isinstance(r, dict) for r in records):
        raise FeedParseError("BMKG JSON: every 'gempa' entry must be an object")
    return [_record_to_report(r, lon_first=False) for r in records]


def _xml_record(el: etree._Element) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for c in el:
        if not isinstance(c.tag, str):
            continue
        name = local(c)
        if name == "point":
            coords = children(c, "coordinates")
            if coords and coords[0].text:
                rec["coordinates"] = coords[0].text.strip()
        elif c.text is not None:
            rec[name] = c.text.strip()
    return rec


def parse_xml_feed(data: bytes) -> list[Report]:
    root = parse_xml(data, "BMKG XML")
    if local(root) != "Infogempa":
        raise FeedParseError(f"BMKG XML: root is <{local(root)}>, expected <Infogempa>")
    reports = []
    for el in children(root, "gempa"):
        rec = _xml_record(el)
        # The pre-2021 format had no DateTime and put longitude first in <coordinates>.
        reports.append(_record_to_report(rec, lon_first="DateTime" not in rec))
    if not reports:
        raise FeedParseError("BMKG XML: no <gempa> element")
    return reports


def parse_inatews_geojson(data: bytes) -> list[Report]:
    """InaTEWS realtime GeoJSON: string-typed mag/depth/coordinates, UTC time without zone."""
    reports = []
    for f in parse_feature_collection(data, "InaTEWS GeoJSON"):
        p = f.get("properties") or {}
        coords = (f.get("geometry") or {}).get("coordinates") or []
        if len(coords) < 2 or not p.get("id") or not p.get("time"):
            raise FeedParseError("InaTEWS GeoJSON: feature without id, time or coordinates")
        mag = leading_number(p.get("mag"), "InaTEWS mag")
        reports.append(
            Report(
                source="inatews",
                source_id=str(p["id"]),
                event_type="earthquake",
                time=iso_utc(str(p["time"]), "InaTEWS time"),
                title=f"Gempa M{mag:.1f} {p.get('place') or ''}".strip() if mag else p.get("place"),
                lon=float(coords[0]),
                lat=float(coords[1]),
                magnitude=round(mag, 1) if mag is not None else None,
                depth_km=leading_number(p.get("depth"), "InaTEWS depth"),
                status=p.get("status"),
                raw=f,
            )
        )
    return reports


def parse(data: bytes) -> list[Report]:
    """Any BMKG TEWS body: JSON or XML, detected from the first byte."""
    head = strip_bom(data).lstrip()[:1]
    if head == b"<":
        return parse_xml_feed(data)
    doc_is_geojson = b'"FeatureCollection"' in data[:4096]
    return parse_inatews_geojson(data) if doc_is_geojson else parse_json_feed(data)
