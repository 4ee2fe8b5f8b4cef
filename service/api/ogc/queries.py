"""SQL for the items, item and extent requests, built from a `Collection` with SQLAlchemy Core.

PostGIS renders each feature as GeoJSON text (`json_build_object` + `ST_AsGeoJSON`), so the
API splices strings and never parses geometries in Python. Counting and paging (offset, in
id order) happen in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    Numeric,
    String,
    and_,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy import Float as SAFloat
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, FromClause
from sqlalchemy.types import JSON, BigInteger, SmallInteger

from service.api.ogc.crs import DEFAULT, Crs
from service.api.ogc.params import Interval
from service.api.ogc.readcache import ItemsCache, statement_key
from service.ogc_collections import Collection
from service.table_changes import version_of

# json_build_object takes at most 100 arguments: 50 key/value pairs.
_PAIRS_PER_OBJECT = 50
# Compiled feature SQL kept per collection (one per CRS, property selection, geometry or not).
_MEMO_SQL_MAX = 32


@dataclass(frozen=True)
class Shape:
    """How features are rendered: in which CRS, which properties (None = all), geometry or not."""

    crs: Crs = DEFAULT
    properties: tuple[str, ...] | None = None
    skip_geometry: bool = False


@dataclass(frozen=True)
class ItemsQuery:
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: Crs = DEFAULT
    interval: Interval | None = None
    filters: dict[str, list[Any]] | None = None
    # Conditions already built from a CQL2 filter (bound parameters only).
    where: tuple[ColumnElement[bool], ...] = ()
    # (source column, descending) in order; the id breaks ties.
    sort: tuple[tuple[str, bool], ...] = ()
    shape: Shape = Shape()
    limit: int = 10
    offset: int = 0


@dataclass(frozen=True)
class Extent:
    bbox: tuple[float, float, float, float] | None
    interval: tuple[datetime | None, datetime | None] | None


def _json_value(col: ColumnElement[Any]) -> ColumnElement[Any]:
    """Timestamps as RFC 3339 UTC strings (independent of the session's TimeZone)."""
    if isinstance(col.type, DateTime):
        return func.to_char(func.timezone("UTC", col), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    if isinstance(col.type, Date):
        return func.to_char(col, "YYYY-MM-DD")
    return col


def _properties_expr(
    coll: Collection, src: FromClause, keep: tuple[str, ...] | None
) -> ColumnElement[Any]:
    columns = coll.property_columns()
    names = list(columns) if keep is None else [n for n in columns if n in keep]
    pairs = [(name, _json_value(src.c[columns[name]])) for name in names]
    if not pairs:
        return func.json_build_object()
    chunks = [pairs[i : i + _PAIRS_PER_OBJECT] for i in range(0, len(pairs), _PAIRS_PER_OBJECT)]
    objects = [
        func.json_build_object(*[x for name, col in ch for x in (literal(name), col)])
        for ch in chunks
    ]
    if len(objects) == 1:
        return objects[0]
    merged: ColumnElement[Any] = cast(objects[0], JSONB)
    for obj in objects[1:]:
        merged = merged.op("||")(cast(obj, JSONB))
    return cast(merged, JSON)


def feature_expr(coll: Collection, src: FromClause, shape: Shape = Shape()) -> ColumnElement[str]:
    """One GeoJSON Feature as text, as a SQL fragment rendered once per collection and shape.

    The expression has some fifty literals; building and cache-keying it on every request
    cost milliseconds of Python, so it is compiled once and reused as a literal column.
    Its only literals are the collection's own names (never request values).
    """
    key = ("feature_sql", shape)
    sql = coll.memo.get(key)
    if sql is None:
        compiled = _feature_clause(coll, src, shape).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        sql = str(compiled)
        if len(coll.memo) < _MEMO_SQL_MAX:
            coll.memo[key] = sql
    return literal_column(sql, String)


def geometry_in(geom: ColumnElement[Any], crs: Crs) -> ColumnElement[Any]:
    """The stored (EPSG:4326, lon/lat) geometry in `crs`, axes in that CRS's order."""
    if crs.srid != 4326:
        return func.ST_Transform(geom, crs.srid)
    return func.ST_FlipCoordinates(geom) if crs.lat_first else geom


def _feature_clause(coll: Collection, src: FromClause, shape: Shape) -> ColumnElement[str]:
    geom = geometry_in(src.c[coll.geometry_column], shape.crs)
    precision = min(coll.precision, shape.crs.precision)
    geometry: ColumnElement[Any] = (
        literal_column("NULL::json")
        if shape.skip_geometry
        else cast(func.ST_AsGeoJSON(geom, precision), JSON)
    )
    feature = func.json_build_object(
        literal("type"),
        literal("Feature"),
        literal("id"),
        src.c[coll.id_column],
        literal("geometry"),
        geometry,
        literal("properties"),
        _properties_expr(coll, src, shape.properties),
    )
    return cast(feature, String)


def _envelope(minx: float, miny: float, maxx: float, maxy: float) -> ColumnElement[Any]:
    return func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)


def _conditions(coll: Collection, src: FromClause, q: ItemsQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = list(q.where)
    if q.bbox is not None:
        geom = src.c[coll.geometry_column]
        minx, miny, maxx, maxy = q.bbox
        hit: ColumnElement[bool]
        if q.bbox_crs.srid != 4326:
            box = func.ST_MakeEnvelope(minx, miny, maxx, maxy, q.bbox_crs.srid)
            hit = func.ST_Intersects(geom, func.ST_Transform(box, 4326))
        elif minx <= maxx:
            hit = func.ST_Intersects(geom, _envelope(minx, miny, maxx, maxy))
        else:  # crosses the antimeridian: two boxes
            hit = or_(
                func.ST_Intersects(geom, _envelope(minx, miny, 180.0, maxy)),
                func.ST_Intersects(geom, _envelope(-180.0, miny, maxx, maxy)),
            )
        conds.append(hit)
    if q.interval is not None and coll.time_column:
        conds.append(_time_condition(coll, src, q.interval))
    by_name = coll.filter_by_name()
    for name, values in (q.filters or {}).items():
        flt = by_name[name]
        if flt.where is not None:
            conds.append(flt.where(src, values))
        else:
            assert flt.column is not None
            col = src.c[flt.column]
            conds.append(col == values[0] if len(values) == 1 else col.in_(values))
    return conds


def _time_condition(coll: Collection, src: FromClause, iv: Interval) -> ColumnElement[bool]:
    """Intersects; rows without time information match too (/req/core/fc-time-response)."""
    assert coll.time_column is not None
    start_col = src.c[coll.time_column]
    end_col = src.c[coll.time_end_column] if coll.time_end_column else start_col
    parts: list[ColumnElement[bool]] = []
    if iv.end is not None:
        parts.append(or_(start_col.is_(None), start_col <= iv.end))
    if iv.start is not None:
        parts.append(or_(end_col.is_(None), end_col >= iv.start))
    if not parts:
        return literal(True)
    return and_(*parts)


def _page_rows(
    conn: Connection,
    coll: Collection,
    q: ItemsQuery,
    *render: ColumnElement[Any],
    cache: ItemsCache | None = None,
) -> tuple[Sequence[Sequence[Any]], int]:
    """Rows of `render` for one page, in order, and how many match in all (remembered by
    `cache` while the tables read are unchanged: api/ogc/readcache.py)."""
    src = coll.table()
    conds = _conditions(coll, src, q)
    id_col = src.c[coll.id_column]
    order: list[ColumnElement[Any]] = [
        src.c[col].desc() if desc else src.c[col].asc() for col, desc in q.sort
    ]
    order.append(id_col)
    # Pick the page's ids first, then render only those: rows skipped by OFFSET are never
    # turned into GeoJSON. The total is a plain count in a scalar subquery (run once, in the
    # same statement): as `count(*) OVER ()` it made PostgreSQL buffer every matching row,
    # about half of the statement's time for a 10,000-row collection (docs/ogc.md, "Speed").
    count = select(func.count()).select_from(src).where(*conds)
    cols = [id_col.label("page_id")]
    if q.sort:
        cols.append(func.row_number().over(order_by=order).label("rn"))
    page = (
        select(*cols)
        .select_from(src)
        .where(*conds)
        .order_by(*order)
        .limit(q.limit)
        .offset(q.offset)
        .cte("page")
    )
    body = (
        select(*render)
        .select_from(page.join(src, id_col == page.c.page_id))
        .order_by(page.c.rn if q.sort else page.c.page_id)
    )
    count_key = statement_key(count) if cache is not None else None
    # The rendered columns read the source's columns only: the count's tables are the page's.
    tables = cache.tables(conn, count_key[0], count) if cache and count_key else None
    if cache is None or count_key is None or tables is None:
        matched = count.scalar_subquery()
        rows = conn.execute(body.add_columns(matched)).all()
        if rows:
            return [row[:-1] for row in rows], int(rows[0][-1])
        # past the end (or nothing matches): no row carried the count
        return [], int(conn.execute(select(matched)).scalar_one()) if q.offset else 0
    page_key = statement_key(body)
    if page_key is not None:
        known = cache.page(conn, (page_key, count_key), tables)
        if known is not None:
            return known.rows, known.total
    head: list[ColumnElement[Any]] = [
        cache.matched(count_key, tables, count.scalar_subquery()),
        version_of(tables),
    ]
    rows = conn.execute(body.add_columns(*head)).all()
    first = rows[0][-2:] if rows else None
    if first is None and q.offset:  # past the end: no row carried the count
        first = tuple(conn.execute(select(*head)).one())
    if first is None:  # nothing matches
        return [], 0
    total, version = int(first[0]), str(first[1])
    cache.remember_count(count_key, version, total)
    kept = [tuple(row[:-2]) for row in rows]
    if page_key is not None:
        cache.remember_page((page_key, count_key), version, kept, total)
    return kept, total


def items_page(
    conn: Connection, coll: Collection, q: ItemsQuery, cache: ItemsCache | None = None
) -> tuple[list[str], int]:
    """Features of one page as GeoJSON text, and how many match in all."""
    rows, matched = _page_rows(
        conn, coll, q, feature_expr(coll, coll.table(), q.shape), cache=cache
    )
    return [row[0] for row in rows], matched


def items_table(
    conn: Connection, coll: Collection, q: ItemsQuery, cache: ItemsCache | None = None
) -> tuple[list[str], list[tuple[Any, ...]], int]:
    """One page as plain rows for CSV: id, the properties as text, the geometry as WKT."""
    src = coll.table()
    columns = coll.property_columns()
    keep = q.shape.properties
    names = [n for n in columns if keep is None or n in keep]
    render: list[ColumnElement[Any]] = [cast(src.c[coll.id_column], String)]
    render += [cast(_json_value(src.c[columns[n]]), String) for n in names]
    header = ["id", *names]
    if not q.shape.skip_geometry:
        geom = geometry_in(src.c[coll.geometry_column], q.shape.crs)
        precision = min(coll.precision, q.shape.crs.precision)
        render.append(func.ST_AsText(geom, precision))
        header.append("wkt")
    rows, matched = _page_rows(conn, coll, q, *render, cache=cache)
    return header, [tuple(r) for r in rows], matched


def id_is_integer(coll: Collection) -> bool:
    return isinstance(coll.table().c[coll.id_column].type, Integer | BigInteger | SmallInteger)


def one_feature(
    conn: Connection, coll: Collection, feature_id: str, shape: Shape = Shape()
) -> str | None:
    src = coll.table()
    if "\x00" in feature_id:  # PostgreSQL text cannot hold NUL: no such feature
        return None
    key: Any = feature_id
    if id_is_integer(coll):
        try:
            key = int(feature_id)
        except ValueError:
            return None
    elif isinstance(src.c[coll.id_column].type, Numeric | SAFloat):
        try:
            key = float(feature_id)
        except ValueError:
            return None
    stmt = (
        select(feature_expr(coll, src, shape)).select_from(src).where(src.c[coll.id_column] == key)
    )
    return conn.execute(stmt).scalars().first()


def extent(conn: Connection, coll: Collection) -> Extent:
    """Bounding box of the data and, for collections with time, its time span (one query)."""
    src = coll.table()
    aggregates: list[ColumnElement[Any]] = [
        func.ST_Extent(src.c[coll.geometry_column]).label("box")
    ]
    if coll.time_column:
        start_col = src.c[coll.time_column]
        end_col = src.c[coll.time_end_column] if coll.time_end_column else start_col
        # Rows without any time are timeless, not open-ended: they do not widen the extent.
        timed_row = or_(start_col.is_not(None), end_col.is_not(None))
        aggregates += [
            func.min(start_col).filter(timed_row).label("t0"),
            func.max(end_col).filter(timed_row).label("t1"),
            func.bool_or(start_col.is_(None)).filter(timed_row).label("open_start"),
            func.bool_or(end_col.is_(None)).filter(timed_row).label("open_end"),
            func.count().filter(timed_row).label("timed"),
        ]
    sub = select(*aggregates).select_from(src).subquery()
    box = sub.c.box
    row = conn.execute(
        select(
            func.ST_XMin(box),
            func.ST_YMin(box),
            func.ST_XMax(box),
            func.ST_YMax(box),
            *[c for c in sub.c if c.name != "box"],
        )
    ).one()
    bbox = None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    interval = None
    if coll.time_column:
        t0, t1, open_start, open_end, timed = row[4:9]
        if timed:
            # In a validity interval a null end is open.
            if coll.time_end_column:
                t0 = None if open_start else t0
                t1 = None if open_end else t1
            interval = (t0, t1)
    return Extent(bbox=bbox, interval=interval)
