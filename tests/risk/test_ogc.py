"""The OGC API Features collection `risk`: filters hazard, level, bbox, datetime, current."""

from __future__ import annotations

import time

from sqlalchemy import update

from service.communities.models import Community
from service.risk import jobs
from service.risk.service import recompute_layer
from service.settings import Settings

GEOJSON = "application/geo+json"


def test_risk_collection(client, merapi: dict, session_factory, settings: Settings) -> None:
    first = recompute_layer(
        session_factory=session_factory, layer_id=merapi["krb_id"], settings=settings
    )
    t_first = first["computed_at"]
    time.sleep(0.05)
    with session_factory() as s, s.begin():
        s.execute(update(Community).values(has_early_warning=True, has_task_force=True))
    assert jobs.recompute_stale(session_factory, settings)["counts"] == {"succeeded": 1}

    ids = [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
    assert "risk" in ids
    meta = client.get("/ogc/collections/risk").json()
    assert meta["extent"]["temporal"]["interval"][0][0] is not None

    r = client.get("/ogc/collections/risk/items", params={"limit": 100})
    assert r.status_code == 200 and r.headers["content-type"].startswith(GEOJSON)
    assert r.json()["numberMatched"] == 18  # 9 communities x 2 versions

    current = client.get(
        "/ogc/collections/risk/items", params={"current": "true", "limit": 100}
    ).json()
    assert current["numberMatched"] == 9
    props = current["features"][0]["properties"]
    assert {
        "code",
        "name",
        "hazard",
        "level",
        "score",
        "H",
        "V",
        "C",
        "components",
        "exposure",
        "computed_at",
    } <= set(props)
    assert props["superseded_at"] is None and props["C"] == 0.5
    assert current["features"][0]["geometry"]["type"] == "MultiPolygon"

    then = client.get(
        "/ogc/collections/risk/items", params={"datetime": t_first, "limit": 100}
    ).json()
    assert then["numberMatched"] == 9
    assert all(f["properties"]["C"] == 0.0 for f in then["features"])

    levels = {f["properties"]["level"] for f in current["features"]}
    for level in levels:
        got = client.get(
            "/ogc/collections/risk/items", params={"current": "true", "level": level, "limit": 100}
        ).json()
        assert got["numberMatched"] == sum(
            f["properties"]["level"] == level for f in current["features"]
        )
    assert (
        client.get("/ogc/collections/risk/items", params={"hazard": "flood"}).json()[
            "numberMatched"
        ]
        == 0
    )
    assert client.get("/ogc/collections/risk/items", params={"level": "extreme"}).status_code == 400
    far = client.get("/ogc/collections/risk/items", params={"bbox": "100,0,101,1"}).json()
    assert far["numberMatched"] == 0
    one = current["features"][0]
    near = client.get(
        "/ogc/collections/risk/items",
        params={"bbox": ",".join(str(v) for v in _bbox(one["geometry"])), "current": "true"},
    ).json()
    assert near["numberMatched"] >= 1
    item = client.get(f"/ogc/collections/risk/items/{one['id']}")
    assert item.status_code == 200 and item.json()["id"] == one["id"]


def _bbox(geom: dict) -> tuple[float, float, float, float]:
    xs = [p[0] for poly in geom["coordinates"] for ring in poly for p in ring]
    ys = [p[1] for poly in geom["coordinates"] for ring in poly for p in ring]
    return min(xs), min(ys), max(xs), max(ys)
