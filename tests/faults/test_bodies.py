"""Oversized and malformed bodies: each is refused with a 4xx problem document, nothing is
stored, and the service answers normally afterwards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.geobuilders import community_rows, write_geojson

pytestmark = pytest.mark.slow

TABLES = ("communities", "jobs", "message_inbound", "message_delivery_events", "hazard_layers")


def stored(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0) for t in TABLES
        }


def refused(r: object, *codes: int) -> None:
    status = r.status_code  # type: ignore[attr-defined]
    assert status in codes, (status, r.text[:300])  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers  # type: ignore[attr-defined]


def test_oversized_and_malformed_bodies_store_nothing(
    client: TestClient,
    auth_headers: Callable[[str], dict[str, str]],
    clean_db: Engine,
    tmp_path: Path,
) -> None:
    coord = auth_headers("coordinator")
    before = stored(clean_db)
    # An upload over SIAGA_API_MAX_UPLOAD_MB (5 in tests).
    big = b'{"type":"FeatureCollection","features":[' + b" " * (6 * 1024 * 1024) + b"]}"
    r = client.post(
        "/api/v1/communities/import", files={"file": ("big.geojson", big)}, headers=coord
    )
    refused(r, 413)
    # Not GeoJSON at all, truncated GeoJSON, an empty file.
    good = write_geojson(tmp_path / "desa.geojson", community_rows(3)).read_bytes()
    for name, body in (
        ("garbage.geojson", b"\x00\xffnot a map"),
        ("cut.geojson", good[: len(good) // 2]),
        ("empty.geojson", b""),
    ):
        r = client.post("/api/v1/communities/import", files={"file": (name, body)}, headers=coord)
        refused(r, 400, 422)
    # A multipart body that ends half-way.
    r = client.post(
        "/api/v1/communities/import",
        content=b"--xyz\r\nContent-Disposition: form-data; "
        b'name="file"; filename="a.geojson"\r\n\r\n{',
        headers={**coord, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    refused(r, 400, 422)
    # Malformed JSON and wrong types where JSON is expected.
    for body in (b"{", b"[]", b'{"layer_id": "twelve"}', b"\xff\xfe"):
        r = client.post(
            "/api/v1/recompute",
            content=body,
            headers={**coord, "Content-Type": "application/json"},
        )
        refused(r, 400, 422)
    # Unsigned webhooks, malformed or large: refused before anything is parsed or stored.
    for path, body in (
        ("/webhooks/twilio/status", b"MessageSid=%%%&&&=="),
        ("/webhooks/twilio/inbound", b"Body=" + b"x" * 200_000),
        ("/webhooks/whatsapp", b"{not json"),
    ):
        r = client.post(
            path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
    assert stored(clean_db) == before  # nothing half-written anywhere
    # And the service still works.
    r = client.post(
        "/api/v1/communities/import", files={"file": ("desa.geojson", good)}, headers=coord
    )
    assert r.status_code == 200, r.text
    assert stored(clean_db)["communities"] == 3
