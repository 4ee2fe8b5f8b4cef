"""Coordinator keys bound to groups: their groups' people, rules, drills and deliveries, and
nothing of other groups' people. Unbound coordinator keys keep today's rights."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from tests.alerts.conftest import add_community

CODE_A, CODE_B = "32.73.01.1001", "32.73.01.1002"


@pytest.fixture
def two_groups(client: Any, session: Any, auth_headers: Any) -> tuple[int, int]:
    add_community(session, CODE_A, "Sukamaju")
    add_community(session, CODE_B, "Sukaraja", x=107.7)
    session.commit()
    coordinator = auth_headers("coordinator")
    ids = []
    for name, code, phone in (
        ("Destana A", CODE_A, "+6281100000001"),
        ("Destana B", CODE_B, "+6281100000002"),
    ):
        r = client.post(
            "/api/v1/groups", headers=coordinator, json={"name": name, "community_codes": [code]}
        )
        assert r.status_code == 201, r.text
        gid = r.json()["id"]
        r = client.post(
            f"/api/v1/groups/{gid}/members",
            headers=coordinator,
            json={"name": f"Ketua {name}", "phone": phone, "channel": "sms"},
        )
        assert r.status_code == 201, r.text
        ids.append(gid)
    return ids[0], ids[1]


def bound_key(client: Any, admin_headers: Any, *group_ids: int) -> dict[str, str]:
    r = client.post(
        "/api/v1/keys",
        headers=admin_headers,
        json={"name": "koordinator A", "role": "coordinator", "group_ids": list(group_ids)},
    )
    assert r.status_code == 201, r.text
    assert r.json()["group_ids"] == sorted(group_ids)
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_bound_key_sees_its_groups_people_and_nothing_of_others(
    client: Any, two_groups: tuple[int, int], admin_headers: Any, auth_headers: Any
) -> None:
    a, b = two_groups
    key = bound_key(client, admin_headers, a)
    assert client.get("/api/v1/keys/me", headers=key).json()["group_ids"] == [a]
    [member] = client.get(f"/api/v1/groups/{a}/members", headers=key).json()
    assert (member["name"], member["phone"]) == ("Ketua Destana A", "+6281100000001")
    for method, path, body in (
        ("GET", f"/api/v1/groups/{b}/members", None),
        ("POST", f"/api/v1/groups/{b}/members", {"name": "X", "phone": "+6281100000009"}),
        ("PATCH", f"/api/v1/groups/{b}", {"sender_name": "X"}),
        ("DELETE", f"/api/v1/groups/{b}", None),
        (
            "POST",
            f"/api/v1/groups/{b}/rules",
            {"name": "r", "hazards": ["flood"], "trigger": "mmi", "threshold": "5"},
        ),
        ("POST", f"/api/v1/groups/{b}/drills", {}),
        ("POST", "/api/v1/groups", {"name": "new", "community_codes": [CODE_A]}),
    ):
        r = client.request(method, path, headers=key, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert "bound" in r.json()["detail"]
    # An unbound coordinator keeps today's rights: writes anywhere, reads no names.
    unbound = auth_headers("coordinator")
    [shape] = client.get(f"/api/v1/groups/{b}/members", headers=unbound).json()
    assert "phone" not in shape and "name" not in shape


def test_bound_key_writes_its_rules_drills_and_reads_its_deliveries(
    client: Any, two_groups: tuple[int, int], admin_headers: Any, auth_headers: Any
) -> None:
    a, b = two_groups
    key = bound_key(client, admin_headers, a)
    r = client.post(
        f"/api/v1/groups/{a}/rules",
        headers=key,
        json={"name": "gempa", "hazards": ["earthquake"], "trigger": "mmi", "threshold": "5"},
    )
    assert r.status_code == 201, r.text
    drill_a = client.post(f"/api/v1/groups/{a}/drills", headers=key, json={})
    assert drill_a.status_code == 201, drill_a.text
    [recipient] = drill_a.json()["recipients"]
    assert recipient.get("phone") == "+6281100000001"  # names and numbers of its own group
    other = client.post(f"/api/v1/groups/{b}/drills", headers=auth_headers("coordinator"), json={})
    assert other.status_code == 201
    listed = client.get("/api/v1/messaging/deliveries", headers=key).json()
    assert {d["phone"] for d in listed["items"]} == {"+6281100000001"}  # filtered
    everything = client.get("/api/v1/messaging/deliveries", headers=auth_headers("responder"))
    assert everything.json()["total"] == 2
    theirs = next(d for d in everything.json()["items"] if d["phone"] == "+6281100000002")
    assert (
        client.get(f"/api/v1/messaging/deliveries/{theirs['id']}", headers=key).status_code == 404
    )
    detail = client.get(f"/api/v1/alerts/{other.json()['id']}", headers=key).json()
    assert "+6281100000002" not in str(detail)
    # Unbound coordinators keep today's rights: no deliveries (they carry numbers).
    unbound = client.get("/api/v1/messaging/deliveries", headers=auth_headers("coordinator"))
    assert unbound.status_code == 403


def test_binding_is_checked(client: Any, two_groups: tuple[int, int], admin_headers: Any) -> None:
    r = client.post(
        "/api/v1/keys",
        headers=admin_headers,
        json={"name": "x", "role": "responder", "group_ids": [two_groups[0]]},
    )
    assert r.status_code == 400 and "only coordinator keys" in r.json()["detail"]
    r = client.post(
        "/api/v1/keys",
        headers=admin_headers,
        json={"name": "x", "role": "coordinator", "group_ids": [987654]},
    )
    assert r.status_code == 400 and "987654" in r.json()["detail"]


def test_cli_binds_a_key_to_repeated_groups(
    two_groups: tuple[int, int], settings: Any, monkeypatch: pytest.MonkeyPatch, client: Any
) -> None:
    from service.cli import app as cli

    monkeypatch.setenv("DATABASE_URL", settings.database.url)
    a, b = two_groups
    result = CliRunner().invoke(
        cli, ["keys", "create", "--role", "coordinator", "--group", str(a), "--group", str(b)]
    )
    assert result.exit_code == 0, result.output
    assert f"bound to group(s) {a}, {b}" in result.output
    token = result.output.split(": ")[-1].strip()
    me = client.get("/api/v1/keys/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["group_ids"] == [a, b]


def test_unknown_member_fields_are_refused(
    client: Any, two_groups: tuple[int, int], auth_headers: Any
) -> None:
    a, _ = two_groups
    coordinator = auth_headers("coordinator")
    r = client.post(
        f"/api/v1/groups/{a}/members",
        headers=coordinator,
        json={"name": "Warga", "phone": "+6281100000010", "parent_phone": "+6281100000001"},
    )
    assert r.status_code == 422, r.text
    assert "parent_phone" in r.text and "parent_id" in r.text
    [member] = client.get(f"/api/v1/groups/{a}/members", headers=auth_headers("admin")).json()
    r = client.patch(
        f"/api/v1/groups/{a}/members/{member['id']}", headers=coordinator, json={"nmae": "typo"}
    )
    assert r.status_code == 422 and "nmae" in r.text
    assert len(client.get(f"/api/v1/groups/{a}/members").json()) == 1  # nothing half-written
