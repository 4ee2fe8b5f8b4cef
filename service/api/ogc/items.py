"""The items request of one collection: its query parameters turned into an `ItemsQuery`.

Every value is checked here; a bad one is a 400 problem document naming the parameter and,
where there is a list, the values allowed (CRSs, queryables, properties, filter languages).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement
from starlette.datastructures import QueryParams

from service.api.ogc.cql2 import Translator, parse_filter
from service.api.ogc.crs import DEFAULT, parse_crs
from service.api.ogc.params import (
    parse_bbox,
    parse_datetime,
    parse_filter_values,
    parse_limit,
    parse_offset,
    reject_unknown,
    single,
)
from service.api.ogc.queries import ItemsQuery, Shape
from service.api.ogc.queryables import queryables, sortables
from service.errors import InvalidInput
from service.ogc_collections import RESERVED_PARAMS, Collection
from service.settings import Settings

# Query parameters of the items request itself (collection filters come on top).
ITEMS_PARAMS = RESERVED_PARAMS
ITEM_PARAMS = frozenset({"crs", "f", "properties", "skipGeometry"})


def parse_properties(coll: Collection, raw: str | None) -> tuple[str, ...] | None:
    """`properties=a,b`: only those, in the collection's order; empty = none; absent = all."""
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    known = list(coll.property_columns())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput(
            f"properties: {', '.join(map(repr, unknown))} not in this collection; "
            f"properties: {', '.join(known)}",
            parameter="properties",
            allowed=known,
        )
    return tuple(n for n in known if n in names)


def parse_bool(raw: str | None, *, name: str) -> bool:
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise InvalidInput(
            f"{name}={raw!r} is not true or false", parameter=name, allowed=["true", "false"]
        )
    return raw.lower() == "true"


def parse_sortby(coll: Collection, raw: str | None) -> tuple[tuple[str, bool], ...]:
    """`sortby=-score,+code,name`: queryable properties only; `-` is descending."""
    if raw is None:
        return ()
    allowed = sortables(coll)
    out: list[tuple[str, bool]] = []
    for part in (p.strip() for p in raw.split(",")):
        desc = part.startswith("-")
        name = part.lstrip("+-").strip()
        if name not in allowed:
            raise InvalidInput(
                f"sortby: {name!r} cannot be sorted on; use [+|-] and one of: {', '.join(allowed)}",
                parameter="sortby",
                allowed=allowed,
            )
        out.append((queryables(coll)[name].column, desc))
    return tuple(out)


def shape_of(coll: Collection, qp: QueryParams) -> Shape:
    return Shape(
        crs=parse_crs(single(qp, "crs"), name="crs"),
        properties=parse_properties(coll, single(qp, "properties")),
        skip_geometry=parse_bool(single(qp, "skipGeometry"), name="skipGeometry"),
    )


def items_query(coll: Collection, qp: QueryParams, settings: Settings) -> ItemsQuery:
    filters = coll.filter_by_name()
    reject_unknown(qp, ITEMS_PARAMS | filters.keys())
    bbox_crs = parse_crs(single(qp, "bbox-crs"), name="bbox-crs")
    values = {}
    for name, flt in filters.items():
        raw = single(qp, name)
        if raw is not None:
            values[name] = parse_filter_values(flt, raw)
    where: tuple[ColumnElement[bool], ...] = ()
    text = single(qp, "filter")
    filter_crs = parse_crs(single(qp, "filter-crs"), name="filter-crs")
    if text is not None:
        node = parse_filter(text, single(qp, "filter-lang"))
        where = (Translator(coll.table(), queryables(coll), filter_crs).condition(node),)
    elif single(qp, "filter-lang") is not None or filter_crs is not DEFAULT:
        raise InvalidInput("filter-lang and filter-crs need a filter", parameter="filter")
    return ItemsQuery(
        bbox=parse_bbox(single(qp, "bbox"), bbox_crs),
        bbox_crs=bbox_crs,
        interval=parse_datetime(single(qp, "datetime")),
        filters=values,
        where=where,
        sort=parse_sortby(coll, single(qp, "sortby")),
        shape=shape_of(coll, qp),
        limit=parse_limit(
            single(qp, "limit"),
            default=settings.api.ogc_default_limit,
            maximum=settings.api.ogc_max_limit,
        ),
        offset=parse_offset(single(qp, "offset")),
    )
