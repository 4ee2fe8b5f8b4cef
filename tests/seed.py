"""People's data (names, phone numbers) and places, seeded for tests that look for leaks."""

from __future__ import annotations

import math
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy.orm import Session, sessionmaker

from service.auth.service import create_key
from service.communities.models import Community
from service.hazards.models import HazardLayer, HazardZone

SEEDED_PHONES = ["+6281234567890", "+6285712345678", "+6287700011122"]
SEEDED_NAMES = ["Siti Rahayu Wulandari", "Bambang Sutrisno Hadi", "Dewi Kartika Sari"]
HAZARDS = ["flood", "earthquake", "tsunami", "volcano", "landslide", "extreme_weather"]


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ (web mercator) tile holding a point."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def seed_communities(session: Session, n: int = 3) -> list[Community]:
    """Small desa squares near Sleman, DIY, coded like Kemendagri codes."""
    rows = []
    for i in range(n):
        x, y = 110.35 + 0.02 * i, -7.72
        rows.append(
            Community(
                code=f"34.04.01.200{i + 1}",
                name=f"Desa Uji {i + 1}",
                level="desa",
                province_code="34",
                province_name="DI Yogyakarta",
                regency_code="34.04",
                regency_name="Sleman",
                population=2000 + 100 * i,
                area_km2=4.0,
                share_elderly=0.1,
                share_children=0.25,
                properties={},
                geom=from_shape(MultiPolygon([box(x, y, x + 0.02, y + 0.02)]), srid=4326),
            )
        )
    session.add_all(rows)
    session.flush()
    return rows


def seed_everything(factory: sessionmaker[Session]) -> dict[str, list[Any]]:
    """Seed what exists on this branch; return candidate values per path-parameter name."""
    with factory() as s, s.begin():
        communities = seed_communities(s)
        for name, phone in zip(SEEDED_NAMES, SEEDED_PHONES, strict=True):
            create_key(session=s, name=f"{name} {phone}", role="responder")
        codes = [c.code for c in communities]
        ids = [c.id for c in communities]
        layer = HazardLayer(
            name="banjir-uji",
            version=1,
            role="hazard",
            hazard="flood",
            kind="zones",
            title="Zona banjir uji",
            source="test",
            classification={},
            properties={},
        )
        s.add(layer)
        s.flush()
        s.add(
            HazardZone(
                layer_id=layer.id,
                hazard_class="tinggi",
                intensity=1.0,
                properties={},
                geom=from_shape(MultiPolygon([box(110.35, -7.72, 110.38, -7.70)]), srid=4326),
            )
        )
        layer_ids = [layer.id]
    x, y = tile_of(110.36, -7.71, 12)
    return {
        "code": codes,
        "community_code": codes,
        "community_id": ids,
        "hazard": HAZARDS[:2],
        "layer_id": layer_ids,
        "/static/app/{name}:name": ["app.js", "app.css", "i18n.js"],
        "/static/vendor/{name}:name": ["maplibre-gl.js", "maplibre-gl.css"],
        "z": [12],
        "x": [x],
        "y": [y],
    }
