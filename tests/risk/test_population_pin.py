"""Issue 13 items 8 and 9: complete scores inside a layer's extent; pinned population rasters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from service.cli import app as cli_app
from service.hazards.models import HazardLayer
from service.risk.models import RiskScore
from service.risk.readouts import get_risk_card
from service.risk.service import recompute_layer
from service.settings import Settings
from tests.risk import builders

# A 3 x 3 grid of 0.01° desa on a 30 x 30 population raster of 10 people per cell.
TRANSFORM = Affine(0.001, 0, 120.0, 0, -0.001, -1.0)


def _grid(session: Session, data_dir: Path, tmp_path: Path) -> dict[str, int]:
    boxes = [
        shapely.box(120 + 0.01 * i, -1.03 + 0.01 * j, 120.01 + 0.01 * i, -1.02 + 0.01 * j)
        for i in range(3)
        for j in range(3)
    ]
    far = shapely.box(121.0, -1.03, 121.01, -1.02)  # outside every layer's extent
    comms = gpd.GeoDataFrame(
        {"kode": [f"72.10.01.20{k:02d}" for k in range(10)], "nama": [f"D{k}" for k in range(10)]},
        geometry=[*boxes, far],
        crs=4326,
    )
    builders.add_communities(session, comms)
    pop = builders.write_raster(tmp_path / "pop.tif", np.full((30, 30), 10.0, "float32"), TRANSFORM)
    pop_layer = builders.add_raster_layer(session, data_dir, pop, name="pop", role="exposure")
    # Two small zones in opposite corners: their bounding box covers all nine desa.
    zones = gpd.GeoDataFrame(
        {"KRB": ["KRB III", "KRB I"]},
        geometry=[
            shapely.box(120.0, -1.03, 120.005, -1.025),
            shapely.box(120.025, -1.005, 120.03, -1.0),
        ],
        crs=4326,
    )
    krb = builders.add_zone_layer(
        session, zones, "KRB", name="krb", hazard="volcano", scheme=builders.KRB_SCHEME
    )
    return {"pop": pop_layer.id, "krb": krb.id}


def _pop_total(session: Session, layer_id: int) -> float:
    rows = session.scalars(
        select(RiskScore).where(RiskScore.layer_id == layer_id, RiskScore.superseded_at.is_(None))
    )
    return sum(float(s.exposure["population"]) for s in rows)


def test_communities_inside_extent_outside_zones_score_zero(
    session_factory: sessionmaker[Session], settings: Settings, data_dir: Path, tmp_path: Path
) -> None:
    with session_factory() as s, s.begin():
        ids = _grid(s, data_dir, tmp_path)
    res = recompute_layer(session_factory=session_factory, layer_id=ids["krb"], settings=settings)
    assert res["status"] == "succeeded", res
    with session_factory() as s:
        current = s.scalars(
            select(RiskScore).where(
                RiskScore.layer_id == ids["krb"], RiskScore.superseded_at.is_(None)
            )
        ).all()
        assert len(current) == 9  # every desa inside the extent, none outside it
        zero = [r for r in current if r.hazard_index == 0]
        assert len(zero) == 7 and all(r.level == "rendah" for r in zero)
        inside = get_risk_card(session=s, code="72.10.01.2004")
        assert inside["hazards"][0]["level"] == "rendah" and inside["not_scored"] == []
        far = get_risk_card(session=s, code="72.10.01.2009")
        assert far["hazards"] == []
        assert far["not_scored"] == [
            {
                "layer_id": ids["krb"],
                "layer_name": "krb",
                "hazard": "volcano",
                "reason": "outside_extent",
                "error": None,
            }
        ]


def test_new_population_raster_changes_nothing_until_re_pinned(
    session_factory: sessionmaker[Session],
    settings: Settings,
    data_dir: Path,
    tmp_path: Path,
    client,
    auth_headers: Callable[[str], dict[str, str]],
) -> None:
    with session_factory() as s, s.begin():
        ids = _grid(s, data_dir, tmp_path)
    recompute_layer(session_factory=session_factory, layer_id=ids["krb"], settings=settings)
    with session_factory() as s:
        assert s.get(HazardLayer, ids["krb"]).population_layer_id == ids["pop"]
        before = _pop_total(s, ids["krb"])
    assert before > 0

    # A newer population raster over the same area, with twice the people.
    double = builders.write_raster(
        tmp_path / "pop2.tif", np.full((30, 30), 20.0, "float32"), TRANSFORM
    )
    with session_factory() as s, s.begin():
        pop2 = builders.add_raster_layer(s, data_dir, double, name="pop2", role="exposure").id
    stale = recompute_layer(
        session_factory=session_factory, layer_id=ids["krb"], settings=settings, only_if_stale=True
    )
    assert stale["status"] == "skipped", stale  # the pin keeps its fingerprint
    recompute_layer(session_factory=session_factory, layer_id=ids["krb"], settings=settings)
    with session_factory() as s:
        assert _pop_total(s, ids["krb"]) == before

    url = f"/api/v1/hazard-layers/{ids['krb']}"
    assert client.patch(url, json={"population_layer_id": pop2}).status_code == 401
    coord = auth_headers("coordinator")
    bad = client.patch(url, json={"population_layer_id": ids["krb"]}, headers=coord)
    assert bad.status_code == 400 and "role=exposure" in bad.json()["detail"]
    unknown = client.patch(url, json={"population": pop2}, headers=coord)
    assert unknown.status_code == 422
    ok = client.patch(url, json={"population_layer_id": pop2}, headers=coord)
    assert ok.status_code == 200 and ok.json()["population_layer_id"] == pop2
    recompute_layer(session_factory=session_factory, layer_id=ids["krb"], settings=settings)
    with session_factory() as s:
        assert np.isclose(_pop_total(s, ids["krb"]), 2 * before)
        card = get_risk_card(session=s, code="72.10.01.2000")
        pop_source = [x for x in card["hazards"][0]["sources"] if x.get("layer_id") == pop2]
        assert pop_source, card["hazards"][0]["sources"]
    audit = client.get(
        "/api/v1/audit",
        params={"action": "hazard_layers.pin_population"},
        headers=auth_headers("admin"),
    ).json()
    assert any(e["target"] == f"hazard_layer:{ids['krb']}" for e in audit["entries"])


def test_import_pins_newest_covering_population_and_cli_re_pins(
    tmp_path: Path,
    client,
    auth_headers: Callable[[str], dict[str, str]],
    database_url: str,
    data_dir: Path,
    clean_db: Engine,
) -> None:
    headers = auth_headers("coordinator")

    def upload(path: Path, **form: str) -> dict:
        with path.open("rb") as f:
            r = client.post(
                "/api/v1/hazard-layers",
                files={"file": (path.name, f.read())},
                data=form,
                headers=headers,
            )
        assert r.status_code == 201, r.text
        return r.json()["layer"]

    def pop_raster(name: str, value: float) -> Path:
        path = tmp_path / name
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=30,
            height=30,
            count=1,
            dtype="float32",
            crs="EPSG:4326",
            transform=TRANSFORM,
        ) as ds:
            ds.write(np.full((30, 30), value, "float32"), 1)
        return path

    first = upload(pop_raster("p1.tif", 1.0), name="pop-a", role="exposure")
    second = upload(pop_raster("p2.tif", 2.0), name="pop-b", role="exposure")
    zones = gpd.GeoDataFrame(
        {"KRB": ["KRB III"]}, geometry=[shapely.box(120.0, -1.03, 120.01, -1.02)], crs=4326
    )
    zones_path = tmp_path / "krb.geojson"
    zones.to_file(zones_path, driver="GeoJSON")
    layer = upload(zones_path, name="krb", hazard="volcano", class_field="KRB")
    assert layer["population_layer_id"] == second["id"]  # the newest covering it
    chosen = upload(
        zones_path,
        name="krb",
        hazard="volcano",
        class_field="KRB",
        population_layer_id=str(first["id"]),
    )
    assert chosen["population_layer_id"] == first["id"]
    with zones_path.open("rb") as f:
        refused = client.post(
            "/api/v1/hazard-layers",
            files={"file": (zones_path.name, f.read())},
            data={
                "name": "krb",
                "hazard": "volcano",
                "class_field": "KRB",
                "population_layer_id": "999999",
            },
            headers=headers,
        )
    assert refused.status_code == 400 and "population_layer_id 999999" in refused.text

    env = {"DATABASE_URL": database_url, "SIAGA_STORAGE_DATA_DIR": str(data_dir)}
    cli = CliRunner().invoke(
        cli_app,
        ["hazards", "pin-population", str(layer["id"]), str(first["id"])],
        env=env,
    )
    assert cli.exit_code == 0, cli.output
    assert (
        client.get(f"/api/v1/hazard-layers/{layer['id']}").json()["population_layer_id"]
        == (first["id"])
    )
    wrong = CliRunner().invoke(
        cli_app, ["hazards", "pin-population", str(layer["id"]), str(layer["id"])], env=env
    )
    assert wrong.exit_code == 2 and "role=exposure" in wrong.stderr
