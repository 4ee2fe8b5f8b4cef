"""Real desa/kelurahan boundaries and names (Kepmendagri 2025) through CAP areas and SMS texts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xmlschema
from shapely import make_valid
from shapely.geometry import shape

from service.alerts.cap_xml import CapArea, CapInfo, CapMessage, build_cap_xml, cap_polygons
from service.alerts.levels import AWAS
from service.alerts.segments import count_segments
from service.alerts.templates import MessageContext, render
from service.alerts.wording import HAZARD_NAMES

FILES = (
    "palu_sigi_donggala_desa_kelurahan.geojson",
    "dki_jakarta_kelurahan.geojson",
    "kota_bandung_kelurahan.geojson",
    "kota_padang_kelurahan.geojson",
    "kota_banda_aceh_desa.geojson",
    "yogyakarta_bantul_desa_kelurahan.geojson",
)


def _features(shared_data: Path, name: str) -> list[dict]:
    path = shared_data / "real" / "admin_boundaries_kepmendagri2025" / name
    return json.loads(path.read_text(encoding="utf-8"))["features"]


@pytest.mark.parametrize("name", FILES)
def test_every_community_becomes_a_valid_cap_area(shared_data: Path, name: str) -> None:
    features = _features(shared_data, name)
    areas = []
    for f in features:
        rings = cap_polygons(make_valid(shape(f["geometry"])))
        assert rings, f["properties"]["kode"]
        for ring in rings:
            pairs = ring.split(" ")
            assert len(pairs) >= 4 and pairs[0] == pairs[-1]
            lat, lon = map(float, pairs[0].split(","))
            assert -11 < lat < 6 and 95 < lon < 141  # lat first, inside Indonesia
        areas.append(
            CapArea(
                description=f["properties"]["nama"],
                polygons=rings,
                geocodes=[("KEMENDAGRI", f["properties"]["kode"])],
            )
        )
    sent = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    info = CapInfo(
        language="id-ID",
        category="Geo",
        event="Gempa Bumi",
        response_type="Assess",
        urgency="Immediate",
        severity="Extreme",
        certainty="Likely",
        sender_name="BPBD",
        headline="AWAS gempa bumi",
        description="uji",
        instruction="uji",
        effective=sent,
        expires=sent + timedelta(hours=24),
        areas=areas,
    )
    doc = build_cap_xml(
        CapMessage(
            identifier="siaga-uji",
            sender="siaga@localhost",
            sent=sent,
            status="Exercise",
            msg_type="Alert",
            infos=[info],
        )
    )
    xmlschema.XMLSchema(str(shared_data / "feeds" / "cap" / "CAP-v1.2.xsd")).validate(doc)
    assert len(doc) / len(features) < 6_000  # a desa stays a few KB


def test_every_real_name_fits_one_gsm7_segment(shared_data: Path) -> None:
    names = sorted({f["properties"]["nama"] for n in FILES for f in _features(shared_data, n)})
    assert len(names) > 1000
    longest = max(names, key=len)
    for place in names:
        for hazard in HAZARD_NAMES["id"]:
            ctx = MessageContext(
                kind="alert",
                hazard=hazard,
                level=AWAS,
                community_name=place,
                sender_name="BPBD Kab. Donggala",
                drill=True,
                headline="Gempa M6.1 32 km BL Donggala",
            )
            text = render(ctx, language="id", channel="sms")
            count = count_segments(text)
            assert count.encoding == "GSM-7" and count.segments == 1, text
    assert longest in render(
        MessageContext(
            kind="alert", hazard="flood", level=AWAS, community_name=longest, sender_name="BPBD"
        ),
        channel="sms",
    )
