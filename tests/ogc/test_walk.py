"""Walk the API as GDAL and OWSLib do, over real HTTP: landing -> OpenAPI -> conformance ->
collections -> items, following `next` links to the end."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from sqlalchemy import Engine

from service.api.ogc.openapi import OPENAPI_MEDIA_TYPE
from tests.conftest import LiveServer
from tests.ogc.builders import insert_communities
from tests.ogc.conftest import MAX_LIMIT

CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"


def _link(doc: dict[str, Any], rel: str, type_: str | None = None) -> dict[str, str]:
    found = [
        lk for lk in doc["links"] if lk["rel"] == rel and (type_ is None or lk["type"] == type_)
    ]
    assert len(found) == 1, (rel, type_, doc["links"])
    return found[0]


def _external_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        refs = [v for k, v in node.items() if k == "$ref" and not str(v).startswith("#")]
        return refs + [r for v in node.values() for r in _external_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _external_refs(v)]
    return []


def test_walk_pages_every_feature_exactly_once(clean_db: Engine, live_server: LiveServer) -> None:
    codes = insert_communities(clean_db, 150)
    root = f"{live_server.url}/ogc"
    with httpx.Client(timeout=10) as http:
        landing = http.get(root, headers={"Accept": "application/json"})
        assert landing.status_code == 200
        assert landing.headers["content-type"] == "application/json"
        body = landing.json()
        for rel in ("self", "service-desc", "service-doc", "conformance", "data"):
            assert all("type" in lk for lk in body["links"] if lk["rel"] == rel)
        assert _link(body, "service-doc")["type"] == "text/html"

        desc = _link(body, "service-desc", OPENAPI_MEDIA_TYPE)
        api = http.get(desc["href"], headers={"Accept": OPENAPI_MEDIA_TYPE})
        assert api.status_code == 200
        assert api.headers["content-type"] == OPENAPI_MEDIA_TYPE
        spec = api.json()
        assert spec["openapi"].startswith("3.0.")
        validate(spec)  # raises on an invalid OpenAPI 3.0 document
        assert _external_refs(spec) == []
        assert spec["servers"][0]["url"] == root
        assert spec["components"]["parameters"]["limit"]["schema"]["maximum"] == MAX_LIMIT
        assert "/collections/communities/items" in spec["paths"]
        assert "/collections/hazard-zones/items/{featureId}" in spec["paths"]

        doc_page = http.get(_link(body, "service-doc")["href"])
        assert doc_page.status_code == 200 and doc_page.headers["content-type"].startswith(
            "text/html"
        )

        conformance = http.get(_link(body, "conformance")["href"]).json()["conformsTo"]
        assert {CONF + "core", CONF + "geojson", CONF + "oas30"} <= set(conformance)
        assert all("/conf/" in uri for uri in conformance)

        colls = http.get(_link(body, "data")["href"])
        assert colls.headers["content-type"] == "application/json"
        entry = next(c for c in colls.json()["collections"] if c["id"] == "communities")
        assert entry["itemType"] == "feature"
        bbox = entry["extent"]["spatial"]["bbox"][0]
        assert bbox == pytest.approx([119.80, -1.00, 119.999, -0.921])

        url: str | None = _link(entry, "items", "application/geo+json")["href"]
        seen: list[str] = []
        pages = 0
        while url:
            page = http.get(url, headers={"Accept": "application/geo+json, application/json"})
            assert page.status_code == 200
            assert page.headers["content-type"] == "application/geo+json"
            fc = page.json()
            assert fc["type"] == "FeatureCollection"
            assert fc["numberMatched"] == 150
            assert fc["numberReturned"] == len(fc["features"]) <= 10
            assert fc["timeStamp"].endswith("Z")
            assert _link(fc, "self")["type"] == "application/geo+json"
            seen += [f["id"] for f in fc["features"]]
            nxt = [lk for lk in fc["links"] if lk["rel"] == "next"]
            assert all(lk["type"] == "application/geo+json" for lk in nxt)
            url = nxt[0]["href"] if nxt else None
            pages += 1
            assert pages < 100, "paging does not end"
    assert pages == 15  # default limit 10
    assert len(seen) == len(set(seen)) == 150
    assert set(seen) == set(codes)


def test_walk_with_limit_over_maximum_is_clamped(clean_db: Engine, live_server: LiveServer) -> None:
    insert_communities(clean_db, 100)
    url: str | None = f"{live_server.url}/ogc/collections/communities/items?limit=1000"
    sizes = []
    ids: list[str] = []
    with httpx.Client(timeout=10) as http:
        while url:
            fc = http.get(url).json()
            sizes.append(fc["numberReturned"])
            ids += [f["id"] for f in fc["features"]]
            nxt = [lk["href"] for lk in fc["links"] if lk["rel"] == "next"]
            url = nxt[0] if nxt else None
    assert sizes == [MAX_LIMIT, MAX_LIMIT, 100 - 2 * MAX_LIMIT]
    assert len(set(ids)) == 100
