"""/api/v1/communities: import boundary files, read and update one community."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile

from service.api import audit
from service.api.deps import AdminDep, CoordinatorDep, SessionDep, SessionFactoryDep, SettingsDep
from service.api.uploads import only_form_fields, staged_uploads
from service.communities import service
from service.communities.schemas import (
    CommunityImportReport,
    CommunityPublic,
    CommunityUpdate,
    FieldMapping,
)
from service.communities.search import CommunityPage, search_communities
from service.errors import InvalidInput
from service.geochecks import GeometryLimits

router = APIRouter(prefix="/api/v1/communities", tags=["communities"])

IMPORT_FIELDS = {"file", *FieldMapping.model_fields}


@router.post(
    "/import",
    summary="Import a boundary file (GeoJSON, GeoPackage or zipped Shapefile); upsert by code",
    response_model=CommunityImportReport,
    dependencies=[Depends(only_form_fields(IMPORT_FIELDS))],
)
def import_communities(
    _: CoordinatorDep,
    request: Request,
    settings: SettingsDep,
    session_factory: SessionFactoryDep,
    file: Annotated[list[UploadFile], File(description="the boundary file (one layer)")],
    mapping: Annotated[FieldMapping, Form()],
) -> CommunityImportReport:
    with staged_uploads(
        file, max_mb=settings.api.max_upload_mb, root=settings.storage.upload_dir
    ) as paths:
        if len(paths) != 1:
            raise InvalidInput(
                f"send one file in field 'file' (got {len(paths)}); zip a Shapefile's parts"
            )
        report = service.import_communities(
            session_factory=session_factory,
            path=paths[0],
            mapping=mapping,
            label=paths[0].name,
            limits=GeometryLimits.of(settings.imports),
        )
    audit.record_committed(
        session_factory=session_factory,
        actor=request,
        action="communities.import",
        target=f"file:{report.file}",
        details=report.model_dump(include={"features", "created", "updated", "unchanged"}),
    )
    return report


@router.get(
    "",
    summary="Find communities by name or Kemendagri code (desa, kecamatan, kab/kota)",
    response_model=CommunityPage,
)
def list_communities(
    session: SessionDep,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=r"^[^\x00]+$",
            description="part of a name (desa, kecamatan or kab/kota; case-insensitive) "
            "or the start of a Kemendagri code",
        ),
    ] = None,
    regency_code: Annotated[
        str | None, Query(max_length=32, pattern=r"^[^\x00]+$", description="only this kab/kota")
    ] = None,
    district_code: Annotated[
        str | None, Query(max_length=32, pattern=r"^[^\x00]+$", description="only this kecamatan")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CommunityPage:
    return search_communities(
        session=session,
        q=q,
        regency_code=regency_code,
        district_code=district_code,
        limit=limit,
        offset=offset,
    )


CodePath = Annotated[
    str, Path(min_length=1, max_length=32, pattern=r"^[^\x00]+$", description="Kemendagri code")
]


@router.get(
    "/{code}",
    summary="One community with its indicators and geometry",
    response_model=CommunityPublic,
)
def get_community(
    code: CodePath,
    session: SessionDep,
    geometry: Annotated[bool, Query(description="include the boundary as GeoJSON")] = True,
) -> CommunityPublic:
    return service.get_community(session=session, code=code, with_geometry=geometry)


@router.patch(
    "/{code}",
    summary="Update population and indicators (null = unknown)",
    response_model=CommunityPublic,
)
def update_community(
    code: CodePath,
    changes: CommunityUpdate,
    _: CoordinatorDep,
    session_factory: SessionFactoryDep,
    request: Request,
) -> CommunityPublic:
    updated = service.update_community(session_factory=session_factory, code=code, changes=changes)
    audit.record_committed(
        session_factory=session_factory,
        actor=request,
        action="communities.update",
        target=f"community:{code}",
        details=changes.model_dump(mode="json", exclude_unset=True),
    )
    return updated


@router.delete(
    "/{code}",
    summary="Delete a community with its risk scores (admin; audited)",
    status_code=204,
)
def delete_community(
    code: CodePath, _: AdminDep, session: SessionDep, request: Request
) -> Response:
    details = service.delete_community(session=session, code=code)
    audit.record(
        session=session,
        actor=request,
        action="communities.delete",
        target=f"community:{code}",
        details=details,
    )
    session.commit()
    return Response(status_code=204)
