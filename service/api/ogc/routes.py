"""OGC API - Features, Part 1 Core with GeoJSON, under /ogc.

Routes are thin: parse and check parameters (`params.py`), run the SQL (`queries.py`), wrap
the features PostGIS rendered into a FeatureCollection with links. JSON resources are
`application/json`, features `application/geo+json`, the API definition OpenAPI 3.0.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from service.api.deps import SessionDep, SettingsDep, get_principal
from service.api.ogc import catalog, registry
from service.api.ogc.openapi import OPENAPI_MEDIA_TYPE, build_openapi
from service.api.ogc.params import (
    CRS84,
    check_crs,
    check_format,
    parse_bbox,
    parse_datetime,
    parse_filter_values,
    parse_limit,
    parse_offset,
    reject_unknown,
    single,
)
from service.api.ogc.queries import ItemsQuery, extent, items_page, one_feature
from service.api.ogc.registry import Collection
from service.api.responses import GEOJSON
from service.auth.service import ANONYMOUS, Principal
from service.errors import NotFound
from service.settings import Settings

catalog.load()

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"], include_in_schema=False)

JSON = "application/json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
TRS_GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
ITEMS_PARAMS = frozenset({"limit", "offset", "bbox", "bbox-crs", "datetime", "crs", "f"})
ITEM_PARAMS = frozenset({"crs", "f"})
CONTENT_CRS = {"Content-Crs": f"<{CRS84}>"}


def ogc_principal(request: Request) -> Principal:
    """A Bearer API key opens non-public collections; any other Authorization header (GDAL's
    and QGIS's Basic credentials, say) is ignored, as everything public needs none."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return ANONYMOUS
    return get_principal(request)


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


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def visible(coll: Collection, principal: Principal) -> bool:
    return coll.public or (principal.key_id is not None and principal.has(coll.min_role))


def find_collection(collection_id: str, principal: Principal) -> Collection:
    coll = registry.get(collection_id)
    if coll is None or not visible(coll, principal):
        known = ", ".join(c.id for c in registry.collections() if visible(c, principal))
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
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            link(href, "self", JSON, "This collection"),
            link(f"{href}/items", "items", GEOJSON, f"{coll.title} as GeoJSON"),
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
    check_format(request.query_params)
    root = ogc_root(request, settings)
    return _json(
        {
            "title": "Siaga OGC API - Features",
            "description": (
                "Wilayah komunitas dan zona bahaya untuk peringatan dini. Community boundaries, "
                "hazard zones and risk, as OGC API - Features (Part 1 Core, GeoJSON)."
            ),
            "links": [
                link(root, "self", JSON, "This document"),
                link(
                    f"{root}/api",
                    "service-desc",
                    OPENAPI_MEDIA_TYPE,
                    "The API definition (OpenAPI 3.0)",
                ),
                link(f"{root}/api.html", "service-doc", "text/html", "The API documentation"),
                link(f"{root}/conformance", "conformance", JSON, "Conformance classes"),
                link(f"{root}/collections", "data", JSON, "Collections"),
            ],
        }
    )


@router.get("/api")
def api_definition(request: Request, settings: SettingsDep, principal: PrincipalDep) -> Response:
    check_format(request.query_params)
    colls = [c for c in registry.collections() if visible(c, principal)]
    doc = build_openapi(
        server_url=ogc_root(request, settings),
        collections=colls,
        default_limit=min(settings.api.ogc_default_limit, settings.api.ogc_max_limit),
        max_limit=settings.api.ogc_max_limit,
    )
    return _json(doc, media_type=OPENAPI_MEDIA_TYPE)


@router.get("/api.html")
def api_documentation(request: Request, settings: SettingsDep) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=f"{ogc_root(request, settings)}/api", title="Siaga OGC API - Features"
    )


@router.get("/conformance")
def conformance(request: Request) -> Response:
    check_format(request.query_params)
    return _json({"conformsTo": CONFORMANCE})


@router.get("/collections")
def list_collections(
    request: Request, settings: SettingsDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    check_format(request.query_params)
    root = ogc_root(request, settings)
    docs = [
        collection_doc(c, root, session) for c in registry.collections() if visible(c, principal)
    ]
    return _json(
        {
            "links": [link(f"{root}/collections", "self", JSON, "Collections")],
            "collections": docs,
            "crs": [CRS84],
        }
    )


@router.get("/collections/{collection_id}")
def describe_collection(
    collection_id: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    check_format(request.query_params)
    coll = find_collection(collection_id, principal)
    return _json(collection_doc(coll, ogc_root(request, settings), session))


def _items_query(coll: Collection, request: Request, settings: Settings) -> ItemsQuery:
    qp = request.query_params
    filters = coll.filter_by_name()
    reject_unknown(qp, ITEMS_PARAMS | filters.keys())
    check_format(qp)
    check_crs(single(qp, "crs"), name="crs")
    check_crs(single(qp, "bbox-crs"), name="bbox-crs")
    interval = parse_datetime(single(qp, "datetime"))
    values = {}
    for name, flt in filters.items():
        raw = single(qp, name)
        if raw is not None:
            values[name] = parse_filter_values(flt, raw)
    return ItemsQuery(
        bbox=parse_bbox(single(qp, "bbox")),
        interval=interval,
        filters=values,
        limit=parse_limit(
            single(qp, "limit"),
            default=settings.api.ogc_default_limit,
            maximum=settings.api.ogc_max_limit,
        ),
        offset=parse_offset(single(qp, "offset")),
    )


def _page_href(base: str, request: Request, *, limit: int, offset: int) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]
    kept += [("limit", str(limit))] + ([("offset", str(offset))] if offset else [])
    return f"{base}?{urlencode(kept)}"


@router.get("/collections/{collection_id}/items")
def get_items(
    collection_id: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    coll = find_collection(collection_id, principal)
    q = _items_query(coll, request, settings)
    features, matched = items_page(session.connection(), coll, q)
    root = ogc_root(request, settings)
    base = f"{root}/collections/{coll.id}/items"
    links = [
        link(
            _page_href(base, request, limit=q.limit, offset=q.offset), "self", GEOJSON, "This page"
        ),
        link(f"{root}/collections/{coll.id}", "collection", JSON, coll.title),
    ]
    if q.offset + len(features) < matched:
        href = _page_href(base, request, limit=q.limit, offset=q.offset + q.limit)
        links.append(link(href, "next", GEOJSON, "Next page"))
    if q.offset > 0:
        href = _page_href(base, request, limit=q.limit, offset=max(q.offset - q.limit, 0))
        links.append(link(href, "prev", GEOJSON, "Previous page"))
    tail = {
        "numberMatched": matched,
        "numberReturned": len(features),
        "timeStamp": _timestamp(),
        "links": links,
    }
    # Features arrive as GeoJSON text from PostGIS; splice them rather than parse them.
    body = '{"type":"FeatureCollection","features":[' + ",".join(features) + "],"
    body += json.dumps(tail, ensure_ascii=False)[1:]
    return Response(body, media_type=GEOJSON, headers=CONTENT_CRS)


@router.get("/collections/{collection_id}/items/{feature_id}")
def get_item(
    collection_id: str,
    feature_id: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    coll = find_collection(collection_id, principal)
    reject_unknown(request.query_params, ITEM_PARAMS)
    check_format(request.query_params)
    check_crs(single(request.query_params, "crs"), name="crs")
    feature = one_feature(session.connection(), coll, feature_id)
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
    body = feature[:-1] + ',"links":' + json.dumps(links, ensure_ascii=False) + "}"
    return Response(body, media_type=GEOJSON, headers=CONTENT_CRS)
