"""CAP 1.2 output validated against the official XSD for Alert, Update, Cancel and Exercise."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from service.alerts.cap_xml import cap_polygons, cap_time
from service.alerts.drills import cancel_alert, create_drill
from service.alerts.evaluation import evaluate_signals
from service.alerts.models import AlertRule
from service.alerts.rules import Signal
from service.alerts.schemas import DrillIn

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2", "atom": "http://www.w3.org/2005/Atom"}
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
CODE = "32.73.01.1001"


@pytest.fixture(scope="module")
def schema(shared_data: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(shared_data / "feeds" / "cap" / "CAP-v1.2.xsd"))


def test_schema_accepts_the_oasis_example(schema, shared_data: Path) -> None:
    assert schema.is_valid(
        str(shared_data / "feeds" / "cap" / "oasis_example_amber_alert_cap12.xml")
    )


def test_cap_time_has_offset_and_no_fraction() -> None:
    t = datetime(2026, 11, 23, 15, 4, 5, 123456, tzinfo=UTC)
    assert cap_time(t) == "2026-11-23T22:04:05+07:00"
    assert cap_time(t, "UTC") == "2026-11-23T15:04:05+00:00"
    assert cap_time(t, "Asia/Jayapura") == "2026-11-24T00:04:05+09:00"


def test_polygons_closed_lat_lon() -> None:
    from shapely.geometry import box

    rings = cap_polygons(box(107.6, -6.9, 107.62, -6.88))
    pairs = rings[0].split(" ")
    assert pairs[0] == pairs[-1] and len(pairs) >= 4
    lat, lon = map(float, pairs[0].split(","))
    assert -7 < lat < -6 and 107 < lon < 108


def _alerts_of_every_kind(session, settings, tree) -> dict[str, int]:
    session.add(
        AlertRule(
            group_id=tree.group.id,
            name="banjir",
            hazards=["flood"],
            trigger="risk_level",
            threshold="sedang",
            cooldown_minutes=60,
            all_clear_after_minutes=30,
            ack_minutes={},
        )
    )
    session.commit()
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    sig = Signal(CODE, "flood", "layer:1:v1", now, risk_level="sedang", headline="Air naik")
    alert = evaluate_signals(
        session=session, settings=settings, signals=[sig], now=now
    ).alerts_created[0]
    up_at = now + timedelta(minutes=10)
    update = evaluate_signals(
        session=session,
        settings=settings,
        signals=[Signal(CODE, "flood", "layer:1:v2", up_at, risk_level="tinggi")],
        now=up_at,
    ).alerts_created[0]
    evaluate_signals(
        session=session, settings=settings, signals=[], now=up_at + timedelta(minutes=1)
    )
    clear = evaluate_signals(
        session=session, settings=settings, signals=[], now=up_at + timedelta(minutes=40)
    ).all_clears[0]
    drill = create_drill(
        session=session,
        settings=settings,
        group_id=tree.group.id,
        data=DrillIn(hazard="earthquake", level=3),
        now=now + timedelta(hours=1),
    )
    cancel = cancel_alert(
        session=session,
        settings=settings,
        alert_id=drill.id,
        now=now + timedelta(hours=1, minutes=2),
    )
    session.commit()
    return {
        "Alert": alert,
        "Update": update,
        "AllClear": clear,
        "Exercise": drill.id,
        "Cancel": cancel.id,
    }


def test_every_kind_validates_against_the_xsd(
    client, session, settings, make_tree, outbox_rows, schema
) -> None:
    tree = make_tree()
    ids = _alerts_of_every_kind(session, settings, tree)
    docs = {}
    for kind, alert_id in ids.items():
        r = client.get(f"/cap/alerts/{alert_id}.xml")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/cap+xml")
        schema.validate(r.content)  # raises with the reason when invalid
        docs[kind] = etree.fromstring(r.content)
        for path in ("cap:sent", "cap:info/cap:effective", "cap:info/cap:expires"):
            for el in docs[kind].findall(path, NS):
                assert CAP_TIME.match(el.text), el.text

    def one(kind: str, path: str) -> str:
        return docs[kind].findtext(path, namespaces=NS)

    assert [one(k, "cap:msgType") for k in ("Alert", "Update", "AllClear", "Cancel")] == [
        "Alert",
        "Update",
        "Update",
        "Cancel",
    ]
    assert one("Exercise", "cap:status") == "Exercise" and one("Alert", "cap:status") == "Actual"
    first = one("Alert", "cap:identifier")
    sender = one("Alert", "cap:sender")
    # Updates and the all-clear reference the first alert first.
    for kind in ("Update", "AllClear"):
        refs = one(kind, "cap:references").split(" ")
        assert refs[0].startswith(f"{sender},{first},")
    assert len(one("AllClear", "cap:references").split(" ")) == 2
    assert one("Cancel", "cap:references").split(",")[1] == one("Exercise", "cap:identifier")
    assert one("AllClear", "cap:info/cap:responseType") == "AllClear"
    assert one("Alert", "cap:references") is None
    langs = [el.text for el in docs["Alert"].findall("cap:info/cap:language", NS)]
    assert langs == ["id-ID", "en-US"]
    assert "LATIHAN" in one("Exercise", "cap:info/cap:headline")
    assert one("Alert", "cap:info/cap:area/cap:geocode/cap:value") == CODE
    assert len(docs["Alert"].find("cap:info", NS).findall("cap:area/cap:polygon", NS)) == 1


def test_atom_index_lists_unexpired(client, session, settings, make_tree, outbox_rows) -> None:
    tree = make_tree()
    ids = _alerts_of_every_kind(session, settings, tree)
    from service.alerts.models import Alert

    expired = session.get(Alert, ids["Alert"])
    expired.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    session.commit()
    r = client.get("/cap/alerts.atom")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    feed = etree.fromstring(r.content)
    entries = feed.findall("atom:entry", NS)
    assert len(entries) == len(ids) - 1
    listed = {e.findtext("atom:id", namespaces=NS) for e in entries}
    assert expired.identifier not in listed
    link = entries[0].find("atom:link", NS).get("href")
    assert re.search(r"/cap/alerts/\d+\.xml$", link)
    for e in entries:
        assert CAP_TIME.match(e.findtext("atom:updated", namespaces=NS))


def test_unknown_alert_is_404(client) -> None:
    r = client.get("/cap/alerts/999999.xml")
    assert r.status_code == 404 and "999999" in r.json()["detail"]


def test_ogc_alerts_and_reports_collections(
    client, session, settings, make_tree, outbox_rows, auth_headers
) -> None:
    from service.alerts.replies import InboundMessage, handle_inbound

    tree = make_tree()
    ids = _alerts_of_every_kind(session, settings, tree)
    handle_inbound(
        session=session,
        message=InboundMessage(
            channel="whatsapp",
            phone=tree.members["warga1"].phone,
            text="Tanggul jebol, Warga2 luka, hubungi Pak Ujang 0812-9999-8888",
            received_at=datetime.now(UTC),
            provider="console",
            provider_message_id="r1",
        ),
    )
    session.commit()
    r = client.get("/ogc/collections/alerts/items", params={"limit": 100})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    features = r.json()["features"]
    assert len(features) == len(ids)
    props = {f["properties"]["identifier"]: f for f in features}
    first = next(f for f in features if f["id"] in (ids["Alert"], str(ids["Alert"])))
    assert (
        first["properties"]["level_name"] == "waspada"
        and first["geometry"]["type"] == "MultiPolygon"
    )
    assert all("+628" not in str(f) for f in props.values())
    r = client.get("/ogc/collections/alerts/items", params={"cap_status": "Exercise"})
    drill = sorted(
        (f["properties"]["cap_status"], f["properties"]["kind"]) for f in r.json()["features"]
    )
    assert drill == [("Exercise", "alert"), ("Exercise", "cancel")]  # the drill and its cancel

    assert client.get("/ogc/collections/reports/items").status_code in (401, 404)
    # Report texts may name people: responders and admins only (see tests/test_pii_walk.py).
    viewer = client.get("/ogc/collections/reports/items", headers=auth_headers("viewer"))
    assert viewer.status_code == 404
    r = client.get("/ogc/collections/reports/items", headers=auth_headers("responder"))
    assert r.status_code == 200
    (report,) = r.json()["features"]
    assert report["properties"]["text"] == (
        "Tanggul jebol, [nama disembunyikan] luka, hubungi Pak Ujang [nomor disembunyikan]"
    )
    assert report["properties"]["community_code"] == CODE and report["geometry"]["type"] == "Point"
