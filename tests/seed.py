"""People's data (names, phone numbers) and places, seeded for tests that look for leaks."""

from __future__ import annotations

import math
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy.orm import Session, sessionmaker

from service.api.ogc.catalog import domain_collections
from service.auth.service import create_key
from service.communities.models import Community
from service.feeds.models import Feed, HazardEvent
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


def seed_hazard_layer(session: Session) -> HazardLayer:
    """One KRB zone layer over the seeded communities."""
    layer = HazardLayer(
        name="seed-krb",
        version=1,
        role="hazard",
        hazard="volcano",
        kind="zones",
        classification={"name": "volcano_krb", "type": "categorical", "classes": []},
        properties={},
        extent=from_shape(box(110.35, -7.72, 110.41, -7.70), srid=4326),
    )
    session.add(layer)
    session.flush()
    session.add(
        HazardZone(
            layer_id=layer.id,
            hazard_class="KRB III",
            intensity=1.0,
            properties={},
            geom=from_shape(MultiPolygon([box(110.35, -7.72, 110.41, -7.70)]), srid=4326),
        )
    )
    session.flush()
    return layer


def seed_feed_and_event(session: Session) -> tuple[list[int], list[int]]:
    """A registered feed and an earthquake event near the seeded desa."""
    from datetime import UTC, datetime

    from shapely.geometry import Point

    feed = Feed(name="uji-bmkg", kind="bmkg", url="http://127.0.0.1:9/autogempa.json",
                poll_interval_s=60, enabled=False, options={}, consecutive_failures=0,
                events_seen=0)  # fmt: skip
    event = HazardEvent(
        type="earthquake", status="active", title="Gempa M5.1 uji", magnitude=5.1, depth_km=10,
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), primary_source="bmkg",
        primary_source_id="20260102030405", revision=1, properties={}, raw={},
        epicentre=from_shape(Point(110.36, -7.75), srid=4326),
    )  # fmt: skip
    session.add_all([feed, event])
    session.flush()
    return [feed.id], [event.id]


def seed_everything(factory: sessionmaker[Session]) -> dict[str, list[Any]]:
    """Seed what exists on this branch; return candidate values per path-parameter name."""
    with factory() as s, s.begin():
        communities = seed_communities(s)
        for name, phone in zip(SEEDED_NAMES, SEEDED_PHONES, strict=True):
            create_key(session=s, name=f"{name} {phone}", role="responder")
        codes = [c.code for c in communities]
        ids = [c.id for c in communities]
        layer_ids = [seed_hazard_layer(s).id]
        feed_ids, event_ids = seed_feed_and_event(s)
        alerts_values = seed_alerts(s, codes)
        job_ids = [seed_job(s)]
    x, y = tile_of(110.36, -7.71, 12)
    return {
        "code": codes,
        "community_code": codes,
        "community_id": ids,
        "layer_id": layer_ids,
        "feed_id": feed_ids,
        "event_id": event_ids,
        "job_id": job_ids,
        "collection_id": [c.id for c in domain_collections()],
        # Items are also reached through the links the walk follows; "1" is the first row.
        "feature_id": ["1", codes[0]],
        "hazard": HAZARDS[:2],
        "level": ["district", "regency"],  # /map/areas/{level}.geojson
        "/static/app/{name}:name": ["app.js", "app.css", "i18n.js"],
        "/static/vendor/{name}:name": ["maplibre-gl.js", "maplibre-gl.css"],
        "/static/docs/{name}:name": ["swagger-ui.css", "favicon.png"],
        "/map/areas/{level}.geojson:level": ["district", "regency"],
        "z": [12],
        "x": [x],
        "y": [y],
        **alerts_values,
    }


def seed_job(session: Session) -> int:
    """A queued recompute job (the jobs table is shared by every domain)."""
    from service.jobs import RECOMPUTE_LAYER, enqueue

    return enqueue(session=session, kind=RECOMPUTE_LAYER, params={"layer_id": None})


def seed_alerts(session: Session, codes: list[str]) -> dict[str, list[Any]]:
    """A group whose tree holds the seeded people, a drill alert to them, a ground report."""
    from datetime import UTC, datetime

    from geoalchemy2.shape import from_shape
    from shapely import wkt
    from shapely.geometry import Point
    from sqlalchemy import select

    from service.alerts.drills import create_drill
    from service.alerts.models import AlertGroup, Member
    from service.alerts.replies import InboundMessage, handle_inbound
    from service.alerts.schemas import DrillIn
    from service.communities.models import Community
    from service.settings import Settings
    from service.shelters.models import Shelter

    group = AlertGroup(
        name="Destana Uji",
        community_codes=codes,
        sender_name="BPBD Sleman",
        contact_phone=SEEDED_PHONES[0],  # the posko number: for key holders only
    )
    session.add(group)
    community = session.scalar(select(Community).where(Community.code == codes[0]))
    assert community is not None
    centre = session.scalar(
        select(Community.geom.ST_PointOnSurface().ST_AsText()).where(Community.id == community.id)
    )
    shelter = Shelter(
        community_id=community.id,
        name="Balai Desa",
        kind="shelter",
        notes=f"kunci di ketua RT, hubungi {SEEDED_PHONES[2]}",  # masked for the public
        geom=from_shape(Point(wkt.loads(centre).coords[0]), srid=4326),
    )
    session.add(shelter)
    session.flush()
    members: list[Member] = []
    for name, phone in zip(SEEDED_NAMES, SEEDED_PHONES, strict=True):
        member = Member(
            group_id=group.id,
            name=name,
            phone=phone,
            role="relawan",
            parent_id=members[0].id if members else None,
        )
        session.add(member)
        session.flush()
        members.append(member)
    now = datetime.now(UTC)
    alert = create_drill(
        session=session,
        settings=Settings(env="test"),
        group_id=group.id,
        data=DrillIn(hazard="flood", level=2),
        now=now,
    )
    handle_inbound(
        session=session,
        message=InboundMessage(
            channel="whatsapp",
            phone=SEEDED_PHONES[1],
            text=f"Air masuk rumah {SEEDED_NAMES[2]}, hubungi {SEEDED_PHONES[2]} / 0812 3456 7890",
            received_at=now,
            provider="console",
            provider_message_id="seed-report-1",
        ),
    )
    return {
        "group_id": [group.id],
        "member_id": [m.id for m in members],
        "alert_id": [alert.id],
        "shelter_id": [shelter.id],
    }
