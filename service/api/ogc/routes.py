"""OGC API - Features under /ogc: Part 1 (core, GeoJSON, HTML, OpenAPI 3.0), Part 2 (CRS by
reference) and Part 3 (queryables, CQL2 filters), plus `sortby`, `properties`,
`skipGeometry` and CSV items.

Routes are thin: parse and check parameters (`items.py`, `params.py`), run the SQL
(`queries.py`), wrap the features PostGIS rendered into a FeatureCollection with links, or
render them as HTML (`html.py`) or CSV.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from service.api.deps import (
    ReadEngineDep,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    get_principal,
)
from service.api.docs import swagger_page
from service.api.ogc import html
from service.api.ogc.catalog import catalog_of
from service.api.ogc.crs import CRS84, CRS_URIS
from service.api.ogc.items import ITEM_PARAMS, items_query, shape_of
from service.api.ogc.openapi import OPENAPI_MEDIA_TYPE, build_openapi
from service.api.ogc.params import pick_format, reject_unknown
from service.api.ogc.queries import extent, items_page, items_table, one_feature
from service.api.ogc.queryables import SCHEMA_MEDIA_TYPE, queryables_schema
from service.api.ogc.readcache import cache_of
from service.api.responses import GEOJSON
from service.auth.service import ANONYMOUS, Principal
from service.errors import NotFound
from service.ogc_collections import Catalog, Collection
from service.settings import Settings

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"], include_in_schema=False)

JSON = "application/json"
HTML = "text/html"
CSV = "text/csv"
_F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
# Each class here is exercised by tests/ogc/test_conformance.py.
CONFORMANCE = [
    _F1 + "core",
    _F1 + "geojson",
    _F1 + "html",
    _F1 + "oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    _CQL2 + "cql2-text",
    _CQL2 + "cql2-json",
    _CQL2 + "basic-cql2",
    _CQL2 + "advanced-comparison-operators",
    _CQL2 + "case-insensitive-comparison",
    _CQL2 + "basic-spatial-functions",
    _CQL2 + "basic-spatial-functions-plus",
    _CQL2 + "spatial-functions",
]
TRS_GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"


async def ogc_principal(request: Request) -> Principal:
    """A Bearer API key opens non-public collections; any other Authorization header (GDAL's
    and QGIS's Basic credentials, say) is ignored, as everything public needs none.

    Async so that anonymous reads (most of them) skip a thread-pool hand-off; only a key
    lookup (database I/O) goes to a worker thread."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return ANONYMOUS
    return await run_in_threadpool(get_principal, request)


PrincipalDep = Annotated[Principal, Depends(ogc_principal)]


def ogc_root(request: Request, settings: Settings) -> str:
    """Absolute base of the OGC API as clients see it (SIAGA_API_PUBLIC_URL behind a proxy)."""
    base = settings.api.public_url or str(request.base_url)
    return base.rstrip("/") + "/ogc"


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def _json(body: Any, media_type: str = JSON, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type=media_type, headers=headers)


def _fmt(request: Request, offered: tuple[str, ...] = ("json", "html")) -> str:
    return pick_format(request.query_params, request.headers.get("accept"), offered=offered)


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def visible(coll: Collection, principal: Principal) -> bool:
    return coll.public or (principal.key_id is not None and principal.has(coll.min_role))


def find_collection(catalog: Catalog, collection_id: str, principal: Principal) -> Collection:
    coll = catalog.get(collection_id)
    if coll is None or not visible(coll, principal):
        known = ", ".join(c.id for c in catalog.collections() if visible(c, principal))
        raise NotFound(f"no collection {collection_id!r}; collections here: {known}")
    return coll


def collection_doc(coll: Collection, root: str, session: SessionDep) -> dict[str, Any]:
    href = f"{root}/collections/{coll.id}"
    ext = extent(session.connection(), coll)
    doc: dict[str, Any] = {
        "id": coll.id,
        "title": coll.title,
        "description": coll.description,
        "keywords": list(coll.keywords),
        "itemType": "feature",
        "crs": CRS_URIS,
        "storageCrs": CRS84,
        "links": [
            link(href, "self", JSON, "This collection"),
            link(f"{href}?f=html", "alternate", HTML, "This collection as HTML"),
            link(f"{href}/items", "items", GEOJSON, f"{coll.title} as GeoJSON"),
            link(f"{href}/queryables", REL_QUERYABLES, SCHEMA_MEDIA_TYPE, "Queryables"),
            # The same under the draft relation name, which GDAL's OAPIF driver looks for.
            link(f"{href}/queryables", "queryables", SCHEMA_MEDIA_TYPE, "Queryables"),
        ],
    }
    extent_doc: dict[str, Any] = {}
    if ext.bbox is not None:
        extent_doc["spatial"] = {"bbox": [list(ext.bbox)], "crs": CRS84}
    if ext.interval is not None:
        start, end = ext.interval
        extent_doc["temporal"] = {"interval": [[_iso(start), _iso(end)]], "trs": TRS_GREGORIAN}
    if extent_doc:
        doc["extent"] = extent_doc
    return doc


@router.get("")
@router.get("/")
def landing(request: Request, settings: SettingsDep) -> Response:
    fmt = _fmt(request)
    root = ogc_root(request, settings)
    title = "Siaga OGC API - Features"
    description = (
        "Wilayah komunitas, zona bahaya, risiko, kejadian dan peringatan. Community "
        "boundaries, hazard zones, risk, events and alerts as OGC API - Features (Part 1 "
        "Core, GeoJSON, HTML; Part 2 CRS; Part 3 queryables and CQL2 filters)."
    )
    links = [
        link(root, "self", JSON, "This document"),
        link(f"{root}?f=html", "alternate", HTML, "This document as HTML"),
        link(f"{root}/api", "service-desc", OPENAPI_MEDIA_TYPE, "The API definition (OpenAPI 3.0)"),
        link(f"{root}/api.html", "service-doc", HTML, "The API documentation"),
        link(f"{root}/conformance", "conformance", JSON, "Conformance classes"),
        link(f"{root}/collections", "data", JSON, "Collections"),
    ]
    if fmt == "html":
        return html.page(title=title, root=root, description=description, links=links)
    return _json({"title": title, "description": description, "links": links})


@router.get("/api")
def api_definition(request: Request, settings: SettingsDep, principal: PrincipalDep) -> Response:
    if _fmt(request) == "html":
        return api_documentation(request, settings)
    colls = [c for c in catalog_of(request).collections() if visible(c, principal)]
    doc = build_openapi(
        server_url=ogc_root(request, settings),
        collections=colls,
        default_limit=min(settings.api.ogc_default_limit, settings.api.ogc_max_limit),
        max_limit=settings.api.ogc_max_limit,
    )
    return _json(doc, media_type=OPENAPI_MEDIA_TYPE)


@router.get("/api.html")
def api_documentation(request: Request, settings: SettingsDep) -> Response:
    return swagger_page(f"{ogc_root(request, settings)}/api", "Siaga OGC API - Features")


@router.get("/conformance")
def conformance(request: Request, settings: SettingsDep) -> Response:
    if _fmt(request) == "html":
        root = ogc_root(request, settings)
        return html.page(
            title="Conformance",
            root=root,
            crumbs=[("conformance", f"{root}/conformance?f=html")],
            items=CONFORMANCE,
        )
    return _json({"conformsTo": CONFORMANCE})


@router.get("/collections")
def list_collections(
    request: Request, settings: SettingsDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    fmt = _fmt(request)
    root = ogc_root(request, settings)
    colls = [c for c in catalog_of(request).collections() if visible(c, principal)]
    docs = [collection_doc(c, root, session) for c in colls]
    links = [
        link(f"{root}/collections", "self", JSON, "Collections"),
        link(f"{root}/collections?f=html", "alternate", HTML, "Collections as HTML"),
    ]
    if fmt == "html":
        rows = [
            {"id": d["id"], "title": d["title"], "href": f"{root}/collections/{d['id']}"}
            for d in docs
        ]
        crumbs = [("collections", f"{root}/collections?f=html")]
        return html.page(title="Collections", root=root, crumbs=crumbs, collections=rows)
    return _json({"links": links, "collections": docs, "crs": CRS_URIS})


@router.get("/collections/{collection_id}")
def describe_collection(
    collection_id: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    fmt = _fmt(request)
    coll = find_collection(catalog_of(request), collection_id, principal)
    root = ogc_root(request, settings)
    doc = collection_doc(coll, root, session)
    if fmt == "html":
        href = f"{root}/collections/{coll.id}"
        fields = [
            ("id", coll.id),
            ("items", "GeoJSON, HTML (f=html), CSV (f=csv)"),
            ("crs", ", ".join(CRS_URIS)),
            ("extent", json.dumps(doc.get("extent", {}))),
        ]
        return html.page(
            title=coll.title,
            root=root,
            crumbs=[("collections", f"{root}/collections?f=html"), (coll.id, f"{href}?f=html")],
            description=coll.description,
            fields=fields,
            links=[*doc["links"], link(f"{href}/items?f=html", "items", HTML, "Items as HTML")],
        )
    return _json(doc)


@router.get("/collections/{collection_id}/queryables")
def get_queryables(
    collection_id: str, request: Request, settings: SettingsDep, principal: PrincipalDep
) -> Response:
    fmt = _fmt(request)
    coll = find_collection(catalog_of(request), collection_id, principal)
    root = ogc_root(request, settings)
    href = f"{root}/collections/{coll.id}/queryables"
    schema = queryables_schema(coll, href)
    if fmt == "html":
        fields = [(k, json.dumps(v, ensure_ascii=False)) for k, v in schema["properties"].items()]
        crumbs = [
            ("collections", f"{root}/collections?f=html"),
            (coll.id, f"{root}/collections/{coll.id}?f=html"),
            ("queryables", f"{href}?f=html"),
        ]
        return html.page(title=f"Queryables: {coll.title}", root=root, crumbs=crumbs, fields=fields)
    # A client asking for JSON but not JSON Schema (GDAL's OAPIF driver) gets it as JSON.
    accept = request.headers.get("accept", "")
    plain = "application/json" in accept and SCHEMA_MEDIA_TYPE not in accept
    return _json(schema, media_type=JSON if plain else SCHEMA_MEDIA_TYPE)


def _page_href(base: str, request: Request, *, limit: int, offset: int) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]
    kept += [("limit", str(limit))] + ([("offset", str(offset))] if offset else [])
    return f"{base}?{urlencode(kept)}"


@router.get("/collections/{collection_id}/items")
def get_items(
    collection_id: str,
    request: Request,
    settings: SettingsDep,
    engine: ReadEngineDep,
    principal: PrincipalDep,
) -> Response:
    fmt = _fmt(request, ("json", "html", "csv"))
    coll = find_collection(catalog_of(request), collection_id, principal)
    q = items_query(coll, request.query_params, settings)
    headers = q.shape.crs.header
    if fmt == "csv":
        with engine.connect() as conn:
            header, rows, matched = items_table(conn, coll, q, cache_of(request))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
        headers = headers | {
            "Content-Disposition": f'inline; filename="{coll.id}.csv"',
            "OGC-NumberMatched": str(matched),
        }
        return Response(out.getvalue(), media_type=CSV, headers=headers)
    with engine.connect() as conn:
        features, matched = items_page(conn, coll, q, cache_of(request))
    root = ogc_root(request, settings)
    base = f"{root}/collections/{coll.id}/items"
    self_href = _page_href(base, request, limit=q.limit, offset=q.offset)
    links = [
        link(self_href, "self", GEOJSON, "This page"),
        link(f"{root}/collections/{coll.id}", "collection", JSON, coll.title),
    ]
    if q.offset + len(features) < matched:
        href = _page_href(base, request, limit=q.limit, offset=q.offset + q.limit)
        links.append(link(href, "next", GEOJSON, "Next page"))
    if q.offset > 0:
        href = _page_href(base, request, limit=q.limit, offset=max(q.offset - q.limit, 0))
        links.append(link(href, "prev", GEOJSON, "Previous page"))
    if fmt == "html":
        return html.items_page(coll, root, features, matched, links)
    tail = {
        "numberMatched": matched,
        "numberReturned": len(features),
        "timeStamp": _timestamp(),
        "links": links,
    }
    # Features arrive as GeoJSON text from PostGIS; splice them rather than parse them.
    body = '{"type":"FeatureCollection","features":[' + ",".join(features) + "],"
    body += json.dumps(tail, ensure_ascii=False)[1:]
    return Response(body, media_type=GEOJSON, headers=headers)


@router.get("/collections/{collection_id}/items/{feature_id}")
def get_item(
    collection_id: str,
    feature_id: str,
    request: Request,
    settings: SettingsDep,
    session: ReadSessionDep,
    principal: PrincipalDep,
) -> Response:
    fmt = _fmt(request)
    coll = find_collection(catalog_of(request), collection_id, principal)
    reject_unknown(request.query_params, ITEM_PARAMS)
    shape = shape_of(coll, request.query_params)
    feature = one_feature(session.connection(), coll, feature_id, shape)
    if feature is None:
        raise NotFound(
            f"collection {coll.id!r} has no feature {feature_id!r}; "
            f"list them at /ogc/collections/{coll.id}/items"
        )
    root = ogc_root(request, settings)
    href = f"{root}/collections/{coll.id}"
    links = [
        link(f"{href}/items/{quote(feature_id, safe='')}", "self", GEOJSON, "This feature"),
        link(href, "collection", JSON, coll.title),
    ]
    if fmt == "html":
        doc = json.loads(feature)
        props = doc.get("properties") or {}
        return html.page(
            title=f"{coll.id} {feature_id}",
            root=root,
            crumbs=[("collections", f"{root}/collections?f=html"), (coll.id, f"{href}?f=html")],
            fields=[
                (k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v)
                for k, v in props.items()
            ],
            links=links,
            raw=doc.get("geometry"),
        )
    body = feature[:-1] + ',"links":' + json.dumps(links, ensure_ascii=False) + "}"
    return Response(body, media_type=GEOJSON, headers=shape.crs.header)
