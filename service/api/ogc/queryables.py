"""Queryables of a collection (OGC API Features Part 3): which properties filter and sort.

Derived from the collection's registered properties and their SQL types, so a new collection
gets queryables without writing anything: strings, numbers, booleans, dates and timestamps
are queryable; JSON objects are not. The geometry is the queryable `geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, String
from sqlalchemy.types import TypeEngine

from service.ogc_collections import Collection

GEOMETRY = "geometry"
SCHEMA_MEDIA_TYPE = "application/schema+json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Queryable:
    name: str
    column: str
    # string, integer, number, boolean, date-time, date or geometry
    kind: str
    description: str = ""


def _kind(sql_type: TypeEngine[Any]) -> str | None:
    if isinstance(sql_type, Boolean):
        return "boolean"
    if isinstance(sql_type, Integer):
        return "integer"
    if isinstance(sql_type, Float | Numeric):
        return "number"
    if isinstance(sql_type, DateTime):
        return "date-time"
    if isinstance(sql_type, Date):
        return "date"
    if isinstance(sql_type, String):
        return "string"
    return None


def queryables(coll: Collection) -> dict[str, Queryable]:
    """Name -> queryable, in property order, geometry last (memoised per collection)."""
    found = coll.memo.get("queryables")
    if found is None:
        src = coll.table()
        notes = {f.column: f.description for f in coll.filters if f.column and f.description}
        found = {}
        for name, column in coll.property_columns().items():
            kind = _kind(src.c[column].type)
            if kind is not None:
                found[name] = Queryable(name, column, kind, notes.get(column, ""))
        found[GEOMETRY] = Queryable(GEOMETRY, coll.geometry_column, "geometry")
        coll.memo["queryables"] = found
    return found


def sortables(coll: Collection) -> list[str]:
    return [q.name for q in queryables(coll).values() if q.kind != "geometry"]


def _schema_of(q: Queryable, coll: Collection) -> dict[str, Any]:
    if q.kind == "geometry":
        return {"title": "geometry", "format": "geometry-any", "x-ogc-role": "primary-geometry"}
    out: dict[str, Any] = {"title": q.name}
    if q.kind in ("date-time", "date"):
        out |= {"type": "string", "format": q.kind}
    else:
        out["type"] = q.kind
    enums = {f.column: f.enum for f in coll.filters if f.column and f.enum}
    if q.column in enums:
        out["enum"] = list(enums[q.column] or ())
    if q.description:
        out["description"] = q.description
    return out


def queryables_schema(coll: Collection, href: str) -> dict[str, Any]:
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": href,
        "type": "object",
        "title": coll.title,
        "properties": {name: _schema_of(q, coll) for name, q in queryables(coll).items()},
        "additionalProperties": False,
        # The draft layout GDAL's OAPIF driver (3.12) reads to learn which fields it may put
        # in a CQL filter; JSON Schema ignores unknown keywords.
        "queryables": [{"id": name} for name in queryables(coll) if name != GEOMETRY],
    }
