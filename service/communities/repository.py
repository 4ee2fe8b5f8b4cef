"""Community rows in PostGIS: look-ups and the upsert by code."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from service.communities.importing import CommunityRows
from service.communities.models import Community
from service.db import advisory_lock_key

# Coordinates are stored as doubles; a re-import of the same file compares exactly equal.
GEOM_TOLERANCE = 0.0
AREA_REL_TOLERANCE = 1e-9


@dataclass(frozen=True)
class UpsertCounts:
    created: int
    updated: int
    unchanged: int


def get_by_code(session: Session, code: str) -> Community | None:
    return session.scalar(select(Community).where(Community.code == code))


def geometry_geojson(session: Session, community_id: int) -> str | None:
    return session.scalar(
        select(func.ST_AsGeoJSON(Community.geom, 7)).where(Community.id == community_id)
    )


def lock_imports(session: Session) -> None:
    """Serialise community imports across processes so created/updated counts stay exact."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_lock_key("communities-import")}
    )


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=AREA_REL_TOLERANCE, abs_tol=0.0)
    return a == b


def upsert(session: Session, rows: CommunityRows) -> UpsertCounts:
    """Insert new codes, update changed ones (only the columns the file provides)."""
    columns = [c for c in rows.columns if c != "code"]
    wanted = [getattr(Community, c) for c in columns]
    existing: dict[str, Any] = {}
    codes = rows.codes
    for chunk_start in range(0, len(codes), 5000):
        chunk = codes[chunk_start : chunk_start + 5000]
        stmt = select(
            Community.id,
            Community.code,
            Community.properties,
            func.ST_AsBinary(Community.geom).label("wkb"),
            *wanted,
        ).where(Community.code.in_(chunk))
        for row in session.execute(stmt):
            existing[row.code] = row

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for i, values in enumerate(rows.values):
        geom = rows.geoms[i]
        data = {c: values.get(c) for c in columns}
        data["properties"] = values["properties"]
        old = existing.get(str(values["code"]))
        if old is None:
            inserts.append(
                {
                    "code": values["code"],
                    **data,
                    "area_km2": float(rows.area_km2[i]),
                    "geom": from_shape(geom, srid=4326),
                }
            )
            continue
        changed = {c: data[c] for c in columns if not _same(getattr(old, c), data[c])}
        if old.properties != data["properties"]:
            changed["properties"] = data["properties"]
        old_geom = shapely.from_wkb(bytes(old.wkb))
        if not old_geom.equals_exact(geom, GEOM_TOLERANCE):
            changed["geom"] = from_shape(geom, srid=4326)
            changed["area_km2"] = float(rows.area_km2[i])
        if changed:
            updates.append({"id": old.id, **changed, "updated_at": func.now()})
        else:
            unchanged += 1

    if inserts:
        session.execute(insert(Community), inserts)
    for change in updates:
        # Rows differ in which columns changed, so one UPDATE each (imports change few rows).
        row_id = change.pop("id")
        session.execute(update(Community).where(Community.id == row_id).values(**change))
    return UpsertCounts(created=len(inserts), updated=len(updates), unchanged=unchanged)


def apply_update(session: Session, community: Community, changes: dict[str, Any]) -> Community:
    for key, value in changes.items():
        setattr(community, key, value)
    session.flush()
    session.refresh(community)
    return community
