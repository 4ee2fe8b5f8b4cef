"""Write limits per key and per address, counted in PostgreSQL across API processes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.main import create_app
from service.ops import request_limits
from service.settings import Settings


def _limited(settings: Settings, engine: Engine, limit: int) -> Settings:
    api = settings.api.model_copy(update={"write_rate_per_minute": limit})
    return settings.model_copy(update={"api": api})


def test_two_processes_share_one_key_budget(
    settings: Settings, clean_db: Engine, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    """Two app instances with their own engines stand for two API processes."""
    limited = _limited(settings, clean_db, 3)
    app_a, app_b = create_app(limited, engine=clean_db), create_app(limited, engine=clean_db)
    # The four writes must fall in one fixed window: when a busy machine spreads them over a
    # minute boundary, try once more with a fresh key from fresh addresses.
    for attempt in range(2):
        admin = auth_headers("admin")
        window = request_limits.window_start(datetime.now(UTC))
        with (
            TestClient(app_a, client=(f"10.0.{attempt}.1", 1)) as a,
            TestClient(app_b, client=(f"10.0.{attempt}.2", 1)) as b,
        ):
            codes = []
            for i, c in enumerate([a, b, a, b]):
                r = c.post("/api/v1/keys", json={"name": f"k{i}", "role": "viewer"}, headers=admin)
                codes.append(r.status_code)
            read = b.get("/api/v1/keys", headers=admin)
        if request_limits.window_start(datetime.now(UTC)) == window:
            break
    assert codes == [201, 201, 201, 429]
    assert r.headers["content-type"].startswith("application/problem+json")
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= 60
    assert r.json()["status"] == 429 and "API key" in r.json()["detail"]
    assert read.status_code == 200  # reads are never limited


def test_address_limit_applies_without_a_key(settings: Settings, clean_db: Engine) -> None:
    app = create_app(_limited(settings, clean_db, 2), engine=clean_db)
    with TestClient(app, client=("192.0.2.7", 1)) as c:
        codes = [c.post("/api/v1/keys", json={}).status_code for _ in range(3)]
        assert codes == [401, 401, 429]
        assert "address" in c.post("/api/v1/keys", json={}).json()["detail"]
    with TestClient(app, client=("192.0.2.8", 1)) as other:
        assert other.post("/api/v1/keys", json={}).status_code == 401


def test_windows_are_fixed_minutes(clean_db: Engine) -> None:
    t = datetime(2026, 11, 23, 15, 0, 59, tzinfo=UTC)
    v1 = request_limits.hit(clean_db, buckets=["ip:x"], limit=1, now=t)
    v2 = request_limits.hit(clean_db, buckets=["ip:x"], limit=1, now=t)
    assert v1.allowed and not v2.allowed and v2.retry_after_s == 1
    t_next = datetime(2026, 11, 23, 15, 1, 0, tzinfo=UTC)
    assert request_limits.hit(clean_db, buckets=["ip:x"], limit=1, now=t_next).allowed


def test_cors_from_settings_covers_errors_too(settings: Settings, clean_db: Engine) -> None:
    api = settings.api.model_copy(
        update={"cors_origins": ["https://bpbd.example.go.id"], "write_rate_per_minute": 1}
    )
    app = create_app(settings.model_copy(update={"api": api}), engine=clean_db)
    origin = {"Origin": "https://bpbd.example.go.id"}
    with TestClient(app) as c:
        pre = c.options(
            "/api/v1/keys",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "https://bpbd.example.go.id"
        assert "authorization" in pre.headers["access-control-allow-headers"].lower()
        c.post("/api/v1/keys", json={}, headers=origin)
        limited = c.post("/api/v1/keys", json={}, headers=origin)
        assert limited.status_code == 429
        # A browser can read the refusal and when to retry.
        assert limited.headers["access-control-allow-origin"] == "https://bpbd.example.go.id"
        assert "retry-after" in limited.headers["access-control-expose-headers"].lower()
        other = c.get("/healthz", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
    # Without configured origins no CORS headers at all.
    with TestClient(create_app(settings, engine=clean_db)) as c:
        r = c.get("/healthz", headers=origin)
        assert "access-control-allow-origin" not in r.headers
