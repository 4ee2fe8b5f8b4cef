"""CQL2 filters (OGC API Features Part 3): parsed by pygeofilter, turned into SQLAlchemy.

The parser gives an AST; `to_sql` walks it and builds SQLAlchemy expressions on the
collection's columns. Only queryables may appear (looked up by name, never spliced), every
literal becomes a bound parameter, geometries are bound as WKT, so no part of a filter
reaches SQL as text. Anything outside the supported subset is a 400 naming what is allowed.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

import shapely
import shapely.geometry
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text
from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true
from sqlalchemy.sql import FromClause

from service.api.ogc.crs import Crs
from service.api.ogc.queryables import Queryable
from service.errors import InvalidInput

FILTER_LANGS = ["cql2-text", "cql2-json"]
# The draft name GDAL's OAPIF driver (up to 3.12 at least) looks for in the OpenAPI document
# before it sends a layer's `where` as a filter; what it sends is CQL2 text.
LANG_ALIASES = {"cql-text": "cql2-text"}
ACCEPTED_LANGS = [*FILTER_LANGS, *LANG_ALIASES]
_SPATIAL = {
    ast.GeometryIntersects: func.ST_Intersects,
    ast.GeometryDisjoint: func.ST_Disjoint,
    ast.GeometryContains: func.ST_Contains,
    ast.GeometryWithin: func.ST_Within,
    ast.GeometryTouches: func.ST_Touches,
    ast.GeometryCrosses: func.ST_Crosses,
    ast.GeometryOverlaps: func.ST_Overlaps,
    ast.GeometryEquals: func.ST_Equals,
}
_COMPARE = {
    ast.Equal: lambda c, v: c == v,
    ast.NotEqual: lambda c, v: c != v,
    ast.LessThan: lambda c, v: c < v,
    ast.LessEqual: lambda c, v: c <= v,
    ast.GreaterThan: lambda c, v: c > v,
    ast.GreaterEqual: lambda c, v: c >= v,
}
# a < b is b > a: the comparison with the attribute moved to the left.
_MIRROR = {
    ast.LessThan: ast.GreaterThan,
    ast.LessEqual: ast.GreaterEqual,
    ast.GreaterThan: ast.LessThan,
    ast.GreaterEqual: ast.LessEqual,
}
SUPPORTED = (
    "comparisons (=, <>, <, <=, >, >=), AND, OR, NOT, LIKE, BETWEEN, IN, IS NULL, "
    "CASEI(property) = CASEI('text'), S_INTERSECTS/S_DISJOINT/S_CONTAINS/S_WITHIN/S_TOUCHES/"
    "S_CROSSES/S_OVERLAPS/S_EQUALS(geometry, <WKT or BBOX>)"
)


def _bad(detail: str, allowed: list[str] | None = None) -> InvalidInput:
    extra: dict[str, Any] = {"parameter": "filter"}
    if allowed is not None:
        extra["allowed"] = allowed
    return InvalidInput(detail, **extra)


def _fix_json(node: Any) -> Any:
    """Adapt CQL2-JSON 1.0 to what pygeofilter 0.4 reads: `between` takes its bounds as a
    pair and `bbox` as (minx, maxx, miny, maxy); 6-number boxes drop their heights."""
    if isinstance(node, list):
        return [_fix_json(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _fix_json(v) for k, v in node.items()}
    box = out.get("bbox")
    if isinstance(box, list) and len(box) in (4, 6) and len(out) == 1:
        x0, y0, x1, y1 = box if len(box) == 4 else (box[0], box[1], box[3], box[4])
        out["bbox"] = [x0, x1, y0, y1]
    args = out.get("args")
    if str(out.get("op", "")).lower() == "between" and isinstance(args, list) and len(args) == 3:
        out["args"] = [args[0], [args[1], args[2]]]
    return out


def parse_filter(raw: str, lang: str | None) -> ast.Node:
    """The filter's AST; a malformed filter or an unknown language is a 400."""
    lang = (lang or "cql2-text").strip()
    lang = LANG_ALIASES.get(lang, lang)
    if lang not in FILTER_LANGS:
        raise InvalidInput(
            f"filter-lang={lang!r} is not offered; use one of: {', '.join(ACCEPTED_LANGS)}",
            parameter="filter-lang",
            allowed=ACCEPTED_LANGS,
        )
    if "\x00" in raw or not raw.strip():
        raise _bad("filter is empty or holds a NUL character; give a CQL2 expression")
    try:
        if lang == "cql2-json":
            node = parse_json(json.dumps(_fix_json(json.loads(raw))))
        else:
            node = parse_text(raw)
    except Exception as exc:  # lark, json and pygeofilter raise many kinds
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise _bad(f"filter is not valid {lang}: {first}; supported: {SUPPORTED}") from None
    if not isinstance(node, ast.Node):
        raise _bad(f"filter is not a {lang} condition; supported: {SUPPORTED}")
    return node


def _instant(q: Queryable, text: str) -> datetime | date:
    try:
        if q.kind == "date" and len(text) == 10:
            return date.fromisoformat(text)
        value = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(
            f"{q.name} is a {q.kind}; {text!r} is not RFC 3339; "
            "use TIMESTAMP('2024-01-31T00:00:00Z')"
        ) from None
    if value.tzinfo is None:
        raise _bad(f"{q.name}: {text!r} has no time zone; add Z for UTC")
    return value


class Translator:
    """Builds one SQL condition from a CQL2 AST against a collection's source."""

    def __init__(self, src: FromClause, queryables: dict[str, Queryable], crs: Crs) -> None:
        self.src = src
        self.queryables = queryables
        self.crs = crs

    def condition(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, ast.And):
            return and_(self.condition(node.lhs), self.condition(node.rhs))
        if isinstance(node, ast.Or):
            return or_(self.condition(node.lhs), self.condition(node.rhs))
        if isinstance(node, ast.Not):
            return not_(self.condition(node.sub_node))
        if isinstance(node, ast.Comparison):
            return self._comparison(node)
        if isinstance(node, ast.Between):
            q, col = self._attribute(node.lhs)
            low, high = self._literal(q, node.low), self._literal(q, node.high)
            cond = col.between(low, high)
            return not_(cond) if node.not_ else cond
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.In):
            q, col = self._attribute(node.lhs)
            items = [self._literal(q, v) for v in node.sub_nodes]
            if not items:
                raise _bad("IN needs at least one value")
            return col.not_in(items) if node.not_ else col.in_(items)
        if isinstance(node, ast.IsNull):
            _, col = self._attribute(node.lhs)
            return col.is_not(None) if node.not_ else col.is_(None)
        if type(node) in _SPATIAL:
            return self._spatial(node)
        if isinstance(node, bool):
            return true() if node else false()
        raise _bad(f"{type(node).__name__} is not supported in filters; supported: {SUPPORTED}")

    def _attribute(self, node: Any) -> tuple[Queryable, ColumnElement[Any]]:
        if not isinstance(node, ast.Attribute):
            raise _bad(
                f"expected a property name, got {node!r}; compare a queryable with a literal",
                sorted(self.queryables),
            )
        q = self.queryables.get(node.name)
        if q is None:
            raise _bad(
                f"{node.name!r} is not a queryable of this collection; "
                f"queryables: {', '.join(self.queryables)}",
                list(self.queryables),
            )
        return q, self.src.c[q.column]

    def _literal(self, q: Queryable, value: Any) -> Any:
        kind = q.kind
        if kind in ("date-time", "date") and isinstance(value, str):
            value = _instant(q, value)  # GDAL quotes timestamps as plain strings
        ok = {
            "string": isinstance(value, str),
            "integer": isinstance(value, int | float) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "date-time": isinstance(value, datetime | date),
            "date": isinstance(value, date) and not isinstance(value, datetime),
        }.get(kind, False)
        if not ok:
            hint = {
                "date-time": "a TIMESTAMP('2024-01-31T00:00:00Z') or DATE('2024-01-31')",
                "date": "a DATE('2024-01-31')",
                "string": "a 'quoted' text",
            }.get(kind, f"a {kind}")
            raise _bad(f"{q.name} is a {kind}; compare it with {hint}, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise _bad(f"{q.name}: {value!r} is not a finite number")
        if isinstance(value, str) and "\x00" in value:
            raise _bad("filter text holds a NUL character")
        return value

    def _comparison(self, node: ast.Comparison) -> ColumnElement[bool]:
        kind: type = type(node)
        lhs, rhs = node.lhs, node.rhs
        if isinstance(lhs, ast.Function) or isinstance(rhs, ast.Function):
            return self._casei(node)
        if not isinstance(lhs, ast.Attribute) and isinstance(rhs, ast.Attribute):
            lhs, rhs, kind = rhs, lhs, _MIRROR.get(kind, kind)
        q, col = self._attribute(lhs)
        if isinstance(rhs, ast.Attribute):
            other_q, other = self._attribute(rhs)
            if {q.kind, other_q.kind} - {"integer", "number"} and q.kind != other_q.kind:
                raise _bad(f"{q.name} ({q.kind}) and {other_q.name} ({other_q.kind}) differ")
            return _COMPARE[kind](col, other)
        return _COMPARE[kind](col, self._literal(q, rhs))

    def _casei(self, node: ast.Comparison) -> ColumnElement[bool]:
        """CASEI(property) = CASEI('text') (pygeofilter reads CASEI as lower())."""
        lhs, rhs = node.lhs, node.rhs
        if (
            isinstance(rhs, ast.Function)
            and rhs.arguments
            and isinstance(rhs.arguments[0], ast.Attribute)
        ):
            lhs, rhs = rhs, lhs
        if not (
            isinstance(lhs, ast.Function)
            and lhs.name == "lower"
            and len(lhs.arguments) == 1
            and isinstance(node, ast.Equal | ast.NotEqual)
        ):
            raise _bad(
                f"functions are supported only as CASEI(property) = CASEI('text'); {SUPPORTED}"
            )
        q, col = self._attribute(lhs.arguments[0])
        if isinstance(rhs, ast.Function) and rhs.name == "lower" and len(rhs.arguments) == 1:
            rhs = rhs.arguments[0]
        text = self._literal(q, rhs)
        if q.kind != "string":
            raise _bad(f"CASEI needs a text queryable; {q.name} is a {q.kind}")
        cond = func.lower(col) == func.lower(text)
        return not_(cond) if isinstance(node, ast.NotEqual) else cond

    def _like(self, node: ast.Like) -> ColumnElement[bool]:
        q, col = self._attribute(node.lhs)
        if q.kind != "string":
            raise _bad(f"LIKE needs a text queryable; {q.name} is a {q.kind}")
        pattern = self._literal(q, node.pattern)
        # CQL2 patterns use % and _ with a backslash escape, as PostgreSQL's LIKE does.
        cond = col.ilike(pattern) if node.nocase else col.like(pattern)
        return not_(cond) if node.not_ else cond

    def _spatial(self, node: Any) -> ColumnElement[bool]:
        lhs, rhs = node.lhs, node.rhs
        if not isinstance(lhs, ast.Attribute):
            lhs, rhs = rhs, lhs
        q, col = self._attribute(lhs)
        if q.kind != "geometry":
            raise _bad(f"spatial operators need the queryable 'geometry', not {q.name!r}")
        return _SPATIAL[type(node)](col, self._geometry(rhs))

    def _geometry(self, value: Any) -> ColumnElement[Any]:
        if isinstance(value, ast.Function) and value.name.lower() == "bbox":
            nums = list(value.arguments)
            if len(nums) == 6:
                nums = [nums[0], nums[1], nums[3], nums[4]]
            if len(nums) != 4 or not all(isinstance(n, int | float) for n in nums):
                raise _bad("BBOX needs 4 (or 6) numbers: BBOX(minx, miny, maxx, maxy)")
            x0, y0, x1, y1 = nums
            value = values.Envelope(x0, x1, y0, y1)
        if not isinstance(value, values.Geometry | values.Envelope):
            raise _bad(f"expected a geometry literal (WKT or BBOX), got {value!r}")
        try:
            shape = shapely.geometry.shape(value.__geo_interface__)
        except Exception:
            raise _bad("the geometry literal is not a valid geometry") from None
        if shape.is_empty or not all(math.isfinite(c) for c in shape.bounds):
            raise _bad("the geometry literal is empty or has non-finite coordinates")
        if self.crs.lat_first:
            shape = shapely.transform(shape, lambda xy: xy[:, [1, 0]])
        geom = func.ST_GeomFromText(shape.wkt, self.crs.srid)
        return geom if self.crs.srid == 4326 else func.ST_Transform(geom, 4326)
