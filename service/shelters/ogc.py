"""OGC API collection `shelters`: the communities' assembly points, shelters and posko."""

from __future__ import annotations

from sqlalchemy import FromClause, func, select

from service.communities.models import Community
from service.ogc_collections import Collection, Filter
from service.shelters.models import SHELTER_KINDS, Shelter
from service.shelters.service import PHONE, PHONE_MASK


def _shelters_source() -> FromClause:
    return (
        select(
            Shelter.id.label("id"),
            Shelter.name.label("name"),
            Shelter.kind.label("kind"),
            Shelter.capacity.label("capacity"),
            # Notes may carry a contact's number: masked for the public.
            func.regexp_replace(Shelter.notes, PHONE.pattern, PHONE_MASK, "g").label("notes"),
            Community.code.label("community_code"),
            Community.name.label("community_name"),
            Shelter.updated_at.label("updated_at"),
            Shelter.geom.label("geom"),
        )
        .join(Community, Community.id == Shelter.community_id)
        .subquery("ogc_shelters")
    )


SHELTERS = Collection(
    id="shelters",
    title="Titik kumpul dan shelter (assembly points and shelters)",
    description=(
        "Titik kumpul, tempat evakuasi (shelter) dan posko yang dipetakan warga per "
        "desa/kelurahan, dengan kapasitas. Assembly points, shelters and posts mapped by "
        "community coordinators, with capacity; phone numbers in notes are masked."
    ),
    source=_shelters_source,
    id_column="id",
    properties=(
        "name",
        "kind",
        "capacity",
        "notes",
        "community_code",
        "community_name",
        "updated_at",
    ),
    filters=(
        Filter(name="kind", column="kind", enum=SHELTER_KINDS),
        Filter(name="community_code", column="community_code", description="Kemendagri code"),
    ),
    keywords=("shelters", "titik kumpul", "evakuasi"),
)

COLLECTIONS = (SHELTERS,)
