"""GDAL's OAPIF driver (the one in the pyogrio wheel) reads every community over real HTTP."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.conftest import LiveServer
from tests.ogc.builders import community_code, insert_communities
from tests.ogc.gdal_reader import read_layer

COUNT = 150  # several pages: the test settings advertise a maximum limit of 40


def test_gdal_reads_every_community_with_attributes(
    clean_db: Engine, live_server: LiveServer
) -> None:
    codes = insert_communities(clean_db, COUNT)
    got = read_layer(f"OAPIF:{live_server.url}/ogc", "communities")

    assert {"communities", "hazard-zones"} <= set(got["layers"])
    assert got["crs"] in ("OGC:CRS84", "EPSG:4326")
    rows = got["rows"]
    assert len(rows) == COUNT
    assert sorted(r["code"] for r in rows) == sorted(codes)
    by_code = {r["code"]: r for r in rows}
    row = by_code[community_code(7)]
    assert row["name"] == "Desa Uji 7"
    assert row["level"] == "desa"
    assert row["population"] == 1007
    assert row["regency_name"] == "Kota Palu"
    assert row["district_code"] == "72.71.01"
    assert row["share_elderly"] == 0.1
    assert by_code[community_code(8)]["share_elderly"] is None
    minx, miny, maxx, maxy = by_code[community_code(0)]["bounds"]
    assert abs(minx - 119.80) < 1e-6 and abs(miny + 1.00) < 1e-6
    assert abs(maxx - 119.809) < 1e-6 and abs(maxy + 0.991) < 1e-6


def test_gdal_bbox_read(clean_db: Engine, live_server: LiveServer) -> None:
    insert_communities(clean_db, 60)
    # Only the first row of cells (indexes 0..19) lies south of latitude -0.995.
    got = read_layer(f"OAPIF:{live_server.url}/ogc", "communities", (119.7, -1.0, 120.1, -0.995))
    assert sorted(r["code"] for r in got["rows"]) == sorted(community_code(i) for i in range(20))
