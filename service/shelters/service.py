"""Shelter use cases: list, add (one or many, all or nothing), edit, delete, the nearest one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import Float, cast, delete, func, literal, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from service.communities.models import Community
from service.errors import InvalidInput, NotFound
from service.shelters.models import Shelter
from service.shelters.parsing import ShelterIn, ShelterUpdate

# A point this far outside its community's boundary is almost surely a typo or lon/lat swap.
MAX_OUTSIDE_M = 5000.0
GEOGRAPHY = Geography(srid=4326)
# Notes may name a contact ("hubungi Pak RT 0812..."): masked wherever the public reads them
# (the same pattern as the alerts domain's redaction, which this domain must not import).
PHONE = re.compile(r"\+?[0-9][0-9 ().-]{6,}[0-9]")
PHONE_MASK = "[nomor disembunyikan]"


@dataclass(frozen=True)
class NearestShelter:
    name: str
    kind: str
    distance_m: float


def _community(session: Session, code: str) -> Community:
    community = session.scalar(select(Community).where(Community.code == code))
    if community is None:
        raise NotFound(
            f"no community with code {code!r}; import boundaries with `siaga communities import`"
        )
    return community


def _point(lon: float, lat: float) -> Any:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


def _outside_m(session: Session, community: Community, lon: float, lat: float) -> float:
    """Metres from the point to the community's boundary (0 inside), on the spheroid."""
    distance = session.scalar(
        select(
            func.ST_Distance(cast(Community.geom, GEOGRAPHY), cast(_point(lon, lat), GEOGRAPHY))
        ).where(Community.id == community.id)
    )
    return float(distance or 0.0)


def _check_inside(session: Session, community: Community, row: ShelterIn, where: str) -> None:
    outside = _outside_m(session, community, row.lon, row.lat)
    if outside > MAX_OUTSIDE_M:
        raise InvalidInput(
            f"{where} '{row.name}' at lon {row.lon}, lat {row.lat} lies {outside / 1000:.1f} km "
            f"outside {community.name} ({community.code}); the limit is "
            f"{MAX_OUTSIDE_M / 1000:.0f} km: check the position (lon first, then lat)"
        )


def mask_phones(text: str | None) -> str | None:
    return PHONE.sub(PHONE_MASK, text) if text else text


def public(shelter: Shelter, code: str, lon: float, lat: float) -> dict[str, Any]:
    return {
        "id": shelter.id,
        "community_code": code,
        "name": shelter.name,
        "kind": shelter.kind,
        "capacity": shelter.capacity,
        "notes": shelter.notes,
        "lon": lon,
        "lat": lat,
    }


def list_shelters(*, session: Session, code: str, masked: bool) -> list[dict[str, Any]]:
    community = _community(session, code)
    rows = session.execute(
        select(Shelter, func.ST_X(Shelter.geom), func.ST_Y(Shelter.geom))
        .where(Shelter.community_id == community.id)
        .order_by(Shelter.id)
    ).all()
    out = [public(s, code, float(x), float(y)) for s, x, y in rows]
    if masked:
        for row in out:
            row["notes"] = mask_phones(row["notes"])
    return out


def add_shelters(*, session: Session, code: str, rows: list[ShelterIn]) -> list[dict[str, Any]]:
    """Check every row, then store them all; the caller commits."""
    community = _community(session, code)
    for i, row in enumerate(rows, start=1):
        _check_inside(session, community, row, f"shelter {i}" if len(rows) > 1 else "shelter")
    made = []
    for row in rows:
        shelter = Shelter(
            community_id=community.id,
            name=row.name,
            kind=row.kind,
            capacity=row.capacity,
            notes=row.notes,
            geom=func.ST_SetSRID(func.ST_MakePoint(row.lon, row.lat), 4326),
        )
        session.add(shelter)
        made.append((shelter, row))
    session.flush()
    return [public(s, code, row.lon, row.lat) for s, row in made]


def _get(session: Session, community: Community, shelter_id: int) -> Shelter:
    shelter = session.get(Shelter, shelter_id)
    if shelter is None or shelter.community_id != community.id:
        raise NotFound(f"no shelter {shelter_id} in community {community.code}")
    return shelter


def update_shelter(
    *, session: Session, code: str, shelter_id: int, changes: ShelterUpdate
) -> dict[str, Any]:
    community = _community(session, code)
    shelter = _get(session, community, shelter_id)
    lon, lat = session.execute(
        select(func.ST_X(Shelter.geom), func.ST_Y(Shelter.geom)).where(Shelter.id == shelter.id)
    ).one()
    given = changes.model_dump(exclude_unset=True)
    for field in ("name", "kind"):
        if field in given and given[field] is None:
            raise InvalidInput(f"{field} cannot be null; leave it out to keep it")
    merged = ShelterIn.model_validate(
        {
            "name": given.get("name", shelter.name),
            "kind": given.get("kind", shelter.kind),
            "capacity": given.get("capacity", shelter.capacity),
            "notes": given.get("notes", shelter.notes),
            "lon": given.get("lon") if given.get("lon") is not None else lon,
            "lat": given.get("lat") if given.get("lat") is not None else lat,
        }
    )
    if "lon" in given or "lat" in given:
        _check_inside(session, community, merged, "shelter")
        shelter.geom = _point(merged.lon, merged.lat)
    shelter.name, shelter.kind = merged.name, merged.kind
    shelter.capacity, shelter.notes = merged.capacity, merged.notes
    session.flush()
    return public(shelter, code, merged.lon, merged.lat)


def delete_shelter(*, session: Session, code: str, shelter_id: int) -> None:
    community = _community(session, code)
    _get(session, community, shelter_id)
    session.execute(delete(Shelter).where(Shelter.id == shelter_id))


def nearest_shelter(*, session: Session, community_code: str) -> NearestShelter | None:
    """The place to name in a message: the community's assembly point or shelter nearest to
    its centre (a posko only when it has nothing else)."""
    centre = (
        select(func.ST_PointOnSurface(Community.geom))
        .where(Community.code == community_code)
        .scalar_subquery()
    )
    distance = cast(func.ST_Distance(cast(Shelter.geom, GEOGRAPHY), cast(centre, GEOGRAPHY)), Float)
    row = session.execute(
        select(Shelter.name, Shelter.kind, distance)
        .join(Community, Community.id == Shelter.community_id)
        .where(Community.code == community_code)
        .order_by((Shelter.kind == literal("posko")), distance, Shelter.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    return NearestShelter(name=row[0], kind=row[1], distance_m=float(row[2] or 0.0))


def nearest_shelters(*, session: Session, codes: list[str]) -> dict[str, NearestShelter]:
    """`nearest_shelter` for many communities in one statement (alerts' bulk fan-out)."""
    if not codes:
        return {}
    centre = func.ST_PointOnSurface(Community.geom)
    distance = cast(func.ST_Distance(cast(Shelter.geom, GEOGRAPHY), cast(centre, GEOGRAPHY)), Float)
    rows = session.execute(
        select(Community.code, Shelter.name, Shelter.kind, distance)
        .join(Community, Community.id == Shelter.community_id)
        .where(Community.code.in_(sorted(set(codes))))
        .order_by(Community.code, (Shelter.kind == literal("posko")), distance, Shelter.id)
        .ext(distinct_on(Community.code))
    ).all()
    return {
        code: NearestShelter(name=name, kind=kind, distance_m=float(dist or 0.0))
        for code, name, kind, dist in rows
    }
