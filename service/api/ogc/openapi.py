"""The OpenAPI 3.0 definition of /ogc, by hand: FastAPI emits 3.1, the `oas30` class wants 3.0.

Schemas are inline (no references outside this document) so clients and validators work
offline. Items paths are listed per collection, with each collection's own filters, as
pygeoapi does; QGIS and GDAL read the page size from the `limit` parameter's maximum.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from service import __version__
from service.api.ogc.oas_parameters import parameters
from service.ogc_collections import Collection

OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
_REF_PARAM = "#/components/parameters/"
_REF_SCHEMA = "#/components/schemas/"
_REF_RESPONSE = "#/components/responses/"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": kind + name}


def _schemas() -> dict[str, Any]:
    link = {
        "type": "object",
        "required": ["href", "rel"],
        "properties": {
            "href": {"type": "string"},
            "rel": {"type": "string"},
            "type": {"type": "string"},
            "hreflang": {"type": "string"},
            "title": {"type": "string"},
            "length": {"type": "integer"},
        },
    }
    links = {"type": "array", "items": _ref(_REF_SCHEMA, "link")}
    extent = {
        "type": "object",
        "properties": {
            "spatial": {
                "type": "object",
                "properties": {
                    "bbox": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "array",
                            "minItems": 4,
                            "maxItems": 6,
                            "items": {"type": "number"},
                        },
                    },
                    "crs": {"type": "string"},
                },
            },
            "temporal": {
                "type": "object",
                "properties": {
                    "interval": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "array",
                            "minItems": 2,
                            "maxItems": 2,
                            "items": {"type": "string", "format": "date-time", "nullable": True},
                        },
                    },
                    "trs": {"type": "string"},
                },
            },
        },
    }
    collection = {
        "type": "object",
        "required": ["id", "links"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "keywords": {"type": "array", "items": {"type": "string"}},
            "links": links,
            "extent": _ref(_REF_SCHEMA, "extent"),
            "itemType": {"type": "string", "default": "feature"},
            "crs": {"type": "array", "items": {"type": "string"}},
            "storageCrs": {"type": "string"},
        },
    }
    geometry = {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {
                "type": "string",
                "enum": [
                    "Point",
                    "MultiPoint",
                    "LineString",
                    "MultiLineString",
                    "Polygon",
                    "MultiPolygon",
                    "GeometryCollection",
                ],
            },
            "coordinates": {"type": "array", "items": {}},
            "geometries": {"type": "array", "items": {"type": "object"}},
        },
    }
    feature = {
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "geometry": {"allOf": [_ref(_REF_SCHEMA, "geometryGeoJSON")], "nullable": True},
            "properties": {"type": "object", "nullable": True},
            "links": links,
        },
    }
    feature_collection = {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": _ref(_REF_SCHEMA, "featureGeoJSON")},
            "links": links,
            "timeStamp": {"type": "string", "format": "date-time"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
        },
    }
    return {
        "link": link,
        "landingPage": {
            "type": "object",
            "required": ["links"],
            "properties": {
                "title": {"type": "string"},
                "description": {"type": "string"},
                "links": links,
            },
        },
        "confClasses": {
            "type": "object",
            "required": ["conformsTo"],
            "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
        },
        "extent": extent,
        "collectionInfo": collection,
        "collections": {
            "type": "object",
            "required": ["links", "collections"],
            "properties": {
                "links": links,
                "collections": {"type": "array", "items": _ref(_REF_SCHEMA, "collectionInfo")},
                "crs": {"type": "array", "items": {"type": "string"}},
            },
        },
        "geometryGeoJSON": geometry,
        "featureGeoJSON": feature,
        "featureCollectionGeoJSON": feature_collection,
        "exception": {
            "type": "object",
            "description": "RFC 9457 problem details",
            "required": ["title", "status"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
            },
        },
    }


def _responses() -> dict[str, Any]:
    text = {"schema": {"type": "string"}}

    def json_body(schema: str, media: str = "application/json") -> dict[str, Any]:
        return {media: {"schema": _ref(_REF_SCHEMA, schema)}, "text/html": text}

    return {
        "LandingPage": {"description": "The landing page", "content": json_body("landingPage")},
        "ConformanceDeclaration": {
            "description": "The conformance classes implemented",
            "content": json_body("confClasses"),
        },
        "Collections": {
            "description": "The feature collections",
            "content": json_body("collections"),
        },
        "Collection": {
            "description": "One feature collection",
            "content": json_body("collectionInfo"),
        },
        "Features": {
            "description": "A page of features",
            "content": json_body("featureCollectionGeoJSON", "application/geo+json")
            | {"text/csv": text},
        },
        "Feature": {
            "description": "One feature",
            "content": json_body("featureGeoJSON", "application/geo+json"),
        },
        "Queryables": {
            "description": "The queryable properties as a JSON Schema",
            "content": {
                "application/schema+json": {"schema": {"type": "object"}},
                "text/html": text,
            },
        },
        "InvalidParameter": {
            "description": "A query parameter is unknown or has an invalid value",
            "content": json_body("exception", "application/problem+json"),
        },
        "NotFound": {
            "description": "The collection or feature does not exist",
            "content": json_body("exception", "application/problem+json"),
        },
    }


def _op(
    op_id: str,
    summary: str,
    response: str,
    params: list[dict[str, Any]],
    *,
    tag: str,
    errors: tuple[str, ...] = ("400",),
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _ref(_REF_RESPONSE, response)}
    if "400" in errors:
        responses["400"] = _ref(_REF_RESPONSE, "InvalidParameter")
    if "404" in errors:
        responses["404"] = _ref(_REF_RESPONSE, "NotFound")
    return {
        "get": {
            "operationId": op_id,
            "summary": summary,
            "tags": [tag],
            "parameters": params,
            "responses": responses,
        }
    }


def _filter_param(coll: Collection, name: str) -> dict[str, Any]:
    flt = coll.filter_by_name()[name]
    item: dict[str, Any] = {"type": flt.type}
    if flt.type == "string":
        item["minLength"] = 1
    if flt.enum:
        item["enum"] = list(flt.enum)
    return {
        "name": flt.name,
        "in": "query",
        "required": False,
        "description": (flt.description + "; " if flt.description else "")
        + "one value or several separated by commas",
        "style": "form",
        "explode": False,
        "schema": {"type": "array", "minItems": 1, "items": item},
    }


def build_openapi(
    *, server_url: str, collections: Iterable[Collection], default_limit: int, max_limit: int
) -> dict[str, Any]:
    f = _ref(_REF_PARAM, "f")
    paths: dict[str, Any] = {
        "/": _op("getLandingPage", "Landing page", "LandingPage", [f], tag="Capabilities"),
        "/conformance": _op(
            "getConformanceDeclaration",
            "Conformance classes",
            "ConformanceDeclaration",
            [f],
            tag="Capabilities",
        ),
        "/collections": _op(
            "getCollections", "Feature collections", "Collections", [f], tag="Capabilities"
        ),
        "/collections/{collectionId}": _op(
            "describeCollection",
            "One feature collection",
            "Collection",
            [_ref(_REF_PARAM, "collectionId"), f],
            tag="Capabilities",
            errors=("400", "404"),
        ),
    }
    tags = [{"name": "Capabilities", "description": "About the API and its collections"}]
    for coll in collections:
        names = [
            "limit",
            "offset",
            "bbox",
            "bbox-crs",
            "crs",
            "filter",
            "filter-lang",
            "filter-crs",
            "sortby",
            "properties",
            "skipGeometry",
        ]
        common = [_ref(_REF_PARAM, name) for name in names]
        if coll.has_time:
            common.append(_ref(_REF_PARAM, "datetime"))
        common += [_filter_param(coll, flt.name) for flt in coll.filters]
        common.append(_ref(_REF_PARAM, "fItems"))
        op_suffix = coll.id.replace("-", "_")
        paths[f"/collections/{coll.id}/items"] = _op(
            f"getFeatures_{op_suffix}",
            f"Features of {coll.title}",
            "Features",
            common,
            tag=coll.id,
            errors=("400", "404"),
        )
        paths[f"/collections/{coll.id}/items/{{featureId}}"] = _op(
            f"getFeature_{op_suffix}",
            f"One feature of {coll.title}",
            "Feature",
            [
                _ref(_REF_PARAM, "featureId"),
                *[_ref(_REF_PARAM, n) for n in ("crs", "properties", "skipGeometry")],
                f,
            ],
            tag=coll.id,
            errors=("400", "404"),
        )
        paths[f"/collections/{coll.id}/queryables"] = _op(
            f"getQueryables_{op_suffix}",
            f"Queryables of {coll.title} (JSON Schema)",
            "Queryables",
            [f],
            tag=coll.id,
            errors=("400", "404"),
        )
        tags.append({"name": coll.id, "description": coll.description})
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Siaga OGC API - Features",
            "version": __version__,
            "description": "Community boundaries, hazard zones and risk as OGC API - Features.",
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "servers": [{"url": server_url}],
        "tags": tags,
        "paths": paths,
        "components": {
            "parameters": parameters(default_limit, max_limit),
            "schemas": _schemas(),
            "responses": _responses(),
        },
    }
