"""Items, item and collection behaviour: parameters, errors, filters, media types."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.api.ogc.catalog import build_catalog
from service.communities.models import Community
from service.ogc_collections import Catalog, Collection, Filter
from tests.ogc.builders import community_code, insert_communities, insert_hazard_layer
from tests.ogc.conftest import MAX_LIMIT

ITEMS = "/ogc/collections/communities/items"
ZONES = "/ogc/collections/hazard-zones/items"
PROBLEM = "application/problem+json"


def _items(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geo+json"
    return r.json()


def _bad(client: TestClient, url: str, **params: Any) -> str:
    r = client.get(url, params=params)
    assert r.status_code == 400, (params, r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM
    return str(r.json()["detail"])


def _rel(fc: dict[str, Any], rel: str) -> dict[str, Any] | None:
    found = [lk for lk in fc["links"] if lk["rel"] == rel]
    return found[0] if found else None


@pytest.fixture
def communities(clean_db: Engine) -> list[str]:
    return insert_communities(clean_db, 60)


@pytest.fixture
def zones(clean_db: Engine) -> dict[str, list[int]]:
    _, krb = insert_hazard_layer(
        clean_db,
        name="krb-merapi",
        hazard="volcano",
        classes=[("III", 3.0, 0), ("II", 2.0, 1), ("I", 1.0, 2)],
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        valid_to=None,
    )
    _, flood_old = insert_hazard_layer(
        clean_db, name="banjir-2007", hazard="flood", classes=[("tinggi", None, 40)]
    )
    _, flood = insert_hazard_layer(
        clean_db,
        name="banjir-2007",
        hazard="flood",
        version=2,
        classes=[("tinggi", 1.5, 41), ("rendah", 0.3, 42)],
        valid_from=datetime(2007, 2, 1, tzinfo=UTC),
        valid_to=datetime(2007, 2, 28, tzinfo=UTC),
    )
    _, tsunami = insert_hazard_layer(
        clean_db, name="tsunami-maumere", hazard="tsunami", classes=[("high", None, 60)]
    )
    return {"krb": krb, "flood_old": flood_old, "flood": flood, "tsunami": tsunami}


def test_default_limit_and_paging_links(client: TestClient, communities: list[str]) -> None:
    fc = _items(client, ITEMS)
    assert fc["numberReturned"] == 10 and fc["numberMatched"] == 60
    assert [f["id"] for f in fc["features"]] == sorted(communities)[:10]
    assert _rel(fc, "prev") is None
    nxt = _rel(fc, "next")
    assert nxt is not None and nxt["type"] == "application/geo+json"
    assert parse_qs(urlparse(nxt["href"]).query) == {"limit": ["10"], "offset": ["10"]}

    last = _items(client, ITEMS, limit=25, offset=50)
    assert last["numberReturned"] == 10 and last["numberMatched"] == 60
    assert _rel(last, "next") is None
    prev = _rel(last, "prev")
    assert prev is not None and parse_qs(urlparse(prev["href"]).query)["offset"] == ["25"]

    beyond = _items(client, ITEMS, offset=500)
    assert beyond["features"] == [] and beyond["numberMatched"] == 60


def test_limit_is_clamped_at_the_advertised_maximum(
    client: TestClient, communities: list[str]
) -> None:
    fc = _items(client, ITEMS, limit=MAX_LIMIT * 100)
    assert fc["numberReturned"] == MAX_LIMIT
    nxt = _rel(fc, "next")
    assert nxt is not None
    assert parse_qs(urlparse(nxt["href"]).query)["limit"] == [str(MAX_LIMIT)]


def test_next_link_keeps_the_filters(client: TestClient, communities: list[str]) -> None:
    fc = _items(client, ITEMS, limit=5, level="desa", bbox="119.7,-1.1,120.2,-0.9")
    nxt = _rel(fc, "next")
    assert nxt is not None
    query = parse_qs(urlparse(nxt["href"]).query)
    assert query["level"] == ["desa"] and query["bbox"] == ["119.7,-1.1,120.2,-0.9"]
    assert query["offset"] == ["5"]


def test_bbox_intersects(client: TestClient, communities: list[str]) -> None:
    # Cells are 0.009 degrees wide at 0.01 spacing; this box touches cells 0,1 and 20,21.
    fc = _items(client, ITEMS, bbox="119.805,-0.995,119.815,-0.985")
    assert sorted(f["id"] for f in fc["features"]) == sorted(
        community_code(i) for i in (0, 1, 20, 21)
    )
    assert fc["numberMatched"] == 4
    far = _items(client, ITEMS, bbox="100,-5,101,-4")
    assert far["features"] == [] and far["numberMatched"] == 0
    # Six numbers (with heights) are accepted.
    assert _items(client, ITEMS, bbox="119.805,-0.995,0,119.815,-0.985,100")["numberMatched"] == 4
    # Crossing the antimeridian: 170E..-170W holds nothing; 119.8195E eastwards round the
    # globe to 119.8005E holds all of row 0 but cell 1 (119.810..119.819).
    assert _items(client, ITEMS, bbox="170,-2,-170,0")["numberMatched"] == 0
    wrap = _items(client, ITEMS, bbox="119.8195,-1.0,119.8005,-0.995", limit=40)
    assert wrap["numberMatched"] == 20 - 1  # every cell of row 0 except cell 1


BAD_ITEMS_PARAMS: list[tuple[dict[str, str], str]] = [
    ({"colour": "blue"}, "colour"),
    ({"limit": "0"}, "limit"),
    ({"limit": "-3"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "119,-1,120"}, "bbox"),
    ({"bbox": "119,5,120,1"}, "latitude"),
    ({"bbox": "119,-95,120,1"}, "latitudes"),
    ({"bbox": "200,-1,210,1"}, "longitudes"),
    ({"bbox": "nan,-1,120,1"}, "bbox"),
    ({"datetime": "yesterday"}, "datetime"),
    ({"datetime": "2024-13-01T00:00:00Z"}, "RFC 3339"),
    ({"datetime": "2024-01-01T00:00:00"}, "time zone"),
    ({"datetime": "2024-02-01T00:00:00Z/2024-01-01T00:00:00Z"}, "start is after"),
    ({"datetime": "a/b/c"}, "datetime"),
    ({"datetime": ""}, "datetime"),
    ({"crs": "http://www.opengis.net/def/crs/EPSG/0/32750"}, "crs"),
    ({"bbox-crs": "EPSG:32750"}, "bbox-crs"),
    ({"f": "xml"}, "f='xml'"),
    ({"level": ""}, "level"),
    ({"level": "desa\x00"}, "NUL"),
]


def test_bad_parameters_are_400(client: TestClient) -> None:
    # One test looping over the cases: each test costs an app start and a table truncation.
    for params, needle in BAD_ITEMS_PARAMS:
        assert needle in _bad(client, ITEMS, **params), params


def test_repeated_parameter_is_400(client: TestClient) -> None:
    r = client.get(f"{ITEMS}?limit=1&limit=2")
    assert r.status_code == 400 and "limit" in r.json()["detail"]


def test_unknown_parameter_names_accepted_ones(client: TestClient) -> None:
    detail = _bad(client, ZONES, colour="blue")
    assert "colour" in detail and "hazard" in detail and "datetime" in detail


def test_crs84_and_json_format_are_accepted(client: TestClient, communities: list[str]) -> None:
    crs84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    r = client.get(
        ITEMS,
        params={"crs": crs84, "bbox-crs": crs84, "bbox": "119.7,-1.1,120.2,-0.9", "f": "json"},
    )
    assert r.status_code == 200 and r.json()["numberMatched"] == 60
    assert r.headers["content-crs"] == f"<{crs84}>"


def test_community_filters(client: TestClient, communities: list[str]) -> None:
    fc = _items(client, ITEMS, level="kelurahan", limit=40)
    assert fc["numberMatched"] == 20  # every third index
    assert {f["properties"]["level"] for f in fc["features"]} == {"kelurahan"}
    both = _items(client, ITEMS, level="kelurahan,desa")
    assert both["numberMatched"] == 60
    assert _items(client, ITEMS, district_code="72.71.09")["numberMatched"] == 0


def test_datetime_is_ignored_without_time_but_validated(
    client: TestClient, communities: list[str]
) -> None:
    # Communities have no time column: a valid datetime selects all, an invalid one is 400.
    assert _items(client, ITEMS, datetime="2024-01-01T00:00:00Z")["numberMatched"] == 60
    _bad(client, ITEMS, datetime="tomorrow")


def test_feature_content(client: TestClient, communities: list[str]) -> None:
    code = community_code(3)
    r = client.get(f"{ITEMS}/{code}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    f = r.json()
    assert f["type"] == "Feature" and f["id"] == code
    assert f["geometry"]["type"] == "MultiPolygon"
    ring = f["geometry"]["coordinates"][0][0]
    assert ring[0] == pytest.approx([119.83, -1.0])
    props = f["properties"]
    assert props["code"] == code and props["name"] == "Desa Uji 3"
    assert props["level"] == "kelurahan" and props["population"] == 1003
    assert props["province_name"] == "Sulawesi Tengah" and props["district_name"] == "Kecamatan 1"
    assert props["has_early_warning"] is True and props["share_children"] is None
    rels = {lk["rel"]: lk for lk in f["links"]}
    assert rels["self"]["href"].endswith(f"/ogc/collections/communities/items/{code}")
    assert rels["self"]["type"] == "application/geo+json"
    assert rels["collection"]["type"] == "application/json"


def test_not_found(client: TestClient, communities: list[str], zones: dict[str, list[int]]) -> None:
    for url in (
        "/ogc/collections/nope",
        "/ogc/collections/nope/items",
        "/ogc/collections/nope/items/1",
        f"{ITEMS}/00.00.00.0000",
        f"{ZONES}/abc",
        f"{ZONES}/999999",
        f"{ITEMS}/72.71%00",
    ):
        r = client.get(url)
        assert r.status_code == 404, url
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["status"] == 404 and r.json()["detail"]
    assert "communities" in client.get("/ogc/collections/nope").json()["detail"]


def test_item_rejects_unknown_parameters(client: TestClient, communities: list[str]) -> None:
    assert "limit" in _bad(client, f"{ITEMS}/{community_code(0)}", limit="5")


def test_media_types(client: TestClient, communities: list[str]) -> None:
    for path in (
        "/ogc",
        "/ogc/",
        "/ogc/conformance",
        "/ogc/collections",
        "/ogc/collections/communities",
    ):
        r = client.get(path, params={"f": "json"})
        assert r.status_code == 200, path
        assert r.headers["content-type"] == "application/json", path
    api = client.get("/ogc/api")
    assert api.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert client.get("/ogc/conformance", params={"f": "xml"}).status_code == 400


def test_hazard_zones(client: TestClient, zones: dict[str, list[int]]) -> None:
    fc = _items(client, ZONES, limit=40)
    ids = sorted(f["id"] for f in fc["features"])
    # Only the newest version of banjir-2007 is served.
    assert ids == sorted(zones["krb"] + zones["flood"] + zones["tsunami"])
    zone = next(f for f in fc["features"] if f["id"] == zones["flood"][0])
    assert zone["properties"] == {
        "layer": "banjir-2007",
        "layer_id": zone["properties"]["layer_id"],
        "version": 2,
        "hazard": "flood",
        "class": "tinggi",
        "intensity": 1.5,
        "source": "test",
        "valid_from": "2007-02-01T00:00:00Z",
        "valid_to": "2007-02-28T00:00:00Z",
    }
    volcano = _items(client, ZONES, hazard="volcano")
    assert sorted(f["properties"]["class"] for f in volcano["features"]) == ["I", "II", "III"]
    assert _items(client, ZONES, hazard="volcano,tsunami")["numberMatched"] == 4
    assert _items(client, ZONES, **{"class": "III"})["numberMatched"] == 1
    assert _items(client, ZONES, layer="banjir-2007")["numberMatched"] == 2
    assert "hazard" in _bad(client, ZONES, hazard="meteor")
    item = client.get(f"{ZONES}/{zones['krb'][0]}")
    assert item.status_code == 200 and item.json()["id"] == zones["krb"][0]
    assert client.get(f"{ZONES}/{zones['flood_old'][0]}").status_code == 404
    # Paging through the joined source gives each zone once, in id order.
    pages = [_items(client, ZONES, limit=2, offset=o) for o in (0, 2, 4)]
    assert [p["numberMatched"] for p in pages] == [6, 6, 6]
    assert [f["id"] for p in pages for f in p["features"]] == ids


DATETIME_CASES: list[tuple[str, set[str]]] = [
    # krb: 2020-01-01/.. ; flood: 2007-02-01/2007-02-28 ; tsunami: no time (always matches)
    ("2007-02-10T12:00:00Z", {"flood", "tsunami"}),
    ("2007-02-10", {"flood", "tsunami"}),
    ("2019-12-31T23:59:59Z", {"tsunami"}),
    ("2024-06-01T00:00:00+07:00", {"krb", "tsunami"}),
    ("2007-02-28T00:00:00Z/2020-01-01T00:00:00Z", {"flood", "krb", "tsunami"}),
    ("2007-03-01T00:00:00Z/2019-01-01T00:00:00Z", {"tsunami"}),
    ("../2007-01-31T23:59:59Z", {"tsunami"}),
    ("../2007-02-01", {"flood", "tsunami"}),
    ("2021-01-01T00:00:00Z/..", {"krb", "tsunami"}),
    ("2021-01-01T00:00:00Z/", {"krb", "tsunami"}),
    ("/2007-02-01T00:00:00Z", {"flood", "tsunami"}),
    ("../..", {"flood", "krb", "tsunami"}),
]


def test_hazard_zone_datetime(client: TestClient, zones: dict[str, list[int]]) -> None:
    names = {"krb-merapi": "krb", "banjir-2007": "flood", "tsunami-maumere": "tsunami"}
    for value, expected in DATETIME_CASES:
        fc = _items(client, ZONES, datetime=value, limit=40)
        got = {names[f["properties"]["layer"]] for f in fc["features"]}
        assert got == expected, value


def test_collection_extents(
    client: TestClient, communities: list[str], zones: dict[str, list[int]]
) -> None:
    comm = client.get("/ogc/collections/communities").json()
    assert comm["extent"]["spatial"]["bbox"] == [pytest.approx([119.80, -1.0, 119.999, -0.971])]
    assert "temporal" not in comm["extent"]
    assert comm["crs"][0] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert comm["storageCrs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert "http://www.opengis.net/def/crs/EPSG/0/3857" in comm["crs"]
    items = [lk for lk in comm["links"] if lk["rel"] == "items"]
    assert items and items[0]["type"] == "application/geo+json"
    zone = client.get("/ogc/collections/hazard-zones").json()
    # The krb layer is open-ended, so the temporal extent is open at the end.
    assert zone["extent"]["temporal"]["interval"] == [["2007-02-01T00:00:00Z", None]]


def test_empty_collection(client: TestClient, clean_db: Engine) -> None:
    coll = client.get("/ogc/collections/communities").json()
    assert "extent" not in coll
    fc = _items(client, ITEMS)
    assert fc["features"] == [] and fc["numberMatched"] == 0 and fc["numberReturned"] == 0
    assert _rel(fc, "next") is None


def _catalog(client: TestClient) -> Catalog:
    catalog: Catalog = client.app.state.ogc_catalog  # type: ignore[attr-defined]
    return catalog


@pytest.fixture
def private_collection(client: TestClient) -> Iterator[Collection]:
    coll = _catalog(client).add(
        Collection(
            id="test-private",
            title="Private",
            description="only with a key",
            source=Community.__table__,
            id_column="code",
            properties={"nama": "name"},
            public=False,
        )
    )
    yield coll
    _catalog(client).remove(coll.id)


def test_private_collection_needs_a_key(
    client: TestClient,
    communities: list[str],
    private_collection: Collection,
    auth_headers: Any,
) -> None:
    anonymous = [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
    assert "test-private" not in anonymous
    assert client.get("/ogc/collections/test-private/items").status_code == 404
    # Non-public needs a responder key (the default min_role) or higher; a viewer's is not enough.
    viewer = client.get("/ogc/collections/test-private/items", headers=auth_headers("viewer"))
    assert viewer.status_code == 404
    headers = auth_headers("responder")
    listed = client.get("/ogc/collections", headers=headers).json()["collections"]
    assert "test-private" in [c["id"] for c in listed]
    fc = client.get("/ogc/collections/test-private/items", headers=headers).json()
    assert fc["numberMatched"] == 60
    assert fc["features"][0]["properties"] == {"nama": "Desa Uji 0"}
    # An unknown key is refused; Basic credentials (GDAL USERPWD) count as anonymous.
    bad = client.get("/ogc/collections", headers={"Authorization": "Bearer sk_nope"})
    assert bad.status_code == 401
    basic = client.get("/ogc/collections", headers={"Authorization": "Basic dTpw"})
    assert basic.status_code == 200
    assert "test-private" not in [c["id"] for c in basic.json()["collections"]]


def test_many_properties_and_custom_filter(client: TestClient, communities: list[str]) -> None:
    props = {f"p{i:02d}": "population" for i in range(60)}  # over json_build_object's 50 pairs
    coll = _catalog(client).add(
        Collection(
            id="test-wide",
            title="Wide",
            description="many properties",
            source=Community.__table__,
            id_column="code",
            properties=props,
            filters=(
                Filter(
                    name="min_population",
                    type="integer",
                    where=lambda src, values: src.c.population >= values[0],
                ),
            ),
        )
    )
    try:
        fc = _items(client, "/ogc/collections/test-wide/items", min_population=1055)
        assert fc["numberMatched"] == 5
        assert fc["features"][0]["properties"] == {name: 1055 for name in props}
        assert "min_population" in _bad(
            client, "/ogc/collections/test-wide/items", min_population="many"
        )
        assert "min_population" in str(client.get("/ogc/api").json()["paths"])
    finally:
        _catalog(client).remove(coll.id)


def test_register_refuses_inconsistent_descriptions() -> None:
    base: dict[str, Any] = dict(
        id="test-bad", title="x", description="x", source=Community.__table__, id_column="code"
    )
    catalog = build_catalog()
    with pytest.raises(ValueError, match="no column"):
        catalog.add(Collection(**{**base, "properties": ("nope",)}))
    with pytest.raises(ValueError, match="reserved"):
        catalog.add(Collection(**base, filters=(Filter(name="limit", column="level"),)))
    with pytest.raises(ValueError, match="already registered"):
        catalog.add(Collection(**{**base, "id": "communities"}))
    with pytest.raises(ValueError, match="collection id"):
        catalog.add(Collection(**{**base, "id": "Bad Id"}))
    with pytest.raises(ValueError, match="min_role"):
        catalog.add(Collection(**base, public=False, min_role="boss"))
    assert catalog.get("test-bad") is None
