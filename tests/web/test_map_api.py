"""The map's back end: community search, kecamatan/kab outlines, first view and the basemap."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.communities.models import Community
from service.main import create_app
from service.risk.models import RiskScore
from service.settings import ConfigError, MapSettings, Settings, load_settings
from tests.risk import builders

# Two kecamatan of one kabupaten around (110.4, -7.6), and one desa far away in another.
PLACES = [
    ("34.04.01.2001", "Umbulharjo", "34.04.01", "Cangkringan", "34.04", "Kabupaten Sleman"),
    ("34.04.01.2002", "Kepuharjo", "34.04.01", "Cangkringan", "34.04", "Kabupaten Sleman"),
    ("34.04.01.2003", "Glagaharjo", "34.04.01", "Cangkringan", "34.04", "Kabupaten Sleman"),
    ("34.04.02.2001", "Hargobinangun", "34.04.02", "Pakem", "34.04", "Kabupaten Sleman"),
    ("34.04.02.2002", "Purwobinangun", "34.04.02", "Pakem", "34.04", "Kabupaten Sleman"),
    ("72.71.01.1001", "Lere", "72.71.01", "Palu Barat", "72.71", "Kota Palu"),
]


def _seed(factory: sessionmaker[Session]) -> dict[str, int]:
    boxes = [shapely.box(110.40 + 0.02 * i, -7.62, 110.42 + 0.02 * i, -7.60) for i in range(5)]
    boxes.append(shapely.box(119.85, -0.90, 119.87, -0.88))
    gdf = gpd.GeoDataFrame(
        {"kode": [p[0] for p in PLACES], "nama": [p[1] for p in PLACES]}, geometry=boxes, crs=4326
    )
    with factory() as s, s.begin():
        comms = builders.add_communities(s, gdf)
        for c, p in zip(comms, PLACES, strict=True):
            s.execute(
                update(Community)
                .where(Community.id == c.id)
                .values(
                    district_code=p[2], district_name=p[3], regency_code=p[4], regency_name=p[5]
                )
            )
        return {c.code: c.id for c in comms}


def test_search_by_name_code_kecamatan_and_kabupaten(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _seed(session_factory)
    everyone = client.get("/api/v1/communities").json()
    assert everyone["total"] == 6 and len(everyone["items"]) == 6
    r = client.get("/api/v1/communities", params={"q": "harjo"})
    assert r.status_code == 200
    page = r.json()
    assert [i["name"] for i in page["items"]] == ["Glagaharjo", "Kepuharjo", "Umbulharjo"]
    assert page["total"] == 3 and page["areas"] == []
    first = page["items"][0]
    assert first["district_name"] == "Cangkringan" and first["regency_name"] == "Kabupaten Sleman"
    assert first["bbox"] == pytest.approx([110.44, -7.62, 110.46, -7.60])

    # An exact name first, then prefixes; case-insensitive.
    exact = client.get("/api/v1/communities", params={"q": "LERE"}).json()
    assert exact["items"][0]["code"] == "72.71.01.1001"

    # A kecamatan name finds its desa and the kecamatan itself, with its extent.
    kec = client.get("/api/v1/communities", params={"q": "pakem"}).json()
    assert {i["name"] for i in kec["items"]} == {"Hargobinangun", "Purwobinangun"}
    assert kec["areas"] == [
        {
            "level": "district",
            "code": "34.04.02",
            "name": "Pakem",
            "regency_name": "Kabupaten Sleman",
            "communities": 2,
            "bbox": pytest.approx([110.46, -7.62, 110.50, -7.60]),
        }
    ]
    kab = client.get("/api/v1/communities", params={"q": "sleman"}).json()
    assert kab["total"] == 5
    assert [a["level"] for a in kab["areas"]] == ["regency"] and kab["areas"][0]["communities"] == 5

    # A code prefix, filters, paging.
    by_code = client.get("/api/v1/communities", params={"q": "34.04.01"}).json()
    assert by_code["total"] == 3 and by_code["areas"][0]["code"] == "34.04.01"
    only = client.get("/api/v1/communities", params={"district_code": "34.04.01", "limit": 2})
    assert only.json()["total"] == 3 and len(only.json()["items"]) == 2
    rest = client.get(
        "/api/v1/communities", params={"district_code": "34.04.01", "limit": 2, "offset": 2}
    ).json()
    assert len(rest["items"]) == 1
    assert client.get("/api/v1/communities", params={"regency_code": "72.71"}).json()["total"] == 1
    # LIKE wildcards are searched as text.
    assert client.get("/api/v1/communities", params={"q": "%"}).json()["total"] == 0

    for bad in ({"limit": 0}, {"limit": 5000}, {"q": "a\x00"}, {"offset": -1}):
        resp = client.get("/api/v1/communities", params=bad)
        assert resp.status_code == 400, (bad, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")


def test_outlines_of_kecamatan_and_kabupaten(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _seed(session_factory)
    r = client.get("/map/areas/district.geojson")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    features = {f["id"]: f for f in r.json()["features"]}
    assert set(features) == {"34.04.01", "34.04.02", "72.71.01"}
    cangkringan = features["34.04.01"]
    assert cangkringan["properties"]["name"] == "Cangkringan"
    assert cangkringan["properties"]["communities"] == 3
    shape = shapely.geometry.shape(cangkringan["geometry"])
    assert shape.area == pytest.approx(0.06 * 0.02, rel=1e-6)  # three desa dissolved into one
    assert shape.contains(shapely.Point(cangkringan["properties"]["label_point"]))
    regencies = client.get("/map/areas/regency.geojson").json()["features"]
    assert {f["properties"]["name"] for f in regencies} == {"Kabupaten Sleman", "Kota Palu"}
    bad = client.get("/map/areas/province.geojson")
    assert bad.status_code == 400 and "district" in bad.text


def test_first_view_is_the_largest_cluster_of_scored_communities(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    assert client.get("/map/config.json").json() == {
        "basemap": {"kind": "none", "attribution": ""},
        "first_view": None,
    }
    ids = _seed(session_factory)
    # Nothing scored yet: every community.
    assert client.get("/map/config.json").json()["first_view"] == pytest.approx(
        [110.40, -7.62, 119.87, -0.88]
    )
    with session_factory() as s, s.begin():
        layer = builders.add_zone_layer(
            s,
            gpd.GeoDataFrame({"KRB": ["KRB I"]}, geometry=[shapely.box(110, -8, 120, 0)], crs=4326),
            "KRB",
            name="z",
            hazard="volcano",
        )
        for code, cid in ids.items():
            if code.startswith("34.04.01") or code == "72.71.01.1001":
                s.add(
                    RiskScore(
                        community_id=cid, layer_id=layer.id, layer_name="z", hazard="volcano",
                        method="coverage", score=0.5, level="sedang", hazard_index=0.5,
                        vulnerability_index=0.5, capacity_index=0.0,
                        computed_at=datetime.now(UTC),
                    )
                )  # fmt: skip
    # Three scored desa near Merapi against one in Palu: the Merapi cluster wins.
    assert client.get("/map/config.json").json()["first_view"] == pytest.approx(
        [110.40, -7.62, 110.46, -7.60]
    )


def _one_tile_archive(path: Path, png: bytes) -> None:
    with write(str(path)) as w:
        w.write_tile(zxy_to_tileid(0, 0, 0), png)
        w.finalize(
            {
                "tile_type": TileType.PNG,
                "tile_compression": Compression.NONE,
                "min_zoom": 0,
                "max_zoom": 0,
                "min_lon_e7": int(95e7),
                "min_lat_e7": int(-11e7),
                "max_lon_e7": int(141e7),
                "max_lat_e7": int(6e7),
                "center_zoom": 0,
                "center_lon_e7": int(118e7),
                "center_lat_e7": int(-2e7),
            },
            {"attribution": "© peta uji"},
        )


def test_pmtiles_basemap_served_offline(
    settings: Settings, clean_db: Engine, data_dir: Path
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"tile-bytes"
    _one_tile_archive(data_dir / "sulteng.pmtiles", png)
    configured = settings.model_copy(update={"map": MapSettings(basemap="sulteng.pmtiles")})
    with TestClient(create_app(configured, engine=clean_db)) as c:
        cfg = c.get("/map/config.json").json()["basemap"]
        assert cfg["kind"] == "pmtiles" and cfg["tile_type"] == "raster"
        assert cfg["url"] == "/map/basemap/{z}/{x}/{y}" and cfg["attribution"] == "© peta uji"
        assert cfg["bounds"] == pytest.approx([95, -11, 141, 6])
        tile = c.get("/map/basemap/0/0/0")
        assert tile.status_code == 200 and tile.content == png
        assert tile.headers["content-type"] == "image/png"
        assert c.get("/map/basemap/1/0/0").status_code == 204  # not in the archive
        outside = c.get("/map/basemap/1/5/0")
        assert outside.status_code == 404 and "tile matrix" in outside.json()["detail"]
        assert "'self'; " in c.get("/").headers["content-security-policy"]
    missing = settings.model_copy(update={"map": MapSettings(basemap="absent.pmtiles")})
    with TestClient(create_app(missing, engine=clean_db)) as c:
        cfg = c.get("/map/config.json").json()["basemap"]
        assert cfg["kind"] == "none" and "absent.pmtiles" in cfg["problem"]
        assert c.get("/map/basemap/0/0/0").status_code == 404


def test_xyz_basemap_is_allowed_by_the_page_policy(settings: Settings, clean_db: Engine) -> None:
    url = "https://tiles.bpbd.example.id/osm/{z}/{x}/{y}.png"
    configured = settings.model_copy(update={"map": MapSettings(basemap=url)})
    with TestClient(create_app(configured, engine=clean_db)) as c:
        assert c.get("/map/config.json").json()["basemap"] == {
            "kind": "xyz",
            "url": url,
            "attribution": "",
        }
        csp = c.get("/").headers["content-security-policy"]
        assert "img-src 'self' data: blob: https://tiles.bpbd.example.id;" in csp
        assert "connect-src 'self' https://tiles.bpbd.example.id;" in csp


def test_basemap_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIAGA_MAP_BASEMAP", "ftp://tiles.example/x")
    with pytest.raises(ConfigError, match="SIAGA_MAP_BASEMAP"):
        load_settings()
    monkeypatch.setenv("SIAGA_MAP_BASEMAP", "https://tiles.example/style.json")
    assert load_settings().map.basemap == "https://tiles.example/style.json"
