"""Community use cases: import a boundary file, read one community, update its indicators."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from service.communities import repository
from service.communities.importing import read_communities
from service.communities.models import Community
from service.communities.schemas import (
    CommunityImportReport,
    CommunityPublic,
    CommunityUpdate,
    FieldMapping,
)
from service.db import transaction
from service.errors import NotFound
from service.geochecks import GeometryLimits


def import_communities(
    *,
    session_factory: sessionmaker[Session],
    path: Path,
    mapping: FieldMapping | None = None,
    label: str | None = None,
    limits: GeometryLimits | None = None,
) -> CommunityImportReport:
    """Validate the whole file first, then upsert every feature by code in one transaction."""
    label = label or path.name
    rows = read_communities(path, mapping=mapping or FieldMapping(), label=label, limits=limits)
    with transaction(session_factory) as session:
        repository.lock_imports(session)
        counts = repository.upsert(session, rows)
    return CommunityImportReport(
        file=label,
        features=len(rows.values),
        created=counts.created,
        updated=counts.updated,
        unchanged=counts.unchanged,
        repaired=rows.repaired,
        simplified=rows.simplified,
        fields=rows.fields,
    )


def _public(session: Session, community: Community, *, with_geometry: bool) -> CommunityPublic:
    public = CommunityPublic.model_validate(community, from_attributes=True)
    if with_geometry:
        geojson = repository.geometry_geojson(session, community.id)
        public.geometry = json.loads(geojson) if geojson else None
    return public


def _require(session: Session, code: str) -> Community:
    community = repository.get_by_code(session, code)
    if community is None:
        raise NotFound(
            f"no community with code {code!r}; import boundaries with `siaga communities import`"
        )
    return community


def get_community(*, session: Session, code: str, with_geometry: bool = True) -> CommunityPublic:
    return _public(session, _require(session, code), with_geometry=with_geometry)


def update_community(
    *, session_factory: sessionmaker[Session], code: str, changes: CommunityUpdate
) -> CommunityPublic:
    """Set the fields present in `changes` (null marks a value unknown)."""
    with transaction(session_factory) as session:
        community = _require(session, code)
        repository.apply_update(session, community, changes.model_dump(exclude_unset=True))
        return _public(session, community, with_geometry=False)


def delete_community(*, session: Session, code: str) -> dict[str, object]:
    """Delete one community; its risk scores and feed exposures go with it (FK cascade).

    The caller records the audit entry and commits.
    """
    community = _require(session, code)
    details: dict[str, object] = {"code": community.code, "name": community.name}
    session.delete(community)
    session.flush()
    return details
