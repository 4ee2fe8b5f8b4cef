"""HTTP: recompute requests and jobs, the risk card, vector tiles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.jobs import Job, run_pending_jobs
from service.risk.jobs import recompute_stale
from service.risk.models import RiskScore
from service.risk.service import recompute_layer
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_recompute_request_runs_as_a_job(
    client, auth_headers, merapi: dict, session_factory, settings: Settings
) -> None:
    r = client.post("/api/v1/recompute", json={"layer_id": merapi["krb_id"]})
    assert r.status_code == 401
    r = client.post(
        "/api/v1/recompute", json={"layer_id": merapi["krb_id"]}, headers=auth_headers("viewer")
    )
    assert r.status_code == 403
    coord = auth_headers("coordinator")
    r = client.post(
        "/api/v1/recompute", json={"layer_id": merapi["krb_id"], "method": "centre"}, headers=coord
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert r.headers["location"] == f"/api/v1/jobs/{job_id}"
    assert client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "queued"
    assert run_pending_jobs(session_factory, settings) == 1
    body = client.get(f"/api/v1/jobs/{job_id}").json()
    assert body["status"] == "succeeded" and body["progress"] == 1.0
    layer = body["result"]["layers"][0]
    assert (
        layer["status"] == "succeeded" and layer["method"] == "centre" and layer["communities"] == 9
    )
    with session_factory() as s:
        assert (
            s.scalar(select(func.count()).select_from(RiskScore).where(RiskScore.job_id == job_id))
            == 9
        )


def test_recompute_bad_requests(client, auth_headers, merapi: dict, session_factory) -> None:
    coord = auth_headers("coordinator")
    r = client.post("/api/v1/recompute", json={"layer_id": 999999}, headers=coord)
    assert r.status_code == 404 and "999999" in r.json()["detail"]
    r = client.post("/api/v1/recompute", json={"layer_id": merapi["pop_id"]}, headers=coord)
    assert r.status_code == 400 and "exposure layer" in r.json()["detail"]
    r = client.post("/api/v1/recompute", json={"method": "magic"}, headers=coord)
    assert r.status_code == 422 and "method" in r.json()["detail"]
    r = client.post("/api/v1/recompute", json={"nonsense": 1}, headers=coord)
    assert r.status_code == 422
    assert client.get("/api/v1/jobs/424242").status_code == 404
    assert client.get("/api/v1/jobs/abc").status_code == 400
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def test_failed_job_is_recorded(
    client, auth_headers, jakarta: dict, session_factory, settings: Settings, data_dir: Path
) -> None:
    for f in (data_dir / "rasters").glob("flood_depth_jkt*"):
        f.write_bytes(b"garbage")
    r = client.post(
        "/api/v1/recompute", json={"layer_id": jakarta["flood_id"]}, headers=auth_headers("admin")
    )
    run_pending_jobs(session_factory, settings)
    body = client.get(f"/api/v1/jobs/{r.json()['job_id']}").json()
    assert body["status"] == "failed" and "flood_depth_jkt" in body["error"]
    states = client.get("/api/v1/risk/layers").json()
    assert states[0]["status"] == "failed"


def test_risk_card(client, merapi: dict, session_factory, settings: Settings) -> None:
    recompute_layer(session_factory=session_factory, layer_id=merapi["krb_id"], settings=settings)
    with session_factory() as s:
        top = s.scalars(select(RiskScore).order_by(RiskScore.score.desc()).limit(1)).one()
        code = s.scalar(select(func.min(RiskScore.inputs["layer_name"].astext)))
    assert code == "krb_merapi"
    from service.communities.models import Community

    with session_factory() as s:
        code = s.get(Community, top.community_id).code
    r = client.get(f"/api/v1/communities/{code}/risk")
    assert r.status_code == 200
    card = r.json()
    assert card["code"] == code and card["last_computed"]
    hz = card["hazards"][0]
    assert hz["hazard"] == "volcano" and hz["level"] in ("rendah", "sedang", "tinggi")
    assert {"H", "V", "C", "score", "inputs", "exposure", "history", "computed_at"} <= set(hz)
    assert (
        hz["inputs"]["layer_name"] == "krb_merapi"
        and hz["inputs"]["population_layer_name"] == "pop_merapi"
    )
    assert [c["class"] for c in hz["exposure"]["classes"]] == ["KRB III", "KRB II", "KRB I"]
    assert [c["class"] for c in hz["exposure_rows"]] == ["KRB III", "KRB II", "KRB I"]
    assert hz["exposure"]["population_exposed"] > 0
    assert {s["role"] for s in hz["sources"]} == {"hazard", "exposure"}
    assert "share_elderly" in hz["inputs"]["defaults"]
    # One hazard, spread over the top level (what the web map's panel reads).
    flat = client.get(f"/api/v1/communities/{code}/risk", params={"hazard": "volcano"}).json()
    assert flat["level"] == hz["level"] and flat["score"] == hz["score"] and flat["code"] == code
    assert flat["history"] and flat["exposure_rows"][0]["area_km2"] >= 0
    r = client.get(f"/api/v1/communities/{code}/risk", params={"hazard": "flood"})
    assert r.status_code == 404 and "flood" in r.json()["detail"]
    assert client.get("/api/v1/communities/00.00/risk").status_code == 404
    assert (
        client.get(f"/api/v1/communities/{code}/risk", params={"datetime": "yesterday"}).status_code
        == 400
    )


def test_vector_tiles(client, merapi: dict, session_factory, settings: Settings) -> None:
    recompute_layer(session_factory=session_factory, layer_id=merapi["krb_id"], settings=settings)
    # Merapi (110.45 E, 7.55 S) at zoom 10
    z, x, y = 10, 826, 533
    r = client.get(f"/tiles/risk/{z}/{x}/{y}.pbf")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert len(r.content) > 100 and b"risk" in r.content and b"34.04." in r.content
    for key in (b"code", b"name", b"hazard", b"level", b"score"):
        assert key in r.content
    empty = client.get("/tiles/risk/10/0/0.pbf")
    assert empty.status_code == 200 and empty.content == b""
    # No flood scores: the communities are still drawn ("belum dinilai"), with no level.
    other = client.get(f"/tiles/risk/{z}/{x}/{y}.pbf", params={"hazard": "flood"})
    assert other.status_code == 200 and b"34.04." in other.content
    assert not any(level in other.content for level in (b"rendah", b"sedang", b"tinggi"))
    for bad in ("23/0/0", "3/8/0", "3/0/-1", "-1/0/0"):
        r = client.get(f"/tiles/risk/{bad}.pbf")
        assert r.status_code == 400, bad


@pytest.mark.slow  # the siaga CLI in a subprocess
def test_cli_recompute(merapi: dict, database_url: str, data_dir: Path, session_factory) -> None:
    env = os.environ | {"DATABASE_URL": database_url, "SIAGA_STORAGE_DATA_DIR": str(data_dir)}
    out = subprocess.run(
        [sys.executable, "-m", "service", "risk", "recompute", "--layer", str(merapi["krb_id"])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert '"succeeded": 1' in out.stdout
    assert "9 communities" in out.stderr
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(RiskScore)) == 9


def test_tiles_tilejson_gzip_etag_and_bad_hazard(
    client, merapi: dict, session_factory, settings: Settings
) -> None:
    import gzip

    from sqlalchemy import update

    from service.communities.models import Community

    recompute_layer(session_factory=session_factory, layer_id=merapi["krb_id"], settings=settings)
    tj = client.get("/tiles/risk.json", params={"hazard": "volcano"})
    assert tj.status_code == 200
    doc = tj.json()
    assert doc["tilejson"] == "3.0.0" and doc["minzoom"] == 0 and doc["maxzoom"] == 22
    assert doc["tiles"][0].endswith("/tiles/risk/{z}/{x}/{y}.pbf?hazard=volcano")
    minx, miny, maxx, maxy = doc["bounds"]
    assert 110 < minx < maxx < 111 and -8 < miny < maxy < -7  # around Merapi
    assert doc["vector_layers"][0]["id"] == "risk"
    assert set(doc["vector_layers"][0]["fields"]) == {"code", "name", "hazard", "level", "score"}
    for url in ("/tiles/risk.json", "/tiles/risk/10/826/533.pbf"):
        bad = client.get(url, params={"hazard": "meteor"})
        assert bad.status_code == 400 and "volcano" in bad.json()["allowed"]

    url = "/tiles/risk/10/826/533.pbf"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as zipped:
        raw = b"".join(zipped.iter_raw())
        assert zipped.headers["content-encoding"] == "gzip"
        etag = zipped.headers["etag"]
    assert gzip.decompress(raw) == plain.content
    assert etag != plain.headers["etag"]
    assert plain.headers["cache-control"].startswith("public, max-age=")

    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and again.content == b""
    # A recompute with other inputs gives new scores: the old ETag no longer matches.
    with session_factory() as s, s.begin():
        s.execute(update(Community).values(has_early_warning=True))
    assert recompute_stale(session_factory, settings)["counts"] == {"succeeded": 1}
    fresh = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag


def test_a_tile_asked_again_is_remembered_until_the_communities_or_scores_change(
    client, merapi: dict, session_factory, settings: Settings, monkeypatch
) -> None:
    from sqlalchemy import update

    from service.api import tiles as tile_routes
    from service.communities.models import Community

    # Remember every tile (in production only those slower to make than to check).
    monkeypatch.setattr(tile_routes, "REMEMBER_AFTER_S", 0.0)

    url = "/tiles/risk/10/826/533.pbf"
    cache = client.app.state.read_cache
    recompute_layer(session_factory=session_factory, layer_id=merapi["krb_id"], settings=settings)
    first = client.get(url, headers={"Accept-Encoding": "identity"})
    again = client.get(url, headers={"Accept-Encoding": "identity"})
    assert cache.hits == 1
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    # Gzipped and plain are remembered apart; each is served again as it was first sent.
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["etag"].endswith('-gz"') and cache.hits == 1
    # A renamed community is a changed tile (the name is in it) with a new ETag.
    with session_factory() as s, s.begin():
        s.execute(update(Community).values(name="Desa Ganti Nama"))
    renamed = client.get(url, headers={"Accept-Encoding": "identity"})
    assert b"Desa Ganti Nama" in renamed.content and b"Desa Ganti Nama" not in first.content
    assert renamed.headers["etag"] != first.headers["etag"] and cache.hits == 1
    # New scores (other inputs, a recompute) too.
    with session_factory() as s, s.begin():
        s.execute(update(Community).values(has_early_warning=True))
    assert recompute_stale(session_factory, settings)["counts"] == {"succeeded": 1}
    rescored = client.get(url, headers={"Accept-Encoding": "identity"})
    assert rescored.headers["etag"] != renamed.headers["etag"]
    assert client.get(url, headers={"Accept-Encoding": "identity"}).content == rescored.content
    assert cache.hits == 2
    # A tile quicker to make again than to check is not remembered.
    monkeypatch.setattr(tile_routes, "REMEMBER_AFTER_S", 60.0)
    stored = len(cache)
    client.get("/tiles/risk/10/827/533.pbf")
    assert len(cache) == stored
