"""Risk is not a warning (issue 13 item 1) and drills and cancels never look real (item 10).

Scores from hazard maps go through the real risk_scores/hazard_layers tables and the
scheduled job; CAP documents are validated against the OASIS XSD.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xmlschema
from geoalchemy2.shape import from_shape
from lxml import etree
from shapely.geometry import box
from sqlalchemy import select

from service.alerts.creation import create_alert
from service.alerts.drills import cancel_alert, create_drill
from service.alerts.jobs import evaluate_job
from service.alerts.models import Alert, AlertRule
from service.alerts.schemas import DrillIn
from service.communities.models import Community
from service.hazards.models import HazardLayer
from service.risk.models import RiskScore
from service.runtime import Runtime

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2", "atom": "http://www.w3.org/2005/Atom"}
A, B = "32.73.01.1001", "32.73.01.1002"


@pytest.fixture(scope="module")
def schema(shared_data: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(shared_data / "feeds" / "cap" / "CAP-v1.2.xsd"))


def _now() -> datetime:
    # Recent, so the alerts are unexpired for the Atom index; 03:00 UTC is 10:00 WIB.
    return datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)


def _layer(session, name: str, version: int, **kw) -> HazardLayer:
    layer = HazardLayer(
        name=name,
        version=version,
        role="hazard",
        hazard="flood",
        kind="zones",
        title=kw.pop("title", "Rawan Banjir 2007"),
        classification={"name": "x", "type": "categorical", "classes": []},
        properties=kw.pop("properties", {}),
        extent=from_shape(box(107.6, -6.9, 107.8, -6.8), srid=4326),
        **kw,
    )
    session.add(layer)
    session.flush()
    return layer


def _score(session, code: str, layer: HazardLayer, level: str, at: datetime) -> None:
    community_id = session.scalar(select(Community.id).where(Community.code == code))
    session.query(RiskScore).filter(
        RiskScore.community_id == community_id,
        RiskScore.layer_name == layer.name,
        RiskScore.superseded_at.is_(None),
    ).update({"superseded_at": at})
    session.add(RiskScore(
        community_id=community_id, layer_id=layer.id, layer_name=layer.name, hazard="flood",
        method="coverage", score={"rendah": 0.1, "sedang": 0.5, "tinggi": 0.8}[level],
        level=level, hazard_index=0.8, vulnerability_index=0.5, capacity_index=0.5,
        computed_at=at,
    ))  # fmt: skip
    session.flush()


def _rule(session, group_id: int, **kw) -> AlertRule:
    rule = AlertRule(
        group_id=group_id,
        name=kw.pop("name", "banjir"),
        hazards=["flood"],
        trigger="risk_level",
        threshold="sedang",
        ack_minutes={},
        **kw,
    )
    session.add(rule)
    session.commit()
    return rule


def test_a_hazard_map_never_warns(settings, engine, session_factory, session, make_tree) -> None:
    """The issue's case: a static flood map at `tinggi` and a warning rule. Nothing is sent."""
    tree = make_tree()
    now = _now()
    _score(session, A, _layer(session, "banjir-2007", 1), "tinggi", now - timedelta(hours=1))
    _rule(session, tree.group.id)
    rt = Runtime(settings, engine, session_factory)
    summary = evaluate_job(rt, now=now)
    assert summary is not None
    assert summary.alerts_created == [] and summary.notices_created == []
    session.expire_all()
    assert session.scalars(select(Alert)).all() == []


def test_a_raster_feed_layer_still_warns(
    settings, engine, session_factory, session, make_tree, outbox_rows
) -> None:
    """A layer written by a raster feed (rainfall, water level) is an observation: it warns."""
    tree = make_tree()
    now = _now()
    layer = _layer(session, "tma-manggarai", 3, title="Tinggi muka air", properties={"feed_id": 7})
    _score(session, A, layer, "tinggi", now - timedelta(minutes=5))
    _rule(session, tree.group.id)
    summary = evaluate_job(Runtime(settings, engine, session_factory), now=now)
    assert summary is not None and len(summary.alerts_created) == 1
    alert = session.get(Alert, summary.alerts_created[0])
    assert alert.kind == "alert" and alert.status == "Actual"
    body = outbox_rows.sent(alert_id=alert.id)[0]["body"]
    assert "BANJIR" in body and "Balas YA" in body


def test_preparedness_notice_once_per_map_version(
    client, settings, engine, session_factory, session, make_tree, outbox_rows, schema
) -> None:
    tree = make_tree()
    now = _now()
    v1 = _layer(session, "banjir-2007", 1)
    _score(session, A, v1, "tinggi", now - timedelta(hours=1))
    _score(session, B, v1, "rendah", now - timedelta(hours=1))  # below the threshold
    _rule(session, tree.group.id, map_notice=True)
    rt = Runtime(settings, engine, session_factory)

    first = evaluate_job(rt, now=now)
    assert first is not None and first.alerts_created == [] and len(first.notices_created) == 1
    notice = session.get(Alert, first.notices_created[0])
    assert (notice.kind, notice.status, notice.community_code) == ("preparedness", "Actual", A)
    assert notice.ack_due_at is None  # nothing to acknowledge, nobody is escalated

    # Texts: what the map means and what to prepare; no warning level, no reply asked.
    sent = outbox_rows.sent(alert_id=notice.id)
    assert sent and all(r["purpose"] == "preparedness" for r in sent)
    bodies = {r["channel"]: r["body"] for r in sent}
    wa = next(r["body"] for r in sent if r["channel"] == "whatsapp")
    assert "Desa Sukamaju" in wa and "rawan banjir tinggi menurut peta Rawan Banjir 2007" in wa
    assert "bukan peringatan" in wa and "Periksa jalur evakuasi" in wa
    for body in bodies.values():
        assert "Balas YA" not in body and "SIAGA BANJIR" not in body and "AWAS" not in body

    # Once per layer version and community: a recompute of the same version sends nothing.
    _score(session, A, v1, "tinggi", now + timedelta(minutes=30))
    session.commit()
    again = evaluate_job(rt, now=now + timedelta(hours=1))
    assert again is not None and again.notices_created == [] and again.alerts_created == []
    # A new version of the map is new information: one more notice.
    v2 = _layer(session, "banjir-2007", 2)
    _score(session, A, v2, "tinggi", now + timedelta(hours=2))
    session.commit()
    third = evaluate_job(rt, now=now + timedelta(hours=3))
    assert third is not None and len(third.notices_created) == 1

    # CAP: Future / Possible / Restricted, valid against the XSD.
    r = client.get(f"/cap/alerts/{notice.id}.xml")
    assert r.status_code == 200
    schema.validate(r.content)
    doc = etree.fromstring(r.content)
    assert doc.findtext("cap:status", namespaces=NS) == "Actual"
    assert doc.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert doc.findtext("cap:scope", namespaces=NS) == "Restricted"
    assert "bukan peringatan" in doc.findtext("cap:restriction", namespaces=NS)
    for info in doc.findall("cap:info", NS):
        assert info.findtext("cap:urgency", namespaces=NS) == "Future"
        assert info.findtext("cap:certainty", namespaces=NS) == "Possible"
        assert info.findtext("cap:responseType", namespaces=NS) == "Prepare"
        assert info.findtext("cap:severity", namespaces=NS) in ("Minor", "Moderate")
    id_info = doc.find("cap:info", NS)
    assert "Bukan peringatan" in id_info.findtext("cap:description", namespaces=NS)

    # Restricted: neither the public Atom index nor the public OGC collection lists it.
    atom = etree.fromstring(client.get("/cap/alerts.atom").content)
    assert notice.identifier not in {
        e.findtext("atom:id", namespaces=NS) for e in atom.findall("atom:entry", NS)
    }
    items = client.get("/ogc/collections/alerts/items", params={"limit": 100}).json()
    assert notice.identifier not in {f["properties"]["identifier"] for f in items["features"]}


def test_notices_wait_for_the_end_of_quiet_hours(
    settings, engine, session_factory, session, make_tree
) -> None:
    from datetime import time

    tree = make_tree()
    now = _now()  # 10:00 WIB
    _score(session, A, _layer(session, "banjir-2007", 1), "tinggi", now - timedelta(hours=1))
    _rule(session, tree.group.id, map_notice=True, quiet_start=time(9), quiet_end=time(11))
    rt = Runtime(settings, engine, session_factory)
    held = evaluate_job(rt, now=now)
    assert held is not None and held.notices_created == [] and held.held == 1
    later = evaluate_job(rt, now=now + timedelta(hours=2))
    assert later is not None and len(later.notices_created) == 1


def test_posted_map_signals_follow_the_same_rule(client, session, make_tree, auth_headers):
    tree = make_tree()
    _rule(session, tree.group.id, map_notice=True)
    signal = {
        "community_code": A,
        "hazard": "flood",
        "source_ref": "peta:1",
        "risk_level": "tinggi",
    }
    r = client.post(
        "/api/v1/alerts/signals",
        headers=auth_headers("coordinator"),
        json=[{**signal, "basis": "map"}],
    )
    assert r.status_code == 200, r.text
    assert r.json()["alerts_created"] == [] and len(r.json()["notices_created"]) == 1
    r = client.post(
        "/api/v1/alerts/signals",
        headers=auth_headers("coordinator"),
        json=[{**signal, "source_ref": "pos:1"}],
    )
    assert len(r.json()["alerts_created"]) == 1  # an observation (the default basis) warns


# ---------------------------------------------------------------- item 10


def test_drills_and_cancels_never_look_real(
    client, session, settings, make_tree, outbox_rows, auth_headers
) -> None:
    tree = make_tree()
    now = datetime.now(UTC).replace(microsecond=0)
    drill = create_drill(
        session=session,
        settings=settings,
        group_id=tree.group.id,
        data=DrillIn(hazard="earthquake", level=3),
        now=now - timedelta(minutes=10),
    )
    real, _ = create_alert(  # a real alert beside the drill, then cancelled as sent in error
        session=session,
        settings=settings,
        group=tree.group,
        rule=None,
        hazard="flood",
        community_code=B,
        level=2,
        kind="alert",
        source_ref="manual:1",
        status="Actual",
        thread=None,
        headline=None,
        trigger=None,
        now=now - timedelta(minutes=5),
    )
    session.commit()
    cancel = cancel_alert(session=session, settings=settings, alert_id=real.id, now=now)
    session.commit()

    # Every drill text says LATIHAN, on every channel and language.
    bodies = [r["body"] for r in outbox_rows.sent(alert_id=drill.id)]
    assert bodies and all(b.startswith("LATIHAN") for b in bodies)

    # The Atom index: LATIHAN in the drill's title, DIBATALKAN on the cancelled alert and on
    # the cancel; never the members' reply instruction.
    raw = client.get("/cap/alerts.atom").content
    assert b"Balas YA" not in raw and b"balas YA" not in raw and b"reply YA" not in raw
    entries = {
        e.findtext("atom:id", namespaces=NS): e
        for e in etree.fromstring(raw).findall("atom:entry", NS)
    }
    session.refresh(real)
    title = {k: e.findtext("atom:title", namespaces=NS) for k, e in entries.items()}
    assert title[drill.identifier].startswith("LATIHAN")
    assert title[real.identifier].startswith("DIBATALKAN")
    assert title[cancel.identifier].startswith("DIBATALKAN")

    # The CAP headline of the drill.
    doc = etree.fromstring(client.get(f"/cap/alerts/{drill.id}.xml").content)
    assert doc.findtext("cap:info/cap:headline", namespaces=NS).startswith("LATIHAN")
    assert "balas YA" not in doc.findtext("cap:info/cap:instruction", namespaces=NS)

    # The API and the OGC collection (the map reads `label` first).
    listed = {a["id"]: a for a in client.get("/api/v1/alerts").json()}
    assert listed[real.id]["cancelled"] is True and listed[real.id]["label"].startswith(
        "DIBATALKAN"
    )
    assert listed[drill.id]["cancelled"] is False and "LATIHAN" in listed[drill.id]["label"]
    items = client.get("/ogc/collections/alerts/items", params={"limit": 100}).json()
    props = {f["properties"]["identifier"]: f["properties"] for f in items["features"]}
    assert props[real.identifier]["cancelled"] is True
    assert props[real.identifier]["label"].startswith("DIBATALKAN")
    assert props[drill.identifier]["label"].startswith("LATIHAN")
    assert b"Balas YA" not in client.get("/ogc/collections/alerts/items").content
