"""The OGC API Features collections `risk` (current map) and `risk-history` (every version):
filters hazard, level, bbox, datetime, current."""

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
    assert {"risk", "risk-history"} <= set(ids)
    meta = client.get("/ogc/collections/risk-history").json()
    assert meta["extent"]["temporal"]["interval"][0][0] is not None

    r = client.get("/ogc/collections/risk-history/items", params={"limit": 100})
    assert r.status_code == 200 and r.headers["content-type"].startswith(GEOJSON)
    assert r.json()["numberMatched"] == 18  # 9 communities x 2 versions

    # `risk` is today's map without any vendor parameter: one feature per community and hazard.
    today = client.get("/ogc/collections/risk/items", params={"limit": 100}).json()
    assert today["numberMatched"] == 9
    assert all(f["id"] == f"{f['properties']['code']}:volcano" for f in today["features"])
    assert "superseded_at" not in today["features"][0]["properties"]
    assert client.get("/ogc/collections/risk/items", params={"current": "true"}).status_code == 400

    current = client.get(
        "/ogc/collections/risk-history/items", params={"current": "true", "limit": 100}
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

    assert {f["properties"]["code"]: f["properties"]["score"] for f in current["features"]} == {
        f["properties"]["code"]: f["properties"]["score"] for f in today["features"]
    }
    then = client.get(
        "/ogc/collections/risk-history/items", params={"datetime": t_first, "limit": 100}
    ).json()
    assert then["numberMatched"] == 9
    assert all(f["properties"]["C"] == 0.0 for f in then["features"])

    levels = {f["properties"]["level"] for f in current["features"]}
    for level in levels:
        got = client.get(
            "/ogc/collections/risk/items", params={"level": level, "limit": 100}
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
        params={"bbox": ",".join(str(v) for v in _bbox(one["geometry"]))},
    ).json()
    assert near["numberMatched"] >= 1
    item = client.get(f"/ogc/collections/risk-history/items/{one['id']}")
    assert item.status_code == 200 and item.json()["id"] == one["id"]
    top = today["features"][0]
    item = client.get(f"/ogc/collections/risk/items/{top['id']}")
    assert item.status_code == 200 and item.json()["properties"] == top["properties"]


def test_risk_keeps_the_highest_current_layer_per_hazard(
    client, merapi: dict, session_factory, settings: Settings
) -> None:
    """Two current volcano layers for one community: `risk` shows the higher, as the card."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from service.risk.models import RiskScore

    recompute_layer(session_factory=session_factory, layer_id=merapi["krb_id"], settings=settings)
    with session_factory() as s, s.begin():
        first = s.scalars(select(RiskScore).order_by(RiskScore.id)).first()
        assert first is not None
        code = s.get(Community, first.community_id).code  # type: ignore[union-attr]
        for name, score, level in (("krb-high", 0.97, "tinggi"), ("krb-low", 0.0001, "rendah")):
            s.add(
                RiskScore(
                    community_id=first.community_id,
                    layer_id=first.layer_id,
                    layer_name=name,
                    hazard="volcano",
                    method=first.method,
                    score=score,
                    level=level,
                    hazard_index=1.0,
                    vulnerability_index=1.0,
                    capacity_index=1.0,
                    components={},
                    inputs={},
                    exposure={},
                    computed_at=datetime.now(UTC),
                )
            )
    fc = client.get("/ogc/collections/risk/items", params={"code": code}).json()
    assert fc["numberMatched"] == 1
    props = fc["features"][0]["properties"]
    assert (props["layer_name"], props["score"], props["level"]) == ("krb-high", 0.97, "tinggi")
    card = client.get(f"/api/v1/communities/{code}/risk").json()
    assert [h["score"] for h in card["hazards"] if h["hazard"] == "volcano"] == [0.97]
    history = client.get(
        "/ogc/collections/risk-history/items", params={"code": code, "current": "true"}
    ).json()
    assert history["numberMatched"] == 3


def _bbox(geom: dict) -> tuple[float, float, float, float]:
    xs = [p[0] for poly in geom["coordinates"] for ring in poly for p in ring]
    ys = [p[1] for poly in geom["coordinates"] for ring in poly for p in ring]
    return min(xs), min(ys), max(xs), max(ys)
