"""Groups, members, CSV import and rules over the API: roles, PII, clear 4xx, all-or-nothing."""

from __future__ import annotations

import pytest

from tests.alerts.conftest import add_community

CODE_A, CODE_B = "32.73.01.1001", "32.73.01.1002"


@pytest.fixture
def coordinator(auth_headers):
    return auth_headers("coordinator")


@pytest.fixture
def group_id(client, session, coordinator) -> int:
    add_community(session, CODE_A, "Sukamaju")
    add_community(session, CODE_B, "Sukaraja", x=107.7)
    session.commit()
    r = client.post(
        "/api/v1/groups",
        headers=coordinator,
        json={"name": "Destana Sukamaju", "community_codes": [CODE_A, CODE_B]},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_group_crud_and_roles(client, session, group_id, coordinator, auth_headers) -> None:
    assert (
        client.post("/api/v1/groups", json={"name": "x", "community_codes": [CODE_A]}).status_code
        == 401
    )
    viewer = auth_headers("viewer")
    r = client.post(
        "/api/v1/groups", headers=viewer, json={"name": "x", "community_codes": [CODE_A]}
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/groups", headers=coordinator, json={"name": "y", "community_codes": ["99.99"]}
    )
    assert r.status_code == 400 and "99.99" in r.json()["detail"]
    r = client.post(
        "/api/v1/groups",
        headers=coordinator,
        json={"name": "Destana Sukamaju", "community_codes": [CODE_A]},
    )
    assert r.status_code == 409
    r = client.patch(
        f"/api/v1/groups/{group_id}", headers=coordinator, json={"sender_name": "BPBD Kab Bandung"}
    )
    assert r.status_code == 200 and r.json()["sender_name"] == "BPBD Kab Bandung"
    assert client.get("/api/v1/groups").json()[0]["name"] == "Destana Sukamaju"
    assert client.get("/api/v1/groups/424242").status_code == 404


def test_members_pii_only_for_responders(client, group_id, coordinator, auth_headers) -> None:
    r = client.post(
        f"/api/v1/groups/{group_id}/members",
        headers=coordinator,
        json={"name": "Ibu Siti", "phone": "0812-3456-7890", "channel": "sms"},
    )
    assert r.status_code == 201, r.text
    head = r.json()["id"]
    r = client.post(
        f"/api/v1/groups/{group_id}/members",
        headers=coordinator,
        json={"name": "Pak Budi", "phone": "+62 813 1111 2222", "parent_id": head},
    )
    assert r.status_code == 201
    r = client.post(
        f"/api/v1/groups/{group_id}/members",
        headers=coordinator,
        json={"name": "Salah", "phone": "bukan nomor"},
    )
    assert r.status_code == 422 and "not a phone number" in r.json()["detail"]
    for phone, reason in [("+99912345678", "nomor internasional"), ("+442079460000", "nomor HP")]:
        r = client.post(
            f"/api/v1/groups/{group_id}/members",
            headers=coordinator,
            json={"name": "Tamu", "phone": phone, "channel": "whatsapp"},
        )
        assert r.status_code == 422 and reason in r.json()["detail"], r.text
    r = client.post(
        f"/api/v1/groups/{group_id}/members",
        headers=coordinator,
        json={"name": "Dobel", "phone": "6281234567890"},
    )
    assert r.status_code == 409

    anonymous = client.get(f"/api/v1/groups/{group_id}/members").json()
    assert len(anonymous) == 2 and all("phone" not in m and "name" not in m for m in anonymous)
    assert anonymous[1]["parent_id"] == head
    coordinator_view = client.get(f"/api/v1/groups/{group_id}/members", headers=coordinator).json()
    assert all("phone" not in m for m in coordinator_view)
    responder = client.get(
        f"/api/v1/groups/{group_id}/members", headers=auth_headers("responder")
    ).json()
    assert [m["phone"] for m in responder] == ["+6281234567890", "+6281311112222"]

    # The tree cannot loop and cannot point outside the group.
    r = client.patch(
        f"/api/v1/groups/{group_id}/members/{head}",
        headers=coordinator,
        json={"parent_id": anonymous[1]["id"]},
    )
    assert r.status_code == 400 and "loop" in r.json()["detail"]
    r = client.patch(
        f"/api/v1/groups/{group_id}/members/{head}", headers=coordinator, json={"backup_id": 999}
    )
    assert r.status_code == 400


CSV_OK = """name;phone;channel;language;role;parent_phone;backup_phone;community_code;consent
Ibu Siti;0812-3456-7890;wa;id;ketua;;;32.73.01.1001;ya
Pak Budi;+62 813 1111 2222;sms;en;;081234567890;081399998888;;
Neng Euis;081399998888;;;;081234567890;;;tidak
"""


def test_csv_import_all_rows(client, group_id, coordinator, auth_headers) -> None:
    r = client.post(
        f"/api/v1/groups/{group_id}/members/import",
        headers={**coordinator, "Content-Type": "text/csv"},
        content=CSV_OK.encode(),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 3, "updated": 0, "errors": []}
    members = client.get(f"/api/v1/groups/{group_id}/members", headers=auth_headers("admin")).json()
    by_name = {m["name"]: m for m in members}
    assert by_name["Pak Budi"]["parent_id"] == by_name["Ibu Siti"]["id"]
    assert by_name["Pak Budi"]["backup_id"] == by_name["Neng Euis"]["id"]
    assert (by_name["Pak Budi"]["channel"], by_name["Pak Budi"]["language"]) == ("sms", "en")
    assert by_name["Neng Euis"]["consent"] is False
    # Importing again updates by phone, as multipart this time.
    r = client.post(
        f"/api/v1/groups/{group_id}/members/import",
        headers=coordinator,
        files={
            "file": ("anggota.csv", CSV_OK.replace("ketua", "koordinator").encode(), "text/csv")
        },
    )
    assert r.json() == {"created": 0, "updated": 3, "errors": []}


def test_csv_errors_per_row_and_nothing_written(client, group_id, coordinator) -> None:
    bad = (
        "name,phone,channel,parent_phone\n"
        "Ibu Siti,081234567890,whatsapp,\n"
        ",08123,pos,\n"
        "Pak Budi,021-555-1234,sms,\n"
        "Dobel,+6281234567890,sms,\n"
        "Anak,081377776666,sms,081200000000\n"
    )
    r = client.post(
        f"/api/v1/groups/{group_id}/members/import",
        headers={**coordinator, "Content-Type": "text/csv"},
        content=bad.encode(),
    )
    assert r.status_code == 400
    body = r.json()
    assert "nothing was imported" in body["detail"]
    where = {(e["row"], e["column"]) for e in body["errors"]}
    assert where == {
        (3, "name"),
        (3, "phone"),
        (3, "channel"),
        (4, "phone"),
        (5, "phone"),
        (6, "parent_phone"),
    }
    assert client.get(f"/api/v1/groups/{group_id}/members").json() == []
    r = client.post(
        f"/api/v1/groups/{group_id}/members/import",
        headers={**coordinator, "Content-Type": "text/csv"},
        content=b"nama,hp\nx,y\n",
    )
    assert r.status_code == 400 and "name, phone" in r.json()["detail"]
    r = client.post(
        f"/api/v1/groups/{group_id}/members/import",
        headers={**coordinator, "Content-Type": "text/csv"},
        content=b"\xff\xfe",
    )
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]


def test_rules_validate_thresholds(client, group_id, coordinator) -> None:
    url = f"/api/v1/groups/{group_id}/rules"
    r = client.post(
        url,
        headers=coordinator,
        json={
            "name": "gempa",
            "hazards": ["earthquake"],
            "trigger": "mmi",
            "threshold": "5",
            "quiet_start": "22:00",
            "quiet_end": "05:00",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["quiet_start"] == "22:00:00"
    r = client.post(
        url,
        headers=coordinator,
        json={"name": "x", "hazards": ["flood"], "trigger": "risk_level", "threshold": "parah"},
    )
    assert r.status_code == 400 and "sedang" in r.json()["detail"]
    r = client.post(
        url,
        headers=coordinator,
        json={
            "name": "x",
            "hazards": ["flood"],
            "trigger": "risk_level",
            "threshold": "sedang",
            "timezone": "Mars/Olympus",
        },
    )
    assert r.status_code == 400 and "timezone" in r.json()["detail"]
    r = client.post(
        url,
        headers=coordinator,
        json={
            "name": "x",
            "hazards": ["flood"],
            "trigger": "risk_level",
            "threshold": "sedang",
            "quiet_start": "22:00",
        },
    )
    assert r.status_code == 400
    assert len(client.get(url).json()) == 1


def test_signals_drill_and_alert_views(
    client, group_id, coordinator, auth_headers, outbox_rows
) -> None:
    client.post(
        f"/api/v1/groups/{group_id}/members/import",
        headers={**coordinator, "Content-Type": "text/csv"},
        content=CSV_OK.encode(),
    )
    client.post(
        f"/api/v1/groups/{group_id}/rules",
        headers=coordinator,
        json={
            "name": "banjir",
            "hazards": ["flood"],
            "trigger": "risk_level",
            "threshold": "sedang",
        },
    )
    signal = {
        "community_code": CODE_A,
        "hazard": "flood",
        "source_ref": "manual:1",
        "risk_level": "tinggi",
    }
    r = client.post("/api/v1/alerts/signals", headers=coordinator, json=[signal])
    assert r.status_code == 200 and len(r.json()["alerts_created"]) == 1
    alert_id = r.json()["alerts_created"][0]
    assert (
        client.post("/api/v1/alerts/signals", headers=coordinator, json=[signal]).json()[
            "alerts_created"
        ]
        == []
    )

    listed = client.get("/api/v1/alerts").json()
    assert [a["id"] for a in listed] == [alert_id]
    assert listed[0]["counts"]["recipients"] == 3 and listed[0]["counts"]["enqueued"] == 2
    public = client.get(f"/api/v1/alerts/{alert_id}").json()
    assert all("phone" not in r and "name" not in r for r in public["recipients"])
    private = client.get(f"/api/v1/alerts/{alert_id}", headers=auth_headers("responder")).json()
    assert {r["phone"] for r in private["recipients"]} == {
        "+6281234567890",
        "+6281311112222",
        "+6281399998888",
    }
    assert {r["status"] for r in private["recipients"]} == {"pending", "skipped"}

    r = client.post(
        f"/api/v1/groups/{group_id}/drills", headers=coordinator, json={"hazard": "tsunami"}
    )
    assert r.status_code == 201 and r.json()["status"] == "Exercise"
    assert all(x["body"].startswith("LATIHAN") for x in outbox_rows.sent(alert_id=r.json()["id"]))
    r = client.post(f"/api/v1/alerts/{alert_id}/cancel", headers=coordinator)
    assert r.status_code == 201 and r.json()["msg_type"] == "Cancel"
    assert client.post(f"/api/v1/alerts/{alert_id}/cancel", headers=coordinator).status_code == 409
    assert client.get("/api/v1/alerts/777").status_code == 404


def test_stop_reply_shows_as_opted_out(client, session, group_id, coordinator) -> None:
    from datetime import UTC, datetime

    from service.messaging.inbound import receive

    r = client.post(
        f"/api/v1/groups/{group_id}/members",
        headers=coordinator,
        json={"name": "Ibu Siti", "phone": "081234567890"},
    )
    member_id = r.json()["id"]
    at = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    with session.begin():
        assert (
            receive(
                session,
                provider="console",
                provider_message_id="in-1",
                channel="whatsapp",
                phone="+6281234567890",
                text_="BERHENTI",
                received_at=at,
            )
            == "stop"
        )
    url = f"/api/v1/groups/{group_id}/members/{member_id}"
    assert client.get(url).json()["opted_out"] is True
    with session.begin():
        receive(
            session,
            provider="console",
            provider_message_id="in-2",
            channel="whatsapp",
            phone="+6281234567890",
            text_="MULAI",
            received_at=at,
        )
    assert client.get(url).json()["opted_out"] is False


def test_group_with_alerts_is_kept(client, group_id, coordinator, outbox_rows) -> None:
    r = client.post(f"/api/v1/groups/{group_id}/drills", headers=coordinator, json={})
    assert r.status_code == 201
    r = client.delete(f"/api/v1/groups/{group_id}", headers=coordinator)
    assert r.status_code == 409 and "audit" in r.json()["detail"]
    r = client.post(
        "/api/v1/groups", headers=coordinator, json={"name": "Kosong", "community_codes": [CODE_B]}
    )
    assert client.delete(f"/api/v1/groups/{r.json()['id']}", headers=coordinator).status_code == 204
