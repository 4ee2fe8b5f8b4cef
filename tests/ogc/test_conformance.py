"""Every conformance class /ogc/conformance declares is exercised here, and nothing else is
declared: the test fails when a class is added without a check (or a check without a class)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.api.ogc.routes import CONFORMANCE
from tests.ogc.builders import ORIGIN, community_code, insert_communities

ITEMS = "/ogc/collections/communities/items"
F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
COUNT = 60


def _fc(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get(ITEMS, params={"limit": 40, **params})
    assert r.status_code == 200, (params, r.text)
    assert r.headers["content-type"] == "application/geo+json"
    return r.json()


def _ids(client: TestClient, **params: Any) -> set[str]:
    return {f["id"] for f in _fc(client, limit=100, **params)["features"]}


def _codes(pred: Callable[[int], bool]) -> set[str]:
    return {community_code(i) for i in range(COUNT) if pred(i)}


def core(c: TestClient) -> None:
    assert {lk["rel"] for lk in c.get("/ogc").json()["links"]} >= {"conformance", "data"}
    fc = _fc(c, bbox=f"{ORIGIN[0]},{ORIGIN[1]},{ORIGIN[0] + 0.045},{ORIGIN[1] + 0.005}")
    assert fc["numberMatched"] == 5
    one = c.get(f"{ITEMS}/{community_code(3)}")
    assert one.status_code == 200 and one.json()["properties"]["name"] == "Desa Uji 3"


def geojson(c: TestClient) -> None:
    f = _fc(c)["features"][0]
    assert f["type"] == "Feature" and f["geometry"]["type"] == "MultiPolygon"


def html(c: TestClient) -> None:
    for path in (
        "/ogc",
        "/ogc/conformance",
        "/ogc/collections",
        "/ogc/collections/communities",
        ITEMS,
        f"{ITEMS}/{community_code(3)}",
        "/ogc/collections/communities/queryables",
    ):
        r = c.get(path, params={"f": "html"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert "<html" in r.text
    browser = c.get(ITEMS, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith("text/html")
    assert "Desa Uji 0" in browser.text


def oas30(c: TestClient) -> None:
    spec = c.get("/ogc/api").json()
    assert spec["openapi"].startswith("3.0.")
    assert "/collections/communities/queryables" in spec["paths"]


def crs(c: TestClient) -> None:
    coll = c.get("/ogc/collections/communities").json()
    assert coll["storageCrs"] == CRS84 and {CRS84, EPSG4326, EPSG3857} <= set(coll["crs"])
    assert set(c.get("/ogc/collections").json()["crs"]) >= {CRS84, EPSG4326, EPSG3857}
    code = community_code(0)
    lonlat = c.get(f"{ITEMS}/{code}").json()["geometry"]["coordinates"][0][0][0]
    r = c.get(f"{ITEMS}/{code}", params={"crs": EPSG4326})
    assert r.headers["content-crs"] == f"<{EPSG4326}>"
    assert r.json()["geometry"]["coordinates"][0][0][0] == [lonlat[1], lonlat[0]]
    r = c.get(ITEMS, params={"crs": EPSG3857, "limit": 1})
    assert r.headers["content-crs"] == f"<{EPSG3857}>"
    x, y = r.json()["features"][0]["geometry"]["coordinates"][0][0][0]
    assert abs(x - 13336075.0) < 1 and abs(y + 111325.14) < 1  # 119.80, -1.00 in metres
    # bbox-crs: the first row of cells, in lat/lon order and in metres.
    first_row = _codes(lambda i: i < 20)
    assert _ids(c, bbox="-1.0,119.7,-0.995,120.1", **{"bbox-crs": EPSG4326}) == first_row
    box = "13325233,-111325.15,13369763,-110768.5"
    assert _ids(c, bbox=box, **{"bbox-crs": EPSG3857}) == first_row
    bad = c.get(ITEMS, params={"crs": "EPSG:32750"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "crs"
    assert EPSG3857 in bad.json()["allowed"]


def queryables(c: TestClient) -> None:
    r = c.get("/ogc/collections/communities/queryables")
    assert r.headers["content-type"] == "application/schema+json"
    schema = r.json()
    assert schema["$id"].endswith("/ogc/collections/communities/queryables")
    props = schema["properties"]
    assert props["population"]["type"] == "integer"
    assert props["has_early_warning"]["type"] == "boolean"
    assert props["geometry"]["format"] == "geometry-any"
    links = c.get("/ogc/collections/communities").json()["links"]
    assert any(lk["rel"].endswith("/queryables") for lk in links)


def filter_(c: TestClient) -> None:
    assert _ids(c, filter="population < 1003") == _codes(lambda i: i < 3)
    # filter-crs: geometry literals in EPSG:4326 (lat/lon) and in metres find cell 0.
    lat_lon = "S_INTERSECTS(geometry, POINT(-0.996 119.804))"
    assert _ids(c, filter=lat_lon, **{"filter-crs": EPSG4326}) == {community_code(0)}
    metres = "S_INTERSECTS(geometry, POINT(13336520 -110880))"
    assert _ids(c, filter=metres, **{"filter-crs": EPSG3857}) == {community_code(0)}
    bad = c.get(ITEMS, params={"filter": "colour = 'red'"})
    assert bad.status_code == 400 and "population" in bad.json()["allowed"]


def features_filter(c: TestClient) -> None:
    assert _fc(c, filter="level = 'kelurahan'")["numberMatched"] == 20


def cql2_text(c: TestClient) -> None:
    got = _ids(c, filter="level = 'desa' AND drills_per_year = 0", **{"filter-lang": "cql2-text"})
    assert got == _codes(lambda i: i % 3 != 0 and i % 4 == 0)


def cql2_json(c: TestClient) -> None:
    doc = {
        "op": "and",
        "args": [
            {"op": "=", "args": [{"property": "level"}, "desa"]},
            {"op": "between", "args": [{"property": "population"}, 1010, 1019]},
        ],
    }
    got = _ids(c, filter=json.dumps(doc), **{"filter-lang": "cql2-json"})
    assert got == _codes(lambda i: 10 <= i <= 19 and i % 3 != 0)


def basic_cql2(c: TestClient) -> None:
    assert _ids(c, filter="has_early_warning = true") == _codes(lambda i: i % 2 == 1)
    assert _ids(c, filter="share_elderly IS NULL") == _codes(lambda i: i % 2 == 0)
    assert _ids(c, filter="NOT (population >= 1002) OR population <> population") == _codes(
        lambda i: i < 2
    )


def advanced_comparison_operators(c: TestClient) -> None:
    assert _ids(c, filter="name LIKE 'Desa Uji 1_'") == _codes(lambda i: 10 <= i <= 19)
    assert _ids(c, filter="population BETWEEN 1000 AND 1001") == _codes(lambda i: i < 2)
    codes = [community_code(5), community_code(7)]
    assert _ids(c, filter=f"code IN ('{codes[0]}', '{codes[1]}')") == set(codes)


def case_insensitive_comparison(c: TestClient) -> None:
    assert _ids(c, filter="CASEI(name) = CASEI('DESA UJI 4')") == {community_code(4)}


def _point_in(i: int) -> str:
    x0 = ORIGIN[0] + (i % 20) * 0.01 + 0.004
    y0 = ORIGIN[1] + (i // 20) * 0.01 + 0.004
    return f"POINT({x0} {y0})"


def basic_spatial_functions(c: TestClient) -> None:
    assert _ids(c, filter=f"S_INTERSECTS(geometry, {_point_in(21)})") == {community_code(21)}
    box = f"BBOX({ORIGIN[0]},{ORIGIN[1]},{ORIGIN[0] + 0.015},{ORIGIN[1] + 0.005})"
    assert _ids(c, filter=f"S_INTERSECTS(geometry, {box})") == _codes(lambda i: i in (0, 1))


def basic_spatial_functions_plus(c: TestClient) -> None:
    x, y = ORIGIN
    line = f"LINESTRING({x + 0.004} {y + 0.004}, {x + 0.024} {y + 0.004})"
    assert _ids(c, filter=f"S_INTERSECTS(geometry, {line})") == _codes(lambda i: i in (0, 1, 2))


def spatial_functions(c: TestClient) -> None:
    x, y = ORIGIN
    x0, y0, x1, y1 = x - 1, y - 1, x + 0.0195, y + 0.0095
    big = f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"
    assert _ids(c, filter=f"S_WITHIN(geometry, {big})") == _codes(lambda i: i in (0, 1))
    assert _ids(c, filter=f"S_CONTAINS(geometry, {_point_in(2)})") == {community_code(2)}
    assert _fc(c, filter=f"S_DISJOINT(geometry, {_point_in(2)})")["numberMatched"] == COUNT - 1


CHECKS: dict[str, Callable[[TestClient], None]] = {
    F1 + "core": core,
    F1 + "geojson": geojson,
    F1 + "html": html,
    F1 + "oas30": oas30,
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs": crs,
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables": queryables,
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter": filter_,
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter": features_filter,
    CQL2 + "cql2-text": cql2_text,
    CQL2 + "cql2-json": cql2_json,
    CQL2 + "basic-cql2": basic_cql2,
    CQL2 + "advanced-comparison-operators": advanced_comparison_operators,
    CQL2 + "case-insensitive-comparison": case_insensitive_comparison,
    CQL2 + "basic-spatial-functions": basic_spatial_functions,
    CQL2 + "basic-spatial-functions-plus": basic_spatial_functions_plus,
    CQL2 + "spatial-functions": spatial_functions,
}


def test_every_declared_class_is_exercised(client: TestClient, clean_db: Engine) -> None:
    insert_communities(clean_db, COUNT)
    declared = client.get("/ogc/conformance").json()["conformsTo"]
    assert declared == CONFORMANCE
    assert sorted(declared) == sorted(CHECKS), "a declared class has no check, or vice versa"
    for uri in declared:
        CHECKS[uri](client)


def test_sortby_properties_skip_geometry_and_csv(client: TestClient, clean_db: Engine) -> None:
    insert_communities(clean_db, COUNT)
    fc = _fc(client, sortby="-population", limit=3, properties="name,population")
    assert [f["properties"] for f in fc["features"]] == [
        {"name": f"Desa Uji {i}", "population": 1000 + i} for i in (59, 58, 57)
    ]
    nxt = next(lk["href"] for lk in fc["links"] if lk["rel"] == "next")
    assert "sortby=-population" in nxt
    page2 = client.get(nxt).json()
    assert [f["properties"]["population"] for f in page2["features"]] == [1056, 1055, 1054]
    mixed = _fc(client, sortby="level,-code", limit=2)["features"]
    assert [f["id"] for f in mixed] == [community_code(59), community_code(58)]
    bare = _fc(client, skipGeometry="true", properties="", limit=1)["features"][0]
    assert bare["geometry"] is None and bare["properties"] == {}
    r = client.get(ITEMS, params={"f": "csv", "limit": 2, "properties": "name,population"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["id", "name", "population", "wkt"]
    assert rows[1][:3] == [community_code(0), "Desa Uji 0", "1000"]
    assert rows[1][3].startswith("MULTIPOLYGON")


BAD = [
    ({"crs": "EPSG:9999"}, "crs", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"),
    ({"bbox-crs": "urn:x"}, "bbox-crs", "http://www.opengis.net/def/crs/EPSG/0/3857"),
    ({"filter": "level = "}, "filter", None),
    ({"filter": "level = 'desa' AND"}, "filter", None),
    ({"filter": '{"op": "="}', "filter-lang": "cql2-json"}, "filter", None),
    ({"filter": "not json", "filter-lang": "cql2-json"}, "filter", None),
    ({"filter": "level = 'desa'", "filter-lang": "ecql"}, "filter-lang", "cql2-text"),
    ({"filter": "colour = 'red'"}, "filter", "population"),
    ({"filter": "population = 'many'"}, "filter", None),
    ({"filter": "name > 3"}, "filter", None),
    ({"filter": "population + 1 > 3"}, "filter", None),
    ({"filter": "S_INTERSECTS(population, POINT(1 2))"}, "filter", None),
    ({"sortby": "geometry"}, "sortby", "population"),
    ({"sortby": "-colour"}, "sortby", "name"),
    ({"properties": "name,colour"}, "properties", "population"),
    ({"skipGeometry": "yes"}, "skipGeometry", "true"),
    ({"f": "xml"}, "f", "csv"),
]


def test_bad_input_names_parameter_and_allowed_values(client: TestClient) -> None:
    for params, parameter, allowed in BAD:
        r = client.get(ITEMS, params=params)
        assert r.status_code == 400, (params, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["parameter"] == parameter, (params, body)
        if allowed is not None:
            assert allowed in body["allowed"], (params, body)


def test_filter_values_never_reach_sql_as_text(client: TestClient, clean_db: Engine) -> None:
    insert_communities(clean_db, 5)
    evil = "x'); DROP TABLE communities; --"
    assert _ids(client, filter=f"name = '{evil.replace(chr(39), '')}'") == set()
    r = client.get(
        ITEMS,
        params={
            "filter": json.dumps({"op": "=", "args": [{"property": "name"}, evil]}),
            "filter-lang": "cql2-json",
        },
    )
    assert r.status_code == 200 and r.json()["numberMatched"] == 0
    assert _fc(client)["numberMatched"] == 5  # the table is still there


def test_translated_filter_binds_every_literal() -> None:
    from pygeofilter.parsers.cql2_text import parse
    from sqlalchemy.dialects import postgresql

    from service.api.ogc.catalog import build_catalog
    from service.api.ogc.cql2 import Translator
    from service.api.ogc.crs import DEFAULT
    from service.api.ogc.queryables import queryables as qs

    coll = build_catalog().get("communities")
    assert coll is not None
    node = parse("name LIKE 'Robert%' AND population > 5 AND S_INTERSECTS(geometry, POINT(1 2))")
    cond = Translator(coll.table(), qs(coll), DEFAULT).condition(node)
    sql = str(cond.compile(dialect=postgresql.dialect()))
    assert "Robert" not in sql and "5" not in sql and "POINT" not in sql
    assert re.findall(r"%\(\w+\)s", sql)


def test_html_pages_escape_data(client: TestClient, clean_db: Engine) -> None:
    from sqlalchemy import update

    from service.communities.models import Community

    insert_communities(clean_db, 2)
    with clean_db.begin() as conn:
        conn.execute(update(Community).values(name="<script>alert(1)</script>"))
    for url in (ITEMS, f"{ITEMS}/{community_code(0)}"):
        r = client.get(url, params={"f": "html"})
        assert "<script>alert" not in r.text and "&lt;script&gt;alert(1)" in r.text
        assert "script-src" not in r.headers["content-security-policy"]  # no script at all


ODD_FILTERS = [
    "name LIKE 'abc\\\\'",
    "population = 99999999999999999999999",
    "population > 1e308 * 10",
    "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))",
    "S_CONTAINS(geometry, GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1)))",
    "S_INTERSECTS(geometry, BBOX(1, 2))",
    "S_INTERSECTS(geometry, POINT(1000 1000))",
    "share_elderly = NULL",
    "code IN ()",
    "name = 'a' OR",
    "(((((((((((((((((((((name = 'a')))))))))))))))))))))",
    "geometry = 'x'",
    "T_AFTER(population, TIMESTAMP('2020-01-01T00:00:00Z'))",
    'name = "level"',
    "population = population",
    "name > population",
    "CASEI(population) = CASEI('x')",
    "CASEI(name) < CASEI('x')",
    "NOT population",
    "'a' = 'a'",
    "\x00",
    "ÿ" * 3000,
]
ODD_JSON = [
    '{"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [1, 2, 3]}]}',
    '{"op": "=", "args": [{"property": "name"}, {"property": "name"}, 3]}',
    '{"op": "in", "args": [{"property": "name"}, "notalist"]}',
    '{"op": "between", "args": [{"property": "population"}, 1]}',
    '{"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point"}]}',
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]",
    "null",
    '"text"',
]


def test_odd_filters_are_never_a_server_error(client: TestClient, clean_db: Engine) -> None:
    insert_communities(clean_db, 3)
    cases = [{"filter": f} for f in ODD_FILTERS]
    cases += [{"filter": f, "filter-lang": "cql2-json"} for f in ODD_JSON]
    for params in cases:
        r = client.get(ITEMS, params=params)
        assert r.status_code in (200, 400), (params, r.status_code, r.text[:300])
        if r.status_code == 400:
            assert r.headers["content-type"] == "application/problem+json", params
