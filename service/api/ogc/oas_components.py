"""The static parts of /ogc's OpenAPI 3.0 document, as data: components/schemas and
components/responses (inline, no references outside the document, so clients and validators
work offline). `openapi.py` adds the paths, which depend on the collections."""

from __future__ import annotations

from typing import Any

REF_PARAM = "#/components/parameters/"
REF_SCHEMA = "#/components/schemas/"
REF_RESPONSE = "#/components/responses/"


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": kind + name}


_LINK: dict[str, Any] = {
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
_LINKS: dict[str, Any] = {"type": "array", "items": ref(REF_SCHEMA, "link")}
_EXTENT: dict[str, Any] = {
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
_COLLECTION: dict[str, Any] = {
    "type": "object",
    "required": ["id", "links"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "keywords": {"type": "array", "items": {"type": "string"}},
        "links": _LINKS,
        "extent": ref(REF_SCHEMA, "extent"),
        "itemType": {"type": "string", "default": "feature"},
        "crs": {"type": "array", "items": {"type": "string"}},
        "storageCrs": {"type": "string"},
    },
}
_GEOMETRY: dict[str, Any] = {
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
_FEATURE: dict[str, Any] = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        "geometry": {"allOf": [ref(REF_SCHEMA, "geometryGeoJSON")], "nullable": True},
        "properties": {"type": "object", "nullable": True},
        "links": _LINKS,
    },
}
_FEATURE_COLLECTION: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": ref(REF_SCHEMA, "featureGeoJSON")},
        "links": _LINKS,
        "timeStamp": {"type": "string", "format": "date-time"},
        "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0},
    },
}
SCHEMAS: dict[str, Any] = {
    "link": _LINK,
    "landingPage": {
        "type": "object",
        "required": ["links"],
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": _LINKS,
        },
    },
    "confClasses": {
        "type": "object",
        "required": ["conformsTo"],
        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
    },
    "extent": _EXTENT,
    "collectionInfo": _COLLECTION,
    "collections": {
        "type": "object",
        "required": ["links", "collections"],
        "properties": {
            "links": _LINKS,
            "collections": {"type": "array", "items": ref(REF_SCHEMA, "collectionInfo")},
            "crs": {"type": "array", "items": {"type": "string"}},
        },
    },
    "geometryGeoJSON": _GEOMETRY,
    "featureGeoJSON": _FEATURE,
    "featureCollectionGeoJSON": _FEATURE_COLLECTION,
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


_TEXT: dict[str, Any] = {"schema": {"type": "string"}}


def _json_body(schema: str, media: str = "application/json") -> dict[str, Any]:
    return {media: {"schema": ref(REF_SCHEMA, schema)}, "text/html": _TEXT}


RESPONSES: dict[str, Any] = {
    "LandingPage": {"description": "The landing page", "content": _json_body("landingPage")},
    "ConformanceDeclaration": {
        "description": "The conformance classes implemented",
        "content": _json_body("confClasses"),
    },
    "Collections": {
        "description": "The feature collections",
        "content": _json_body("collections"),
    },
    "Collection": {
        "description": "One feature collection",
        "content": _json_body("collectionInfo"),
    },
    "Features": {
        "description": "A page of features",
        "content": _json_body("featureCollectionGeoJSON", "application/geo+json")
        | {"text/csv": _TEXT},
    },
    "Feature": {
        "description": "One feature",
        "content": _json_body("featureGeoJSON", "application/geo+json"),
    },
    "Queryables": {
        "description": "The queryable properties as a JSON Schema",
        "content": {
            "application/schema+json": {"schema": {"type": "object"}},
            "text/html": _TEXT,
        },
    },
    "InvalidParameter": {
        "description": "A query parameter is unknown or has an invalid value",
        "content": _json_body("exception", "application/problem+json"),
    },
    "NotFound": {
        "description": "The collection or feature does not exist",
        "content": _json_body("exception", "application/problem+json"),
    },
}
