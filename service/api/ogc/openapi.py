"""The OpenAPI 3.0 definition of /ogc, by hand: FastAPI emits 3.1, the `oas30` class wants 3.0.

Schemas are inline (no references outside this document) so clients and validators work
offline. Items paths are listed per collection, with each collection's own filters, as
pygeoapi does; QGIS and GDAL read the page size from the `limit` parameter's maximum.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from service import __version__
from service.api.ogc.oas_components import REF_PARAM, REF_RESPONSE, RESPONSES, SCHEMAS, ref
from service.api.ogc.oas_parameters import parameters
from service.ogc_collections import Collection

OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"


def _op(
    op_id: str,
    summary: str,
    response: str,
    params: list[dict[str, Any]],
    *,
    tag: str,
    errors: tuple[str, ...] = ("400",),
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": ref(REF_RESPONSE, response)}
    if "400" in errors:
        responses["400"] = ref(REF_RESPONSE, "InvalidParameter")
    if "404" in errors:
        responses["404"] = ref(REF_RESPONSE, "NotFound")
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


# The items query parameters every collection takes, in the order the document lists them.
ITEMS_PARAMS = (
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
)
INFO: dict[str, Any] = {
    "title": "Siaga OGC API - Features",
    "version": __version__,
    "description": "Community boundaries, hazard zones and risk as OGC API - Features.",
    "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
}


def _capability_paths() -> dict[str, Any]:
    f = ref(REF_PARAM, "f")
    return {
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
            [ref(REF_PARAM, "collectionId"), f],
            tag="Capabilities",
            errors=("400", "404"),
        ),
    }


def _collection_paths(coll: Collection) -> dict[str, Any]:
    """Items, one item and queryables of one collection, with its own filters."""
    f = ref(REF_PARAM, "f")
    common = [ref(REF_PARAM, name) for name in ITEMS_PARAMS]
    if coll.has_time:
        common.append(ref(REF_PARAM, "datetime"))
    common += [_filter_param(coll, flt.name) for flt in coll.filters]
    common.append(ref(REF_PARAM, "fItems"))
    op_suffix = coll.id.replace("-", "_")
    errors = ("400", "404")
    return {
        f"/collections/{coll.id}/items": _op(
            f"getFeatures_{op_suffix}",
            f"Features of {coll.title}",
            "Features",
            common,
            tag=coll.id,
            errors=errors,
        ),
        f"/collections/{coll.id}/items/{{featureId}}": _op(
            f"getFeature_{op_suffix}",
            f"One feature of {coll.title}",
            "Feature",
            [
                ref(REF_PARAM, "featureId"),
                *[ref(REF_PARAM, n) for n in ("crs", "properties", "skipGeometry")],
                f,
            ],
            tag=coll.id,
            errors=errors,
        ),
        f"/collections/{coll.id}/queryables": _op(
            f"getQueryables_{op_suffix}",
            f"Queryables of {coll.title} (JSON Schema)",
            "Queryables",
            [f],
            tag=coll.id,
            errors=errors,
        ),
    }


def build_openapi(
    *, server_url: str, collections: Iterable[Collection], default_limit: int, max_limit: int
) -> dict[str, Any]:
    paths = _capability_paths()
    tags = [{"name": "Capabilities", "description": "About the API and its collections"}]
    for coll in collections:
        paths |= _collection_paths(coll)
        tags.append({"name": coll.id, "description": coll.description})
    return {
        "openapi": "3.0.3",
        "info": copy.deepcopy(INFO),
        "servers": [{"url": server_url}],
        "tags": tags,
        "paths": paths,
        "components": {
            "parameters": parameters(default_limit, max_limit),
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": copy.deepcopy(RESPONSES),
        },
    }
