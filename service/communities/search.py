"""Read models for finding places: communities by name or code, kecamatan and kab/kota outlines.

Behind the map's search box and its offline base layer (outlines and labels drawn from the
loaded communities, no basemap needed).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Select, case, func, literal, or_, select
from sqlalchemy.orm import Session

from service.communities.models import Community

AreaLevel = Literal["district", "regency"]


class CommunitySummary(BaseModel):
    code: str
    name: str
    level: str | None
    district_code: str | None
    district_name: str | None
    regency_code: str | None
    regency_name: str | None
    province_name: str | None
    bbox: list[float] = Field(description="EPSG:4326 extent: minx, miny, maxx, maxy")


class AreaSummary(BaseModel):
    """A kecamatan (`district`) or kabupaten/kota (`regency`) made of loaded communities."""

    level: AreaLevel
    code: str
    name: str
    regency_name: str | None = Field(None, description="for a kecamatan: its kab/kota")
    communities: int
    bbox: list[float]


class CommunityPage(BaseModel):
    items: list[CommunitySummary]
    areas: list[AreaSummary] = Field(
        description="kecamatan and kab/kota whose name or code matches q (empty without q)"
    )
    total: int = Field(description="communities matching, over all pages")
    limit: int
    offset: int


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _bbox(row: Any) -> list[float]:
    return [float(row.xmin), float(row.ymin), float(row.xmax), float(row.ymax)]


def _bbox_columns(box: Any) -> list[Any]:
    return [
        func.ST_XMin(box).label("xmin"),
        func.ST_YMin(box).label("ymin"),
        func.ST_XMax(box).label("xmax"),
        func.ST_YMax(box).label("ymax"),
    ]


def search_communities(
    *,
    session: Session,
    q: str | None = None,
    regency_code: str | None = None,
    district_code: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> CommunityPage:
    """Communities whose name, code, kecamatan or kab/kota matches `q` (case-insensitive),
    best first: exact name, then name prefix, then code prefix, then the rest."""
    where = []
    rank: Any = literal(0)
    if regency_code:
        where.append(Community.regency_code == regency_code)
    if district_code:
        where.append(Community.district_code == district_code)
    text = (q or "").strip()
    if text:
        pattern = _like(text)
        where.append(
            or_(
                Community.name.ilike(pattern, escape="\\"),
                Community.code.startswith(text, autoescape=True),
                Community.district_name.ilike(pattern, escape="\\"),
                Community.regency_name.ilike(pattern, escape="\\"),
            )
        )
        lowered = text.lower()
        rank = case(
            (func.lower(Community.name) == lowered, 0),
            (func.lower(Community.name).startswith(lowered, autoescape=True), 1),
            (Community.code.startswith(text, autoescape=True), 2),
            (Community.name.ilike(pattern, escape="\\"), 3),
            else_=4,
        )
    query: Select[Any] = select(Community, *_bbox_columns(Community.geom)).where(*where)
    total = session.scalar(select(func.count()).select_from(Community).where(*where)) or 0
    rows = session.execute(
        query.order_by(rank, Community.name, Community.code).limit(limit).offset(offset)
    ).all()
    items = [
        CommunitySummary(
            code=c.code,
            name=c.name,
            level=c.level,
            district_code=c.district_code,
            district_name=c.district_name,
            regency_code=c.regency_code,
            regency_name=c.regency_name,
            province_name=c.province_name,
            bbox=_bbox(row),
        )
        for row in rows
        for c in [row[0]]
    ]
    areas = _matching_areas(session, text) if text and offset == 0 else []
    return CommunityPage(items=items, areas=areas, total=total, limit=limit, offset=offset)


def _matching_areas(session: Session, text: str, most: int = 10) -> list[AreaSummary]:
    pattern = _like(text)
    out: list[AreaSummary] = []
    specs: list[tuple[AreaLevel, Any, Any]] = [
        ("regency", Community.regency_code, Community.regency_name),
        ("district", Community.district_code, Community.district_name),
    ]
    for level, code_col, name_col in specs:
        rows = session.execute(
            select(
                code_col.label("code"),
                func.min(name_col).label("name"),
                func.min(Community.regency_name).label("regency_name"),
                func.count().label("n"),
                *_bbox_columns(func.ST_Extent(Community.geom)),
            )
            .where(
                code_col.is_not(None),
                or_(
                    name_col.ilike(pattern, escape="\\"), code_col.startswith(text, autoescape=True)
                ),
            )
            .group_by(code_col)
            .order_by(func.min(name_col))
            .limit(most)
        ).all()
        for r in rows:
            out.append(
                AreaSummary(
                    level=level,
                    code=r.code,
                    name=r.name or r.code,
                    regency_name=r.regency_name if level == "district" else None,
                    communities=int(r.n),
                    bbox=_bbox(r),
                )
            )
    return out


def area_outlines(*, session: Session, level: AreaLevel, tolerance_deg: float) -> dict[str, Any]:
    """Kecamatan or kab/kota outlines dissolved from the communities, with a label point each,
    as a GeoJSON FeatureCollection (simplified by `tolerance_deg`)."""
    code_col = Community.district_code if level == "district" else Community.regency_code
    name_col = Community.district_name if level == "district" else Community.regency_name
    dissolved = (
        select(
            code_col.label("code"),
            func.min(name_col).label("name"),
            func.count().label("n"),
            func.ST_Union(Community.geom).label("geom"),
        )
        .where(code_col.is_not(None))
        .group_by(code_col)
        .subquery()
    )
    rows = session.execute(
        select(
            dissolved.c.code,
            dissolved.c.name,
            dissolved.c.n,
            func.ST_AsGeoJSON(
                func.ST_SimplifyPreserveTopology(dissolved.c.geom, tolerance_deg), 6
            ).label("geometry"),
            func.ST_X(func.ST_PointOnSurface(dissolved.c.geom)).label("lon"),
            func.ST_Y(func.ST_PointOnSurface(dissolved.c.geom)).label("lat"),
        ).order_by(dissolved.c.code)
    ).all()
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r.code,
                "geometry": json.loads(r.geometry),
                "properties": {
                    "code": r.code,
                    "name": r.name or r.code,
                    "level": level,
                    "communities": int(r.n),
                    "label_point": [round(float(r.lon), 6), round(float(r.lat), 6)],
                },
            }
            for r in rows
        ],
    }


def all_bounds(session: Session) -> list[float] | None:
    """[west, south, east, north] of every community (rounded to 6 decimals); None when
    there are none."""
    row = session.execute(select(*_bbox_columns(func.ST_Extent(Community.geom)))).one()
    if row[0] is None:
        return None
    return [round(float(v), 6) for v in row]
