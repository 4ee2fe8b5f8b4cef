"""OWSLib's OGC API Features client as a smoke test over real HTTP."""

from __future__ import annotations

import pytest
from owslib.ogcapi.features import Features
from sqlalchemy import Engine

from tests.conftest import LiveServer
from tests.ogc.builders import community_code, insert_communities, insert_hazard_layer


def test_owslib_smoke(clean_db: Engine, live_server: LiveServer) -> None:
    insert_communities(clean_db, 45)
    insert_hazard_layer(
        clean_db, name="krb-test", hazard="volcano", classes=[("III", 3.0, 0), ("II", 2.0, 1)]
    )
    api = Features(f"{live_server.url}/ogc")

    assert (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
        in api.conformance()["conformsTo"]
    )
    ids = [c["id"] for c in api.collections()["collections"]]
    assert ids[:2] == ["communities", "hazard-zones"]
    assert set(api.feature_collections()) >= {"communities", "hazard-zones"}
    assert api.collection("communities")["itemType"] == "feature"

    # Cells 0..19 form the southern row; this box covers cells 0..4 of it.
    page = api.collection_items("communities", bbox=[119.80, -1.0, 119.845, -0.995], limit=3)
    assert page["numberMatched"] == 5 and page["numberReturned"] == 3
    assert [f["id"] for f in page["features"]] == [community_code(i) for i in range(3)]

    feature = api.collection_item("communities", community_code(12))
    assert feature["id"] == community_code(12)
    assert feature["properties"]["name"] == "Desa Uji 12"

    zones = api.collection_items("hazard-zones", hazard="volcano")
    assert sorted(f["properties"]["class"] for f in zones["features"]) == ["II", "III"]

    spec = api.api()
    assert spec["openapi"].startswith("3.0")

    with pytest.raises(RuntimeError):
        api.collection_item("communities", "99.99.99.9999")
    with pytest.raises(RuntimeError):
        api.collection_items("communities", colour="blue")


def test_owslib_queryables_and_filter(clean_db: Engine, live_server: LiveServer) -> None:
    insert_communities(clean_db, 30)
    api = Features(f"{live_server.url}/ogc")
    queryables = api.collection_queryables("communities")
    assert queryables["type"] == "object"
    assert queryables["properties"]["population"]["type"] == "integer"
    assert queryables["properties"]["level"]["type"] == "string"
    assert (
        "components" not in api.collection_queryables("risk")["properties"]
    )  # JSON: not queryable
    page = api.collection_items(
        "communities", filter="population BETWEEN 1010 AND 1012", sortby=("population", "desc")
    )
    assert [f["id"] for f in page["features"]] == [community_code(i) for i in (12, 11, 10)]
