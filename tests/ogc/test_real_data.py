"""The Jakarta kelurahan boundaries (Kepmendagri codes) served to GDAL and filtered by bbox."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import httpx
import pytest
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import Engine, insert

from service.communities.models import Community
from tests.conftest import LiveServer
from tests.ogc.builders import table_of
from tests.ogc.gdal_reader import read_layer

JAKARTA = "real/admin_boundaries_kepmendagri2025/dki_jakarta_kelurahan.geojson"


def _load(engine: Engine, path: Path) -> gpd.GeoDataFrame:
    df = gpd.read_file(path)
    rows = [
        {
            "code": r.kode,
            "name": r.nama,
            "level": "kelurahan",
            "province_code": r.kode_prov,
            "province_name": r.nama_prov,
            "regency_code": r.kode_kab,
            "regency_name": r.nama_kab,
            "district_code": r.kode_kec,
            "district_name": r.nama_kec,
            "properties": {},
            "geom": from_shape(
                shapely.MultiPolygon([r.geometry])
                if r.geometry.geom_type == "Polygon"
                else r.geometry,
                srid=4326,
            ),
        }
        for r in df.itertuples()
    ]
    with engine.begin() as conn:
        conn.execute(insert(table_of(Community)), rows)
    return df


@pytest.mark.slow  # GDAL's OAPIF driver over real HTTP
def test_jakarta_kelurahan_through_gdal_and_bbox(
    clean_db: Engine, live_server: LiveServer, shared_data: Path
) -> None:
    source = _load(clean_db, shared_data / JAKARTA)
    assert len(source) == 261
    got = read_layer(f"OAPIF:{live_server.url}/ogc", "communities")
    rows = {r["code"]: r for r in got["rows"]}
    assert set(rows) == set(source["kode"])
    for r in source.itertuples():
        served = rows[r.kode]
        assert served["name"] == r.nama and served["district_name"] == r.nama_kec
        assert served["bounds"] == pytest.approx(list(r.geometry.bounds), abs=1e-6)

    # A bbox query selects what geopandas selects, over several pages.
    box = (106.80, -6.20, 106.85, -6.15)  # around Monas / Gambir
    expected = set(source[source.intersects(shapely.box(*box))]["kode"])
    assert 5 < len(expected) < 100
    url = f"{live_server.url}/ogc/collections/communities/items"
    with httpx.Client(timeout=10) as http:
        fc = http.get(url, params={"bbox": ",".join(map(str, box)), "limit": 40}).json()
        ids = [f["id"] for f in fc["features"]]
        while nxt := [lk["href"] for lk in fc["links"] if lk["rel"] == "next"]:
            fc = http.get(nxt[0]).json()
            ids += [f["id"] for f in fc["features"]]
    assert fc["numberMatched"] == len(expected)
    assert sorted(ids) == sorted(expected)
