"""The feed registry API and CLI: writes need a coordinator key; polls go over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli import app as cli_app
from tests.fakes.feed_server import FeedServer, Route

FEED = {"name": "bmkg-autogempa", "kind": "bmkg", "url": "http://127.0.0.1:9/autogempa.json"}


def test_writes_need_a_coordinator_key(
    client: TestClient, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    assert client.post("/api/v1/feeds", json=FEED).status_code == 401
    r = client.post("/api/v1/feeds", json=FEED, headers=auth_headers("viewer"))
    assert r.status_code == 403
    r = client.post("/api/v1/feeds", json=FEED, headers=auth_headers("coordinator"))
    assert r.status_code == 201
    body = r.json()
    assert body["kind"] == "bmkg" and body["enabled"] is True and body["poll_interval_s"] == 60
    assert body["health"] == {
        "healthy": True,
        "last_poll_at": None,
        "last_success_at": None,
        "last_status": None,
        "last_error": None,
        "last_error_detail": None,
        "last_error_at": None,
        "last_duration_ms": None,
        "consecutive_failures": 0,
        "events_seen": 0,
    }
    assert client.patch(f"/api/v1/feeds/{body['id']}", json={"enabled": False}).status_code == 401


def test_create_list_patch_and_errors(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = client.post("/api/v1/feeds", json=FEED, headers=admin_headers).json()
    dup = client.post("/api/v1/feeds", json=FEED, headers=admin_headers)
    assert dup.status_code == 409 and "exists already" in dup.json()["detail"]
    bad = client.post(
        "/api/v1/feeds", json={**FEED, "name": "x", "url": "ftp://nope"}, headers=admin_headers
    )
    assert bad.status_code == 422 and "url" in bad.json()["detail"]
    bad_kind = client.post(
        "/api/v1/feeds", json={**FEED, "name": "y", "kind": "rss"}, headers=admin_headers
    )
    assert bad_kind.status_code == 422 and "kind" in bad_kind.json()["detail"]
    too_fast = client.post(
        "/api/v1/feeds", json={**FEED, "name": "z", "poll_interval_s": 1}, headers=admin_headers
    )
    assert too_fast.status_code == 422
    r = client.patch(
        f"/api/v1/feeds/{created['id']}",
        json={"enabled": False, "poll_interval_s": 300},
        headers=admin_headers,
    )
    assert (
        r.status_code == 200 and r.json()["enabled"] is False and r.json()["poll_interval_s"] == 300
    )
    listed = client.get("/api/v1/feeds").json()
    assert [f["name"] for f in listed] == ["bmkg-autogempa"]
    assert client.get("/api/v1/feeds/999").status_code == 404
    assert client.patch("/api/v1/feeds/999", json={}, headers=admin_headers).status_code == 404
    assert client.post("/api/v1/feeds/999/poll", headers=admin_headers).status_code == 404


def test_poll_now_over_http_and_event_details(
    client: TestClient, admin_headers: dict[str, str], shared_data: Path
) -> None:
    body = (shared_data / "feeds/bmkg/autogempa_2021-10-04.xml").read_bytes()
    with FeedServer() as server:
        url = server.set("/autogempa.xml", Route(body, content_type="application/xml"))
        feed = client.post(
            "/api/v1/feeds", json={**FEED, "url": url, "enabled": False}, headers=admin_headers
        ).json()
        r = client.post(f"/api/v1/feeds/{feed['id']}/poll", headers=admin_headers)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "ok" and len(result["new_events"]) == 1
    assert result["feed"]["health"]["events_seen"] == 1
    assert result["feed"]["health"]["last_success_at"] is not None
    event = client.get(f"/api/v1/events/{result['new_events'][0]}").json()
    assert (event["lon"], event["lat"], event["magnitude"], event["depth_km"]) == (
        126.96,
        1.04,
        4.7,
        17.0,
    )
    assert event["time"].startswith("2021-10-04T10:59:19")
    assert [rep["source"] for rep in event["reports"]] == ["bmkg"]
    assert event["revisions"][0]["revision"] == 1
    assert client.get("/api/v1/events/12345").status_code == 404


def test_poll_of_a_failing_feed_reports_the_error(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    with FeedServer() as server:
        url = server.set("/down", Route(b"<html>502 Bad Gateway</html>", content_type="text/html"))
        feed = client.post("/api/v1/feeds", json={**FEED, "url": url}, headers=admin_headers).json()
        r = client.post(f"/api/v1/feeds/{feed['id']}/poll", headers=admin_headers)
    assert r.status_code == 200
    assert r.json()["status"] == "error" and "HTML" in r.json()["error"]
    health = r.json()["feed"]["health"]
    assert health["healthy"] is False and health["consecutive_failures"] == 1


@pytest.mark.slow  # the siaga CLI in subprocesses
def test_cli_seed_add_list_poll(
    database_url: str, monkeypatch: pytest.MonkeyPatch, shared_data: Path, clean_db: object
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SIAGA_FEEDS_ALLOWED_HOSTS", "127.0.0.1")  # the fake feed server
    runner = CliRunner()
    r = runner.invoke(cli_app, ["feeds", "seed"])
    assert r.exit_code == 0, r.output
    assert "bmkg-autogempa" in r.output and "usgs-4.5-day" in r.output
    assert "nothing new" in runner.invoke(cli_app, ["feeds", "seed"]).output  # idempotent
    body = (shared_data / "feeds/usgs/usgs_summary_all_hour_2017.geojson").read_bytes()
    with FeedServer() as server:
        url = server.set("/u.geojson", Route(body))
        r = runner.invoke(cli_app, ["feeds", "add", "local-usgs", "usgs", url, "--interval", "30"])
        assert r.exit_code == 0, r.output
        listed = runner.invoke(cli_app, ["feeds", "list", "--json"])
        feeds = {f["name"]: f for f in __import__("json").loads(listed.output)}
        assert feeds["bmkg-autogempa"]["enabled"] is False  # public feeds are off by default
        assert feeds["local-usgs"]["enabled"] is True
        polled = runner.invoke(cli_app, ["feeds", "poll", str(feeds["local-usgs"]["id"])])
        assert polled.exit_code == 0, polled.output
        assert '"status": "ok"' in polled.output and '"reports_seen": 8' in polled.output
    feed_id = str(feeds["local-usgs"]["id"])
    assert runner.invoke(cli_app, ["feeds", "disable", feed_id]).exit_code == 0
    table = runner.invoke(cli_app, ["feeds", "list"], env={"COLUMNS": "160"})
    assert (
        table.exit_code == 0 and "local-usgs" in table.output and "bmkg-autogempa" in table.output
    )
    assert runner.invoke(cli_app, ["feeds", "enable", "999999"]).exit_code == 1
    bad = runner.invoke(cli_app, ["feeds", "add", "x", "nonsense", "http://127.0.0.1/"])
    assert bad.exit_code == 1 and "kind" in bad.output
