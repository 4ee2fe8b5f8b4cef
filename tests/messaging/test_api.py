"""The outbox as the API shows it: deliveries with their status history, inbound messages."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.messaging.dispatcher import Dispatcher
from service.settings import AlertSettings
from tests.messaging.conftest import drain_all, enqueue_fanout, phones


def test_console_messages_are_visible_in_the_api(
    client: TestClient, session_factory: Any, auth_headers: Any
) -> None:
    ids = enqueue_fanout(session_factory, phones(2), alert_id=7)
    d = Dispatcher.from_settings(session_factory=session_factory, settings=AlertSettings())
    try:
        drain_all(session_factory, [d], timeout=10)
    finally:
        d.close()
    headers = auth_headers("responder")  # phone numbers: responder and admin only
    r = client.get("/api/v1/messaging/deliveries", params={"alert_id": 7}, headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 2
    item = body["items"][0]
    assert item["id"] == ids[-1] and item["status"] == "delivered" and item["provider"] == "console"
    assert item["body"].startswith("PERINGATAN")
    assert [h["status"] for h in item["history"]] == ["accepted"]
    one = client.get(f"/api/v1/messaging/deliveries/{ids[0]}", headers=headers)
    assert one.status_code == 200 and one.json()["phone"] == phones(1)[0]


def test_deliveries_need_a_key_and_unknown_ids_are_404(
    client: TestClient, auth_headers: Any
) -> None:
    r = client.get("/api/v1/messaging/deliveries")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    viewer = client.get("/api/v1/messaging/deliveries", headers=auth_headers("viewer"))
    assert viewer.status_code == 403  # phone numbers are not for every key
    coordinator = client.get("/api/v1/messaging/deliveries", headers=auth_headers("coordinator"))
    assert coordinator.status_code == 403  # nor for coordinators: responder and admin only
    missing = client.get("/api/v1/messaging/deliveries/999999", headers=auth_headers("responder"))
    assert missing.status_code == 404
    bad = client.get(
        "/api/v1/messaging/deliveries", params={"limit": 0}, headers=auth_headers("responder")
    )
    assert bad.status_code == 400
