"""API keys over HTTP and the audit log: who changed what, with the request id."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

# Module level: FastAPI resolves the string annotations of routes defined in tests here.
from service.api.deps import CoordinatorDep
from service.ops import audit
from service.ops.audit import Actor
from service.ops.models import AuditEntry


def test_key_create_is_audited_with_key_and_request_id(
    client: TestClient, auth_headers: Callable[[str], dict[str, str]], session: Session
) -> None:
    admin = auth_headers("admin")
    r = client.post(
        "/api/v1/keys",
        json={"name": "posko-sleman", "role": "coordinator"},
        headers={**admin, "X-Request-ID": "req-42"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["x-request-id"] == "req-42"
    created = r.json()
    assert created["token"].startswith("sk_") and created["role"] == "coordinator"

    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "keys.create")).one()
    assert entry.key_name == "test-admin" and entry.role == "admin" and entry.key_id is not None
    assert entry.target == f"api_key:{created['id']}"
    assert entry.details["role"] == "coordinator"
    assert entry.request_id == "req-42"
    assert "token" not in entry.details  # the secret never reaches the log

    # The new key works, and can read nothing admin-only.
    new = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/v1/audit", headers=new).status_code == 403

    r = client.delete(f"/api/v1/keys/{created['id']}", headers=admin)
    assert r.status_code == 204
    assert client.get("/api/v1/audit", headers=new).status_code == 401

    page = client.get("/api/v1/audit", headers=admin).json()
    assert [e["action"] for e in page["entries"]] == ["keys.revoke", "keys.create"]


def test_failed_write_leaves_no_audit_entry(
    client: TestClient, admin_headers: dict[str, str], session: Session
) -> None:
    r = client.delete("/api/v1/keys/999999", headers=admin_headers)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert session.scalar(select(AuditEntry.id)) is None


def test_record_rolls_back_with_the_change(session_factory: sessionmaker[Session]) -> None:
    try:
        with session_factory() as s, s.begin():
            audit.record(session=s, actor=Actor.cli(), action="groups.create", target="group:1")
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    with session_factory() as s:
        assert s.scalar(select(AuditEntry.id)) is None
    with session_factory() as s, s.begin():
        audit.record(session=s, actor=Actor.system("risk.recompute"), action="risk.recompute")
    with session_factory() as s:
        got = s.scalars(select(AuditEntry)).one()
        assert got.key_name == "job:risk.recompute" and got.key_id is None


def test_audit_list_filters_and_pages(
    client: TestClient, admin_headers: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as s, s.begin():
        for i in range(5):
            audit.record(session=s, actor=Actor.cli(), action="groups.update", target=f"group:{i}")
        audit.record(session=s, actor=Actor.cli(), action="keys.create", target="api_key:9")
    r = client.get("/api/v1/audit?action=groups.&limit=2", headers=admin_headers)
    body = r.json()
    assert [e["target"] for e in body["entries"]] == ["group:4", "group:3"]
    r = client.get(
        f"/api/v1/audit?action=groups.&limit=2&before_id={body['next_before_id']}",
        headers=admin_headers,
    )
    assert [e["target"] for e in r.json()["entries"]] == ["group:2", "group:1"]
    assert client.get("/api/v1/audit", headers={}).status_code == 401


def test_domain_write_routes_are_audited(
    client: TestClient,
    auth_headers: Callable[[str], dict[str, str]],
    session_factory: sessionmaker[Session],
) -> None:
    from tests.seed import seed_communities

    with session_factory() as s, s.begin():
        code = seed_communities(s, 1)[0].code
    r = client.patch(
        f"/api/v1/communities/{code}",
        json={"population": 4321},
        headers={**auth_headers("coordinator"), "X-Request-ID": "patch-1"},
    )
    assert r.status_code == 200, r.text
    with session_factory() as s:
        entries = list(s.scalars(select(AuditEntry)))
    assert len(entries) == 1  # the explicit entry; the fallback does not add a second
    e = entries[0]
    assert (e.action, e.target, e.role) == (
        "communities.update",
        f"community:{code}",
        "coordinator",
    )
    assert e.details == {"population": 4321} and e.request_id == "patch-1"


def test_unaudited_write_routes_get_a_fallback_entry(
    app: FastAPI,
    auth_headers: Callable[[str], dict[str, str]],
    session_factory: sessionmaker[Session],
) -> None:
    @app.post("/api/v1/test-only-write")
    def write(_: CoordinatorDep) -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as c:
        r = c.post("/api/v1/test-only-write?x=1", headers=auth_headers("admin"))
        assert r.status_code == 200, r.text
        assert c.post("/api/v1/test-only-write").status_code == 401  # refused: not audited
    with session_factory() as s:
        entry = s.scalars(select(AuditEntry)).one()
    assert entry.action == "http.POST" and entry.target == "/api/v1/test-only-write"
    assert entry.key_name == "test-admin" and entry.details["query"] == "x=1"
