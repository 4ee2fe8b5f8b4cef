"""The query and path parameters of /ogc's OpenAPI 3.0 document (components/parameters)."""

from __future__ import annotations

import copy
from typing import Any

from service.api.ogc.cql2 import ACCEPTED_LANGS
from service.api.ogc.crs import CRS84, CRS_URIS


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


# Declarative: everything but the limits, which parameters() fills in from the settings.
STATIC_PARAMETERS: dict[str, Any] = {
    "f": _query(
        "f",
        "Output format: JSON (default) or HTML.",
        {"type": "string", "enum": ["json", "html"]},
    ),
    "fItems": _query(
        "f",
        "Output format: GeoJSON (default), HTML or CSV (id, properties, geometry as WKT).",
        {"type": "string", "enum": ["json", "html", "csv"]},
    ),
    "filter": _query(
        "filter",
        "A CQL2 filter on the collection's queryables (see /queryables), e.g. "
        "level = 'tinggi' AND score > 0.5. Property names of one letter need double quotes.",
        {"type": "string"},
    ),
    "filter-lang": _query(
        "filter-lang",
        "Language of filter; cql-text (the draft name GDAL asks for) is read as cql2-text.",
        {"type": "string", "enum": ACCEPTED_LANGS, "default": "cql2-text"},
    ),
    "filter-crs": _query(
        "filter-crs",
        "CRS of geometry literals in filter.",
        {"type": "string", "format": "uri", "enum": CRS_URIS, "default": CRS84},
    ),
    "sortby": _query(
        "sortby",
        "Comma-separated queryables, each optionally prefixed + (ascending) or - "
        "(descending), e.g. -score,code.",
        {"type": "string"},
    ),
    "properties": _query(
        "properties",
        "Comma-separated property names to return (empty: none).",
        {"type": "string"},
    ),
    "skipGeometry": _query(
        "skipGeometry",
        "true: features without geometry.",
        {"type": "boolean", "default": False},
    ),
    "limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": (
            "How many features a page holds at most. Values above the maximum are clamped to it."
        ),
        "style": "form",
        "explode": False,
        "schema": {
            "type": "integer",
            "minimum": 1,
            # "maximum" and "default" come from the settings (parameters()).
        },
    },
    "offset": {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "How many features to skip (the next links carry it).",
        "schema": {"type": "integer", "minimum": 0, "default": 0},
    },
    "bbox": {
        "name": "bbox",
        "in": "query",
        "required": False,
        "description": (
            "Only features whose geometry intersects the box minLon,minLat,maxLon,maxLat "
            "(CRS84). Six numbers (with heights) are accepted; heights are ignored."
        ),
        "style": "form",
        "explode": False,
        "schema": {
            "type": "array",
            "minItems": 4,
            "maxItems": 6,
            "items": {"type": "number"},
        },
    },
    "bbox-crs": _query(
        "bbox-crs",
        "CRS of bbox, in that CRS's axis order (EPSG:4326 is latitude first).",
        {"type": "string", "format": "uri", "enum": CRS_URIS, "default": CRS84},
    ),
    "crs": _query(
        "crs",
        "CRS of the returned geometries (EPSG:4326 is latitude first); the response "
        "names it in the Content-Crs header.",
        {"type": "string", "format": "uri", "enum": CRS_URIS, "default": CRS84},
    ),
    "datetime": {
        "name": "datetime",
        "in": "query",
        "required": False,
        "description": (
            "An RFC 3339 instant or interval (start/end, either end may be '..'), e.g. "
            "2024-01-01T00:00:00Z/.. ; features whose time intersects it, and features "
            "without time, are selected. Only collections with time honour it."
        ),
        "style": "form",
        "explode": False,
        "schema": {"type": "string"},
    },
    "collectionId": {
        "name": "collectionId",
        "in": "path",
        "required": True,
        "description": "local identifier of a collection",
        "schema": {"type": "string"},
    },
    "featureId": {
        "name": "featureId",
        "in": "path",
        "required": True,
        "description": "local identifier of a feature",
        "schema": {"type": "string"},
    },
}


def parameters(default_limit: int, max_limit: int) -> dict[str, Any]:
    out = copy.deepcopy(STATIC_PARAMETERS)
    out["limit"]["schema"] |= {"maximum": max_limit, "default": default_limit}
    return out
