"""SQL for the items, item and extent requests, built from a `Collection` with SQLAlchemy Core.

PostGIS renders each feature as GeoJSON text (`json_build_object` + `ST_AsGeoJSON`), so the
API splices strings and never parses geometries in Python. Counting and paging (offset, in
id order) happen in SQL.
"""

from __future__ import annotations

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

from service.api.ogc.params import Interval
from service.api.ogc.registry import Collection

# json_build_object takes at most 100 arguments: 50 key/value pairs.
_PAIRS_PER_OBJECT = 50


@dataclass(frozen=True)
class ItemsQuery:
    bbox: tuple[float, float, float, float] | None = None
    interval: Interval | None = None
    filters: dict[str, list[Any]] | None = None
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


def _properties_expr(coll: Collection, src: FromClause) -> ColumnElement[Any]:
    pairs = [(name, _json_value(src.c[column])) for name, column in coll.property_columns().items()]
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


def feature_expr(coll: Collection, src: FromClause) -> ColumnElement[str]:
    """One GeoJSON Feature as text, as a SQL fragment rendered once per collection.

    The expression has some fifty literals; building and cache-keying it on every request
    cost milliseconds of Python, so it is compiled once and reused as a literal column.
    """
    sql = coll.memo.get("feature_sql")
    if sql is None:
        compiled = _feature_clause(coll, src).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        sql = coll.memo["feature_sql"] = str(compiled)
    return literal_column(sql, String)


def _feature_clause(coll: Collection, src: FromClause) -> ColumnElement[str]:
    geom = src.c[coll.geometry_column]
    feature = func.json_build_object(
        literal("type"),
        literal("Feature"),
        literal("id"),
        src.c[coll.id_column],
        literal("geometry"),
        cast(func.ST_AsGeoJSON(geom, coll.precision), JSON),
        literal("properties"),
        _properties_expr(coll, src),
    )
    return cast(feature, String)


def _envelope(minx: float, miny: float, maxx: float, maxy: float) -> ColumnElement[Any]:
    return func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)


def _conditions(coll: Collection, src: FromClause, q: ItemsQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if q.bbox is not None:
        geom = src.c[coll.geometry_column]
        minx, miny, maxx, maxy = q.bbox
        hit: ColumnElement[bool]
        if minx <= maxx:
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


def items_page(conn: Connection, coll: Collection, q: ItemsQuery) -> tuple[list[str], int]:
    """Features of one page as GeoJSON text, and how many match in all."""
    src = coll.table()
    conds = _conditions(coll, src, q)
    id_col = src.c[coll.id_column]
    # Pick the page's ids first (with the total as a window count), then render only those:
    # rows skipped by OFFSET are never turned into GeoJSON.
    page = (
        select(id_col.label("page_id"), func.count().over().label("matched"))
        .select_from(src)
        .where(*conds)
        .order_by(id_col)
        .limit(q.limit)
        .offset(q.offset)
        .cte("page")
    )
    stmt = (
        select(page.c.matched, feature_expr(coll, src))
        .select_from(page.join(src, id_col == page.c.page_id))
        .order_by(page.c.page_id)
    )
    rows = conn.execute(stmt).all()
    features = [row[1] for row in rows]
    if rows:
        matched = int(rows[0][0])
    else:  # past the end (or nothing matches): the window had no row to carry the count
        count = select(func.count()).select_from(src).where(*conds)
        matched = int(conn.execute(count).scalar_one()) if q.offset else 0
    return features, matched


def id_is_integer(coll: Collection) -> bool:
    return isinstance(coll.table().c[coll.id_column].type, Integer | BigInteger | SmallInteger)


def one_feature(conn: Connection, coll: Collection, feature_id: str) -> str | None:
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
    stmt = select(feature_expr(coll, src)).select_from(src).where(src.c[coll.id_column] == key)
    return conn.execute(stmt).scalars().first()


def extent(conn: Connection, coll: Collection) -> Extent:
    """Bounding box of the data and, for collections with time, its time span."""
    src = coll.table()
    box = func.ST_Extent(src.c[coll.geometry_column]).label("box")
    sub = select(box).select_from(src).subquery()
    row = conn.execute(
        select(
            func.ST_XMin(sub.c.box),
            func.ST_YMin(sub.c.box),
            func.ST_XMax(sub.c.box),
            func.ST_YMax(sub.c.box),
        )
    ).one()
    bbox = None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    interval = None
    if coll.time_column:
        start_col = src.c[coll.time_column]
        end_col = src.c[coll.time_end_column] if coll.time_end_column else start_col
        # Rows without any time are timeless, not open-ended: they do not widen the extent.
        stmt = (
            select(
                func.min(start_col),
                func.max(end_col),
                func.bool_or(start_col.is_(None)),
                func.bool_or(end_col.is_(None)),
                func.count(),
            )
            .select_from(src)
            .where(or_(start_col.is_not(None), end_col.is_not(None)))
        )
        t0, t1, open_start, open_end, timed = conn.execute(stmt).one()
        if timed:
            # In a validity interval a null end is open.
            if coll.time_end_column:
                t0 = None if open_start else t0
                t1 = None if open_end else t1
            interval = (t0, t1)
    return Extent(bbox=bbox, interval=interval)
