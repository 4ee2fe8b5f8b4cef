"""GDAL's OAPIF driver (the one in the pyogrio wheel) reads every community over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from tests.conftest import LiveServer
from tests.ogc.builders import community_code, insert_communities
from tests.ogc.gdal_reader import read_layer

# GDAL's OAPIF driver over real HTTP: outside the fast loop (-m 'not slow').
pytestmark = pytest.mark.slow

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


def test_gdal_pushes_where_down_as_cql2(clean_db: Engine, live_server: LiveServer) -> None:
    insert_communities(clean_db, COUNT)
    got = read_layer(
        f"OAPIF:{live_server.url}/ogc",
        "communities",
        where="level = 'kelurahan' AND population < 1030",
        debug=True,
    )
    expected = sorted(community_code(i) for i in range(30) if i % 3 == 0)
    assert sorted(r["code"] for r in got["rows"]) == expected
    # The whole `where` went to the server as CQL2 text (GDAL asks for it by its draft name
    # cql-text): one page of the 10 matches was read, nothing was filtered on the client.
    log = got["log"]
    reads = [ln for ln in log.splitlines() if "communities/items?" in ln and "limit=20" not in ln]
    assert len(reads) == 1, log[-3000:]
    assert "filter=" in reads[0] and "population" in reads[0] and "cql-text" in reads[0]
    assert "evaluated on client side" not in log and "Only part of the filter" not in log


def test_gdal_reads_in_web_mercator(clean_db: Engine, live_server: LiveServer) -> None:
    insert_communities(clean_db, 5)
    got = read_layer(f"OAPIF:{live_server.url}/ogc", "communities", crs="EPSG:3857", debug=True)
    assert got["crs"] == "EPSG:3857"
    assert "crs=http://www.opengis.net/def/crs/EPSG/0/3857" in got["log"].replace("%3A", ":")
    by_code = {r["code"]: r for r in got["rows"]}
    minx, miny, _, _ = by_code[community_code(0)]["bounds"]
    assert abs(minx - 13336075.0) < 1 and abs(miny + 111325.14) < 1  # 119.80 E, 1.00 S


def test_gdal_sends_an_api_key_as_bearer(
    clean_db: Engine, live_server: LiveServer, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    """docs/ogc.md: GDAL_HTTP_AUTH=BEARER with GDAL_HTTP_BEARER opens key-only collections."""
    insert_communities(clean_db, 3)
    url = f"OAPIF:{live_server.url}/ogc"
    assert "reports" not in read_layer(url, "communities")["layers"]
    key = auth_headers("responder")["Authorization"].removeprefix("Bearer ")
    got = read_layer(url, "communities", env={"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": key})
    assert "reports" in got["layers"] and len(got["rows"]) == 3
