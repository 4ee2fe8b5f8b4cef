"""/api/v1/hazard-layers: import versioned hazard and exposure layers, list and read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from service.api import audit
from service.api.deps import (
    AdminDep,
    CoordinatorDep,
    IdPath,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
)
from service.api.uploads import only_form_fields, staged_uploads
from service.geochecks import GeometryLimits
from service.hazards import service, storage
from service.hazards.schemas import (
    HazardImportReport,
    HazardLayerCreate,
    HazardLayerPublic,
    HazardLayerUpdate,
    HazardType,
    Role,
)

router = APIRouter(prefix="/api/v1/hazard-layers", tags=["hazard layers"])

IMPORT_FIELDS = {"file", *HazardLayerCreate.model_fields}


@router.post(
    "",
    summary="Import a hazard or exposure layer (zones or raster) as a new version",
    response_model=HazardImportReport,
    status_code=201,
    dependencies=[Depends(only_form_fields(IMPORT_FIELDS))],
)
def import_layer(
    _: CoordinatorDep,
    request: Request,
    settings: SettingsDep,
    session_factory: SessionFactoryDep,
    file: Annotated[
        list[UploadFile],
        File(
            description="the layer file; an .asc with its .prj, or a Shapefile's parts, "
            "may be sent together as several 'file' parts"
        ),
    ],
    spec: Annotated[HazardLayerCreate, Form()],
) -> HazardImportReport:
    with staged_uploads(
        file, max_mb=settings.api.max_upload_mb, root=settings.storage.upload_dir
    ) as paths:
        report = service.import_hazard_layer(
            session_factory=session_factory,
            data_dir=settings.storage.data_dir,
            paths=paths,
            spec=spec,
            limits=GeometryLimits.of(settings.imports),
        )
    audit.record_committed(
        session_factory=session_factory,
        actor=request,
        action="hazard_layers.import",
        target=f"hazard_layer:{report.layer.id}",
        details={
            "name": report.layer.name,
            "version": report.layer.version,
            "file": report.file,
            "features": report.features,
        },
    )
    return report


@router.get(
    "", summary="Hazard and exposure layers, every version", response_model=list[HazardLayerPublic]
)
def list_layers(
    session: SessionDep,
    name: Annotated[
        str | None, Query(max_length=200, pattern=r"^[^\x00]+$", description="only this name")
    ] = None,
    hazard: Annotated[HazardType | None, Query()] = None,
    role: Annotated[Role | None, Query()] = None,
    latest: Annotated[bool, Query(description="only the newest version of each name")] = False,
) -> list[HazardLayerPublic]:
    return service.list_layers(
        session=session, name=name, hazard=hazard, role=role, latest_only=latest
    )


@router.get("/{layer_id}", summary="One layer version", response_model=HazardLayerPublic)
def get_layer(layer_id: IdPath, session: SessionDep) -> HazardLayerPublic:
    return service.get_layer(session=session, layer_id=layer_id)


@router.delete(
    "/{layer_id}",
    summary="Delete one layer version with its zones, scores and raster file (admin; audited)",
    status_code=204,
)
def delete_layer(
    layer_id: IdPath, _: AdminDep, session: SessionDep, settings: SettingsDep, request: Request
) -> Response:
    details = service.delete_layer(session=session, layer_id=layer_id)
    audit.record(
        session=session,
        actor=request,
        action="hazard_layers.delete",
        target=f"hazard_layer:{layer_id}",
        details=details,
    )
    session.commit()
    storage.remove_file(settings.storage.data_dir, details["raster_path"])
    return Response(status_code=204)


@router.patch(
    "/{layer_id}",
    summary="Pin a hazard layer to a population raster (applies at its next recompute)",
    response_model=HazardLayerPublic,
)
def update_layer(
    layer_id: IdPath,
    changes: HazardLayerUpdate,
    _: CoordinatorDep,
    session: SessionDep,
    request: Request,
) -> HazardLayerPublic:
    updated = service.pin_population(
        session=session, layer_id=layer_id, population_layer_id=changes.population_layer_id
    )
    audit.record(
        session=session,
        actor=request,
        action="hazard_layers.pin_population",
        target=f"hazard_layer:{layer_id}",
        details={"population_layer_id": updated.population_layer_id},
    )
    session.commit()
    return updated
